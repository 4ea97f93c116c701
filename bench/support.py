"""What every benchmark shares: percentiles, CPU-seconds per process (read from /proc, so the broker's
JVM counts as much as our own processes), a raw Kafka baseline measured in the same run, consumer lag,
and a fresh platform on ports of its own."""

import asyncio
import os
import statistics
import time
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from services.common import kafka
from services.common.topics import KEEP_A_DAY, TopicSpec, ensure_topics
from services.platform import Platform

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def percentile(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def percentiles(samples: Iterable[float]) -> str:
    ordered = sorted(samples)
    if not ordered:
        return "no samples"
    return (
        f"n={len(ordered):5}  p50={percentile(ordered, 0.50):7.1f}  p95={percentile(ordered, 0.95):7.1f}  "
        f"p99={percentile(ordered, 0.99):7.1f}  max={ordered[-1]:7.1f}  mean={statistics.fmean(ordered):7.1f}"
    )


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process and its reaped children, in seconds."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return 0.0
    # after the ")": state is fields[0], so utime/stime/cutime/cstime are fields 11..14
    return sum(int(value) for value in fields[11:15]) / CLOCK_TICKS


@dataclass
class CpuMeter:
    """CPU-seconds each named process spent between `start` and `stop`."""

    pids: dict[str, int]
    started: dict[str, float] = field(default_factory=dict)
    spent: dict[str, float] = field(default_factory=dict)
    wall: float = 0.0

    @staticmethod
    def of(platform: Platform, *, client: bool = True) -> "CpuMeter":
        pids = {name: pid for name in platform.names() if (pid := platform.pid(name)) is not None}
        if client:
            pids["bench client"] = os.getpid()
        return CpuMeter(pids)

    def start(self) -> "CpuMeter":
        self.started = {name: cpu_seconds(pid) for name, pid in self.pids.items()}
        self.wall = time.monotonic()
        return self

    def stop(self) -> "CpuMeter":
        self.wall = time.monotonic() - self.wall
        self.spent = {name: cpu_seconds(pid) - self.started[name] for name, pid in self.pids.items()}
        return self

    def report(self, per: int = 0, unit: str = "command") -> str:
        lines = [f"    CPU-seconds over {self.wall:.1f}s wall:"]
        for name, seconds in sorted(self.spent.items(), key=lambda item: -item[1]):
            each = f"  ({1000 * seconds / per:.2f} ms per {unit})" if per else ""
            lines.append(f"      {name:16} {seconds:7.2f}{each}")
        total = sum(self.spent.values())
        each = f"  ({1000 * total / per:.2f} ms per {unit})" if per else ""
        lines.append(f"      {'total':16} {total:7.2f}{each}")
        return "\n".join(lines)


# A topic of the benchmarks' own, so the baseline writes into no real topic.
RAW_HOP_TOPIC = "bench.raw-hop.v1"


async def raw_kafka_hop(bootstrap: str, partitions: int, count: int, interval: float = 0.0) -> list[float]:
    """Produce (acks=all, idempotent) -> consume on the broker, in ms: the floor of any hop in the path.
    `interval` seconds apart, so the samples can span a phase of load rather than a burst."""
    await ensure_topics(bootstrap, partitions, {RAW_HOP_TOPIC: TopicSpec(1, KEEP_A_DAY)})
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, acks="all")
    consumer = AIOKafkaConsumer(
        RAW_HOP_TOPIC,
        bootstrap_servers=bootstrap,
        auto_offset_reset="latest",
        fetch_max_wait_ms=20,
    )
    await producer.start()
    await consumer.start()
    await consumer.getmany(timeout_ms=500)  # settle the assignment at the end
    samples = []
    try:
        for _ in range(count):
            sent = time.perf_counter()
            await producer.send_and_wait(RAW_HOP_TOPIC, b"bench")
            while not any((await consumer.getmany(timeout_ms=1000)).values()):
                pass
            samples.append((time.perf_counter() - sent) * 1000)
            if interval:
                await asyncio.sleep(interval)
    finally:
        await producer.stop()
        await consumer.stop()
    return samples


def raw_kafka_hop_in_process(
    bootstrap: str, partitions: int, count: int, interval: float = 0.0
) -> list[float]:
    """`raw_kafka_hop` on an event loop of its own, for a process pool: a benchmark's busy loop would
    add its own delays to the hop."""
    return asyncio.run(raw_kafka_hop(bootstrap, partitions, count, interval))


async def consumer_lag(bootstrap: str) -> dict[str, int]:
    """Committed records each consumer group has yet to read, over every topic it consumes."""
    return {group: sum(topics.values()) for group, topics in (await consumer_lag_by_topic(bootstrap)).items()}


async def consumer_lag_by_topic(bootstrap: str) -> dict[str, dict[str, int]]:
    """Committed records each consumer group has yet to read, per topic it consumes. Counted by reading
    them (read_committed), not by subtracting offsets: a transaction's commit marker takes an offset but
    is no record, so a group that has read everything can stand one offset short of the end of every
    partition written in transactions. A topic the group commits on nowhere (never assigned) is not
    seen here."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    reader = kafka.reader(bootstrap)
    await reader.start()
    try:
        lag: dict[str, dict[str, int]] = {}
        for group, _ in await admin.list_consumer_groups():
            committed = await admin.list_consumer_group_offsets(group)
            if not committed:
                continue
            # A partition of the same topics that the group never committed on counts from its beginning
            # (assigned first, so the reader's metadata covers those topics).
            reader.assign(list(committed))
            partitions = await kafka.partitions_of(reader, sorted({tp.topic for tp in committed}))
            beginnings = await reader.beginning_offsets(partitions)
            starts = {tp: committed[tp].offset if tp in committed else beginnings[tp] for tp in partitions}
            topics = lag[group] = dict.fromkeys(sorted({tp.topic for tp in partitions}), 0)
            async for batch in kafka.read_to_end(reader, starts):
                topics[batch[0].topic] += len(batch)
        return lag
    finally:
        await reader.stop()
        await admin.close()


def run_on(platform: Platform, benchmark: Callable[[Platform], Coroutine[Any, Any, None]]) -> None:
    """Start the platform, run the benchmark against it, and stop everything whatever happens."""
    try:
        platform.up(timeout=180)
        asyncio.run(benchmark(platform))
    finally:
        platform.down()
