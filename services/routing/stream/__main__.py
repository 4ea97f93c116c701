"""`python -m services.routing.stream`: run the routing stream worker."""

import asyncio

from faust import Worker

from services.common.runtime import configure_logging
from services.common.settings import get_settings
from services.common.topics import COMPACTED, KEEP_A_DAY, TopicSpec, ensure_topics
from services.routing.stream.agents import install
from services.routing.stream.app import BOARD_INPUT, BOARDS_CHANGELOG, Topics, create_app

settings = get_settings()
configure_logging("routing-stream")
# Faust's own topics too: one Faust creates at start may not be in the metadata yet when it subscribes.
asyncio.run(
    ensure_topics(
        settings.kafka_bootstrap_servers,
        settings.cc_partitions,
        {
            BOARD_INPUT: TopicSpec(settings.cc_partitions, KEEP_A_DAY),
            BOARDS_CHANGELOG: TopicSpec(settings.cc_partitions, COMPACTED),
        },
        replication_factor=settings.cc_replication_factor,
    )
)
app = create_app(settings)
install(app, Topics(app, settings.cc_partitions), settings.kafka_bootstrap_servers)
# Faust logs at info whatever LOG_LEVEL says: "Worker]: Ready" is how services.platform knows it is consuming.
Worker(app, loglevel="info", quiet=True).execute_from_commandline()
