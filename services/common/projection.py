"""A read model: every aggregate of one type, rebuilt by tailing its events topic from the beginning.

Queries are answered from here, never from the command side. `wait_for` lets an RPC that just wrote
return the state it wrote (read-your-writes by aggregate version). Observers see every event once,
during replay and live alike, so state they derive (timers, indexes) is rebuilt on restart too.
"""

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any, Generic

from aiokafka import AIOKafkaConsumer, TopicPartition
from cc.common.v1 import event_pb2
from google.protobuf.message import DecodeError

from services.common import kafka
from services.common.aggregate import AggregateSpec, C, S, Versioned

log = logging.getLogger(__name__)
Key = tuple[str, str]
Observer = Callable[[event_pb2.Event, Versioned[Any]], None]


class Projection(Generic[S, C]):
    def __init__(self, spec: AggregateSpec[S, C], bootstrap_servers: str) -> None:
        self.spec = spec
        self._bootstrap = bootstrap_servers
        self.entries: dict[Key, Versioned[S]] = {}
        self.caught_up = asyncio.Event()
        self.unreadable = 0
        self._observers: list[Observer] = []
        self._changed = asyncio.Condition()

    def observe(self, observer: Observer) -> None:
        self._observers.append(observer)

    def get(self, tenant_id: str, aggregate_id: str) -> Versioned[S] | None:
        return self.entries.get((tenant_id, aggregate_id))

    def of_tenant(self, tenant_id: str) -> list[Versioned[S]]:
        return [entry for (tenant, _), entry in self.entries.items() if tenant == tenant_id]

    async def wait_for(
        self, tenant_id: str, aggregate_id: str, version: int, timeout: float = 5.0
    ) -> Versioned[S] | None:
        """The entry once it has reached `version` (or what there is when the timeout passes)."""

        def reached() -> bool:
            entry = self.get(tenant_id, aggregate_id)
            return entry is not None and entry.version >= version

        async with self._changed:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait_for(reached), timeout)
        return self.get(tenant_id, aggregate_id)

    async def run(self) -> None:
        consumer = kafka.reader(self._bootstrap)
        await consumer.start()
        try:
            partitions = await kafka.partitions_of(consumer, [self.spec.topics.events])
            consumer.assign(partitions)
            await consumer.seek_to_beginning(*partitions)
            ends = await consumer.end_offsets(partitions)
            if all(offset == 0 for offset in ends.values()):
                self.caught_up.set()
            while True:
                batches = await consumer.getmany(timeout_ms=200)
                async with self._changed:
                    for records in batches.values():
                        for record in records:
                            self._apply(record.value, record.offset)
                    self._changed.notify_all()
                if not self.caught_up.is_set() and await _reached(consumer, ends):
                    log.info(
                        "%s read model caught up: %d aggregates", self.spec.aggregate_type, len(self.entries)
                    )
                    self.caught_up.set()
        finally:
            await consumer.stop()

    def _apply(self, value: bytes, offset: int) -> None:
        event = event_pb2.Event()
        try:
            event.ParseFromString(value)
        except DecodeError:
            # Read models are not consumer groups (every instance reads everything): they skip and count;
            # dead-lettering is for the groups (processors, policies, the analytics sink).
            self.unreadable += 1
            log.error("unreadable event at offset %s of %s", offset, self.spec.topics.events)
            return
        key = (event.tenant_id, event.aggregate_id)
        current = self.entries.get(key)
        if current is not None and event.aggregate_version <= current.version:
            return
        try:
            state = self.spec.evolve(current.state if current else None, event)
        except Exception:  # an event this aggregate cannot follow (e.g. no creation event): skip, never crash
            self.unreadable += 1
            log.exception("cannot apply %s %s at offset %s", event.event_type, event.event_id, offset)
            return
        entry = Versioned(state, event.aggregate_version, event.tenant_id, event.aggregate_id)
        self.entries[key] = entry
        for observer in self._observers:
            observer(event, entry)


async def _reached(consumer: AIOKafkaConsumer, ends: dict[TopicPartition, int]) -> bool:
    for tp, end in ends.items():
        if await consumer.position(tp) < end:
            return False
    return True
