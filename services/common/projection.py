"""A read model: every aggregate of one type, loaded from its snapshots and kept current by tailing its
events topic from each partition's latest checkpoint on.

Queries are answered from here, never from the command side. `wait_for` lets an RPC that just wrote
return the state it wrote (read-your-writes by aggregate version). Observers (timers) see every
aggregate as it changes, and every aggregate loaded from a snapshot once, so what they derive from state
(RONA and wrap-up deadlines) is rebuilt on restart too.
"""

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any, Generic

from aiokafka import ConsumerRecord
from cc.common.v1 import event_pb2
from google.protobuf.message import DecodeError

from services.common import kafka, tail
from services.common.aggregate import AggregateSpec, C, ReadSpec, S, Versioned
from services.common.snapshots import load_partition

log = logging.getLogger(__name__)
Key = tuple[str, str]
Observer = Callable[[Versioned[Any]], None]


class Projection(Generic[S, C]):
    def __init__(self, spec: AggregateSpec[S, C] | ReadSpec[S], bootstrap_servers: str) -> None:
        self.spec = spec
        self._bootstrap = bootstrap_servers
        self.entries: dict[Key, Versioned[S]] = {}
        self._by_tenant: dict[str, dict[str, Versioned[S]]] = defaultdict(dict)
        self.caught_up = asyncio.Event()
        self.unreadable = 0
        self._observers: list[Observer] = []
        # RPCs waiting for an aggregate to reach a version: resolved as its events arrive.
        self._waiting: dict[Key, list[tuple[int, asyncio.Future[None]]]] = {}

    def observe(self, observer: Observer) -> None:
        self._observers.append(observer)

    def get(self, tenant_id: str, aggregate_id: str) -> Versioned[S] | None:
        return self.entries.get((tenant_id, aggregate_id))

    def of_tenant(self, tenant_id: str) -> list[Versioned[S]]:
        return list(self._by_tenant.get(tenant_id, {}).values())

    async def wait_for(
        self, tenant_id: str, aggregate_id: str, version: int, timeout: float = 5.0
    ) -> Versioned[S] | None:
        """The entry once it has reached `version` (or what there is when the timeout passes)."""
        entry = self.get(tenant_id, aggregate_id)
        if entry is not None and entry.version >= version:
            return entry
        key = (tenant_id, aggregate_id)
        reached: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        waiters = self._waiting.setdefault(key, [])
        waiters.append((version, reached))
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(reached, timeout)
        finally:
            if (version, reached) in waiters:
                waiters.remove((version, reached))
            if not waiters:
                self._waiting.pop(key, None)
        return self.get(tenant_id, aggregate_id)

    async def run(self) -> None:
        starts = await kafka.until_done(self._load_snapshots, f"the {self.spec.aggregate_type} read model")
        await tail.follow(
            self._bootstrap,
            tail.Follower(
                [self.spec.topics.events],
                lambda tp, end: starts.get(tp.partition, 0),
                self._apply_all,
                self._caught_up,
            ),
        )

    def _caught_up(self) -> None:
        log.info("%s read model caught up: %d aggregates", self.spec.aggregate_type, len(self.entries))
        self.caught_up.set()

    async def _load_snapshots(self) -> dict[int, int]:
        """Load every partition's snapshots, with a reader of its own for as long as that takes; the
        events offset each partition is followed from, by partition."""
        self.entries.clear()  # what an attempt that failed half-way had loaded
        self._by_tenant.clear()
        consumer = kafka.reader(self._bootstrap)
        try:
            await consumer.start()
            starts: dict[int, int] = {}
            for tp in await kafka.partitions_of(consumer, [self.spec.topics.snapshots]):
                loaded = await load_partition(consumer, tp, self.spec.codec)
                starts[tp.partition] = loaded.events_offset if loaded else 0
                for snapshot in (loaded.aggregates if loaded else {}).values():
                    if snapshot.state is not None:
                        self._store(
                            Versioned(
                                snapshot.state, snapshot.version, snapshot.tenant_id, snapshot.aggregate_id
                            )
                        )
        finally:
            await consumer.stop()
        for entry in self.entries.values():
            self._notify(entry)
        return starts

    def _apply_all(self, records: list[ConsumerRecord]) -> None:
        for record in records:
            self._apply(record.value, record.offset)

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
        self._store(entry)
        self._notify(entry)
        for version, reached in self._waiting.get(key, ()):
            if version <= entry.version and not reached.done():
                reached.set_result(None)

    def _notify(self, entry: Versioned[S]) -> None:
        """Show an observer (a timer) the entry; one that fails on it is logged, never stops the model."""
        for observer in self._observers:
            try:
                observer(entry)
            except Exception:
                log.exception("an observer failed on %s %s", self.spec.aggregate_type, entry.aggregate_id)

    def _store(self, entry: Versioned[S]) -> None:
        self.entries[(entry.tenant_id, entry.aggregate_id)] = entry
        self._by_tenant[entry.tenant_id][entry.aggregate_id] = entry


class Index(Generic[S]):
    """A read model's aggregates found by a key their state holds (a customer by each of its
    identifiers), kept current as the model changes. A key may belong to several aggregates: the model
    never refuses a state, so uniqueness is the writer's business."""

    def __init__(self, projection: "Projection[S, Any]", keys_of: Callable[[S], Iterable[str]]) -> None:
        self._projection = projection
        self._keys_of = keys_of
        self._keys: dict[Key, frozenset[str]] = {}
        self._holders: dict[tuple[str, str], set[str]] = defaultdict(set)
        projection.observe(self._update)

    def find(self, tenant_id: str, key: str) -> list[Versioned[S]]:
        """The aggregates holding the key, by aggregate id."""
        found = (self._projection.get(tenant_id, i) for i in sorted(self._holders.get((tenant_id, key), ())))
        return [entry for entry in found if entry is not None]

    def _update(self, entry: Versioned[S]) -> None:
        aggregate = (entry.tenant_id, entry.aggregate_id)
        before = self._keys.get(aggregate, frozenset())
        after = frozenset(self._keys_of(entry.state))
        for key in before - after:
            holders = self._holders[(entry.tenant_id, key)]
            holders.discard(entry.aggregate_id)
            if not holders:
                del self._holders[(entry.tenant_id, key)]
        for key in after - before:
            self._holders[(entry.tenant_id, key)].add(entry.aggregate_id)
        self._keys[aggregate] = after
