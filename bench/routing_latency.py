"""Routing latency on the real stack: how long from a call joining a queue (CallQueued) to the routing
decision (ContactRouted, from the Faust worker) and to the agent's phone ringing (CallRinging, after
telephony consumed the decision). Compared with a raw Kafka produce -> consume hop measured in the same
run, since every step of the path is at least one such hop.

    make bench            (BENCH_CALLS=200 to change the number of calls)

Prints percentiles in milliseconds. Runs a fresh platform of its own on free ports, beside `make up`.
"""

import asyncio
import os
import statistics
import time
from dataclasses import dataclass, field

import httpx
from aiokafka import AIOKafkaConsumer
from cc.common.v1 import event_pb2

from bench.support import percentiles, raw_kafka_hop, run_on
from services.common.envelope import to_datetime
from services.common.topics import CALLS, ROUTING_DECISIONS
from services.platform import Platform
from tests.e2e.platform import fresh_platform

CALLS_TOTAL = int(os.environ.get("BENCH_CALLS", "200"))
AGENTS = 10
API_KEY = "dev-key-acme"


@dataclass
class Timings:
    queued: dict[str, float] = field(default_factory=dict)
    routed: dict[str, float] = field(default_factory=dict)
    ringing: dict[str, float] = field(default_factory=dict)
    ring_events: asyncio.Queue[tuple[str, str]] = field(default_factory=asyncio.Queue)


async def follow(bootstrap: str, timings: Timings) -> None:
    consumer = AIOKafkaConsumer(
        CALLS.events,
        ROUTING_DECISIONS,
        bootstrap_servers=bootstrap,
        auto_offset_reset="latest",
        fetch_max_wait_ms=20,
        isolation_level="read_committed",
    )
    await consumer.start()
    try:
        while True:
            for records in (await consumer.getmany(timeout_ms=100)).values():
                for record in records:
                    event = event_pb2.Event.FromString(record.value)
                    at = to_datetime(event.occurred_at).timestamp()
                    match event.WhichOneof("payload"):
                        case "call_queued":
                            timings.queued.setdefault(event.aggregate_id, at)
                        case "contact_routed":
                            timings.routed.setdefault(event.aggregate_id, at)
                        case "call_ringing":
                            timings.ringing.setdefault(event.aggregate_id, at)
                            timings.ring_events.put_nowait((event.aggregate_id, event.call_ringing.agent_id))
    finally:
        await consumer.stop()


async def run(platform: Platform) -> None:
    settings = platform.settings
    timings = Timings()
    follower = asyncio.create_task(follow(settings.kafka_bootstrap_servers, timings))
    await asyncio.sleep(2)
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{settings.gateway_port}", headers={"X-API-Key": API_KEY}, timeout=30
    ) as rest:
        for index in range(AGENTS):
            (
                await rest.post(
                    f"/v1/agents/bench-{index}/login",
                    json={"site_id": "seoul", "skills": [{"name": "member"}]},
                )
            ).raise_for_status()

        async def desk() -> None:  # answer every ringing call at once, hang up after a short talk
            while True:
                call_id, agent_id = await timings.ring_events.get()
                await rest.post(f"/v1/calls/{call_id}/answer", json={"agent_id": agent_id})
                await rest.post(f"/v1/calls/{call_id}/hangup", json={"party": "agent"})

        desks = [asyncio.create_task(desk()) for _ in range(4)]
        started = time.perf_counter()
        for _ in range(CALLS_TOTAL):
            call = (await rest.post("/v1/calls", json={"ani": "+821000000000", "dnis": "1588"})).json()
            await rest.post(f"/v1/calls/{call['call_id']}/digits", json={"digits": "1"})
            await asyncio.sleep(0.1)
        offered_in = time.perf_counter() - started
        deadline = time.monotonic() + 60
        while len(timings.ringing) < CALLS_TOTAL and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        elapsed = time.perf_counter() - started
        for task in desks:
            task.cancel()
    follower.cancel()
    hop = await raw_kafka_hop(settings.kafka_bootstrap_servers, settings.cc_partitions, 200)

    routed = [(timings.routed[c] - q) * 1000 for c, q in timings.queued.items() if c in timings.routed]
    ringing = [(timings.ringing[c] - q) * 1000 for c, q in timings.queued.items() if c in timings.ringing]
    print(
        f"\n{CALLS_TOTAL} calls at {CALLS_TOTAL / offered_in:.1f}/s against {AGENTS} ready agents, "
        f"all rung within {elapsed:.1f}s (latencies in ms):"
    )
    print(f"  CallQueued -> ContactRouted (Faust decision)  {percentiles(routed)}")
    print(f"  CallQueued -> CallRinging   (agent rung)      {percentiles(ringing)}")
    print(f"  raw Kafka produce -> consume (baseline)       {percentiles(hop)}")
    if routed and hop:
        ratio = statistics.median(routed) / statistics.median(hop)
        print(
            f"  decision p50 / raw hop p50 = {ratio:.1f}x "
            "(the decision path is 2 hops: source -> repartition -> board)"
        )


def main() -> None:
    run_on(fresh_platform("bench", CC_WRAP_UP_SECONDS="0", LOG_LEVEL="WARNING"), run)


if __name__ == "__main__":
    main()
