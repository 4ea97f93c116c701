"""The routing stream worker's Faust app. This module only builds it: topics and the board table are
in `topics`, the agents and timers in `agents`.

Call events are keyed by call and agent events by agent, but one tenant's routing needs both on one
board, so `repartition` re-keys both streams by tenant into the board input; the board table is
co-partitioned with it and backed by a changelog topic, so a restarted worker recovers its boards.
"""

import tempfile
from pathlib import Path

import faust

from services.common import kafka_security
from services.routing.stream.settings import RoutingStreamSettings, get_stream_settings
from services.routing.stream.transport import RoutingTransport


def create_app(settings: RoutingStreamSettings) -> faust.App:
    data_dir = (
        settings.routing_stream_data_dir or Path(tempfile.gettempdir()) / f"{settings.routing_stream_id}-data"
    )
    context = kafka_security.ssl_context()
    app = faust.App(
        settings.routing_stream_id,
        datadir=str(data_dir),
        broker=f"kafka://{settings.kafka_bootstrap_servers}",
        # TLS with the worker's own certificate on a cluster (services/common/kafka_security.py).
        broker_credentials=faust.SSLCredentials(context)
        if (context := kafka_security.ssl_context())
        else None,
        store="memory://",
        topic_partitions=settings.cc_partitions,
        topic_replication_factor=settings.cc_replication_factor,
        topic_allow_declare=True,
        web_enabled=False,
        # The timers publish every board this worker holds; a standby copy would go stale.
        table_standby_replicas=0,
        # exactly_once would commit board, decisions and offsets together, but faust-streaming 0.15.3
        # left its repartition transactions uncommitted here (routing stalled); see the README. The
        # board finds redelivered events by their source offsets instead (services.routing.board).
        processing_guarantee="at_least_once",
        producer_acks=-1,
        producer_linger=0.0,
        stream_wait_empty=False,
        broker_commit_every=100,
        broker_commit_interval=1.0,
        # A dead worker is noticed (its partitions handed over) within seconds, as in the other groups.
        broker_session_timeout=10.0,
        broker_heartbeat_interval=1.0,
    )
    # Before anything asks for the transport: it reads committed records only (see `transport`).
    app.transport = RoutingTransport(app.conf.broker_consumer, app)
    return app


settings = get_stream_settings()
app = create_app(settings)
