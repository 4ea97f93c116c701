"""`python -m services.routing.stream`: run the routing stream worker."""

import asyncio

from faust import Worker

from services.common.runtime import configure_logging
from services.common.settings import get_settings
from services.common.topics import ensure_topics
from services.routing.stream.agents import install
from services.routing.stream.app import BOARD_INPUT, Topics, create_app

settings = get_settings()
configure_logging("routing-stream")
asyncio.run(
    ensure_topics(
        settings.kafka_bootstrap_servers, settings.cc_partitions, {BOARD_INPUT: settings.cc_partitions}
    )
)
app = create_app(settings)
install(app, Topics(app, settings.cc_partitions))
# Faust logs at info whatever LOG_LEVEL says: "Worker]: Ready" is how services.platform knows it is consuming.
Worker(app, loglevel="info", quiet=True).execute_from_commandline()
