"""Policies: a consumer group that turns events of one context into commands of another
("when a call is answered, open a ticket"). Each command's id is derived from the event id, so a
redelivered event sends a command the owner has already seen: the policy is idempotent by event_id.

One record never stops a policy: an event it cannot read, or cannot react to (any exception, or a
command too large for a record), goes to `<topic>.dlq` with the reason, and the policy goes on. What
the broker refuses for a while (it is down, or moving a partition) is retried until it is written, so no
command is lost. Offsets are committed in rounds (`kafka.CommitRounds`); one that a rebalance refuses
is skipped, and the partition's new owner reads those events again, harmlessly."""

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import TypeVar

from aiokafka import AIOKafkaProducer, ConsumerRecord
from aiokafka.errors import KafkaError, MessageSizeTooLargeError
from cc.common.v1 import event_pb2

from services.common import kafka
from services.common.aggregate import AggregateCommand
from services.common.command_bus import CommandBus
from services.common.topics import AggregateTopics

log = logging.getLogger(__name__)
Reaction = Callable[[event_pb2.Event], Sequence[tuple[AggregateTopics, AggregateCommand]]]


def combined(*reactions: Reaction) -> Reaction:
    """Several reactions to the same topics as one policy: one consumer group reads the events once,
    rather than one group per reaction (each costs the broker fetches and commits). An event one of
    them cannot react to is dead-lettered for all, so combine only reactions that do not fail."""

    def react(event: event_pb2.Event) -> Sequence[tuple[AggregateTopics, AggregateCommand]]:
        return [command for reaction in reactions for command in reaction(event)]

    return react


T = TypeVar("T")
# Waits between attempts while the broker refuses a write: short at first, never longer than the cap.
RETRY_FIRST_SECONDS = 0.2
RETRY_MAX_SECONDS = 5.0


class Policy:
    def __init__(
        self,
        name: str,
        source_topics: Sequence[str],
        react: Reaction,
        bus: CommandBus,
        producer: AIOKafkaProducer,
        bootstrap_servers: str,
    ) -> None:
        self.name = name
        self._topics = list(source_topics)
        self._react = react
        self._bus = bus
        self._producer = producer
        self._bootstrap = bootstrap_servers
        self.dead_lettered = 0

    async def run(self) -> None:
        consumer = kafka.group_consumer(self._bootstrap, self.name)
        rounds = kafka.CommitRounds(self.name, consumer)
        consumer.subscribe(self._topics, listener=rounds)
        await consumer.start()
        try:
            while True:
                batches = await consumer.getmany(timeout_ms=200)
                for tp, records in batches.items():
                    for record in records:
                        await self._handle(record)
                    rounds.handled(tp, records)
                await rounds.after_fetch(bool(batches))
        finally:
            await consumer.stop()

    async def _handle(self, record: ConsumerRecord) -> None:
        try:
            event = event_pb2.Event.FromString(record.value)
            if not event.event_id:
                raise ValueError("event without event_id")
            commands = self._react(event)
        except Exception as error:  # unreadable, or a reaction that fails on it: park it, go on
            where = f"{record.topic}/{record.partition}/{record.offset}"
            log.exception("%s: cannot react to %s", self.name, where)
            await self._dead_letter(record, f"{self.name}: {error!r}")
            return
        for topics, command in commands:
            try:
                await _until_written(partial(self._bus.post, topics, command), self.name)
            except MessageSizeTooLargeError as error:
                await self._dead_letter(record, f"{self.name}: its command is too large: {error}")

    async def _dead_letter(self, record: ConsumerRecord, reason: str) -> None:
        await _until_written(partial(kafka.send_to_dlq, self._producer, record, reason), self.name)
        self.dead_lettered += 1


async def _until_written(write: Callable[[], Awaitable[T]], who: str) -> T:
    """Retry a write the broker refuses for now; a record too large is no passing fault and is raised."""
    pause = RETRY_FIRST_SECONDS
    while True:
        try:
            return await write()
        except MessageSizeTooLargeError:
            raise
        except KafkaError as error:
            log.warning("%s: write refused (%r); retrying in %.1fs", who, error, pause)
            await asyncio.sleep(pause)
            pause = min(pause * 2, RETRY_MAX_SECONDS)
