"""Command throughput and latency on the real stack: `OfferCall` with fresh ids from a `grpc.aio` client.

    make bench-commands                  broker + telephony only
    BENCH_PLATFORM=all make bench-commands   the whole platform (everything downstream must keep up)

Phases: one at a time; 64 in flight (closed loop); an open loop offering a fixed rate (200/s), where
latency counts from the moment each command was due, so a stall is not hidden by a slower client.
Each phase prints latency percentiles (ms), throughput and the CPU-seconds of every process. The
baseline, in the same run, is raw transactional produce and commit of event-sized records with
librdkafka, the services' writer: one transaction per command, and one per 64 commands; and the same
client against a bare gRPC server that answers at once (`bench.grpc_floor`), the floor of the protocol.
"""

import asyncio
import os
import re
import time
from collections.abc import Awaitable, Callable

import grpc
from cc.telephony.v1 import telephony_pb2, telephony_pb2_grpc

from bench import grpc_floor as grpc_floor_server
from bench.kafka_clients import librdkafka_transactions
from bench.support import CpuMeter, consumer_lag, percentiles, run_on
from services.common.topics import KEEP_A_DAY, TopicSpec, ensure_topics
from services.platform import Platform
from tests.e2e.platform import fresh_platform

API_KEY = "dev-key-acme"
SERIAL = int(os.environ.get("BENCH_SERIAL", "300"))
IN_FLIGHT = int(os.environ.get("BENCH_IN_FLIGHT", "64"))
CONCURRENT_SECONDS = float(os.environ.get("BENCH_SECONDS", "20"))
OFFERED_RATE = float(os.environ.get("BENCH_RATE", "200"))
OPEN_LOOP_SECONDS = float(os.environ.get("BENCH_OPEN_SECONDS", "15"))
# A fresh broker's JIT takes about a minute of load to compile its transaction paths: measured cold, a
# transaction cost the broker 6 ms of CPU, warm 1.6 ms. The phases run on a warm broker, as in production.
WARM_UP_SECONDS = float(os.environ.get("BENCH_WARM_UP_SECONDS", "60"))
BASELINE_TOPIC = "bench.raw-transactions.v1"


class Offers:
    """Sends OfferCall with a fresh call each time and records each latency in ms."""

    def __init__(self, stub: telephony_pb2_grpc.TelephonyServiceStub) -> None:
        self._stub = stub
        self.failures: dict[str, int] = {}

    async def one(self) -> float:
        started = time.perf_counter()
        await self.timed_from(started)
        return (time.perf_counter() - started) * 1000

    async def timed_from(self, started: float) -> float | None:
        try:
            await self._stub.OfferCall(
                telephony_pb2.OfferCallRequest(ani="+821012345678", dnis="1588-1234"),
                metadata=(("x-api-key", API_KEY),),
                timeout=30,
            )
        except grpc.aio.AioRpcError as error:
            name = error.code().name
            self.failures[name] = self.failures.get(name, 0) + 1
            return None
        return (time.perf_counter() - started) * 1000


async def serial(offers: Offers, count: int) -> list[float]:
    return [await offers.one() for _ in range(count)]


async def closed_loop(offers: Offers, in_flight: int, seconds: float) -> tuple[list[float], float]:
    samples: list[float] = []
    deadline = time.monotonic() + seconds

    async def client() -> None:
        while time.monotonic() < deadline:
            started = time.perf_counter()
            latency = await offers.timed_from(started)
            if latency is not None:
                samples.append(latency)

    started = time.monotonic()
    await asyncio.gather(*(client() for _ in range(in_flight)))
    return samples, time.monotonic() - started


async def open_loop(offers: Offers, rate: float, seconds: float) -> tuple[list[float], float]:
    """Offer `rate` commands a second whatever the answers; latency counts from when each was due."""
    samples: list[float] = []
    tasks: list[asyncio.Task[None]] = []
    begin = time.perf_counter()

    async def fire(due: float) -> None:
        latency = await offers.timed_from(due)
        if latency is not None:
            samples.append(latency)

    total = int(rate * seconds)
    for index in range(total):
        due = begin + index / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(fire(due)))
    await asyncio.gather(*tasks)
    return samples, time.perf_counter() - begin


async def raw_transactions(bootstrap: str, per_transaction: int, commands: int) -> float:
    """Commands per second of bare transactional produce + offset commit with librdkafka (the services'
    writer): each command is two event-sized records and one consumed offset, `per_transaction`
    commands per transaction."""
    await ensure_topics(bootstrap, 1, {BASELINE_TOPIC: TopicSpec(1, KEEP_A_DAY)})
    started = time.perf_counter()
    await asyncio.to_thread(librdkafka_transactions, bootstrap, commands, per_transaction, BASELINE_TOPIC)
    return commands / (time.perf_counter() - started)


BATCHING = re.compile(rb"(\d+) commands in (\d+) transactions so far")


def batching(platform: Platform) -> tuple[int, int]:
    """Commands and transactions telephony's owners have committed, as it last logged them (every 2 s)."""
    found = BATCHING.findall((platform.logs / "telephony.log").read_bytes())
    return (int(found[-1][0]), int(found[-1][1])) if found else (0, 0)


async def measure(
    name: str,
    platform: Platform,
    meter: CpuMeter,
    phase: Callable[[], Awaitable[tuple[list[float], float]]],
) -> float:
    await asyncio.sleep(2.5)  # the owners' next batching line covers everything before the phase
    commands_before, transactions_before = batching(platform)
    meter.start()
    samples, seconds = await phase()
    meter.stop()
    await asyncio.sleep(2.5)
    commands_after, transactions_after = batching(platform)
    rate = len(samples) / seconds
    print(f"\n{name}: {len(samples)} commands in {seconds:.1f}s = {rate:.0f}/s (latency ms)")
    print(f"    {percentiles(samples)}")
    print(meter.report(per=len(samples)))
    transactions = transactions_after - transactions_before
    if transactions:
        commands = commands_after - commands_before
        broker = meter.spent.get("kafka", 0.0)
        print(
            f"    {transactions} transactions: {commands / transactions:.1f} commands per transaction, "
            f"{transactions / commands:.2f} transactions per command, "
            f"broker {1000 * broker / transactions:.1f} ms of CPU per transaction"
        )
    return rate


async def run(platform: Platform) -> None:
    settings = platform.settings
    address = settings.address(settings.telephony_port)
    meter = CpuMeter.of(platform)
    async with grpc.aio.insecure_channel(address) as channel:
        offers = Offers(telephony_pb2_grpc.TelephonyServiceStub(channel))
        print(f"warming up for {WARM_UP_SECONDS:.0f}s ({IN_FLIGHT} in flight)...", flush=True)
        await closed_loop(offers, IN_FLIGHT, WARM_UP_SECONDS)
        await measure("one at a time", platform, meter, lambda: _timed(serial(offers, SERIAL)))
        await measure(
            f"{IN_FLIGHT} in flight",
            platform,
            meter,
            lambda: closed_loop(offers, IN_FLIGHT, CONCURRENT_SECONDS),
        )
        await measure(
            f"open loop at {OFFERED_RATE:.0f}/s",
            platform,
            meter,
            lambda: open_loop(offers, OFFERED_RATE, OPEN_LOOP_SECONDS),
        )
        if offers.failures:
            print(f"\nfailed RPCs: {offers.failures}")
    if len(platform.services) > 1:
        await asyncio.sleep(10)
        lag = await consumer_lag(settings.kafka_bootstrap_servers)
        print(f"\nconsumer lag 10 s after the load: {lag}")

    print("\nbaseline, raw librdkafka transactional produce + commit of event-sized records:")
    for per in (1, IN_FLIGHT):
        rate = await raw_transactions(settings.kafka_bootstrap_servers, per, 1000 if per == 1 else 20000)
        print(f"    {per:3} command(s) per transaction: {rate:7.0f} commands/s")
    await grpc_floor()


async def grpc_floor() -> None:
    """The same client against a bare gRPC server that does no work (`bench.grpc_floor`)."""
    print("\nbaseline, a bare grpc.aio server answering OfferCall at once (no Kafka, no state):")
    port = grpc_floor_server.free_port()
    server = await grpc_floor_server.started(port)
    try:
        meter = CpuMeter({"floor server": server.pid, "bench client": os.getpid()})
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            offers = Offers(telephony_pb2_grpc.TelephonyServiceStub(channel))
            await closed_loop(offers, IN_FLIGHT, 5)  # warm both sides' connection and code paths
            for name, phase in (
                ("one at a time", lambda: _timed(serial(offers, SERIAL))),
                (f"{IN_FLIGHT} in flight", lambda: closed_loop(offers, IN_FLIGHT, CONCURRENT_SECONDS)),
            ):
                meter.start()
                samples, seconds = await phase()
                meter.stop()
                print(f"  {name}: {len(samples) / seconds:.0f} calls/s (latency ms)")
                print(f"    {percentiles(samples)}")
                print(meter.report(per=len(samples), unit="call"))
    finally:
        server.kill()
        await server.wait()


async def _timed(work: Awaitable[list[float]]) -> tuple[list[float], float]:
    started = time.monotonic()
    samples = await work
    return samples, time.monotonic() - started


def main() -> None:
    everything = os.environ.get("BENCH_PLATFORM", "") == "all"
    run_on(fresh_platform("bench-commands", None if everything else ("telephony",), LOG_LEVEL="INFO"), run)


if __name__ == "__main__":
    main()
