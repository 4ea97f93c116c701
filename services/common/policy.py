"""Policies: turning events of one context into commands of another ("when a call is answered, open a
ticket"). Each command's id is derived from the event id, so a redelivered event sends a command the
owner has already seen: a policy is idempotent by event_id.

A service's policies share one consumer group (`PolicyGroup`): one consumer reads the topics of all of
them, and each record is handed to every policy that reads its topic. A group per policy cost the broker
heartbeats, fetches and commits for each, and read a topic two policies share twice.

One record never stops a policy: an event it cannot read, or cannot react to (any exception, or a
command too large for a record), goes to `<topic>.dlq` with the reason and the policy's name, and the
policies go on (the others still react to it). What the broker refuses for a while (it is down, or
moving a partition) is retried until it is written, so no command is lost. Offsets are committed in
rounds (`kafka.CommitRounds`); one that a rebalance refuses is skipped, and the partition's new owner
reads those events again, harmlessly.

A group starts where the groups it replaces stood: a partition it has never committed starts at the
earliest offset any of its policies' former groups (named after the policies, or a name a policy's
group once had) had committed, so that regrouping policies neither reacts again to a history the
former outcome window no longer covers nor skips an event.

With tracing on, each record's reactions are a span of the trace the record carries ("react to <event
type>"), and the commands they send carry that span on, so the command's owner decides within the same
trace (a call's ring after routing's decision, an agent's state after the call's answer)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TypeVar

from aiokafka import AIOKafkaProducer, ConsumerRecord
from aiokafka.errors import MessageSizeTooLargeError
from cc.common.v1 import event_pb2
from opentelemetry.context import Context

from services.common import kafka, telemetry
from services.common.aggregate import AggregateCommand
from services.common.command_bus import CommandBus
from services.common.librdkafka_consumers import GroupMember
from services.common.topics import AggregateTopics

log = logging.getLogger(__name__)
Reaction = Callable[[event_pb2.Event], Sequence[tuple[AggregateTopics, AggregateCommand]]]


T = TypeVar("T")
# Waits between attempts while the broker refuses a write: short at first, never longer than the cap.
RETRY_FIRST_SECONDS = 0.2
RETRY_MAX_SECONDS = 5.0
_tracer = telemetry.tracer(__name__)


class Policy:
    """One reaction to events, named for its dead letters and for the group it once had of its own."""

    def __init__(
        self,
        name: str,
        source_topics: Sequence[str],
        react: Reaction,
        bus: CommandBus,
        producer: AIOKafkaProducer,
        bootstrap_servers: str,
        formerly: Sequence[str] = (),
    ) -> None:
        self.name = name
        self.formerly = list(formerly)  # other names of groups it once ran in
        self.topics = list(source_topics)
        self._react = react
        self.bus = bus  # a service's policies share one: their group sends through it
        self._producer = producer
        self._bootstrap = bootstrap_servers
        self.dead_lettered = 0

    async def run(self) -> None:
        """React alone, in a consumer group of its own."""
        await PolicyGroup(self.name, [self], self._producer, self._bootstrap).run()

    async def commands_for(
        self, record: ConsumerRecord, event: event_pb2.Event, context: Context | None = None
    ) -> list[Post]:
        """What this policy sends because of the event, in `context`'s trace; a reaction that fails on it
        parks the record."""
        try:
            return [Post(record, self, topics, command, context) for topics, command in self._react(event)]
        except Exception as error:  # a reaction that fails on it: park it, go on
            log.exception("%s: cannot react to %s", self.name, _where(record))
            await self.park(record, repr(error))
            return []

    async def too_large(self, post: Post, error: MessageSizeTooLargeError) -> None:
        await self.park(post.record, f"its command is too large: {error}")

    async def park(self, record: ConsumerRecord, reason: str) -> None:
        await dead_letter(self._producer, record, f"{self.name}: {reason}", self.name)
        self.dead_lettered += 1


@dataclass(frozen=True, slots=True)
class Post:
    """A command a policy sends because of a record, in the trace of the record's reaction (None: none)."""

    record: ConsumerRecord
    policy: Policy
    topics: AggregateTopics
    command: AggregateCommand
    context: Context | None = None


class PolicyGroup:
    """A service's policies as one consumer-group member."""

    def __init__(
        self, name: str, policies: Sequence[Policy], producer: AIOKafkaProducer, bootstrap_servers: str
    ) -> None:
        self.name = name
        self._policies = list(policies)
        self._bus = self._policies[0].bus  # a group has policies (a service without any has no group)
        self._producer = producer
        self._bootstrap = bootstrap_servers
        self._by_topic: dict[str, list[Policy]] = {}
        for policy in self._policies:
            for topic in policy.topics:
                self._by_topic.setdefault(topic, []).append(policy)

    async def run(self) -> None:
        former = {
            topic: [[p.name, *p.formerly] for p in policies if p.name != self.name]
            for topic, policies in self._by_topic.items()
        }
        regrouped = partial(kafka.where_former_groups_stood, self._bootstrap, self.name, former)
        consumer = GroupMember(self._bootstrap, self.name)
        rounds = kafka.CommitRounds(self.name, consumer, on_assigned=regrouped)
        await consumer.subscribe(list(self._by_topic), rounds)
        try:
            while True:
                batches = await consumer.getmany(timeout_ms=200)
                posts = []
                for record in (record for records in batches.values() for record in records):
                    posts.extend(await self._commands_for(record))
                await post_in_turns(self._bus, posts)
                for tp, records in batches.items():
                    rounds.handled(tp, records)
                await rounds.after_fetch(bool(batches))
        finally:
            await consumer.close()

    async def _commands_for(self, record: ConsumerRecord) -> list[Post]:
        try:
            event = event_pb2.Event.FromString(record.value)
            if not event.event_id:
                raise ValueError("event without event_id")
        except Exception as error:  # unreadable: park it once, for every policy, and go on
            log.exception("%s: cannot read %s", self.name, _where(record))
            await dead_letter(self._producer, record, f"{self.name}: {error!r}", self.name)
            for policy in self._by_topic[record.topic]:
                policy.dead_lettered += 1
            return []
        with telemetry.consuming(_tracer, f"react to {event.event_type}", record, self.name):
            context = telemetry.carried()
            return [
                post
                for policy in self._by_topic[record.topic]
                for post in await policy.commands_for(record, event, context)
            ]


async def post_in_turns(bus: CommandBus, posts: Sequence[Post]) -> None:
    """Send a fetch's commands together: one round trip to the broker for many commands instead of one
    each. Order matters only per aggregate (its owner decides each command on the state the earlier ones
    left), so the commands of one aggregate go in rounds: the first of each aggregate together, then the
    second of each, and so on. One that is not written is sent again until it is, before the next of its
    aggregate goes; a later command therefore never lands before an earlier one of the same aggregate."""
    by_aggregate: dict[tuple[str, str, str], list[Post]] = {}
    for post in posts:
        meta = post.command.meta
        by_aggregate.setdefault((post.topics.commands, meta.tenant_id, meta.aggregate_id), []).append(post)
    queues = list(by_aggregate.values())
    for turn in range(max((len(queue) for queue in queues), default=0)):
        together = [queue[turn] for queue in queues if turn < len(queue)]
        commands = [(post.topics, post.command) for post in together]
        contexts = [post.context for post in together]
        too_large = await bus.post_together(
            commands, "policies", RETRY_FIRST_SECONDS, RETRY_MAX_SECONDS, contexts
        )
        for post, error in zip(together, too_large, strict=True):
            if error is not None:
                await post.policy.too_large(post, error)


def _where(record: ConsumerRecord) -> str:
    return f"{record.topic}/{record.partition}/{record.offset}"


async def dead_letter(producer: AIOKafkaProducer, record: ConsumerRecord, reason: str, who: str) -> None:
    await _until_written(partial(kafka.send_to_dlq, producer, record, reason), who)


async def _until_written(write: Callable[[], Awaitable[T]], who: str) -> T:
    return await kafka.until_done(write, who, RETRY_FIRST_SECONDS, RETRY_MAX_SECONDS)
