"""The librdkafka consumers on a real broker: a reader hands over a committed transaction's records at
once and stands past its commit marker; a group member commits, when its partitions are revoked, what
it had handled, and starts a partition where its listener says, committing that start; a listener that
never finishes is given up after a bound, and the member goes on reading."""

import asyncio
import logging
import time

import pytest
from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from services.common import kafka, librdkafka_consumers
from services.common.envelope import new_id
from services.common.librdkafka_consumers import GroupMember, LibrdkafkaReader
from services.common.settings import PlatformSettings
from services.common.topics import TopicSpec, ensure_topics


async def _topic(bootstrap: str, partitions: int) -> str:
    topic = f"test.consumers-{new_id()}"
    await ensure_topics(bootstrap, PlatformSettings().cc_partitions, extra={topic: TopicSpec(partitions)})
    return topic


async def _write_in_a_transaction(bootstrap: str, topic: str, partition: int, count: int) -> None:
    producer = kafka.transactional_producer(bootstrap, f"test-{new_id()}")
    await producer.start()
    try:
        async with producer.transaction():
            for index in range(count):
                await producer.send(topic, f"record {index}".encode(), partition=partition)
    finally:
        await producer.stop()


async def _committed(bootstrap: str, group: str) -> dict[TopicPartition, int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return {tp: meta.offset for tp, meta in (await admin.list_consumer_group_offsets(group)).items()}
    finally:
        await admin.close()


async def test_a_reader_hands_over_a_committed_transaction_at_once_and_stands_past_its_marker(
    kafka_bootstrap: str,
) -> None:
    topic = await _topic(kafka_bootstrap, 1)
    tp = TopicPartition(topic, 0)
    reader = LibrdkafkaReader(kafka_bootstrap)
    try:
        await reader.assign({tp: 0})
        assert await reader.getmany(timeout_ms=300) == {}
        await _write_in_a_transaction(kafka_bootstrap, topic, 0, 3)
        asked = time.monotonic()
        batches = await reader.getmany(timeout_ms=5000)
        # The first record answers the wait: the batch call would have waited all 5 s for more.
        assert time.monotonic() - asked < 2.5
        records = batches[tp]
        while len(records) < 3:
            records += (await reader.getmany(timeout_ms=1000)).get(tp, [])
        assert [r.value for r in records] == [b"record 0", b"record 1", b"record 2"]
        end = (await reader.end_offsets([tp]))[tp]
        assert end == 4  # three records and the commit marker
        async with asyncio.timeout(10):
            while (await reader.positions([tp]))[tp] < end:  # past the marker, not at the last record
                await reader.getmany(timeout_ms=100)
        assert await reader.partitions_of([topic]) == [tp]
    finally:
        await reader.close()


class Handled:
    """A group member's listener that commits on revocation what it had handled, and starts partition 0
    where it is told."""

    def __init__(self, starts: dict[TopicPartition, int]) -> None:
        self.member: GroupMember | None = None
        self.starts = starts
        self.handled: dict[TopicPartition, int] = {}
        self.assigned = asyncio.Event()
        self.revoked = asyncio.Event()

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        assert self.member is not None
        starts = {tp: offset for tp, offset in self.starts.items() if tp in assigned}
        if starts:
            self.member.start_at(starts)
            await self.member.commit(starts)
        self.assigned.set()

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        assert self.member is not None
        await self.member.commit({tp: o for tp, o in self.handled.items() if tp in revoked})
        self.revoked.set()


async def test_a_group_member_starts_where_told_and_commits_what_it_handled_when_it_leaves(
    kafka_bootstrap: str,
) -> None:
    topic = await _topic(kafka_bootstrap, 2)
    first, second = TopicPartition(topic, 0), TopicPartition(topic, 1)
    for tp in (first, second):
        await _write_in_a_transaction(kafka_bootstrap, topic, tp.partition, 4)
    group = f"test.group-{new_id()}"
    listener = Handled({first: 2})
    member = listener.member = GroupMember(kafka_bootstrap, group)
    try:
        await member.subscribe([topic], listener)
        taken: dict[TopicPartition, list[int]] = {first: [], second: []}
        async with asyncio.timeout(30):
            while len(taken[first]) < 2 or len(taken[second]) < 4:
                for tp, records in (await member.getmany(timeout_ms=200)).items():
                    taken[tp] += [r.offset for r in records]
                    listener.handled[tp] = records[-1].offset + 1
        assert taken == {first: [2, 3], second: [0, 1, 2, 3]}  # partition 0 from where it was told
        assert member.assignment() == {first, second}
        assert await _committed(kafka_bootstrap, group) == {first: 2}  # the start, committed at once
    finally:
        await member.close()  # leaving revokes both: what was handled is committed
    assert listener.revoked.is_set()
    assert await _committed(kafka_bootstrap, group) == {first: 4, second: 4}


class Stuck:
    """A listener whose assignment never finishes (say, waiting on something that will not come)."""

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        await asyncio.Event().wait()

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        pass


async def test_a_listener_that_never_finishes_is_given_up_and_the_member_reads_on(
    kafka_bootstrap: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(librdkafka_consumers, "LISTENER_SECONDS", 1.0)
    topic = await _topic(kafka_bootstrap, 1)
    await _write_in_a_transaction(kafka_bootstrap, topic, 0, 3)
    member = GroupMember(kafka_bootstrap, f"test.group-{new_id()}")
    try:
        with caplog.at_level(logging.ERROR, logger=librdkafka_consumers.__name__):
            await member.subscribe([topic], Stuck())
            taken: list[int] = []
            async with asyncio.timeout(30):
                while len(taken) < 3:
                    for records in (await member.getmany(timeout_ms=200)).values():
                        taken += [r.offset for r in records]
        assert taken == [0, 1, 2]
        assert "a rebalance listener ran past 1 s" in caplog.text
    finally:
        await member.close()
