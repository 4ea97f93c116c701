"""The Kafka client's own cost (issue 5): aiokafka, which every service uses, against confluent-kafka
(librdkafka, C), on the same broker, in the same run, with the same records.

    make bench-kafka-clients

About a third of a command's CPU in telephony is aiokafka encoding, decoding and socket work (profiled
with py-spy), so this measures what a change of client could save before anyone makes it. Workloads,
each on a warm broker (see bench.commands: a cold broker's transactions cost it 4x the CPU):
- transactions: each command is two 420-byte records and a consumed-offset commit, as the command
  processor writes them; one command per transaction, then 64;
- a read-committed read of all of them back, as the read models and policies read events.
For each: commands (or records) per second, and the CPU of the client process and of the broker per
command (or record). The last column is confluent-kafka's CPU as a share of aiokafka's.
"""

import asyncio
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from aiokafka import TopicPartition
from confluent_kafka import Consumer, Producer
from confluent_kafka import TopicPartition as RdTopicPartition

from bench.support import cpu_seconds, run_on
from services.common import kafka
from services.common.topics import KEEP_A_DAY, TopicSpec, ensure_topics
from services.platform import Platform
from tests.e2e.platform import fresh_platform

TOPIC = "bench.kafka-clients.v1"
GROUP = "bench.kafka-clients"
RECORD = b"x" * 420  # about one call event's envelope
WARM_UP_SECONDS = float(os.environ.get("BENCH_WARM_UP_SECONDS", "45"))
COMMANDS = int(os.environ.get("BENCH_COMMANDS", "20000"))
SERIAL_COMMANDS = int(os.environ.get("BENCH_SERIAL", "1000"))
BATCH = 64


@dataclass(frozen=True)
class Cost:
    rate: float  # per second
    client_us: float  # client CPU per unit, µs
    broker_us: float


class Meter:
    """The CPU this process (every thread: librdkafka's too) and the broker spend on one workload."""

    def __init__(self, broker_pid: int) -> None:
        self._broker = broker_pid

    def measure(self, units: int, work: Callable[[], None]) -> Cost:
        client, broker, wall = cpu_seconds(os.getpid()), cpu_seconds(self._broker), time.perf_counter()
        work()
        wall = time.perf_counter() - wall
        client = cpu_seconds(os.getpid()) - client
        broker = cpu_seconds(self._broker) - broker
        return Cost(units / wall, 1e6 * client / units, 1e6 * broker / units)


def _aiokafka_transactions(bootstrap: str, commands: int, per: int) -> None:
    async def run() -> None:
        producer = kafka.transactional_producer(bootstrap, f"bench-aiokafka-{uuid.uuid4()}")
        await producer.start()
        tp = TopicPartition(TOPIC, 0)
        try:
            for offset in range(0, commands, per):
                async with producer.transaction():
                    for _ in range(per):
                        await producer.send(TOPIC, RECORD, key=b"bench/aiokafka")
                        await producer.send(TOPIC, RECORD, key=b"bench/aiokafka")
                    await producer.send_offsets_to_transaction({tp: offset + per}, GROUP)
        finally:
            await producer.stop()

    asyncio.run(run())


def librdkafka_transactions(bootstrap: str, commands: int, per: int, topic: str = TOPIC) -> None:
    """`commands` commands of two records and a consumed offset each, `per` to a transaction, with a
    bare librdkafka producer (also bench.commands' raw baseline: the services' writer is librdkafka)."""
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "transactional.id": f"bench-librdkafka-{uuid.uuid4()}",
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 0,
            # as the services' writer: a short back-off while the coordinator finishes the last commit
            "retry.backoff.ms": 2,
        }
    )
    group = Consumer({"bootstrap.servers": bootstrap, "group.id": GROUP, "enable.auto.commit": False})
    producer.init_transactions()
    try:
        for offset in range(0, commands, per):
            producer.begin_transaction()
            for _ in range(per):
                producer.produce(topic, RECORD, key=b"bench/librdkafka")
                producer.produce(topic, RECORD, key=b"bench/librdkafka")
            offsets = [RdTopicPartition(topic, 0, offset + per)]
            producer.send_offsets_to_transaction(offsets, group.consumer_group_metadata())
            producer.commit_transaction()
    finally:
        group.close()


def _aiokafka_read(bootstrap: str, records: int) -> None:
    async def run() -> None:
        consumer = kafka.reader(bootstrap)
        await consumer.start()
        try:
            consumer.assign([TopicPartition(TOPIC, 0)])
            await consumer.seek_to_beginning()
            seen = 0
            while seen < records:
                batches = await consumer.getmany(timeout_ms=1000, max_records=10_000)
                seen += sum(len(batch) for batch in batches.values())
        finally:
            await consumer.stop()

    asyncio.run(run())


def _librdkafka_read(bootstrap: str, records: int) -> None:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"bench-read-{uuid.uuid4()}",  # never joined: partitions are assigned
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "isolation.level": "read_committed",
        }
    )
    try:
        consumer.assign([RdTopicPartition(TOPIC, 0, 0)])
        seen = 0
        while seen < records:
            seen += sum(1 for message in consumer.consume(10_000, 1.0) if message.error() is None)
    finally:
        consumer.close()


def _row(name: str, unit: str, aiokafka: Cost, librdkafka: Cost) -> str:
    share = librdkafka.client_us / aiokafka.client_us if aiokafka.client_us else float("nan")
    return (
        f"  {name:34} aiokafka {aiokafka.rate:8.0f}/s {aiokafka.client_us:7.1f} µs client "
        f"{aiokafka.broker_us:7.1f} µs broker | librdkafka {librdkafka.rate:8.0f}/s "
        f"{librdkafka.client_us:7.1f} µs client {librdkafka.broker_us:7.1f} µs broker "
        f"| client CPU {share:.2f}x  (per {unit})"
    )


async def run(platform: Platform) -> None:
    bootstrap = platform.settings.kafka_bootstrap_servers
    await ensure_topics(bootstrap, 1, {TOPIC: TopicSpec(1, KEEP_A_DAY)})
    broker_pid = platform.pid("kafka")
    assert broker_pid is not None, "the broker is not running"
    meter = Meter(broker_pid)
    print(f"warming the broker up for {WARM_UP_SECONDS:.0f}s...", flush=True)
    warm_until, commands_written = time.monotonic() + WARM_UP_SECONDS, 0
    while time.monotonic() < warm_until:
        await asyncio.to_thread(_aiokafka_transactions, bootstrap, 2000, BATCH)
        await asyncio.to_thread(librdkafka_transactions, bootstrap, 2000, BATCH)
        commands_written += 4000
    print("\nper command: two records and an offset commit in a transaction")
    for per, commands in ((1, SERIAL_COMMANDS), (BATCH, COMMANDS)):
        slow = await asyncio.to_thread(
            meter.measure, commands, lambda c=commands, p=per: _aiokafka_transactions(bootstrap, c, p)
        )
        fast = await asyncio.to_thread(
            meter.measure, commands, lambda c=commands, p=per: librdkafka_transactions(bootstrap, c, p)
        )
        print(_row(f"{per} command(s) per transaction", "command", slow, fast))
        commands_written += 2 * commands
    records = 2 * commands_written  # every one committed
    print(f"\nper record: a read-committed read of the topic's {records} records from the start")
    slow = await asyncio.to_thread(meter.measure, records, lambda: _aiokafka_read(bootstrap, records))
    fast = await asyncio.to_thread(meter.measure, records, lambda: _librdkafka_read(bootstrap, records))
    print(_row("read", "record", slow, fast))


def main() -> None:
    run_on(fresh_platform("bench-kafka-clients", ()), run)


if __name__ == "__main__":
    main()
