"""How fast the analytics sink moves events from Kafka into ClickHouse (P2), against a raw chDB insert.

    make bench-sink              (BENCH_EVENTS=200000 to change the size of the backlog)

Writes BENCH_EVENTS call events (whole calls, as telephony decides them) into a fresh broker, then runs
the analytics sink (the code the analytics service runs: a consumer group, a row per event, one insert
per batch, the offsets committed after it) on a fresh chDB store until it has stored them all, and
prints events per second and the CPU-seconds of this process and of the broker. The raw baseline, in
the same run, inserts rows already built from the same events straight into another fresh chDB store,
in batches of the sink's size: the floor of what ClickHouse itself costs.
"""

import asyncio
import os
import tempfile
import time
from pathlib import Path

from cc.common.v1.event_pb2 import Event

from bench.replay import write_history
from bench.support import cpu_seconds
from services.analytics import sink as analytics_sink
from services.analytics.rows import EventRow, row_of
from services.analytics.sink import EventSink
from services.analytics.store import AnalyticsStore
from services.common import kafka
from services.common.topics import CALLS, ensure_topics
from services.platform import Platform

EVENTS = int(os.environ.get("BENCH_EVENTS", "200000"))


async def read_rows(bootstrap: str) -> list[EventRow]:
    """Every event on the calls topic as the row the sink would make of it (untimed)."""
    consumer = kafka.reader(bootstrap)
    await consumer.start()
    rows: list[EventRow] = []
    try:
        partitions = await kafka.partitions_of(consumer, [CALLS.events])
        async for records in kafka.read_to_end(consumer, dict.fromkeys(partitions, 0)):
            rows.extend(row_of(Event.FromString(r.value), r.topic, r.partition, r.offset) for r in records)
    finally:
        await consumer.stop()
    return rows


async def raw_insert(rows: list[EventRow], where: Path) -> float:
    store = AnalyticsStore(f"chdb://{where}")
    await store.open()
    try:
        started = time.perf_counter()
        for start in range(0, len(rows), analytics_sink.BATCH_RECORDS):
            await store.insert_events(rows[start : start + analytics_sink.BATCH_RECORDS])
        return len(rows) / (time.perf_counter() - started)
    finally:
        await store.close()


async def run_sink(platform: Platform, where: Path, total: int) -> float:
    store = AnalyticsStore(f"chdb://{where}")
    await store.open()
    producer = kafka.idempotent_producer(platform.settings.kafka_bootstrap_servers)
    await producer.start()
    sink = EventSink(store, producer, platform.settings.kafka_bootstrap_servers, topics=[CALLS.events])
    broker = platform.pid("kafka") or 0
    cpu_before, broker_before = time.process_time(), cpu_seconds(broker)
    started = time.perf_counter()
    task = asyncio.create_task(sink.run())
    try:
        while sink.sunk + sink.dead_lettered < total:
            if task.done():
                task.result()
            await asyncio.sleep(0.05)
        elapsed = time.perf_counter() - started
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await producer.stop()
        await store.close()
    rate = total / elapsed
    print(f"  sink: {total:,} events in {elapsed:.1f}s = {rate:,.0f} events/s")
    spent, broker_spent = time.process_time() - cpu_before, cpu_seconds(broker) - broker_before
    each = 1e6 * spent / total
    print(f"    CPU-seconds: sink process {spent:.1f} ({each:.0f} us per event), broker {broker_spent:.1f}")
    return rate


async def run(platform: Platform) -> None:
    bootstrap = platform.settings.kafka_bootstrap_servers
    total, _ = await write_history(bootstrap, EVENTS)
    with tempfile.TemporaryDirectory(prefix="bench-sink-") as scratch:
        rate = await run_sink(platform, Path(scratch) / "sink", total)
        rows = await read_rows(bootstrap)
        raw = await raw_insert(rows, Path(scratch) / "raw")
    batch = analytics_sink.BATCH_RECORDS
    print(f"  raw chDB insert of the same {len(rows):,} rows, {batch} a batch: {raw:,.0f} rows/s")
    print(f"  the sink reaches {100 * rate / raw:.0f} % of the raw insert (target: 50 %)")


def main() -> None:
    platform = Platform.fresh("bench-sink", services=(), LOG_LEVEL="INFO")
    try:
        platform.kafka("start")
        asyncio.run(ensure_topics(platform.settings.kafka_bootstrap_servers, platform.settings.cc_partitions))
        asyncio.run(run(platform))
    finally:
        platform.down()


if __name__ == "__main__":
    main()
