"""Kafka clients configured the one way the platform uses them, plus the dead-letter route."""

import logging
from collections.abc import Sequence

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError

from services.common.topics import dlq

log = logging.getLogger(__name__)


def idempotent_producer(bootstrap_servers: str) -> AIOKafkaProducer:
    """acks=all with idempotence: a retried send never duplicates or reorders within a partition."""
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers,
        enable_idempotence=True,
        acks="all",
        linger_ms=0,
    )


def transactional_producer(bootstrap_servers: str, transactional_id: str) -> AIOKafkaProducer:
    """Writes that commit or abort together; a second producer with the same id fences this one."""
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers,
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
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=100,
        isolation_level="read_committed",  # never see the events of an aborted command
    )


def group_consumer(bootstrap_servers: str, group_id: str) -> AIOKafkaConsumer:
    """A consumer in a group that commits only after its work is acknowledged downstream."""
    return AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers,
        group_id=group_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=100,
        isolation_level="read_committed",
        session_timeout_ms=10_000,
        heartbeat_interval_ms=1_000,
    )


async def partitions_of(consumer: AIOKafkaConsumer, topics: Sequence[str]) -> list[TopicPartition]:
    partitions: list[TopicPartition] = []
    for topic in topics:
        ids = consumer.partitions_for_topic(topic)
        if ids is None:
            await consumer._client.force_metadata_update()
            ids = consumer.partitions_for_topic(topic) or set()
        partitions.extend(TopicPartition(topic, p) for p in sorted(ids))
    return partitions


async def replay(consumer: AIOKafkaConsumer, partitions: Sequence[TopicPartition]) -> list[ConsumerRecord]:
    """Read `partitions` from their beginning to their end as of now (the high watermark)."""
    if not partitions:
        return []
    consumer.assign(list(partitions))
    ends = await consumer.end_offsets(list(partitions))
    await consumer.seek_to_beginning(*partitions)
    records: list[ConsumerRecord] = []
    pending = {tp for tp in partitions if ends[tp] > 0}
    while pending:
        batches = await consumer.getmany(*pending, timeout_ms=500)
        for _tp, batch in batches.items():
            records.extend(batch)
        pending = {tp for tp in pending if await consumer.position(tp) < ends[tp]}
    return records


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
