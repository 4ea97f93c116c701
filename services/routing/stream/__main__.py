"""`python -m services.routing.stream`: run the routing stream worker."""

import asyncio

from faust import Worker

from services.common.runtime import arm_stop_deadline, collect_young_garbage_less_often, configure_logging
from services.common.topics import ensure_topics
from services.routing.stream import agents  # noqa: F401  (registers the agents and timers on the app)
from services.routing.stream.app import app, settings
from services.routing.stream.topics import worker_topics


class RoutingWorker(Worker):
    """Faust's worker, ending within the stop deadline of SIGTERM or SIGINT: its own stop flushes its
    producer and commits its offsets, and with the broker gone it waited for minutes. The board lives in
    its changelog and the offsets it could not commit are read again (duplicates are found by their
    source offsets), so a stop cut short loses nothing."""

    def _on_sigterm(self) -> None:
        arm_stop_deadline()
        super()._on_sigterm()

    def _on_sigint(self) -> None:
        arm_stop_deadline()
        super()._on_sigint()


configure_logging("routing-stream")
collect_young_garbage_less_often()
asyncio.run(
    ensure_topics(
        settings.kafka_bootstrap_servers,
        settings.cc_partitions,
        worker_topics(),
        replication_factor=settings.cc_replication_factor,
    )
)
# Faust logs at info whatever LOG_LEVEL says: services.platform reads the worker's readiness from its log.
RoutingWorker(app, loglevel="info", quiet=True).execute_from_commandline()
