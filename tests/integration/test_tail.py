"""The shared reader on a real broker (issue 5): every read model of a process follows its topics
through one consumer, and each still gets every record from its own start, once, in order; and a read
model waits for a broker it cannot reach yet."""

import asyncio
import socket
import time
from collections import defaultdict
from datetime import UTC, datetime

import pytest
from aiokafka import ConsumerRecord, TopicPartition
from cc.common.v1 import types_pb2
from cc.telephony.v1 import events_pb2 as call_events

from services.common import kafka, tail
from services.common.envelope import aggregate_key, build_event, new_id
from services.common.projection import Projection
from services.common.settings import PlatformSettings
from services.common.topics import CALLS, TopicSpec, ensure_topics
from services.telephony.app import call_spec
from services.telephony.domain import TelephonyRules

Seen = dict[str, list[int]]  # offsets taken, by topic and partition


class Recorder:
    def __init__(self, fail: bool = False, fail_on: tuple[str, int] | None = None) -> None:
        self.seen: Seen = defaultdict(list)
        self.caught_up = asyncio.Event()
        self.fail = fail
        self.fail_on = fail_on  # a record it cannot take (where, offset)

    def take(self, records: list[ConsumerRecord]) -> None:
        where = [(f"{record.topic[:10]}/{record.partition}", record.offset) for record in records]
        if self.fail or self.fail_on in where:
            raise RuntimeError("a follower's bug")
        for at, offset in where:
            self.seen[at].append(offset)

    async def holds(self, expected: Seen, timeout: float = 20) -> None:
        async with asyncio.timeout(timeout):
            while dict(self.seen) != expected:
                await asyncio.sleep(0.05)


async def test_followers_share_one_reader_and_each_takes_its_records_from_its_own_start(
    kafka_bootstrap: str,
) -> None:
    topic, other = f"test.tail-{new_id()}.events.v1", f"test.other-{new_id()}.events.v1"
    topics = {topic: TopicSpec(2), other: TopicSpec(1)}
    await ensure_topics(kafka_bootstrap, PlatformSettings().cc_partitions, extra=topics)
    producer = kafka.idempotent_producer(kafka_bootstrap)
    await producer.start()

    async def write(partition: int, count: int, to: str = topic) -> None:
        for _ in range(count):
            await producer.send_and_wait(to, b"record", partition=partition)

    await write(0, 5)
    await write(1, 3)
    await write(0, 2, to=other)
    first, later, broken = Recorder(), Recorder(), Recorder(fail=True)
    picky = Recorder(fail_on=("test.tail-/0", 5))

    def follow(recorder: Recorder, start_at: tail.StartAt, *more: str) -> "asyncio.Task[None]":
        follower = tail.Follower([topic, *more], start_at, recorder.take, recorder.caught_up.set)
        return asyncio.create_task(tail.follow(kafka_bootstrap, follower))

    running = [follow(first, lambda tp, end: 0)]
    try:
        async with asyncio.timeout(20):
            await first.caught_up.wait()
        assert dict(first.seen) == {"test.tail-/0": [0, 1, 2, 3, 4], "test.tail-/1": [0, 1, 2]}
        await write(0, 2)
        await first.holds({"test.tail-/0": list(range(7)), "test.tail-/1": [0, 1, 2]})
        # A follower starting behind the reader sends it back (the first takes nothing twice), and
        # one of its topics is new to the reader.
        running.append(
            follow(later, lambda tp, end: 3 if tp.topic == topic and tp.partition == 0 else 0, other)
        )
        running.append(follow(broken, lambda tp, end: 0))
        running.append(follow(picky, lambda tp, end: 0))
        async with asyncio.timeout(20):
            await later.caught_up.wait()
            await broken.caught_up.wait()  # caught up, though it failed on every record
            await picky.caught_up.wait()
        # The one that failed on one record took the rest of its batch, that one skipped.
        assert dict(picky.seen) == {"test.tail-/0": [0, 1, 2, 3, 4, 6], "test.tail-/1": [0, 1, 2]}
        assert dict(later.seen) == {
            "test.tail-/0": [3, 4, 5, 6],
            "test.tail-/1": [0, 1, 2],
            "test.other/0": [0, 1],
        }
        await write(1, 1)
        await write(0, 1)
        await first.holds({"test.tail-/0": list(range(8)), "test.tail-/1": [0, 1, 2, 3]})
        await later.holds(
            {"test.tail-/0": [3, 4, 5, 6, 7], "test.tail-/1": [0, 1, 2, 3], "test.other/0": [0, 1]}
        )
        loop = asyncio.get_running_loop()
        assert [key for key in tail._tails if key[0] is loop] == [(loop, kafka_bootstrap)]
    finally:
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
        await producer.stop()
    assert not tail._tails  # the last follower gone, the reader stopped


async def test_a_quiet_consumer_gets_a_committed_transaction_at_once_not_after_its_long_wait(
    kafka_bootstrap: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once its fetches find nothing, a consumer asks the broker to hold them QUIET_FETCH_WAIT_MS. A
    committed transaction (what every command writes) must still answer the waiting fetch at once: its
    commit marker moves the partition's last stable offset, and that wakes the fetch. The wait is made
    10 s here, so that a commit that did not wake the fetch would show plainly."""
    monkeypatch.setattr(kafka, "QUIET_FETCH_WAIT_MS", 10_000)
    topic = f"test.quiet-{new_id()}.events.v1"
    await ensure_topics(kafka_bootstrap, PlatformSettings().cc_partitions, extra={topic: TopicSpec(1)})
    writer = kafka.transactional_producer(kafka_bootstrap, f"test-quiet-{new_id()}")
    consumer = kafka.reader(kafka_bootstrap)
    await writer.start()
    await consumer.start()
    try:
        consumer.assign([TopicPartition(topic, 0)])
        await consumer.seek_to_end(TopicPartition(topic, 0))
        delays = []
        for _ in range(5):
            assert not await consumer.getmany(timeout_ms=1200)  # quiet: its fetches now wait long
            async with writer.transaction():
                await writer.send(topic, b"event", partition=0)
            committed = time.monotonic()
            async with asyncio.timeout(15):
                while not await consumer.getmany(timeout_ms=1000):
                    pass
            delays.append(time.monotonic() - committed)
        # Each would take up to the whole wait if the commit did not wake the fetch; a loaded machine
        # may stall one or two, not most.
        assert sorted(delays)[2] < 1.0, delays
    finally:
        await consumer.stop()
        await writer.stop()


async def test_a_read_model_whose_broker_cannot_be_reached_yet_waits_for_it_and_then_catches_up(
    kafka_bootstrap: str,
) -> None:
    """A read model started while the broker cannot be reached (away, or too loaded to answer in time)
    keeps trying, both its snapshot load and the shared reader's start, instead of stopping its service:
    here its bootstrap address answers only after a few seconds (a relay to the real broker)."""
    await ensure_topics(kafka_bootstrap, PlatformSettings().cc_partitions)
    tenant = f"t-{new_id()}"
    producer = kafka.idempotent_producer(kafka_bootstrap)
    await producer.start()
    call_id = new_id()
    offered = build_event(
        call_events.CallOffered(ani="+8210", dnis="1588"),
        context="telephony",
        aggregate_type="call",
        aggregate_id=call_id,
        aggregate_version=1,
        tenant_id=tenant,
        occurred_at=datetime.now(UTC),
        correlation_id=call_id,
        causation_id=new_id(),
        customer_id="",
        actor=types_pb2.Actor(type=types_pb2.ACTOR_TYPE_SYSTEM),
    )
    await producer.send_and_wait(
        CALLS.events, offered.SerializeToString(), key=aggregate_key(tenant, offered.aggregate_id)
    )
    await producer.stop()
    with socket.socket() as probe:  # a free port, nobody listening yet
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    away = f"127.0.0.1:{port}"
    calls = Projection(call_spec(TelephonyRules()), away)
    reader = Recorder()
    follower = tail.Follower([CALLS.events], lambda tp, end: end, reader.take, reader.caught_up.set)
    running = [asyncio.create_task(calls.run()), asyncio.create_task(tail.follow(away, follower))]
    relay = None
    try:
        await asyncio.sleep(4)
        assert not any(task.done() for task in running) and not calls.caught_up.is_set()
        relay = await _relay(port, kafka_bootstrap)
        await asyncio.wait_for(asyncio.gather(calls.caught_up.wait(), reader.caught_up.wait()), 60)
        assert calls.get(tenant, offered.aggregate_id) is not None
    finally:
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
        if relay is not None:
            relay.close()


async def _relay(port: int, to: str) -> asyncio.Server:
    """Forward every connection made to `port` to the broker at `to`."""
    host, to_port = to.rsplit(":", 1)

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        finally:
            writer.close()

    async def forward(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        broker_reader, broker_writer = await asyncio.open_connection(host, int(to_port))
        await asyncio.gather(pipe(reader, broker_writer), pipe(broker_reader, writer), return_exceptions=True)

    return await asyncio.start_server(forward, "127.0.0.1", port)
