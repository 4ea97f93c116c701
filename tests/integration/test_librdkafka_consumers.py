"""The librdkafka consumers on a real broker: a reader hands over a committed transaction's records at
once and stands past its commit marker."""

import asyncio
import time

from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from services.common import kafka
from services.common.envelope import new_id
from services.common.librdkafka_consumers import LibrdkafkaReader
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
