"""The routing stream worker on a real broker, run as processes (`python -m services.routing.stream`)
on topics of their own (an app id and a topic prefix per test): they read committed events only,
find a re-forwarded event by its source offset, complete an event whose changelog was written in part
rather than apply it twice, and never serve an older board after a restart or a rebalance, however
often their metrics timers fire during recovery."""

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import pytest
from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from cc.common.v1 import event_pb2
from cc.routing.v1 import events_pb2 as routing_events
from cc.telephony.v1 import events_pb2 as call_events
from google.protobuf.message import Message

from services.common import kafka
from services.common.envelope import aggregate_key, new_id, timestamp
from services.common.topics import (
    AGENTS,
    CALLS,
    COMPACTED,
    QUEUE_METRICS,
    ROUTING_DECISIONS,
    TopicSpec,
    ensure_topics,
)
from services.routing.board import NOT_READY, READY, Board, SourcePosition, apply, entry_key, parse_entry_key
from services.routing.matching import dispatch
from services.routing.rules import implicit_rules
from services.routing.stream.board_input import SOURCE_HEADER, board_partition, source_header
from tests.unit.support import envelope, logged_in, queued

REPO_ROOT = Path(__file__).resolve().parents[2]
T = TypeVar("T")
# Logged by the worker each time its board table has recovered (services/routing/stream/agents.py).
RECOVERED = "boards rebuilt from the table"


@dataclass
class StreamWorkers:
    """Routing stream workers of one app id, on topics of their own, each a process."""

    bootstrap: str
    logs: Path
    app_id: str = field(default_factory=lambda: f"it-routing-{new_id()[-12:]}")
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def prefix(self) -> str:
        return f"{self.app_id}."

    def topic(self, name: str) -> str:
        return self.prefix + name

    @property
    def board_input(self) -> str:
        return f"{self.app_id}-board-input"

    def start(self, metrics_interval: float = 0.2) -> int:
        """Start one more worker; returns its number (its log is `worker-<n>.log`)."""
        number = len(self.processes)
        env = {
            **os.environ,
            "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
            "ROUTING_STREAM_ID": self.app_id,
            "ROUTING_STREAM_TOPIC_PREFIX": self.prefix,
            "ROUTING_METRICS_INTERVAL_SECONDS": str(metrics_interval),
        }
        with (self.logs / f"worker-{number}.log").open("wb") as log:
            self.processes.append(
                subprocess.Popen(
                    [sys.executable, "-m", "services.routing.stream"],
                    cwd=REPO_ROOT,
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
        return number

    def log(self, number: int) -> str:
        return (self.logs / f"worker-{number}.log").read_text(errors="replace")

    def recoveries(self, number: int) -> int:
        return self.log(number).count(RECOVERED)

    async def until_recovered(self, number: int, times: int = 1, timeout: float = 90) -> None:
        """Until worker `number` has rebuilt its boards from a recovered table `times` times."""
        async with asyncio.timeout(timeout):
            while self.recoveries(number) < times:
                assert self.processes[number].poll() is None, self.log(number)
                await asyncio.sleep(0.2)

    def kill(self, number: int) -> None:
        os.killpg(self.processes[number].pid, signal.SIGKILL)
        self.processes[number].wait(timeout=10)

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)


@pytest.fixture
def workers(kafka_bootstrap: str, tmp_path: Path) -> Iterator[StreamWorkers]:
    running = StreamWorkers(kafka_bootstrap, tmp_path)
    try:
        yield running
    finally:
        running.stop_all()


@pytest.fixture
async def producer(kafka_bootstrap: str) -> AsyncIterator[AIOKafkaProducer]:
    started = kafka.idempotent_producer(kafka_bootstrap)
    await started.start()
    try:
        yield started
    finally:
        await started.stop()


@dataclass
class Events:
    """Call and agent events of one tenant, stamped now, with a version per aggregate."""

    workers: StreamWorkers
    tenant_id: str
    versions: dict[str, int] = field(default_factory=dict)

    def event(self, aggregate_type: str, aggregate_id: str, payload: Message) -> tuple[str, bytes, bytes]:
        """(topic, key, value) of the next event of an aggregate."""
        self.versions[aggregate_id] = self.versions.get(aggregate_id, 0) + 1
        topic = CALLS.events if aggregate_type == "call" else AGENTS.events
        event = envelope(
            payload,
            context="telephony" if aggregate_type == "call" else "routing",
            aggregate_type=aggregate_type,
            aggregate_id=aggregate_id,
            version=self.versions[aggregate_id],
            when=datetime.now(UTC),
            tenant_id=self.tenant_id,
            customer_id=f"customer-of-{aggregate_id}",
        )
        return (
            self.workers.topic(topic),
            aggregate_key(self.tenant_id, aggregate_id),
            event.SerializeToString(),
        )

    def call_queued(self, call_id: str, queue_id: str = "member") -> tuple[str, bytes, bytes]:
        payload = queued(queue_id, 0)
        payload.enqueued_at.CopyFrom(timestamp(datetime.now(UTC)))
        return self.event("call", call_id, payload)

    def logged_in(self, agent_id: str, initial: int = READY) -> tuple[str, bytes, bytes]:
        return self.event("agent", agent_id, logged_in(initial=initial, member=5, payment=3))


async def send(producer: AIOKafkaProducer, *records: tuple[str, bytes, bytes]) -> None:
    for topic, key, value in records:
        await producer.send(topic, key=key, value=value)
    await producer.flush()


async def read_all(bootstrap: str, topic: str, since: dict[int, int] | None = None) -> list[bytes]:
    """The values of `topic` from `since` (partition -> offset; else its beginning) to its end now."""
    consumer = kafka.reader(bootstrap)
    await consumer.start()
    try:
        partitions = await kafka.partitions_of(consumer, [topic])
        starts = {tp: (since or {}).get(tp.partition, 0) for tp in partitions}
        return [r.value async for batch in kafka.read_to_end(consumer, starts) for r in batch]
    finally:
        await consumer.stop()


async def end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    consumer = kafka.reader(bootstrap)
    await consumer.start()
    try:
        partitions = await kafka.partitions_of(consumer, [topic])
        return {tp.partition: offset for tp, offset in (await consumer.end_offsets(partitions)).items()}
    finally:
        await consumer.stop()


async def decisions(workers: StreamWorkers) -> list[routing_events.ContactRouted]:
    values = await read_all(workers.bootstrap, workers.topic(ROUTING_DECISIONS))
    return [event_pb2.Event.FromString(value).contact_routed for value in values]


# Queue counters roll over at midnight UTC: a test that counts offered calls across it sees its count
# start again (make test once failed so at 00:00). A test starts this long before midnight waits it out.
MIDNIGHT_MARGIN_SECONDS = 120


@pytest.fixture(autouse=True)
def clear_of_midnight() -> None:
    left = 86_400 - time.time() % 86_400
    if left < MIDNIGHT_MARGIN_SECONDS:
        time.sleep(left + 1)


async def metrics_records(
    workers: StreamWorkers, since: dict[int, int] | None = None
) -> list[routing_events.QueueMetrics]:
    values = await read_all(workers.bootstrap, workers.topic(QUEUE_METRICS), since)
    return [routing_events.QueueMetrics.FromString(value) for value in values]


async def eventually(probe: Callable[[], Awaitable[T | None]], what: str, timeout: float = 60) -> T:
    try:
        async with asyncio.timeout(timeout):
            while (found := await probe()) is None:
                await asyncio.sleep(0.2)
            return found
    except TimeoutError:
        raise AssertionError(what) from None


def latest(
    records: list[routing_events.QueueMetrics], tenant_id: str, queue_id: str
) -> routing_events.QueueMetrics | None:
    mine = [m for m in records if (m.tenant_id, m.queue_id) == (tenant_id, queue_id)]
    return mine[-1] if mine else None


# ---- read committed -------------------------------------------------------------------------------


async def test_an_aborted_transactions_event_never_reaches_the_board(
    workers: StreamWorkers, producer: AIOKafkaProducer
) -> None:
    workers.start()
    await workers.until_recovered(0)
    events = Events(workers, "tenant-committed")
    await send(producer, events.logged_in("kim"))
    # A command transaction that aborts after writing its event: a read_uncommitted worker would route
    # this call to kim (it comes first).
    aborted = kafka.transactional_producer(workers.bootstrap, f"{workers.app_id}-aborted")
    await aborted.start()
    try:
        await aborted.begin_transaction()
        topic, key, value = events.call_queued("call-aborted")
        await (await aborted.send(topic, key=key, value=value))
        await aborted.abort_transaction()
    finally:
        await aborted.stop()
    await send(producer, events.call_queued("call-committed"))

    async def routed() -> list[routing_events.ContactRouted] | None:
        found = await decisions(workers)
        return found or None

    first = await eventually(routed, "no decision for the committed call")

    async def settled() -> routing_events.QueueMetrics | None:
        metrics = latest(await metrics_records(workers), "tenant-committed", "member")
        return metrics if metrics and metrics.offered else None

    member = await eventually(settled, "no queue metrics")
    await asyncio.sleep(1.0)  # time for a late aborted event to show, were it read
    assert [(d.contact_id, d.agent_id) for d in first] == [("call-committed", "kim")]
    assert [d.contact_id for d in await decisions(workers)] == ["call-committed"]
    assert (member.offered, member.contacts_waiting) == (1, 1)  # the committed call, ringing kim


# ---- duplicates by source offset -----------------------------------------------------------------


async def test_an_event_forwarded_twice_from_one_source_record_is_applied_once(
    workers: StreamWorkers, producer: AIOKafkaProducer
) -> None:
    """What a crash between forwarding and committing the source offset does: the same source record
    reaches the board input twice, at two offsets."""
    workers.start()
    await workers.until_recovered(0)
    tenant = "tenant-twice"
    events = Events(workers, tenant)
    partition = board_partition(tenant, int(os.environ.get("CC_PARTITIONS", "6")))
    source = SourcePosition(workers.topic(CALLS.events), 0, 41)
    later = SourcePosition(workers.topic(CALLS.events), 0, 42)
    first, second = events.call_queued("call-1"), events.call_queued("call-2")
    for value, position in ((first[2], source), (first[2], source), (second[2], later), (first[2], source)):
        await producer.send(
            workers.board_input,
            key=tenant.encode(),
            value=value,
            partition=partition,
            headers=[(SOURCE_HEADER, source_header(position))],
        )
    await producer.flush()

    async def both_offered() -> routing_events.QueueMetrics | None:
        metrics = latest(await metrics_records(workers), tenant, "member")
        return metrics if metrics and metrics.contacts_waiting == 2 else None

    member = await eventually(both_offered, "the two calls never showed in the queue metrics")
    assert member.offered == 2


async def test_an_event_whose_changelog_was_written_in_part_is_completed_not_applied_twice(
    workers: StreamWorkers, producer: AIOKafkaProducer
) -> None:
    """What a crash in the middle of writing an event's entries leaves: its redo record and one entry
    in the changelog, and the event itself still in the board input (its offset never committed)."""
    tenant, partitions = "tenant-partial", int(os.environ.get("CC_PARTITIONS", "6"))
    partition = board_partition(tenant, partitions)
    changelog = f"{workers.app_id}-board-entries-changelog"
    await ensure_topics(
        workers.bootstrap,
        partitions,
        {changelog: TopicSpec(partitions, COMPACTED), workers.board_input: TopicSpec(partitions)},
    )
    events = Events(workers, tenant)
    board = Board(tenant, queues=implicit_rules({"member": "member"}))
    forwarded = []
    for offset, (topic, _, value) in enumerate((events.logged_in("kim"), events.call_queued("call-1"))):
        source = SourcePosition(topic, 0, offset)
        assert apply(board, event_pb2.Event.FromString(value), source)
        dispatch(board, time.time())
        forwarded.append((value, source, board.take_changelog()))
    (_, _, logged_in_records), (_, _, routed_records) = forwarded
    assert [parse_entry_key(key)[1] for key, _ in routed_records] == [
        "redo",
        "agent-day",
        "contact",
        "routings",
        "seat",
        "source",
        "tally",
    ]
    for key, value in [*logged_in_records, *routed_records[:2]]:
        await producer.send(
            changelog, key=json.dumps(key).encode(), value=json.dumps(value).encode(), partition=partition
        )
    ringing = events.event("call", "call-1", call_events.CallRinging(agent_id="kim", queue_id="member"))
    forwarded.append((ringing[2], SourcePosition(ringing[0], 0, 2), []))
    for value, source, _ in forwarded:
        await producer.send(
            workers.board_input,
            key=tenant.encode(),
            value=value,
            partition=partition,
            headers=[(SOURCE_HEADER, source_header(source))],
        )
    await producer.flush()

    workers.start()

    async def rung() -> dict[str, dict[str, object]] | None:
        entries = await changelog_entries(workers.bootstrap, changelog, partition)
        contact = entries.get(entry_key(tenant, "contact", "call-1"))
        return entries if contact and contact["rung"] else None

    entries = await eventually(rung, "the ringing never reached the board")
    assert entries[entry_key(tenant, "seat", "kim")]["reserved_for"] == "call-1"  # completed, then written
    assert entries[entry_key(tenant, "tally", "member")]["offered"] == 1  # not 2

    async def metrics() -> routing_events.QueueMetrics | None:
        return latest(await metrics_records(workers), tenant, "member")

    member = await eventually(metrics, "no queue metrics")
    assert (member.offered, member.contacts_waiting, member.agents_on_contact) == (1, 1, 1)
    assert await decisions(workers) == []  # the routing decision was made before the crash


async def changelog_entries(bootstrap: str, topic: str, partition: int) -> dict[str, dict[str, object]]:
    """The compacted view of one changelog partition: the latest value of every key."""
    latest_values: dict[str, dict[str, object]] = {}
    consumer = kafka.reader(bootstrap)
    await consumer.start()
    try:
        starts = {TopicPartition(topic, partition): 0}
        async for batch in kafka.read_to_end(consumer, starts):
            for record in batch:
                latest_values[json.loads(record.key)] = json.loads(record.value) if record.value else None
    finally:
        await consumer.stop()
    return {key: value for key, value in latest_values.items() if value is not None}


# ---- recovery ---------------------------------------------------------------------------------------


AGENTS_PER_TENANT = 300
CALLS_PER_TENANT = 60
# The workers' metrics timers fire every 10 ms: many times while a worker recovers board partitions.
RACING_INTERVAL = 0.01


def tenants_on_every_partition(partitions: int) -> list[str]:
    """One tenant per board partition, so that whichever partitions move in a rebalance, the worker
    that gets them must recover a board while its timers run."""
    found: dict[int, str] = {}
    number = 0
    while len(found) < partitions:
        tenant = f"tenant-recovery-{number}"
        found.setdefault(board_partition(tenant, partitions), tenant)
        number += 1
    return [found[p] for p in range(partitions)]


async def test_a_restarted_worker_never_serves_an_older_board(
    workers: StreamWorkers, producer: AIOKafkaProducer
) -> None:
    """Boards move three times while metrics timers fire every 10 ms: a second worker joins (the two
    share the partitions), the first is killed (the second takes its partitions over once its session
    ends), and the first comes back as a new process (they share them again). Every queue metrics
    record published from the moment the boards were complete must show them complete: a board read
    while its table was still recovering would show fewer calls or agents."""
    partitions = int(os.environ.get("CC_PARTITIONS", "6"))
    tenants = tenants_on_every_partition(partitions)
    first = workers.start()
    await workers.until_recovered(first)
    for tenant in tenants:
        events = Events(workers, tenant)
        # not ready: the calls stay waiting, and every tenant's board holds them all
        await send(producer, *(events.logged_in(f"agent-{n}", NOT_READY) for n in range(AGENTS_PER_TENANT)))
        await send(producer, *(events.call_queued(f"call-{n}") for n in range(CALLS_PER_TENANT)))

    def complete(metrics: routing_events.QueueMetrics) -> bool:
        return (metrics.offered, metrics.contacts_waiting, metrics.agents_staffed) == (
            CALLS_PER_TENANT,
            CALLS_PER_TENANT,
            AGENTS_PER_TENANT,
        )

    async def every_board_complete() -> dict[int, int] | None:
        metrics = await metrics_records(workers)
        boards = [latest(metrics, tenant, "member") for tenant in tenants]
        if all(m is not None and complete(m) for m in boards):
            return await end_offsets(workers.bootstrap, workers.topic(QUEUE_METRICS))
        return None

    since = await eventually(every_board_complete, "the first worker never held every board", timeout=120)
    second = workers.start(RACING_INTERVAL)
    await workers.until_recovered(second)
    await workers.until_recovered(first, times=2)
    taken_over = workers.recoveries(second) + 1
    workers.kill(first)
    await workers.until_recovered(second, times=taken_over, timeout=120)
    shared_again = workers.recoveries(second) + 1
    restarted = workers.start(RACING_INTERVAL)
    await workers.until_recovered(restarted)
    await workers.until_recovered(second, times=shared_again)
    after_restart = await end_offsets(workers.bootstrap, workers.topic(QUEUE_METRICS))

    async def every_board_published_since_the_restart() -> bool | None:
        seen = {m.tenant_id for m in await metrics_records(workers, after_restart)}
        return True if seen >= set(tenants) else None

    await eventually(every_board_published_since_the_restart, "the two workers never published every board")
    member = [m for m in await metrics_records(workers, since) if m.queue_id == "member"]
    older = [m for m in member if not complete(m)]
    assert not older, f"{len(older)} of {len(member)} records showed an older board, e.g. {older[0]}"


# ---- offsets -------------------------------------------------------------------------------------


async def test_the_workers_offsets_keep_up_with_a_transactional_source(workers: StreamWorkers) -> None:
    workers.start()
    await workers.until_recovered(0)
    events = Events(workers, "tenant-offsets")
    writer = kafka.transactional_producer(workers.bootstrap, f"{workers.app_id}-commands")
    await writer.start()
    try:
        for number in range(150):  # one event per transaction: a commit marker after each
            async with writer.transaction():
                topic, key, value = events.logged_in(f"agent-{number}", initial=NOT_READY)
                await writer.send(topic, key=key, value=value)
    finally:
        await writer.stop()
    source = workers.topic(AGENTS.events)
    ends = await end_offsets(workers.bootstrap, source)

    async def caught_up() -> bool | None:
        committed = await group_offsets(workers.bootstrap, workers.app_id, source)
        # Everything but the last commit marker, which no record follows, is committed.
        behind = {p: end - committed.get(p, 0) for p, end in ends.items() if end > 0}
        return True if all(gap <= 1 for gap in behind.values()) else None

    # Faust commits every second; with a commit stopping at each marker this took minutes.
    await eventually(caught_up, "the worker's committed offsets trail what it processed", timeout=20)


async def group_offsets(bootstrap: str, group: str, topic: str) -> dict[int, int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    return {tp.partition: meta.offset for tp, meta in offsets.items() if tp.topic == topic}
