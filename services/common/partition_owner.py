"""The single writer of one commands partition (ARCHITECTURE: event sourcing on Kafka).

Loading: start the partition's transactional producer (`<group>.<p>`; this fences any previous owner
and aborts its open transaction), load the partition's snapshots, then replay only the events after the
snapshots' checkpoint and the outcomes of the window, streaming. Until that has succeeded the partition
is not served; a failed load is retried from scratch and never leaves partial state to decide on.

Serving: the commands waiting on the partition are taken as one batch (bounded by count, bytes and a
linger), decided in order on the in-memory state (each command sees the ones before it), and the whole
batch (every event, every outcome, snapshots when due, and the command offset) is committed in one Kafka
transaction, as Kafka Streams does with its exactly-once commit interval. One transaction costs the
broker several ms of CPU whatever it holds, so under load many commands share one; under light load a
batch is the one command that came. Replies go out after the commit.

The command offset travels in the transaction as a header of the batch's last outcome record (a record
of its own when the batch decided nothing new), not as a consumer-group offset commit: a group offset in
a transaction costs two more round trips and another partition's markers, and measured 5.2 ms p50 /
17 ms p90 per transaction against 3.5 / 4.0 ms without (see bench/commands.py). A new owner reads its
position from the outcomes log: the window's last, or when the window holds none (a partition idle for
longer), the log's last. The group's offsets are committed outside transactions now and then, for lag
monitoring and as the start of a partition that never committed a batch.

Faults: a batch whose transaction fails is decided again only after the partition has been loaded
afresh, because whether that transaction committed is unknown (a commit can succeed and its answer be
lost) and deciding on the memory of before could append the same events twice. A producer that was
fenced (another member holds the partition now) makes the owner give the partition up, however the
fence shows: on the commit, on a record, or as a producer that refuses to send any more. Any other
error the owner cannot handle also gives the partition up, so the group hands it to a fresh owner
instead of leaving it held by nobody.
"""

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import islice
from typing import Generic

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaConnectionError, KafkaError
from cc.common.v1 import event_pb2, types_pb2
from google.protobuf.message import DecodeError

from services.common import kafka, telemetry
from services.common.aggregate import AggregateSpec, C, S
from services.common.deciding import Decided, Entry, decide_command, duplicate_of, replay
from services.common.envelope import aggregate_key
from services.common.librdkafka_consumers import GroupMember
from services.common.outcomes import CommandLedger, RecentOutcomes, fingerprint
from services.common.settings import PlatformSettings
from services.common.snapshots import (
    CHECKPOINT_KEY,
    SnapshotOf,
    checkpoint_record,
    load_partition,
    snapshot_record,
)
from services.common.transactions import Delivered, TransactionalWriter, WriteFailed

log = logging.getLogger(__name__)
Key = tuple[str, str]
# How often aggregates untouched for a while have their outcome ledgers trimmed to the window.
SWEEP_SECONDS = 3600.0
# Reply delivery inside this process (the RPC that sent the command waits here), else None.
LocalDelivery = Callable[[types_pb2.CommandReply], bool]
# The outcomes record of a batch that decided no new command: it only carries the position.
POSITION_KEY = b"\x00position"
NEXT_COMMAND_HEADER = "cc-next-command-offset"
# Snapshots written per batch (besides the aggregates the batch changed) while a snapshot round runs.
SNAPSHOTS_PER_STEP = 1000
# A partition in a snapshot round with no commands coming writes the rest of the round after this long.
SNAPSHOT_IDLE_SECONDS = 0.2


class PartitionLost(Exception):
    """The partition's producer was fenced, or its owner failed: the group must give it to a fresh owner."""


@dataclass
class _Pending(Generic[S]):
    key: Key
    reply_to: str
    reply: types_pb2.CommandReply
    decided: Decided[S] | None  # None for a repeated command_id
    headers: list[tuple[str, bytes]]


class PartitionOwner(Generic[S, C]):
    LOADING, SERVING, FAILED, STOPPED = "loading", "serving", "failed", "stopped"

    def __init__(
        self,
        spec: AggregateSpec[S, C],
        tp: TopicPartition,
        group: str,
        settings: PlatformSettings,
        producer: AIOKafkaProducer,
        consumer: GroupMember,
        deliver: LocalDelivery,
    ) -> None:
        self.spec = spec
        self.tp = tp
        self.partition = tp.partition
        self._group = group
        self._settings = settings
        self._bootstrap = settings.kafka_bootstrap_servers
        self._producer = producer  # replies and dead letters, outside any transaction
        self._consumer = consumer  # the group's consumer: paused while loading or backlogged
        self._deliver = deliver
        self.status = self.LOADING
        self.entries: dict[Key, Entry[S]] = {}
        self.recent = RecentOutcomes(settings.cc_outcomes_in_memory)
        self.events_end = 0  # every event of the partition before this offset is in `entries`
        self.outcomes_end = 0
        self.next_command: int | None = None  # the first command not yet decided, once known
        self.transactions = 0
        self.commands = 0
        self.snapshot_steps = 0  # transactions that carried snapshots
        self.checkpoints = 0
        self.loaded_from_snapshots = False
        self.replayed = 0  # events replayed after the snapshots when the partition was loaded
        self._dirty: set[Key] = set()  # changed since their last snapshot
        self._forgotten: set[Key] = set()  # swept away, to tombstone in the next snapshot step
        self._snapshot_round = False
        self._every = settings.cc_snapshot_every_events
        self._written_since_checkpoint = 0
        self._swept_at = time.monotonic()
        self._inbox: deque[ConsumerRecord] = deque()
        self._arrived = asyncio.Event()
        self._backlogged = False
        self._last_batch = 0  # commands in the latest batch: more than one means the partition is busy
        self._busy = asyncio.Lock()  # held while a batch is decided and committed
        self._writer: TransactionalWriter | None = None
        self._reader: AIOKafkaConsumer | None = None  # reads back outcomes no longer in memory
        self._task: asyncio.Task[None] | None = None
        self._tracer = telemetry.tracer(__name__)

    # -- lifecycle -------------------------------------------------------------------------------------
    def start(self, on_lost: Callable[["PartitionOwner[S, C]"], None]) -> None:
        async def run() -> None:
            try:
                await self._run()
            except PartitionLost:
                on_lost(self)
            except Exception:  # never a partition that nobody serves: a fresh owner takes it over
                log.exception("%s: the owner failed; giving the partition up", self.tp)
                self.status = self.STOPPED
                on_lost(self)

        self._task = asyncio.create_task(run(), name=f"{self.spec.topics.commands}[{self.partition}]")

    async def stop(self) -> None:
        """Give the partition up: the batch in hand is committed (or not) first, never cut in two."""
        async with self._busy:
            if self._task is not None:
                self._task.cancel()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
        self.status = self.STOPPED
        for client in (self._writer, self._reader):
            if client is not None:
                await client.stop()
        self._writer = self._reader = None

    @property
    def snapshotting(self) -> bool:
        """A snapshot round has begun and its checkpoint is not written yet."""
        return self._snapshot_round

    def offer(self, records: list[ConsumerRecord]) -> None:
        """Commands fetched for this partition, in offset order."""
        self._inbox.extend(records)
        self._arrived.set()
        if len(self._inbox) > 4 * self._settings.cc_command_batch_max_commands and not self._backlogged:
            self._backlogged = True
            self._consumer.pause(self.tp)

    async def _run(self) -> None:
        await self._load_until_done()
        if self.next_command is not None:
            self._consumer.seek(self.tp, self.next_command)
        self.status = self.SERVING
        self._consumer.resume(self.tp)
        log.info(
            "%s: serving %d aggregates (events from offset %d)", self.tp, len(self.entries), self.events_end
        )
        while True:
            await self._commit_until_done(await self._next_batch())

    async def _commit_until_done(self, batch: list[ConsumerRecord]) -> None:
        delay = 0.05
        while True:
            async with self._busy:
                try:
                    await self._handle(batch)
                    return
                except PartitionLost as lost:
                    log.warning("%s was taken over (%s); giving it up", self.tp, lost.__cause__)
                    self.status = self.STOPPED
                    raise
                except (KafkaError, WriteFailed) as error:
                    log.warning("%s: batch of %d not committed (%r); retrying", self.tp, len(batch), error)
            # Outside the lock: a revocation need not wait for a broker that does not answer.
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
            # The failed transaction may have committed after all, or another member may have written
            # meanwhile: the batch is decided again only on the partition as its log now has it (the
            # reload starts with a new producer, which settles the transaction left open).
            await self._load_until_done()
            self.status = self.SERVING

    # -- loading ---------------------------------------------------------------------------------------
    async def _load_until_done(self) -> None:
        delay = 0.5
        while True:
            try:
                await self._load()
                return
            except Exception:  # a partition never decides on partial state: start again from nothing
                log.exception("%s: loading failed; retrying in %.1fs", self.tp, delay)
                self.status = self.FAILED
                self.entries.clear()
                self.recent = RecentOutcomes(self._settings.cc_outcomes_in_memory)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)

    async def _load(self) -> None:
        await self._renew_writer()  # first: fencing the previous owner makes the logs' ends final
        topics = self.spec.topics
        reader = kafka.reader(self._bootstrap)
        await reader.start()
        try:
            snapshot = await load_partition(
                reader, TopicPartition(topics.snapshots, self.partition), self.spec.codec
            )
            entries: dict[Key, Entry[S]] = {
                key: Entry(loaded.state, loaded.version, loaded.ledger)
                for key, loaded in (snapshot.aggregates.items() if snapshot else ())
            }
            events_tp = TopicPartition(topics.events, self.partition)
            outcomes_tp = TopicPartition(topics.outcomes, self.partition)
            window_start = _now_ms() - self._settings.outcome_window_ms
            outcomes_from = max(
                snapshot.outcomes_offset if snapshot else 0,
                await kafka.offset_at(reader, outcomes_tp, window_start),
            )
            ends = await reader.end_offsets([events_tp, outcomes_tp])
            replayed = 0
            async for records in kafka.read_to_end(
                reader, {events_tp: snapshot.events_offset if snapshot else 0}
            ):
                for record in records:
                    replayed += self._replay_event(entries, record)
            async for records in kafka.read_to_end(reader, {outcomes_tp: outcomes_from}):
                for record in records:
                    self._replay_outcome(entries, record)
                    self.next_command = _next_command(record) or self.next_command
            if self.next_command is None:
                self.next_command = await _last_position(reader, outcomes_tp, ends[outcomes_tp])
        finally:
            await reader.stop()
        for entry in entries.values():
            entry.ledger.forget_before(window_start)
        self.entries = entries
        self.events_end, self.outcomes_end = ends[events_tp], ends[outcomes_tp]
        # Without usable snapshots every aggregate is snapshotted, starting at once.
        self._dirty = set(entries) if snapshot is None else set()
        self._forgotten = set()
        self._written_since_checkpoint = replayed
        self._snapshot_round = snapshot is None and bool(entries)
        self.loaded_from_snapshots, self.replayed = snapshot is not None, replayed
        log.info(
            "%s: loaded %d aggregates (%s), replayed %d events",
            self.tp,
            len(entries),
            "from snapshots" if snapshot else "no usable snapshots",
            replayed,
        )

    def _replay_event(self, entries: dict[Key, Entry[S]], record: ConsumerRecord) -> int:
        try:
            return int(replay(self.spec, entries, event_pb2.Event.FromString(record.value)))
        except Exception:  # one bad record in the log must not stop the owner from serving the rest
            log.exception("cannot replay %s/%s/%s", record.topic, record.partition, record.offset)
            return 0

    def _replay_outcome(self, entries: dict[Key, Entry[S]], record: ConsumerRecord) -> None:
        if record.key == POSITION_KEY:
            return
        try:
            reply = types_pb2.CommandReply.FromString(record.value)
            tenant = record.key.decode()[: -len(reply.aggregate_id) - 1]
        except (DecodeError, UnicodeDecodeError, AttributeError):
            log.error("unreadable outcome %s/%s/%s", record.topic, record.partition, record.offset)
            return
        entry = entries.setdefault((tenant, reply.aggregate_id), Entry(None, 0))
        entry.ledger.add(
            fingerprint(reply.command_id),
            record.offset,
            record.timestamp,
            self._settings.cc_outcomes_per_aggregate,
        )
        self.recent.put(reply)

    # -- serving ---------------------------------------------------------------------------------------
    async def _next_batch(self) -> list[ConsumerRecord]:
        settings = self._settings
        while not self._inbox:
            self._arrived.clear()
            if not self._snapshot_round:
                await self._arrived.wait()
                continue
            try:
                await asyncio.wait_for(self._arrived.wait(), SNAPSHOT_IDLE_SECONDS)
            except TimeoutError:
                return []  # no commands: carry the snapshot round on by itself
        # Linger only under load (the last batch had company): a lone command is never held back.
        if (
            settings.cc_command_batch_linger_ms > 0
            and self._last_batch > 1
            and len(self._inbox) < settings.cc_command_batch_max_commands
        ):
            await asyncio.sleep(settings.cc_command_batch_linger_ms / 1000)
        batch: list[ConsumerRecord] = []
        size = 0
        while self._inbox and len(batch) < settings.cc_command_batch_max_commands:
            size += len(self._inbox[0].value or b"")
            if batch and size > settings.cc_command_batch_max_bytes:
                break
            batch.append(self._inbox.popleft())
        if self._backlogged and len(self._inbox) < settings.cc_command_batch_max_commands:
            self._backlogged = False
            self._consumer.resume(self.tp)
        self._last_batch = len(batch)
        return batch

    async def _handle(self, batch: list[ConsumerRecord]) -> None:
        now = datetime.now(UTC)
        changed: dict[Key, Entry[S]] = {}
        decided_here: dict[str, types_pb2.CommandReply] = {}
        pending: list[_Pending[S]] = []
        unreadable: list[tuple[ConsumerRecord, str]] = []
        for record in batch:
            command = self.spec.command_type()
            try:
                command.ParseFromString(record.value)
                meta = command.meta
                if not meta.command_id or not meta.tenant_id or not meta.aggregate_id:
                    raise ValueError("command without command_id, tenant_id or aggregate_id")
            except (DecodeError, ValueError) as error:
                unreadable.append((record, f"unreadable command: {error}"))
                continue
            key = (meta.tenant_id, meta.aggregate_id)
            entry = changed.get(key) or self.entries.get(key)
            with self._tracer.start_as_current_span(
                f"decide {self.spec.aggregate_type}", context=telemetry.extract_context(record.headers)
            ):
                earlier = decided_here.get(meta.command_id) or await self._earlier_outcome(
                    entry, meta.command_id
                )
                if earlier is not None:
                    pending.append(_Pending(key, meta.reply_to, duplicate_of(earlier), None, []))
                    continue
                decided = decide_command(self.spec, entry, command, now, self._settings.cc_max_event_bytes)
                headers = telemetry.inject_headers()
            changed[key] = Entry(decided.state, decided.version, entry.ledger if entry else CommandLedger())
            decided_here[meta.command_id] = decided.reply
            pending.append(_Pending(key, meta.reply_to, decided.reply, decided, headers))
        for record, reason in unreadable:  # before the commit moves past them: nothing is lost
            await kafka.send_to_dlq(self._producer, record, reason)
        await self._commit(batch[-1].offset + 1 if batch else None, changed, pending)
        self.commands += len(batch)
        self._send_replies(pending)

    async def _earlier_outcome(
        self, entry: Entry[S] | None, command_id: str
    ) -> types_pb2.CommandReply | None:
        """The first outcome of this command_id, from memory or, when it is older, from the outcomes topic."""
        recent = self.recent.get(command_id)
        if recent is not None or entry is None:
            return recent
        offset = entry.ledger.find(fingerprint(command_id))
        if offset is None:
            return None
        if self._reader is None:
            self._reader = kafka.reader(self._bootstrap)
            await self._reader.start()
        record = await kafka.read_one(
            self._reader, TopicPartition(self.spec.topics.outcomes, self.partition), offset
        )
        if record is None:
            return None  # past the topic's retention: the window has passed
        reply = types_pb2.CommandReply.FromString(record.value)
        return reply if reply.command_id == command_id else None

    async def _commit(
        self, next_offset: int | None, changed: dict[Key, Entry[S]], pending: list[_Pending[S]]
    ) -> None:
        """Every event, outcome and due snapshot of the batch, and the command position: all or nothing.
        With no commands (`next_offset` None) it only carries snapshots of a round in progress."""
        writer = self._writer
        if writer is None:
            raise KafkaConnectionError("the partition's writer is not started")
        decided = [p for p in pending if p.decided is not None]
        written = sum(len(p.decided.events) + 1 for p in decided if p.decided is not None)
        if not self._snapshot_round and self._written_since_checkpoint + written >= self._every:
            self._snapshot_round = True
            self._sweep()
        position = [] if next_offset is None else [(NEXT_COMMAND_HEADER, str(next_offset).encode())]
        snapshot_step = self._snapshot_round
        try:
            stored, appended, ledgers, snapshotted, checkpoint = await self._transaction(
                writer, decided, changed, position
            )
        except (KafkaError, WriteFailed) as error:
            # However the fence showed (on a record, a call or a poll), the writer remembers it.
            if writer.fenced or (isinstance(error, WriteFailed) and error.fenced):
                raise PartitionLost(str(self.tp)) from error
            raise
        self.transactions += 1
        # Committed: the batch's state becomes the partition's, its outcomes are remembered.
        for key, ledger in ledgers.items():
            changed[key].ledger = ledger
        self.entries.update(changed)
        for item in decided:
            self.recent.put(item.reply)
        if next_offset is not None:
            self.next_command = next_offset
        if stored:
            self.outcomes_end = stored[-1].offset + 1
        if appended:
            self.events_end = appended[-1].offset + 1
        self._dirty |= changed.keys()
        self._dirty -= snapshotted
        self._written_since_checkpoint += written
        if snapshot_step:
            self._forgotten.clear()  # the step tombstoned them, or wrote the ones that came back
        if snapshotted:
            self.snapshot_steps += 1
        if checkpoint:
            self.checkpoints += 1
            self._snapshot_round = False
            self._written_since_checkpoint = 0

    async def _transaction(
        self,
        writer: TransactionalWriter,
        decided: list[_Pending[S]],
        changed: dict[Key, Entry[S]],
        position: list[tuple[str, bytes]],
    ) -> tuple[list[Delivered], list[Delivered], dict[Key, CommandLedger], set[Key], bool]:
        topics = self.spec.topics
        async with writer.transaction():
            events = [
                await writer.send(
                    topics.events,
                    value=data,
                    key=aggregate_key(*item.key),
                    partition=self.partition,
                    headers=item.headers,
                )
                for item in decided
                if item.decided is not None
                for data in item.decided.serialized
            ]
            outcomes = [
                await writer.send(
                    topics.outcomes,
                    value=item.reply.SerializeToString(),
                    key=aggregate_key(*item.key),
                    partition=self.partition,
                    headers=position if index == len(decided) - 1 else None,
                )
                for index, item in enumerate(decided)
            ]
            if position and not decided:
                await writer.send(
                    topics.outcomes, value=b"", key=POSITION_KEY, partition=self.partition, headers=position
                )
            stored = await asyncio.gather(*outcomes)
            # Where each outcome landed is known now, inside the transaction: the ledgers as they will be.
            ledgers: dict[Key, CommandLedger] = {}
            for item, metadata in zip(decided, stored, strict=True):
                ledger = ledgers.get(item.key) or ledgers.setdefault(
                    item.key, changed[item.key].ledger.copy()
                )
                ledger.append(
                    fingerprint(item.reply.command_id),
                    metadata.offset,
                    metadata.timestamp,
                    self._settings.cc_outcomes_per_aggregate,
                )
            snapshotted, checkpoint = (
                await self._send_snapshots(writer, changed, ledgers)
                if self._snapshot_round
                else (set(), False)
            )
            appended = await asyncio.gather(*events)
        return stored, appended, ledgers, snapshotted, checkpoint

    async def _send_snapshots(
        self, writer: TransactionalWriter, changed: dict[Key, Entry[S]], ledgers: dict[Key, CommandLedger]
    ) -> tuple[set[Key], bool]:
        """One step of a snapshot round: the aggregates this batch changed and a share of those changed
        since the last checkpoint, as they will be once the batch commits (outcomes included). When none
        is left to write, the checkpoint follows, naming the offsets before this batch: every aggregate's
        latest snapshot then includes all of its events and outcomes before them, and replaying from
        there re-applies nothing twice (versions and ledger entries are applied once). A round spreads
        over batches, so a partition with many aggregates never writes them all in one transaction."""
        topics = self.spec.topics
        codec = self.spec.codec
        share = max(SNAPSHOTS_PER_STEP, 2 * len(changed))
        to_write = changed.keys() | set(islice((key for key in self._dirty if key not in changed), share))
        for key in to_write:
            entry = changed.get(key) or self.entries.get(key)
            if entry is None:
                continue
            ledger = ledgers.get(key, entry.ledger)
            record_key, value = snapshot_record(
                codec, SnapshotOf(key[0], key[1], entry.version, entry.state, ledger)
            )
            await writer.send(topics.snapshots, value=value, key=record_key, partition=self.partition)
        # Once per round (the sweep fills it at the round's start), and never for an aggregate that came
        # back in this batch: its tombstone after its snapshot would erase it.
        for key in self._forgotten - to_write:
            await writer.send(topics.snapshots, value=None, key=aggregate_key(*key), partition=self.partition)
        if not self._dirty <= to_write:
            return to_write, False
        await writer.send(
            topics.snapshots,
            value=checkpoint_record(codec, self.events_end, self.outcomes_end),
            key=CHECKPOINT_KEY,
            partition=self.partition,
        )
        return to_write, True

    def _sweep(self) -> None:
        """Trim ledgers to the window now and then; an aggregate with neither state nor outcomes left is
        forgotten, here and (by a tombstone in the next snapshot round) in the snapshots topic."""
        if time.monotonic() - self._swept_at < SWEEP_SECONDS:
            return
        self._swept_at = time.monotonic()
        window_start = _now_ms() - self._settings.outcome_window_ms
        for key, entry in list(self.entries.items()):
            before = len(entry.ledger)
            entry.ledger.forget_before(window_start)
            if entry.state is None and not len(entry.ledger):
                del self.entries[key]
                self._dirty.discard(key)
                self._forgotten.add(key)
            elif len(entry.ledger) != before:
                self._dirty.add(key)

    def _send_replies(self, pending: list[_Pending[S]]) -> None:
        for item in pending:
            if not item.reply_to:
                continue
            reply = types_pb2.CommandReply()
            reply.CopyFrom(item.reply)
            reply.reply_to = item.reply_to
            if self._deliver(reply):
                continue  # the RPC waiting for it is in this process
            future = asyncio.ensure_future(
                self._producer.send_and_wait(
                    self.spec.topics.replies,
                    value=reply.SerializeToString(),
                    key=item.reply_to.encode(),
                    headers=item.headers,
                )
            )
            future.add_done_callback(_log_failed_reply)

    async def _renew_writer(self) -> None:
        """A new transactional producer for the partition: fences any other holder of its id (a previous
        owner, or this owner's own broken producer) and aborts the transaction it left open."""
        if self._writer is not None:
            old, self._writer = self._writer, None
            await old.stop()
        writer = TransactionalWriter(self._bootstrap, f"{self._group}.{self.partition}")
        try:
            await writer.start()
        except BaseException:
            await writer.stop()
            raise
        self._writer = writer


def _log_failed_reply(future: "asyncio.Future[object]") -> None:
    if not future.cancelled() and future.exception() is not None:
        log.warning("a reply was not sent (the caller retries with its command id): %r", future.exception())


async def _last_position(reader: AIOKafkaConsumer, outcomes: TopicPartition, end: int) -> int | None:
    """The command position of the last committed batch when the window holds no outcome (the partition
    was idle for longer than the window): scanned back from the log's end, a few records more each time,
    since transaction markers and aborted batches carry none. Without it the partition would start from
    the group's offset, committed only every few seconds, and decide commands it has decided already."""
    begin = (await reader.beginning_offsets([outcomes]))[outcomes]
    start, step = end, 16
    while start > begin:
        start = max(begin, start - step)
        position = None
        async for records in kafka.read_to_end(reader, {outcomes: start}):
            for record in records:
                position = _next_command(record) or position
        if position is not None:
            return position
        step *= 4
    return None


def _next_command(record: ConsumerRecord) -> int | None:
    for name, value in record.headers or ():
        if name == NEXT_COMMAND_HEADER:
            return int(value)
    return None


def _now_ms() -> int:
    return int(time.time() * 1000)
