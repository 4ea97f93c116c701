"""Policies: a consumer group that turns events of one context into commands of another
("when a call is answered, open a ticket"). Each command's id is derived from the event id, so a
redelivered event sends a command the owner has already seen: the policy is idempotent by event_id."""

import logging
from collections.abc import Callable, Sequence

from aiokafka import AIOKafkaProducer
from cc.common.v1 import event_pb2
from google.protobuf.message import DecodeError

from services.common import kafka
from services.common.aggregate import AggregateCommand
from services.common.command_bus import CommandBus
from services.common.topics import AggregateTopics

log = logging.getLogger(__name__)
Reaction = Callable[[event_pb2.Event], Sequence[tuple[AggregateTopics, AggregateCommand]]]


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

    async def run(self) -> None:
        consumer = kafka.group_consumer(self._bootstrap, self.name)
        consumer.subscribe(self._topics)
        await consumer.start()
        try:
            while True:
                batches = await consumer.getmany(timeout_ms=200)
                for tp, records in batches.items():
                    for record in records:
                        event = event_pb2.Event()
                        try:
                            event.ParseFromString(record.value)
                            if not event.event_id:
                                raise ValueError("event without event_id")
                        except (DecodeError, ValueError) as error:
                            await kafka.send_to_dlq(self._producer, record, f"{self.name}: {error}")
                            continue
                        for topics, command in self._react(event):
                            await self._bus.post(topics, command)
                    await consumer.commit({tp: records[-1].offset + 1})
        finally:
            await consumer.stop()
