"""`python -m services.routing.stream`: run the routing stream worker."""

import asyncio

from faust import Worker

from services.common.runtime import configure_logging
from services.common.topics import ensure_topics
from services.routing.stream import agents  # noqa: F401  (registers the agents and timers on the app)
from services.routing.stream.app import app, settings
from services.routing.stream.topics import worker_topics

configure_logging("routing-stream")
asyncio.run(
    ensure_topics(
        settings.kafka_bootstrap_servers,
        settings.cc_partitions,
        worker_topics(),
        replication_factor=settings.cc_replication_factor,
    )
)
# Faust logs at info whatever LOG_LEVEL says: services.platform reads the worker's readiness from its log.
Worker(app, loglevel="info", quiet=True).execute_from_commandline()
