"""Composition root of the analytics service: the only place its parts are wired together.

Health stays NOT_SERVING until the schema is applied and the sink has stored everything that was on the
event topics when it started, so a journey asked for right after start is not missing old events.
"""

import asyncio

from cc.analytics.v1 import analytics_pb2_grpc

from services.analytics.servicer import AnalyticsServicer
from services.analytics.sink import EventSink
from services.analytics.store import AnalyticsStore
from services.common.grpc_server import serve
from services.common.keys import KeyRing
from services.common.runtime import all_set, configure_logging, runtime
from services.common.settings import PlatformSettings, get_settings


async def main(settings: PlatformSettings | None = None) -> None:
    settings = settings or get_settings()
    configure_logging("analytics")
    store = AnalyticsStore(settings.clickhouse_dsn, settings.clickhouse_cluster)
    schema_applied = asyncio.Event()
    async with runtime(settings, "analytics") as rt:
        sink = EventSink(store, rt.producer, settings.kafka_bootstrap_servers)

        async def open_then_sink() -> None:
            await store.open()
            schema_applied.set()
            await sink.run()

        try:
            await serve(
                address=settings.listen_address(settings.analytics_port),
                keys=KeyRing(settings.credentials(), settings.kafka_bootstrap_servers),
                max_request_bytes=settings.cc_max_request_bytes,
                registrations=[
                    (
                        analytics_pb2_grpc.add_AnalyticsServiceServicer_to_server,
                        AnalyticsServicer(store),
                        "cc.analytics.v1.AnalyticsService",
                    )
                ],
                background=[open_then_sink()],
                ready=lambda: all_set(schema_applied, sink.caught_up),
            )
        finally:
            await store.close()
