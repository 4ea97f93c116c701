"""The partition owners' transactional writer (librdkafka) on a real broker: what it commits is read
whole, what it aborts is never read, every record reports where it landed, and a fenced writer fails
at once, saying it was fenced, instead of holding its records until they time out."""

import asyncio
import time

from services.common.envelope import new_id
from services.common.topics import KEEP_A_DAY, TopicSpec, ensure_topics
from services.common.transactions import TransactionalWriter, WriteFailed
from tests.conftest import records_with_key

TOPIC = "it.transactions.v1"


async def _topic(bootstrap: str) -> None:
    await ensure_topics(bootstrap, 1, {TOPIC: TopicSpec(1, KEEP_A_DAY)})


async def test_committed_records_are_read_with_their_offsets_and_aborted_ones_never(
    kafka_bootstrap: str,
) -> None:
    await _topic(kafka_bootstrap)
    key = f"k-{new_id()}".encode()
    writer = TransactionalWriter(kafka_bootstrap, f"it-writer-{new_id()}")
    await writer.start()
    try:
        async with writer.transaction():
            first = await writer.send(TOPIC, value=b"one", key=key, partition=0)
            second = await writer.send(TOPIC, value=b"two", key=key, partition=0)
            landed = await asyncio.gather(first, second)
        try:
            async with writer.transaction():
                await (await writer.send(TOPIC, value=b"aborted", key=key, partition=0))
                raise RuntimeError("the batch fails after its record was delivered")
        except RuntimeError:
            pass
        async with writer.transaction():
            await writer.send(TOPIC, value=b"three", key=key, partition=0)
    finally:
        await writer.stop()

    records = await records_with_key(kafka_bootstrap, TOPIC, key, at_least=3)
    assert [r.value for r in records] == [b"one", b"two", b"three"]
    assert [d.offset for d in landed] == [r.offset for r in records[:2]]
    assert landed[1].offset == landed[0].offset + 1
    assert abs(landed[0].timestamp - time.time() * 1000) < 60_000


async def test_a_fenced_writer_fails_at_once_and_says_it_was_fenced(kafka_bootstrap: str) -> None:
    await _topic(kafka_bootstrap)
    transactional_id = f"it-fenced-{new_id()}"
    zombie = TransactionalWriter(kafka_bootstrap, transactional_id)
    await zombie.start()
    successor = TransactionalWriter(kafka_bootstrap, transactional_id)
    try:
        await successor.start()  # takes the id over: the zombie's epoch is old now
        started = time.monotonic()
        failed: WriteFailed | None = None
        try:
            async with zombie.transaction():
                await (await zombie.send(TOPIC, value=b"late", key=b"zombie", partition=0))
        except WriteFailed as error:
            failed = error
        # Well inside the records' 10 s delivery timeout: the fatal error fails them when it happens.
        assert failed is not None and failed.fenced
        assert time.monotonic() - started < 5

        async with successor.transaction():  # the live writer is not disturbed
            landed = await (await successor.send(TOPIC, value=b"live", key=b"successor", partition=0))
        assert landed.offset >= 0
    finally:
        await zombie.stop()
        await successor.stop()
    assert [r.value for r in await records_with_key(kafka_bootstrap, TOPIC, b"zombie")] == []
