"""How long a service takes to be SERVING with a long log behind it, and how much memory it needs.

    make bench-replay            (BENCH_EVENTS=1000000 to change the size of the log)

Writes BENCH_EVENTS call events (whole calls: offered, menu, digits, queued, ringing, answered, ended)
and the outcome of every command that produced them into a fresh broker, as telephony would have, then
starts telephony three times and measures, from process start to health SERVING, the wall time and the
peak resident memory (VmHWM):
1. without snapshots: the owners and the read model replay every event (and the outcome window);
2. once the owners have written their snapshots (a round starts after a load without them);
3. again, to show the figure is stable.
The raw baseline, measured in the same run, is a bare aiokafka consumer reading the same events topic
from the beginning to its end without parsing anything: the floor of any replay.
"""

import asyncio
import os
import signal
import time
from datetime import UTC, datetime
from pathlib import Path

import grpc
from aiokafka import TopicPartition
from cc.common.v1 import event_pb2, snapshot_pb2, types_pb2
from cc.telephony.v1 import commands_pb2, events_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc

from bench.support import cpu_seconds
from services.common import kafka
from services.common.command_bus import command_meta
from services.common.deciding import Entry, decide_command
from services.common.envelope import aggregate_key, new_id
from services.common.snapshots import CHECKPOINT_KEY
from services.common.topics import CALLS, ensure_topics
from services.platform import Platform
from services.telephony.app import call_spec
from services.telephony.domain import CallState, TelephonyRules

EVENTS = int(os.environ.get("BENCH_EVENTS", "1000000"))
TENANT = "acme"
SPEC = call_spec(TelephonyRules())


def call_template() -> list[tuple[str, list[event_pb2.Event]]]:
    """One whole call as the real domain decides it: each command with the events it produced."""
    bodies = [
        {"offer_call": commands_pb2.OfferCall(ani="+821012345678", dnis="1588-1234")},
        {"send_digits": commands_pb2.SendDigits(digits="1")},
        {"ring_agent": commands_pb2.RingAgent(agent_id="agent-1", decision_id="decision")},
        {"answer_call": commands_pb2.AnswerCall(agent_id="agent-1")},
        {"hang_up_call": commands_pb2.HangUpCall(party=events_pb2.PARTY_CALLER)},
    ]
    entry: Entry[CallState] | None = None
    steps = []
    for body in bodies:
        command = commands_pb2.CallCommand(meta=command_meta(tenant_id=TENANT, aggregate_id="call"), **body)  # type: ignore[arg-type]
        command.meta.command_id = new_id()
        decided = decide_command(SPEC, entry, command, datetime.now(UTC), 10**6)
        assert decided.accepted, decided.reply.error
        entry = Entry(decided.state, decided.version)
        steps.append((command.meta.command_id, decided.events))
    return steps


async def write_history(bootstrap: str, total_events: int) -> tuple[int, int]:
    """Calls cloned from the template with their own ids, keyed and partitioned as telephony writes them."""
    template = call_template()
    per_call = sum(len(events) for _, events in template)
    producer = kafka.idempotent_producer(bootstrap)
    await producer.start()
    calls = total_events // per_call
    outcomes = 0
    try:
        pending = []
        for number in range(calls):
            call_id = new_id()
            key = aggregate_key(TENANT, call_id)
            version = 0
            for _, events in template:
                command_id = new_id()
                reply = types_pb2.CommandReply(command_id=command_id, aggregate_id=call_id)
                for event in events:
                    version += 1
                    clone = event_pb2.Event()
                    clone.CopyFrom(event)
                    clone.event_id, clone.aggregate_id, clone.aggregate_version = new_id(), call_id, version
                    clone.causation_id = clone.correlation_id = command_id
                    reply.event_ids.append(clone.event_id)
                    pending.append(await producer.send(CALLS.events, clone.SerializeToString(), key=key))
                reply.aggregate_version = version
                pending.append(await producer.send(CALLS.outcomes, reply.SerializeToString(), key=key))
                outcomes += 1
            if number % 2000 == 0:
                await asyncio.gather(*pending)
                pending.clear()
                print(f"\r  written {number * per_call:,} events", end="", flush=True)
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    print()
    return calls * per_call, outcomes


async def raw_read(bootstrap: str) -> float:
    consumer = kafka.reader(bootstrap)
    await consumer.start()
    started = time.perf_counter()
    count = 0
    try:
        partitions = await kafka.partitions_of(consumer, [CALLS.events])
        async for records in kafka.read_to_end(consumer, dict.fromkeys(partitions, 0)):
            count += len(records)
    finally:
        await consumer.stop()
    elapsed = time.perf_counter() - started
    print(f"  raw aiokafka read of {count:,} events, no parsing: {elapsed:.1f}s")
    return elapsed


async def checkpoints(bootstrap: str, partitions: int) -> int:
    """How many partitions of the calls snapshots topic have a checkpoint."""
    consumer = kafka.reader(bootstrap)
    await consumer.start()
    found = set()
    try:
        tps = {TopicPartition(CALLS.snapshots, p): 0 for p in range(partitions)}
        async for records in kafka.read_to_end(consumer, tps):
            for record in records:
                if record.key == CHECKPOINT_KEY:
                    snapshot_pb2.SnapshotCheckpoint.FromString(record.value)
                    found.add(record.partition)
    finally:
        await consumer.stop()
    return len(found)


def peak_memory_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def time_to_serving(platform: Platform, label: str) -> None:
    started = time.monotonic()
    platform.start_service("telephony", "services.telephony")
    pid = platform.pid("telephony")
    assert pid is not None
    address = platform.settings.address(platform.settings.telephony_port)
    async with grpc.aio.insecure_channel(address) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        while True:
            try:
                answer = await health.Check(health_pb2.HealthCheckRequest(), timeout=1)
                if answer.status == health_pb2.HealthCheckResponse.SERVING:
                    break
            except grpc.aio.AioRpcError:
                pass
            if not platform.running("telephony"):
                raise RuntimeError(f"telephony exited; see {platform.logs / 'telephony.log'}")
            await asyncio.sleep(0.1)
    elapsed = time.monotonic() - started
    print(
        f"  {label:36} SERVING after {elapsed:6.1f}s, peak memory {peak_memory_mib(pid):7.0f} MiB, "
        f"CPU {cpu_seconds(pid):6.1f}s"
    )


async def run(platform: Platform) -> None:
    settings = platform.settings
    bootstrap = settings.kafka_bootstrap_servers
    print(f"writing {EVENTS:,} call events and their outcomes...")
    events, outcomes = await write_history(bootstrap, EVENTS)
    print(f"  {events:,} events, {outcomes:,} outcomes in the log")
    await raw_read(bootstrap)

    await time_to_serving(platform, "without snapshots (full replay)")
    deadline = time.monotonic() + 600
    while await checkpoints(bootstrap, settings.cc_partitions) < settings.cc_partitions:
        if time.monotonic() > deadline:
            raise TimeoutError("the owners did not write their snapshots within 10 minutes")
        await asyncio.sleep(2)
    platform.stop_service("telephony", sig=signal.SIGTERM)
    await time_to_serving(platform, "with snapshots")
    platform.stop_service("telephony", sig=signal.SIGTERM)
    await time_to_serving(platform, "with snapshots, again")


def main() -> None:
    platform = Platform.fresh("bench-replay", services=(), LOG_LEVEL="INFO")
    platform.services = ("telephony",)
    try:
        platform.kafka("start")
        asyncio.run(ensure_topics(platform.settings.kafka_bootstrap_servers, platform.settings.cc_partitions))
        asyncio.run(run(platform))
    finally:
        platform.down()


if __name__ == "__main__":
    main()
