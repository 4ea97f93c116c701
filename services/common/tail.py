"""One reader per process for every topic its read models follow.

A service keeps several read models beside its single writers: its own aggregates, other contexts'
(lines, customers), the key ring, the replies its RPCs wait for. Each used to run a consumer of its
own, and every idle consumer asks the broker for records ten times a second (kafka.IDLE_FETCH_WAIT_MS):
an idle platform of about forty of them cost the broker a quarter of a core. Here they share one
consumer per process and broker address: one fetch carries every partition they follow, and a partition
two of them follow is read once.

A follower names where it starts in each partition and a function that takes its records. The shared
reader hands it every record from there on, in order, synchronously (followers only fold records into
memory), and tells it when it has read every partition to the end it had when it joined.
"""

import asyncio
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from aiokafka import ConsumerRecord, TopicPartition

from services.common import kafka
from services.common.librdkafka_consumers import LibrdkafkaReader

log = logging.getLogger(__name__)
# How long one fetch waits for records before the reader looks again for followers that joined. A
# follower joins while its service starts, so this is start-up latency, never a record's.
JOIN_WAIT_MS = 100
# Tries to learn a joining follower's partitions (1 s, 2 s... apart) before the reader gives up.
METADATA_ATTEMPTS = 5
# Where a follower starts in a partition, given the partition and its end when the follower joined.
StartAt = Callable[[TopicPartition, int], int]


@dataclass(eq=False)
class Follower:
    """A read model as the shared reader serves it."""

    topics: Sequence[str]
    start_at: StartAt
    # Takes the partition's next records, in order; called synchronously, so it must not block.
    deliver: Callable[[list[ConsumerRecord]], None]
    # Called once it has read every partition to the end it had when it joined. Every record written
    # after that point reaches it, so a follower starting at the end is caught up at once.
    caught_up: Callable[[], None] = lambda: None


@dataclass(eq=False)
class _Place:
    """Where one follower stands: the next offset it takes in each partition, and the ends it had
    when it joined until it has reached them."""

    follower: Follower
    next_offsets: dict[TopicPartition, int] = field(default_factory=dict)
    ends: dict[TopicPartition, int] = field(default_factory=dict)

    def take(self, tp: TopicPartition, records: list[ConsumerRecord]) -> None:
        """Hand the follower its records. One that fails on a batch is handed it again record by
        record, so that only the records it fails on are skipped (and logged): every follower takes a
        record twice harmlessly (a read model skips versions it has)."""
        start = self.next_offsets[tp]
        if records[0].offset < start:  # the reader went back for a follower that joined after this one
            records = [record for record in records if record.offset >= start]
            if not records:
                return
        self.next_offsets[tp] = records[-1].offset + 1
        try:
            self.follower.deliver(records)
        except Exception:
            for record in records:
                try:
                    self.follower.deliver([record])
                except Exception:
                    log.exception("a follower of %s failed on offset %s; it goes on", tp, record.offset)


class _Tail:
    """The shared reader of one broker address in one event loop, running while it has followers."""

    def __init__(self, bootstrap_servers: str) -> None:
        self._consumer = LibrdkafkaReader(bootstrap_servers)
        self._places: list[_Place] = []
        self._joining: list[_Place] = []
        self._catching_up: list[_Place] = []
        self._by_partition: dict[TopicPartition, list[_Place]] = {}
        # Where each partition was last assigned: its position until it has handed over a record.
        self._assigned: dict[TopicPartition, int] = {}
        self.task = asyncio.create_task(self._run(), name=f"shared reader of {bootstrap_servers}")

    def join(self, place: _Place) -> None:
        self._places.append(place)
        self._joining.append(place)

    def leave(self, place: _Place) -> bool:
        """Take the follower out; whether the reader has none left (it is then stopped)."""
        for places in (self._places, self._joining, self._catching_up, *self._by_partition.values()):
            if place in places:
                places.remove(place)
        if self._places:
            return False
        self.task.cancel()
        return True

    async def _run(self) -> None:
        consumer = self._consumer
        try:
            while True:
                if self._joining:
                    await kafka.until_done(self._admit, "the shared reader")
                batches = await consumer.getmany(JOIN_WAIT_MS, kafka.REPLAY_BATCH)
                for tp, records in batches.items():
                    for place in self._by_partition.get(tp, ()):
                        place.take(tp, records)
                if self._catching_up:
                    await self._note_caught_up()
        finally:
            await consumer.close()

    async def _positions(self, partitions: Iterable[TopicPartition]) -> dict[TopicPartition, int]:
        handed = await self._consumer.positions(partitions)
        return {tp: offset if offset >= 0 else self._assigned[tp] for tp, offset in handed.items()}

    async def _admit(self) -> None:
        """Assign the joiners' partitions beside the ones already read, and go back where a joiner
        starts earlier than the reader stands (the others skip what they have taken already). What the
        broker is asked comes first, so that a call it fails leaves every joiner waiting in line."""
        consumer = self._consumer
        joining = list(self._joining)
        ends = [await consumer.end_offsets(await self._partitions_of(p.follower.topics)) for p in joining]
        self._joining = [place for place in self._joining if place not in joining]
        standing = await self._positions(self._assigned)
        wanted = dict(standing)
        for place, place_ends in zip(joining, ends, strict=True):
            if place not in self._places:
                continue  # it left while its partitions were looked up
            place.ends = place_ends
            for tp, end in place_ends.items():
                # Never past the end: the reader would be sent back to the beginning, and a follower
                # starting there would miss what is written between the end and its start.
                start = place.next_offsets[tp] = min(place.follower.start_at(tp, end), end)
                wanted[tp] = min(start, wanted.get(tp, start))
                self._by_partition.setdefault(tp, []).append(place)
            self._catching_up.append(place)
        if wanted != standing:
            await consumer.assign(wanted)  # every partition from where it stands, or from further back
            self._assigned = wanted
        await self._note_caught_up()

    async def _partitions_of(self, topics: Sequence[str]) -> list[TopicPartition]:
        """The topics' partitions. A topic the broker does not know stops the reader (LookupError):
        a follower with none would read nothing, silently, and every topic a service follows exists
        before it starts."""
        for attempt in range(METADATA_ATTEMPTS):
            partitions = await self._consumer.partitions_of(topics)
            missing = set(topics) - {tp.topic for tp in partitions}
            if not missing:
                return partitions
            await asyncio.sleep(attempt + 1)
        raise LookupError(f"no partitions known for {sorted(missing)}")

    async def _note_caught_up(self) -> None:
        for place in list(self._catching_up):
            standing = await self._positions(place.ends)
            # It may have left while a position was asked.
            if all(standing[tp] >= end for tp, end in place.ends.items()) and place in self._catching_up:
                self._catching_up.remove(place)
                place.follower.caught_up()


_tails: dict[tuple[asyncio.AbstractEventLoop, str], _Tail] = {}


async def follow(bootstrap_servers: str, follower: Follower) -> None:
    """Serve `follower` from this process's shared reader of `bootstrap_servers`, for as long as the
    reader runs: raises what stopped it (the follower's service then stops, as with any lost loop)."""
    key = (asyncio.get_running_loop(), bootstrap_servers)
    tail = _tails.get(key)
    if tail is None or tail.task.done():  # none yet, or one that failed while others were leaving it
        tail = _tails[key] = _Tail(bootstrap_servers)
    place = _Place(follower)
    tail.join(place)
    try:
        await asyncio.shield(tail.task)  # a follower that stops does not stop the others' reader
    finally:
        if tail.leave(place) and _tails.get(key) is tail:
            del _tails[key]
