"""The platform's topic catalogue. Topics are created here with explicit partition counts; the broker
never auto-creates one. `python -m services.common.topics` creates them all."""

import asyncio
import contextlib
import logging
from dataclasses import dataclass

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from services.common.settings import get_settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AggregateTopics:
    """The three topics of one event-sourced aggregate, sharing one partition count."""

    context: str
    aggregate: str

    @property
    def commands(self) -> str:
        return f"{self.context}.{self.aggregate}.commands.v1"

    @property
    def events(self) -> str:
        return f"{self.context}.{self.aggregate}.events.v1"

    @property
    def replies(self) -> str:
        return f"{self.context}.{self.aggregate}.replies.v1"


CALLS = AggregateTopics("telephony", "call")
AGENTS = AggregateTopics("routing", "agent")
TICKETS = AggregateTopics("ticketing", "ticket")
AGGREGATES = (CALLS, AGENTS, TICKETS)

ROUTING_DECISIONS = "routing.decisions.v1"
QUEUE_METRICS = "routing.queue-metrics.v1"
# Every topic whose records are cc.common.v1.Event envelopes: what the analytics sink stores.
EVENT_TOPICS = (CALLS.events, AGENTS.events, TICKETS.events, ROUTING_DECISIONS)


def dlq(topic: str) -> str:
    return f"{topic}.dlq"


def catalogue(partitions: int) -> dict[str, int]:
    """Topic name -> partition count."""
    topics: dict[str, int] = {}
    for aggregate in AGGREGATES:
        topics[aggregate.commands] = partitions
        topics[aggregate.events] = partitions
        topics[aggregate.replies] = 1
        topics[dlq(aggregate.commands)] = 1
    topics[ROUTING_DECISIONS] = partitions
    topics[QUEUE_METRICS] = 1
    for topic in EVENT_TOPICS:
        topics[dlq(topic)] = 1
    return topics


async def ensure_topics(bootstrap_servers: str, partitions: int, extra: dict[str, int] | None = None) -> None:
    """Create every missing topic (the catalogue plus `extra`); existing ones are left as they are."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = {**catalogue(partitions), **(extra or {})}
        missing = [
            NewTopic(name=name, num_partitions=count, replication_factor=1)
            for name, count in wanted.items()
            if name not in existing
        ]
        if missing:
            with contextlib.suppress(TopicAlreadyExistsError):  # another process created them first
                await admin.create_topics(missing)
            log.info("created topics: %s", ", ".join(t.name for t in missing))
    finally:
        await admin.close()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    settings = get_settings()
    asyncio.run(ensure_topics(settings.kafka_bootstrap_servers, settings.cc_partitions))
