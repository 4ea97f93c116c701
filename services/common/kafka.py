"""Kafka clients configured the one way the platform uses them, plus the dead-letter route."""

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from functools import partial
from typing import Any, TypeVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.conn import AIOKafkaConnection, CloseReason
from aiokafka.consumer.fetcher import Fetcher
from aiokafka.errors import KafkaConnectionError, KafkaError, MessageSizeTooLargeError
from aiokafka.producer import sender as aiokafka_sender
from aiokafka.structs import OffsetAndMetadata

from services.common import kafka_security
from services.common.librdkafka_consumers import GroupMember
from services.common.topics import dlq

log = logging.getLogger(__name__)
# Records handed over per step of a replay: big enough to amortise the loop, small enough to stay cheap.
REPLAY_BATCH = 5000
# How long the broker holds a fetch that finds nothing new. A record appended answers a waiting fetch at
# once, but aiokafka keeps one fetch in flight per broker, and a partition left out of it (its records were
# still being handled when it was sent) waits for it to return: so this also bounds the delay of a busy
# consumer. At 500 ms for every fetch an idle platform cost half as much CPU, but bench-commands' p99 at
# 200/s went from 264 to 760 ms in the same hour. So the wait is this long while records flow, and
# QUIET_FETCH_WAIT_MS once a fetch found nothing and none is left out (see _fetch_actions below).
IDLE_FETCH_WAIT_MS = 100
QUIET_FETCH_WAIT_MS = 500
# What a gathering group member (see group_consumer) waits for before the broker answers its fetch.
GATHER_BYTES = 256 * 1024
# A group member that reacts idempotently commits its offsets when idle, or this often while busy, not
# per record: per record, the policies made ten offset commits per call.
COMMIT_EVERY_SECONDS = 1.0
# The wait before a transactional producer asks again to add a partition that its previous transaction
# still holds. The coordinator answers CONCURRENT_TRANSACTIONS from a commit until its markers are
# written, about a millisecond later, so every transaction right after another on the same partition is
# refused once; aiokafka then waits a fixed 20 ms, which capped one partition at about 45 transactions a
# second. Measured bare (one transaction per command, two records each): 55 commands/s at 20 ms, 144 at
# 5 ms, 233 at 2 ms, 278 at 1 ms. The partition owners now write with librdkafka, which retries after its
# retry.backoff.ms (2 ms there) for the same reason; this serves transactional_producer below. Kafka 4's
# transactions v2 (KIP-890) drop this request, but neither client speaks them.
CONCURRENT_TRANSACTIONS_RETRY_SECONDS = 0.002
aiokafka_sender.BACKOFF_OVERRIDE = CONCURRENT_TRANSACTIONS_RETRY_SECONDS

_aiokafka_send = AIOKafkaConnection.send


def _send_or_connection_error(self: AIOKafkaConnection, request: Any, expect_response: bool = True) -> Any:
    """aiokafka's request write, where a connection the broker has just dropped (its process killed)
    fails as a broken connection, as aiokafka expects, and not as the RuntimeError uvloop raises for a
    closed transport. aiokafka handles the first everywhere (it marks the node or its coordinator dead
    and tries again); the second escaped its coordination routine and failed the whole consumer, which
    stopped the service (seen in `make chaos` and tests/e2e/test_broker_outage.py)."""
    try:
        return _aiokafka_send(self, request, expect_response)
    except RuntimeError as error:
        if "closed=True" not in str(error) and "handler is closed" not in str(error):
            raise  # any other RuntimeError is a bug, and goes on up
        self.close(reason=CloseReason.CONNECTION_BROKEN)
        raise KafkaConnectionError(f"Connection at {self.host}:{self.port} broken: {error}") from error


AIOKafkaConnection.send = _send_or_connection_error

_fetch_actions = Fetcher._get_actions_per_node
_fetch = Fetcher._proc_fetch_request


def _fetch_actions_waiting_longer_when_quiet(self: Fetcher, assignment: Any) -> Any:
    """aiokafka's next fetches, asking the broker to hold them QUIET_FETCH_WAIT_MS when the last fetch
    found nothing and every assigned partition is in the fetch: none has records still being handled,
    is paused (a partition an owner is still loading) or awaits its position. A record appended to any
    then answers it at once, while a partition left out would wait for it to return. An idle consumer
    asks five times less often; a busy one keeps the short wait. Gathering members (fetch_min_bytes > 1)
    keep their own."""
    configured = self.__dict__.setdefault("_configured_wait_ms", self._fetch_max_wait_ms)
    quiet = (
        self.__dict__.get("_found_nothing", False)
        and not self._records
        and self._fetch_min_bytes == 1
        and _every_partition_fetchable(assignment)
    )
    self._fetch_max_wait_ms = max(configured, QUIET_FETCH_WAIT_MS) if quiet else configured
    return _fetch_actions(self, assignment)


def _every_partition_fetchable(assignment: Any) -> bool:
    for tp in assignment.tps:
        state = assignment.state_value(tp)
        if state is None or state.paused or not state.has_valid_position:
            return False
    return True


async def _fetch_noting_what_it_found(self: Fetcher, assignment: Any, node_id: int, request: Any) -> bool:
    found = bool(await _fetch(self, assignment, node_id, request))
    self.__dict__["_found_nothing"] = not found
    return found


Fetcher._get_actions_per_node = _fetch_actions_waiting_longer_when_quiet
Fetcher._proc_fetch_request = _fetch_noting_what_it_found


def idempotent_producer(bootstrap_servers: str, linger_ms: int = 0) -> AIOKafkaProducer:
    """acks=all with idempotence: a retried send never duplicates or reorders within a partition.
    A linger trades latency for fewer, larger produce requests (see CC_PRODUCER_LINGER_MS)."""
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers,
        **kafka_security.aiokafka(),
        enable_idempotence=True,
        acks="all",
        linger_ms=linger_ms,
    )


def transactional_producer(bootstrap_servers: str, transactional_id: str) -> AIOKafkaProducer:
    """Writes that commit or abort together; a second producer with the same id fences this one. The
    partition owners write with librdkafka (services/common/transactions.py); this aiokafka one writes
    the transactions of tests and benchmarks that play another writer (an aborted command, a zombie)."""
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers,
        **kafka_security.aiokafka(),
        transactional_id=transactional_id,
        enable_idempotence=True,
        acks="all",
        linger_ms=0,
        # Right after a commit the coordinator answers CONCURRENT_TRANSACTIONS until its markers are
        # written; the default 100 ms back-off then became the p95 of every command on a busy partition.
        retry_backoff_ms=10,
    )


def reader(bootstrap_servers: str) -> AIOKafkaConsumer:
    """A consumer outside any group, for replaying or tailing topics by explicit assignment."""
    return AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers,
        **kafka_security.aiokafka(),
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=IDLE_FETCH_WAIT_MS,
        isolation_level="read_committed",  # never see the events of an aborted command
    )


def group_consumer(bootstrap_servers: str, group_id: str, gather_ms: int | None = None) -> AIOKafkaConsumer:
    """A consumer in a group that commits only after its work is acknowledged downstream.

    `gather_ms` is for a member whose work is cheaper in batches than it is late (the analytics sink):
    the broker then holds each fetch until GATHER_BYTES have arrived or that long has passed, instead of
    answering every record appended, so the member fetches once a round rather than once a record."""
    return AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers,
        **kafka_security.aiokafka(),
        group_id=group_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=gather_ms or IDLE_FETCH_WAIT_MS,
        fetch_min_bytes=GATHER_BYTES if gather_ms else 1,
        isolation_level="read_committed",
        session_timeout_ms=10_000,
        heartbeat_interval_ms=1_000,
    )


T = TypeVar("T")


async def until_done(work: Callable[[], Awaitable[T]], who: str, first: float = 0.5, cap: float = 10.0) -> T:
    """Run `work` until the broker lets it finish: a start or a write that cannot reach the broker (it
    is away, too loaded to answer in time, or moving a partition) waits and tries again rather than
    stopping its service. A record too large is no passing fault: it is raised."""
    pause = first
    while True:
        try:
            return await work()
        except MessageSizeTooLargeError:
            raise
        except KafkaError as error:
            log.warning("%s: the broker refused (%r); trying again in %.1fs", who, error, pause)
            await asyncio.sleep(pause)
            pause = min(pause * 2, cap)


NOT_COMMITTED = OffsetAndMetadata(-1, "")
# Where a group member's newly assigned partitions start, if not at the group's committed offsets.
OnAssigned = Callable[[list[TopicPartition]], Awaitable[dict[TopicPartition, int]]]


async def where_former_groups_stood(
    bootstrap_servers: str,
    group: str,
    former: Mapping[str, Sequence[Sequence[str]]],
    assigned: list[TopicPartition],
) -> dict[TopicPartition, int]:
    """Where `group`'s partitions that it has never committed start: at the earliest offset committed
    by the former groups reading that topic (`former`: topic -> for each reaction, the names its groups
    had: the furthest of them counts), and only where every reaction's former group had committed one
    (a former group without one started at the beginning too). Between the former offsets, records are
    handled twice, harmlessly for a member that may read a round again anyway; none is skipped. The
    member commits these starts at once, so that a quiet partition does not depend on the former
    groups' offsets, which the broker drops 7 days after their groups empty."""
    topics = {tp.topic for tp in assigned if former.get(tp.topic)}
    if not topics:
        return {}
    asking = [tp for tp in assigned if tp.topic in topics]
    names = sorted({name for topic in topics for names in former[topic] for name in names})
    # Retried until the broker answers (a fresh broker's coordinator loads for a while): a failure
    # here would leave the partitions at the beginning, reacting again to the whole history.
    stood = await until_done(partial(_committed_offsets, bootstrap_servers, group, names, asking), group)
    starts = {}
    # A group can answer -1 for a partition it never committed.
    for tp in (tp for tp in asking if stood[group].get(tp, NOT_COMMITTED).offset < 0):
        # A reaction that ran under several groups had handled everything below the furthest.
        offsets = [
            max(stood[name].get(tp, NOT_COMMITTED).offset for name in names) for names in former[tp.topic]
        ]
        if all(offset >= 0 for offset in offsets):
            starts[tp] = min(offsets)
            log.info("%s: %s starts at %d, where its former groups stood", group, tp, starts[tp])
    return starts


async def _committed_offsets(
    bootstrap_servers: str, group: str, former: Sequence[str], asking: Sequence[TopicPartition]
) -> dict[str, dict[TopicPartition, OffsetAndMetadata]]:
    """The group's committed offsets, and the former groups' only when the group lacks one of `asking`
    (after its first start, a rebalance asks the broker once, not once per former group)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, **kafka_security.aiokafka())
    try:
        await admin.start()
        stood = {group: await admin.list_consumer_group_offsets(group)}
        if all(stood[group].get(tp, NOT_COMMITTED).offset >= 0 for tp in asking):
            return stood
        for name in former:
            stood[name] = await admin.list_consumer_group_offsets(name)
        return stood
    finally:
        await admin.close()


class CommitRounds:
    """The offsets a group member has handled, committed in rounds: when a fetch finds nothing, or at
    least every COMMIT_EVERY_SECONDS while busy, and for the partitions leaving it in a rebalance. After
    a crash the partition's next owner reads again at most a round, so only for members whose handling
    of a record twice is harmless. A commit refused (a rebalance, the broker away) is only logged.

    It is the member's rebalance listener."""

    def __init__(self, who: str, member: GroupMember, on_assigned: OnAssigned | None = None) -> None:
        self._who = who
        self._member = member
        self._on_assigned = on_assigned
        self._handled: dict[TopicPartition, int] = {}
        self._committed_at = time.monotonic()

    def handled(self, tp: TopicPartition, records: Sequence[ConsumerRecord]) -> None:
        if records:
            self._handled[tp] = records[-1].offset + 1

    async def after_fetch(self, found_any: bool) -> None:
        if self._handled and (not found_any or time.monotonic() - self._committed_at >= COMMIT_EVERY_SECONDS):
            # A batch fetched before a rebalance may name a partition this member no longer holds: the
            # broker would refuse the whole commit for it.
            held = self._member.assignment()
            await self._commit({tp: offset for tp, offset in self._handled.items() if tp in held})
            self._handled = {}
            self._committed_at = time.monotonic()

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        leaving = {tp: self._handled.pop(tp) for tp in revoked if tp in self._handled}
        if leaving:
            await self._commit(leaving)

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        if self._on_assigned is not None:
            starts = await self._on_assigned(assigned)
            if starts:
                self._member.start_at(starts)
                await self._commit(starts)

    async def _commit(self, offsets: dict[TopicPartition, int]) -> None:
        if not offsets:
            return
        await commit_offsets(self._member, offsets, self._who)


async def commit_offsets(
    consumer: AIOKafkaConsumer | GroupMember, offsets: dict[TopicPartition, int], who: str
) -> bool:
    """Commit a group member's offsets, or log why not and go on (whatever was not committed is read
    again, so every caller handles a record twice harmlessly): refused in a rebalance, or the broker
    away. Whether they were committed."""
    try:
        await consumer.commit(offsets)
        return True
    except KafkaError as error:  # CommitFailedError in a rebalance, or the broker away
        log.warning("%s: %s not committed (%r); read again later", who, offsets, error)
    return False


async def partitions_of(consumer: AIOKafkaConsumer, topics: Sequence[str]) -> list[TopicPartition]:
    partitions: list[TopicPartition] = []
    for topic in topics:
        ids = consumer.partitions_for_topic(topic)
        if ids is None:
            # An assigned consumer keeps metadata of its assigned topics only (the shared reader
            # looks up another's when a follower joins): track this one too, then ask.
            consumer._client.add_topic(topic)
            await consumer._client.force_metadata_update()
            ids = consumer.partitions_for_topic(topic) or set()
        partitions.extend(TopicPartition(topic, p) for p in sorted(ids))
    return partitions


async def read_to_end(
    consumer: AIOKafkaConsumer, starts: Mapping[TopicPartition, int]
) -> AsyncIterator[list[ConsumerRecord]]:
    """Read each partition from its start offset to its end as of now (the last stable offset, for a
    read_committed consumer), batch by batch: a replay streams, it never holds a whole log."""
    partitions = list(starts)
    if not partitions:
        return
    consumer.assign(partitions)
    ends = await consumer.end_offsets(partitions)
    pending = {tp for tp in partitions if starts[tp] < ends[tp]}
    for tp in pending:
        consumer.seek(tp, starts[tp])
    while pending:
        batches = await consumer.getmany(*pending, timeout_ms=500, max_records=REPLAY_BATCH)
        for batch in batches.values():
            yield batch
        pending = {tp for tp in pending if await consumer.position(tp) < ends[tp]}


async def offset_at(consumer: AIOKafkaConsumer, tp: TopicPartition, epoch_ms: int) -> int:
    """The first offset of a record written at or after `epoch_ms` (the end when there is none)."""
    found = await consumer.offsets_for_times({tp: epoch_ms})
    if found.get(tp) is not None:
        return int(found[tp].offset)
    return int((await consumer.end_offsets([tp]))[tp])


async def read_one(consumer: AIOKafkaConsumer, tp: TopicPartition, offset: int) -> ConsumerRecord | None:
    """The record at `offset`, or None when retention has removed it."""
    consumer.assign([tp])
    if offset < (await consumer.beginning_offsets([tp]))[tp]:
        return None
    consumer.seek(tp, offset)
    async with asyncio.timeout(10):
        while True:
            for record in (await consumer.getmany(tp, timeout_ms=500, max_records=1)).get(tp, []):
                return record if record.offset == offset else None


async def send_to_dlq(producer: AIOKafkaProducer, record: ConsumerRecord, reason: str) -> None:
    """Park an unreadable record with why it failed; the consumer goes on with the next one."""
    headers = [
        *(record.headers or ()),
        ("dlq-reason", reason.encode()[:1000]),
        ("dlq-source", f"{record.topic}/{record.partition}/{record.offset}".encode()),
    ]
    try:
        await producer.send_and_wait(dlq(record.topic), value=record.value, key=record.key, headers=headers)
    except KafkaError:
        log.exception("could not dead-letter %s/%s/%s", record.topic, record.partition, record.offset)
        raise
    log.warning("dead-lettered %s/%s/%s: %s", record.topic, record.partition, record.offset, reason)
