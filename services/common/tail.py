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
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from aiokafka import ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError

from services.common import kafka

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
        self._bootstrap = bootstrap_servers
        self._consumer = kafka.reader(bootstrap_servers)
        self._places: list[_Place] = []
        self._joining: list[_Place] = []
        self._catching_up: list[_Place] = []
        self._by_partition: dict[TopicPartition, list[_Place]] = {}
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
        await kafka.until_done(self._start, "the shared reader")
        consumer = self._consumer
        try:
            while True:
                if self._joining:
                    await self._admit()
                batches = await consumer.getmany(timeout_ms=JOIN_WAIT_MS, max_records=kafka.REPLAY_BATCH)
                for tp, records in batches.items():
                    for place in self._by_partition.get(tp, ()):
                        place.take(tp, records)
                if self._catching_up:
                    await self._note_caught_up()
        finally:
            await consumer.stop()

    async def _start(self) -> None:
        """Start the consumer, or a fresh one after a start that failed (a consumer starts only once)."""
        try:
            await self._consumer.start()
        except BaseException:
            await self._consumer.stop()
            self._consumer = kafka.reader(self._bootstrap)
            raise

    async def _admit(self) -> None:
        """Assign the joiners' partitions beside the ones already read, and go back where a joiner
        starts earlier than the reader stands (the others skip what they have taken already)."""
        consumer = self._consumer
        joining, self._joining = self._joining, []
        standing = {tp: await consumer.position(tp) for tp in consumer.assignment()}
        wanted = dict(standing)
        for place in joining:
            partitions = await self._partitions_of(place.follower.topics)
            ends = dict(await consumer.end_offsets(partitions))
            if place not in self._places:
                continue  # it left while its partitions were looked up
            place.ends = ends
            for tp, end in ends.items():
                # Never past the end: the reader would be sent back to the beginning, and a follower
                # starting there would miss what is written between the end and its start.
                start = place.next_offsets[tp] = min(place.follower.start_at(tp, end), end)
                wanted[tp] = min(start, wanted.get(tp, start))
                self._by_partition.setdefault(tp, []).append(place)
            self._catching_up.append(place)
        reassigned = wanted.keys() != standing.keys()
        if reassigned:
            consumer.assign(list(wanted))  # this replaces the assignment: every position is set again
        for tp, offset in wanted.items():
            if reassigned or standing[tp] != offset:
                consumer.seek(tp, offset)
        await self._note_caught_up()

    async def _partitions_of(self, topics: Sequence[str]) -> list[TopicPartition]:
        """The topics' partitions, or KafkaError: a follower with none would read nothing, silently
        (every topic a service follows exists before it starts, so none known is the broker's fault)."""
        for attempt in range(METADATA_ATTEMPTS):
            partitions = await kafka.partitions_of(self._consumer, topics)
            missing = set(topics) - {tp.topic for tp in partitions}
            if not missing:
                return partitions
            await asyncio.sleep(attempt + 1)
        raise KafkaError(f"no partitions known for {sorted(missing)}")

    async def _note_caught_up(self) -> None:
        consumer = self._consumer
        for place in list(self._catching_up):
            for tp, end in place.ends.items():
                if await consumer.position(tp) < end:
                    break
            else:
                if place in self._catching_up:  # it may have left while a position was asked
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
