"""The platform's topic catalogue. Topics are created here with explicit partition counts; the broker
never auto-creates one. `python -m services.common.topics` creates them all."""

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError, for_code

from services.common import kafka_security
from services.common.settings import get_settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AggregateTopics:
    """The topics of one event-sourced aggregate. Commands, events, outcomes and snapshots share one
    partition count, so an aggregate's key lands on the same partition index in each."""

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

    @property
    def outcomes(self) -> str:
        """Every decided command's outcome (refusals too), kept for the outcome window."""
        return f"{self.context}.{self.aggregate}.outcomes.v1"

    @property
    def snapshots(self) -> str:
        """Compacted aggregate states and per-partition checkpoints, so a new owner replays only a tail."""
        return f"{self.context}.{self.aggregate}.snapshots.v1"


CALLS = AggregateTopics("telephony", "call")
AGENTS = AggregateTopics("routing", "agent")
# Queues as data (RT-2): routing serves each queue by the rules its events carry.
QUEUES = AggregateTopics("routing", "queue")
# Contacts of channels other than voice (RT-7): chat, email and task adapters offer them to routing.
CONTACTS = AggregateTopics("routing", "contact")
# Lines of business (TEL-3, ORG-2): their numbers, hours and IVR flow versions.
LINES = AggregateTopics("telephony", "line")
# The caller list (TEL-9): numbers blocked or flagged, one aggregate per number.
LISTED_NUMBERS = AggregateTopics("telephony", "listed-number")
# Outbound campaigns (TEL-8): lists of numbers the campaign's agents call progressively.
CAMPAIGNS = AggregateTopics("telephony", "campaign")
TICKETS = AggregateTopics("ticketing", "ticket")
# Customers (CH-2): profiles and the identifiers a contact on any channel is recognised by.
CUSTOMERS = AggregateTopics("ticketing", "customer")
# Reply templates (TKT-7) and the automatic messages they make (TKT-8).
REPLY_TEMPLATES = AggregateTopics("ticketing", "reply-template")
# Each tenant's ticket counter (TKT-1): the numbers tickets are known by.
TICKET_NUMBERS = AggregateTopics("ticketing", "ticket-number")
# Ticket groups (TKT-3): teams, and the rule that gives them new tickets.
TICKET_GROUPS = AggregateTopics("ticketing", "ticket-group")
# The gateway's API keys: every service follows their events to know who may call it.
API_KEYS = AggregateTopics("gateway", "api-key")
AGGREGATES = (
    CALLS,
    LINES,
    LISTED_NUMBERS,
    CAMPAIGNS,
    AGENTS,
    QUEUES,
    CONTACTS,
    TICKETS,
    CUSTOMERS,
    REPLY_TEMPLATES,
    TICKET_NUMBERS,
    TICKET_GROUPS,
    API_KEYS,
)

ROUTING_DECISIONS = "routing.decisions.v1"
# Each agent's latest desktop heartbeat (RT-9), compacted: presence, not events.
AGENT_PRESENCE = "routing.agent.presence.v1"
QUEUE_METRICS = "routing.queue-metrics.v1"
# Every topic whose records are cc.common.v1.Event envelopes: what the analytics sink stores.
EVENT_TOPICS = (
    CALLS.events,
    LINES.events,
    LISTED_NUMBERS.events,
    CAMPAIGNS.events,
    AGENTS.events,
    QUEUES.events,
    CONTACTS.events,
    TICKETS.events,
    CUSTOMERS.events,
    REPLY_TEMPLATES.events,
    ROUTING_DECISIONS,
)


def dlq(topic: str) -> str:
    return f"{topic}.dlq"


@dataclass(frozen=True)
class TopicSpec:
    partitions: int
    config: dict[str, str] = field(default_factory=dict)


# The event log is the source of truth: kept forever. Replies and live metrics only matter for moments.
KEEP_FOREVER = {"retention.ms": "-1", "retention.bytes": "-1"}
KEEP_A_DAY = {"retention.ms": str(24 * 3600 * 1000)}
KEEP_A_MONTH = {"retention.ms": str(30 * 24 * 3600 * 1000)}
COMPACTED = {"cleanup.policy": "compact"}
# Snapshots are rewritten all the time: roll segments hourly and clean early, so a new owner reads about
# one record per aggregate rather than every snapshot ever written (the active segment is never compacted).
SNAPSHOTS = {
    **COMPACTED,
    "segment.ms": str(3600 * 1000),
    "min.cleanable.dirty.ratio": "0.1",
    "delete.retention.ms": str(3600 * 1000),
}


def catalogue(partitions: int, outcome_window_ms: int = 24 * 3600 * 1000) -> dict[str, TopicSpec]:
    """Every topic of the platform with its partition count and retention."""
    topics: dict[str, TopicSpec] = {}
    for aggregate in AGGREGATES:
        topics[aggregate.commands] = TopicSpec(partitions, KEEP_A_MONTH)
        topics[aggregate.events] = TopicSpec(partitions, KEEP_FOREVER)
        topics[aggregate.replies] = TopicSpec(1, KEEP_A_DAY)
        topics[aggregate.outcomes] = TopicSpec(partitions, {"retention.ms": str(outcome_window_ms)})
        topics[aggregate.snapshots] = TopicSpec(partitions, SNAPSHOTS)
        topics[dlq(aggregate.commands)] = TopicSpec(1, KEEP_A_MONTH)
    topics[ROUTING_DECISIONS] = TopicSpec(partitions, KEEP_FOREVER)
    topics[QUEUE_METRICS] = TopicSpec(1, KEEP_A_DAY)
    topics[AGENT_PRESENCE] = TopicSpec(partitions, COMPACTED)
    for topic in EVENT_TOPICS:
        topics[dlq(topic)] = TopicSpec(1, KEEP_A_MONTH)
    return topics


async def ensure_topics(
    bootstrap_servers: str,
    partitions: int,
    extra: dict[str, TopicSpec] | None = None,
    replication_factor: int = 1,
    outcome_window_ms: int = 24 * 3600 * 1000,
) -> None:
    """Create every missing topic (the catalogue plus `extra`), existing ones left as they are, and return
    once the broker serves every one of them."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, **kafka_security.aiokafka())
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = {**catalogue(partitions, outcome_window_ms), **(extra or {})}
        missing = [
            NewTopic(
                name=name,
                num_partitions=spec.partitions,
                replication_factor=replication_factor,
                topic_configs=spec.config,
            )
            for name, spec in wanted.items()
            if name not in existing
        ]
        if missing:
            with contextlib.suppress(TopicAlreadyExistsError):  # another process created them first
                response = await admin.create_topics(missing)
                _log_outcomes(response.topic_errors)
        # Every wanted topic, not only those created here: one another process created a moment ago
        # may still have no leaders, and a consumer subscribing now would ignore it for minutes.
        await _until_served(admin, list(wanted))
    finally:
        await admin.close()


def _log_outcomes(outcomes: Iterable[tuple[Any, ...]]) -> None:
    """Say which topics this process created and which the broker refused, and why: on a cluster where
    the topic operator makes them, a process has no right to (TOPIC_AUTHORIZATION_FAILED) and waits for
    the operator below; a topic another process made first is no refusal."""
    created, refused = [], []
    for name, code, *message in outcomes:
        if code == 0:
            created.append(name)
        elif code != TopicAlreadyExistsError.errno:
            refused.append(
                f"{name} ({for_code(code).__name__}{': ' + message[0] if message and message[0] else ''})"
            )
    if created:
        log.info("created topics: %s", ", ".join(created))
    if refused:
        log.warning("the broker refused to create topics, waiting for them to appear: %s", ", ".join(refused))


async def _until_served(admin: AIOKafkaAdminClient, names: list[str], timeout: float = 60.0) -> None:
    """Wait until the broker's metadata shows every partition of `names` with a leader. Creating a topic
    returns before then; a consumer subscribing in between was told the topic is missing and ignored it
    until its next metadata refresh, five minutes later (the routing worker routed nothing meanwhile)."""
    async with asyncio.timeout(timeout):
        while True:
            described = await admin.describe_topics(names)
            served = {
                topic["topic"]
                for topic in described
                if topic["error_code"] == 0
                and topic["partitions"]
                and all(partition["leader"] >= 0 for partition in topic["partitions"])
            }
            if served >= set(names):
                return
            await asyncio.sleep(0.1)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    settings = get_settings()
    asyncio.run(
        ensure_topics(
            settings.kafka_bootstrap_servers,
            settings.cc_partitions,
            replication_factor=settings.cc_replication_factor,
        )
    )
