"""What the whole platform costs while nothing happens: CPU-seconds of every process (the broker's JVM
included) over BENCH_IDLE_SECONDS (30) on a fresh broker, once everything is SERVING and has settled, and
the consumer groups the platform's processes are members of (each member fetches, heartbeats and commits
whether records come or not). The baseline in the same run is the broker with no client at all.

    make bench-idle
"""

import asyncio
import os

from bench.support import CpuMeter, run_on
from services.platform import Platform
from tests.e2e.platform import active_groups, fresh_platform

IDLE_SECONDS = float(os.environ.get("BENCH_IDLE_SECONDS", "30"))
SETTLE_SECONDS = 15.0  # start-up work (snapshot loads, first rebalances) is over by then


async def run(platform: Platform) -> None:
    await asyncio.sleep(SETTLE_SECONDS)
    groups = await active_groups(platform.settings.kafka_bootstrap_servers)
    print(f"consumer groups with members: {len(groups)}")
    for name in sorted(groups):
        print(f"    {name}")
    meter = CpuMeter.of(platform, client=False).start()
    await asyncio.sleep(IDLE_SECONDS)
    print(f"\nthe idle platform, {IDLE_SECONDS:.0f} s:")
    print(meter.stop().report())
    services = [name for name in platform.names() if name != "kafka"]
    for name in services:  # the baseline: the same broker with no client at all
        platform.stop_service(name)
    await asyncio.sleep(SETTLE_SECONDS)
    alone = CpuMeter.of(platform, client=False).start()
    await asyncio.sleep(IDLE_SECONDS)
    broker = alone.stop().spent.get("kafka", 0.0)
    print(f"\nbaseline, the broker alone for {IDLE_SECONDS:.0f} s: {broker:.2f} CPU-seconds")


def main() -> None:
    run_on(fresh_platform("bench-idle"), run)


if __name__ == "__main__":
    main()
