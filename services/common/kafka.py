"""Kafka clients configured the one way the platform uses them, plus the dead-letter route."""

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping, Sequence

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError

from services.common.topics import dlq

log = logging.getLogger(__name__)
# Records handed over per step of a replay: big enough to amortise the loop, small enough to stay cheap.
REPLAY_BATCH = 5000
# How long the broker holds a fetch that finds nothing new. A record appended (or a transaction committed)
# answers a waiting fetch at once, so this sets only what an idle consumer costs: at 100 ms the platform's
# consumers kept an idle broker at a fifth of a core, and each Python process polling at about a tenth.
IDLE_FETCH_WAIT_MS = 500


def idempotent_producer(bootstrap_servers: str, linger_ms: int = 0) -> AIOKafkaProducer:
    """acks=all with idempotence: a retried send never duplicates or reorders within a partition.
    A linger trades latency for fewer, larger produce requests (see CC_PRODUCER_LINGER_MS)."""
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers,
        enable_idempotence=True,
        acks="all",
        linger_ms=linger_ms,
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
        fetch_max_wait_ms=IDLE_FETCH_WAIT_MS,
        isolation_level="read_committed",  # never see the events of an aborted command
    )


def group_consumer(bootstrap_servers: str, group_id: str) -> AIOKafkaConsumer:
    """A consumer in a group that commits only after its work is acknowledged downstream."""
    return AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers,
        group_id=group_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=IDLE_FETCH_WAIT_MS,
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
