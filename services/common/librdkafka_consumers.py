"""Consumers on librdkafka (confluent-kafka), behind the small asyncio interface the platform uses: a
reader outside any group (the shared reader of read models) and a group member (command processors,
policies, the Twilio dialer).

py-spy on telephony (`make bench-commands`, one command at a time) found half of its CPU in aiokafka's
fetch loop: building, encoding and decoding in Python a fetch request and response that name every
assigned partition (the shared reader follows some sixty), several times per command. librdkafka fetches
on its own threads, in C, and keeps fetching a partition while earlier records wait to be taken, so the
broker may hold an idle fetch longer without delaying any record.

Every call runs on the consumer's one thread: librdkafka's consumer is not to be used from two threads
at once (a second caller waits for the first), and a wait for records must not block the event loop.
Records come back as aiokafka `ConsumerRecord`s, the type every reader of records takes.
"""

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Coroutine, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from functools import partial
from typing import Any, Protocol, TypeVar
from uuid import uuid4

from aiokafka import ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError
from confluent_kafka import OFFSET_INVALID, TIMESTAMP_LOG_APPEND_TIME, Consumer, KafkaException, Message
from confluent_kafka import TopicPartition as RdTopicPartition

from services.common import kafka_security
from services.common.consumer_lag import MeasuredLag

log = logging.getLogger(__name__)
# How long the broker holds a fetch that finds nothing. librdkafka's fetcher runs beside the reader, and
# a record appended answers a waiting fetch at once, so this costs no record any delay: it is only how
# often an idle reader asks (aiokafka's had to be short, see kafka.IDLE_FETCH_WAIT_MS).
FETCH_WAIT_MS = 500
# Records librdkafka fetches ahead per partition, at most: enough for a replay to stream, small enough
# that a reader of sixty partitions stays within a few hundred MiB while it replays them all.
PREFETCH_KBYTES = 4096
# Records handed over at most per wait, unless the caller says otherwise.
MAX_RECORDS = 1000
# A call that asks the broker (end offsets, metadata) gives up after this long.
BROKER_CALL_SECONDS = 10.0
# A rebalance listener still running after this long is given up (and logged), so that the consumer's
# thread never waits for ever: on an event loop stopped before close(), or a listener stuck. Longer than
# any listener's own waits (an owner's stop: its batch, then up to 2 s closing its writer; a commit: up
# to 10 s), and well within the group's max.poll.interval (300 s). Giving up is safe for the command
# path: a partition's next writer fences the previous one whatever it still does.
LISTENER_SECONDS = 60.0
# aiokafka's names for the two kinds of record timestamp.
CREATE_TIME, LOG_APPEND_TIME = 0, 1
T = TypeVar("T")


class _Consumer:
    """What both kinds share: read_committed (the events of an aborted command are never seen), from
    the earliest offset where none is known, committing only when told."""

    def __init__(self, bootstrap_servers: str, group_id: str, **settings: Any) -> None:
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix=group_id[:32])
        self._consumer = Consumer(
            {
                "bootstrap.servers": bootstrap_servers,
                "group.id": group_id,
                "enable.auto.commit": False,
                "enable.auto.offset.store": False,
                "auto.offset.reset": "earliest",
                "isolation.level": "read_committed",
                "fetch.wait.max.ms": FETCH_WAIT_MS,
                "queued.max.messages.kbytes": PREFETCH_KBYTES,
                "logger": logging.getLogger("librdkafka"),  # not straight to stderr
                **kafka_security.librdkafka(),
                **settings,
            }
        )
        self._group = group_id
        self._closed = False

    async def _call(self, work: Callable[..., T], *args: Any) -> T:
        try:
            return await asyncio.get_running_loop().run_in_executor(self._thread, partial(work, *args))
        except KafkaException as error:  # callers handle the broker's faults as aiokafka's
            raise KafkaError(str(error.args[0] if error.args else error)) from error

    async def positions(self, partitions: Iterable[TopicPartition]) -> dict[TopicPartition, int]:
        """The next offset each partition hands over (past transaction markers, unlike a last record's
        offset plus one: a partition read to its end stands at the end), or a negative number for one
        that has handed nothing over since it was assigned."""
        asked = [RdTopicPartition(tp.topic, tp.partition) for tp in partitions]
        if not asked:
            return {}
        known = await self._call(self._consumer.position, asked)
        return {TopicPartition(p.topic, p.partition): p.offset for p in known}

    async def getmany(
        self, timeout_ms: int, max_records: int = MAX_RECORDS
    ) -> dict[TopicPartition, list[ConsumerRecord]]:
        """The records fetched so far, up to `max_records`, waiting at most `timeout_ms` for the first."""
        messages = await self._call(self._take, max_records, timeout_ms / 1000)
        batches: dict[TopicPartition, list[ConsumerRecord]] = {}
        for message in messages:
            error = message.error()
            if error is not None:
                # librdkafka retries what passes (a broker away, a leader moving) by itself; it reports
                # it here too. A fatal error stops the reader: its service stops, as with any lost loop.
                if error.fatal():
                    raise KafkaError(str(error))
                log.warning("reader: %s", error)
                continue
            record = _record(message)
            batches.setdefault(TopicPartition(record.topic, record.partition), []).append(record)
        return batches

    def _take(self, max_records: int, timeout: float) -> list[Message]:
        """The first record as soon as there is one, and what else has arrived: librdkafka's batch
        call would wait out its whole timeout for a full batch."""
        self._before_take()
        first = self._consumer.poll(timeout)
        if first is None:
            return []
        return [first, *self._consumer.consume(max_records - 1, 0)] if max_records > 1 else [first]

    def _before_take(self) -> None:
        """What the consumer's thread does before each wait for records."""

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            await self._call(self._consumer.close)
            self._thread.shutdown(wait=False)


class LibrdkafkaReader(_Consumer):
    """Reads the partitions it is assigned, from the offsets it is told."""

    def __init__(self, bootstrap_servers: str) -> None:
        # The client requires a group id; this consumer never joins the group nor commits to it.
        super().__init__(bootstrap_servers, f"reader-{uuid4()}")

    async def assign(self, starts: dict[TopicPartition, int]) -> None:
        """Read exactly these partitions, each from its offset (the assignment is replaced)."""
        partitions = [RdTopicPartition(tp.topic, tp.partition, offset) for tp, offset in starts.items()]
        await self._call(self._consumer.assign, partitions)

    async def end_offsets(self, partitions: Sequence[TopicPartition]) -> dict[TopicPartition, int]:
        """The last stable offset of each partition: one request per broker for all of them."""
        if not partitions:
            return {}
        latest = [RdTopicPartition(tp.topic, tp.partition, -1) for tp in partitions]  # -1: the end
        found = await self._call(self._consumer.offsets_for_times, latest, BROKER_CALL_SECONDS)
        ends = {}
        for p in found:
            if p.error is not None:
                raise KafkaError(f"no end offset of {p.topic}[{p.partition}]: {p.error}")
            ends[TopicPartition(p.topic, p.partition)] = p.offset
        return ends

    async def partitions_of(self, topics: Sequence[str]) -> list[TopicPartition]:
        """The topics' partitions the broker knows (none for a topic it does not)."""
        partitions: list[TopicPartition] = []
        for topic in topics:
            metadata = await self._call(self._consumer.list_topics, topic, BROKER_CALL_SECONDS)
            found = metadata.topics.get(topic)
            if found is None or found.error is not None:
                continue
            partitions.extend(TopicPartition(topic, p) for p in sorted(found.partitions))
        return partitions


def _record(message: Message) -> ConsumerRecord:
    kind, timestamp = message.timestamp()
    key, value = message.key(), message.value()
    return ConsumerRecord(
        topic=message.topic(),
        partition=message.partition(),
        offset=message.offset(),
        timestamp=timestamp,
        timestamp_type=LOG_APPEND_TIME if kind == TIMESTAMP_LOG_APPEND_TIME else CREATE_TIME,
        key=key,
        value=value,
        checksum=None,
        serialized_key_size=len(key) if key is not None else -1,
        serialized_value_size=len(value) if value is not None else -1,
        headers=tuple(message.headers() or ()),
    )


class RebalanceListener(Protocol):
    """What a group member's owner does when partitions come and go (coroutines on the event loop)."""

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None: ...

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None: ...


class GroupMember(_Consumer):
    """A member of a consumer group that commits only what it is told to.

    librdkafka calls its rebalance callbacks on the consumer's thread, inside a wait for records; the
    listener's coroutines run on the event loop meanwhile, with that thread waiting for them. Whatever
    they ask of the consumer then (a commit, where a partition starts) cannot wait for the thread they
    hold: it is noted, and done by that thread when they return (the starts in the assignment itself).
    Pausing, resuming and moving a partition (`pause`, `resume`, `seek`) never wait either: the thread
    does them, in order, before its next wait for records, or as the rebalance they are asked in ends.
    That thread measures the member's lag too, while metrics are exported (services.common.consumer_lag)."""

    def __init__(self, bootstrap_servers: str, group_id: str) -> None:
        super().__init__(
            bootstrap_servers, group_id, **{"session.timeout.ms": 10_000, "heartbeat.interval.ms": 1_000}
        )
        self._loop = asyncio.get_running_loop()
        self._listener: RebalanceListener | None = None
        self._held: set[TopicPartition] = set()
        self._rebalancing = False
        self._starts: dict[TopicPartition, int] = {}
        self._to_commit: dict[TopicPartition, int] = {}
        self._topics: list[str] = []
        # What the consumer's thread does before its next wait: appended here, taken there.
        self._controls: deque[Callable[[Consumer], None]] = deque()
        self._lag = MeasuredLag(group_id)

    async def subscribe(self, topics: Sequence[str], listener: RebalanceListener) -> None:
        """Join the group for these topics; `listener` hears of every rebalance."""
        self._listener = listener
        self._topics = list(topics)
        await self._call(
            partial(
                self._consumer.subscribe,
                list(topics),
                on_assign=self._assigned,
                # Partitions lost without a revocation (the session expired) come here too: their
                # owners stop, and the commits refused for them are only logged.
                on_revoke=self._revoked,
            )
        )

    async def rejoin(self) -> None:
        """Give up every partition (the listener hears of it) and join the group again."""
        await self._call(self._consumer.unsubscribe)
        assert self._listener is not None, "only a member that subscribed rejoins"
        await self.subscribe(self._topics, self._listener)

    def pause(self, tp: TopicPartition) -> None:
        """Fetch nothing more of the partition until it is resumed."""
        self._controls.append(lambda consumer: consumer.pause([RdTopicPartition(tp.topic, tp.partition)]))

    def resume(self, tp: TopicPartition) -> None:
        self._controls.append(lambda consumer: consumer.resume([RdTopicPartition(tp.topic, tp.partition)]))

    def seek(self, tp: TopicPartition, offset: int) -> None:
        """Hand the partition over from `offset` on (what was fetched before is dropped)."""
        self._controls.append(
            lambda consumer: consumer.seek(RdTopicPartition(tp.topic, tp.partition, offset))
        )

    def _before_take(self) -> None:
        while self._controls:
            control = self._controls.popleft()
            try:
                control(self._consumer)
            except KafkaException as error:  # a partition revoked since it was asked: nothing to do
                log.warning("%s: a partition control failed: %r", self._group, error)
        if self._lag.due():
            try:
                self._lag.update(self._ends_and_positions())
            except KafkaException as error:  # measured again next time
                log.debug("%s: lag not measured: %r", self._group, error)

    def _ends_and_positions(self) -> list[tuple[str, int | None, int | None]]:
        """(topic, end, position) of each partition held, from what the client knows: the high watermark
        of the partition's last fetch (where a read_committed position stands when it has read all)."""
        held = [RdTopicPartition(tp.topic, tp.partition) for tp in self._held]
        found: list[tuple[str, int | None, int | None]] = []
        for partition in self._consumer.position(held) if held else ():
            marks = self._consumer.get_watermark_offsets(partition, cached=True)
            found.append((partition.topic, marks[1] if marks else None, partition.offset))
        return found

    def assignment(self) -> set[TopicPartition]:
        """The partitions this member holds (as of the latest rebalance)."""
        return set(self._held)

    async def close(self) -> None:
        self._lag.close()
        await super().close()

    def start_at(self, starts: dict[TopicPartition, int]) -> None:
        """Within the listener's `on_partitions_assigned`: start these partitions at these offsets
        rather than at the group's committed ones."""
        if not self._rebalancing:
            raise RuntimeError("a partition's start is set only while it is being assigned")
        self._starts.update(starts)

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        """Commit these offsets for the group, or raise KafkaError (a rebalance, the broker away)."""
        if self._rebalancing:
            self._to_commit.update(offsets)
            return
        await self._call(self._commit_now, offsets)

    def _commit_now(self, offsets: dict[TopicPartition, int]) -> None:
        listed = [RdTopicPartition(tp.topic, tp.partition, offset) for tp, offset in offsets.items()]
        for committed in self._consumer.commit(offsets=listed, asynchronous=False) or ():
            if committed.error is not None:
                raise KafkaException(committed.error)

    # -- on the consumer's thread, inside a wait for records -------------------------------------------
    def _assigned(self, consumer: Consumer, partitions: list[RdTopicPartition]) -> None:
        tps = [TopicPartition(p.topic, p.partition) for p in partitions]
        assert self._listener is not None  # subscribed, since partitions come
        self._in_listener(self._listener.on_partitions_assigned(tps))
        starts = [
            RdTopicPartition(tp.topic, tp.partition, self._starts.get(tp, OFFSET_INVALID)) for tp in tps
        ]
        consumer.assign(starts)  # OFFSET_INVALID: where the group committed, else the earliest
        self._held = set(tps)
        self._before_take()  # the pauses asked for while they were being assigned
        self._commit_noted("starts")

    def _revoked(self, consumer: Consumer, partitions: list[RdTopicPartition]) -> None:
        tps = [TopicPartition(p.topic, p.partition) for p in partitions]
        assert self._listener is not None
        self._in_listener(self._listener.on_partitions_revoked(tps))
        self._commit_noted("leaving partitions")
        consumer.unassign()
        self._held.clear()
        self._controls.clear()  # of partitions no longer held

    def _in_listener(self, work: Coroutine[Any, Any, None]) -> None:
        self._rebalancing = True
        self._starts, self._to_commit = {}, {}
        listening = asyncio.run_coroutine_threadsafe(work, self._loop)
        try:
            listening.result(timeout=LISTENER_SECONDS)
        except FutureTimeout:
            listening.cancel()
            log.error(
                "%s: a rebalance listener ran past %.0f s; going on without it", self._group, LISTENER_SECONDS
            )
        finally:
            self._rebalancing = False

    def _commit_noted(self, what: str) -> None:
        if self._to_commit:
            try:
                self._commit_now(self._to_commit)
            except KafkaException as error:  # read again by the partition's next owner
                log.warning("%s: %s not committed (%r)", self._group, what, error)
