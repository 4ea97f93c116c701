"""The routing stream worker's Kafka transport on a real broker: where a stream partition resumes, and a
rebalance asked for when a recovery stalls."""

import asyncio

from aiokafka import ConsumerRebalanceListener, TopicPartition

from services.common import kafka
from services.common.envelope import new_id
from services.common.topics import TopicSpec, ensure_topics
from services.routing.stream.recovery_watch import request_rejoin
from services.routing.stream.transport import seek_to_committed_or_beginning


async def test_a_stream_partition_nobody_committed_is_read_again_from_its_beginning(
    kafka_bootstrap: str,
) -> None:
    """Faust drops what it fetches during recovery and then seeks back to the committed offsets: a
    partition with none must go back to its start, or the events fetched meanwhile are lost."""
    stream, changelog, committed = (f"it-seek-{name}-{new_id()}" for name in ("stream", "changelog", "done"))
    await ensure_topics(kafka_bootstrap, 1, {t: TopicSpec(1) for t in (stream, changelog, committed)})
    producer = kafka.idempotent_producer(kafka_bootstrap)
    await producer.start()
    try:
        for topic in (stream, changelog, committed):
            for n in range(3):
                await producer.send_and_wait(topic, value=str(n).encode(), partition=0)
    finally:
        await producer.stop()
    consumer = kafka.group_consumer(kafka_bootstrap, f"it-seek-{new_id()}")
    partitions = [TopicPartition(t, 0) for t in (stream, changelog, committed)]
    consumer.assign(partitions)
    await consumer.start()
    try:
        await consumer.commit({TopicPartition(committed, 0): 2})
        async with asyncio.timeout(30):  # fetched to the end, as during a recovery, and then dropped
            while [await consumer.position(tp) for tp in partitions] != [3, 3, 3]:
                await consumer.getmany(timeout_ms=1000)

        offsets = await seek_to_committed_or_beginning(consumer, {changelog})

        assert offsets[TopicPartition(stream, 0)] is None
        assert [await consumer.position(tp) for tp in partitions] == [0, 3, 2]
    finally:
        await consumer.stop()


class _Assignments(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self) -> None:
        self.count = 0

    async def on_partitions_revoked(self, revoked: object) -> None:
        pass

    async def on_partitions_assigned(self, assigned: object) -> None:
        self.count += 1


async def test_a_requested_rejoin_rebalances_the_group(kafka_bootstrap: str) -> None:
    """A stalled recovery is started again by a rebalance the worker asks for: the member's partitions
    are assigned to it anew."""
    topic = f"it-rejoin-{new_id()}"
    await ensure_topics(kafka_bootstrap, 1, {topic: TopicSpec(2)})
    consumer = kafka.group_consumer(kafka_bootstrap, f"it-rejoin-{new_id()}")
    assignments = _Assignments()
    consumer.subscribe([topic], listener=assignments)
    await consumer.start()
    try:
        async with asyncio.timeout(60):
            while assignments.count < 1:
                await consumer.getmany(timeout_ms=200)
            await request_rejoin(consumer)
            while assignments.count < 2:
                await consumer.getmany(timeout_ms=200)
        assert consumer.assignment() == {TopicPartition(topic, 0), TopicPartition(topic, 1)}
    finally:
        await consumer.stop()
