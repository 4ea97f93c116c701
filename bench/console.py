"""How long a supervisor waits to see a call on the wallboard: from `POST /v1/calls` answering to the
queue's tile in a real browser (Debian's Chromium, driven by Playwright) counting it as waiting. The call
goes through its line's IVR into a queue no agent can take, so each one adds one to the count.

    make bench-console            (BENCH_CALLS=30 calls, BENCH_INTERVAL=1.5 s apart on average)

The path: the telephony command, the call's events to the routing worker, whose live metrics go out
once a second (routing_metrics_interval_seconds), and the gateway's tenant stream, which sends once a
second. So its floor is a raw Kafka hop (measured in the same run) plus, on average, half of each of
those two periods. The calls come at random intervals, so that no sample keeps the same phase against
the two timers. Prints percentiles in ms and each process's CPU.
"""

import asyncio
import os
import random
import time
from pathlib import Path

import httpx
from playwright.async_api import async_playwright

from bench.support import CpuMeter, percentiles, raw_kafka_hop, run_on
from services.platform import Platform
from tests.e2e.platform import fresh_platform

CALLS = int(os.environ.get("BENCH_CALLS", "30"))
INTERVAL = float(os.environ.get("BENCH_INTERVAL", "1.5"))
CHROMIUM = Path(os.environ.get("BENCH_CHROMIUM", "/usr/bin/chromium"))
ADMIN, SUPERVISOR = "dev-key-acme", "bench-console-supervisor"
QUEUE, NUMBER = "bench-wallboard", "15887300"
# The two periodic steps on the path: the routing worker's live metrics, and the tenant stream.
PERIODS_SECONDS = (1.0, 1.0)


async def define_waiting_queue(rest: httpx.AsyncClient) -> None:
    """A queue that asks for a skill nobody has, and a line whose flow puts its calls in it at once."""
    queue = {"queue_id": QUEUE, "skills": [{"skill": "nobody-has-this", "min_proficiency": 1}]}
    (await rest.post("/v1/queues", json=queue)).raise_for_status()
    (await rest.put("/v1/lines/bench-wallboard", json={"numbers": [NUMBER]})).raise_for_status()
    # Straight into the queue: an announcement first would add its own playing time to every sample.
    flow = {"start": "wait", "nodes": [{"id": "wait", "type": "queue", "parameters": {"queue_id": QUEUE}}]}
    (await rest.post("/v1/lines/bench-wallboard/flows", json=flow)).raise_for_status()


async def run(platform: Platform) -> None:
    base = f"http://127.0.0.1:{platform.settings.gateway_port}"
    async with httpx.AsyncClient(base_url=base, headers={"X-API-Key": ADMIN}, timeout=30) as rest:
        await define_waiting_queue(rest)
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu", "--no-first-run"]
            )
            page = await (await browser.new_context(base_url=base)).new_page()
            await page.goto("/console/")
            await page.get_by_label("API key", exact=True).fill(SUPERVISOR)
            await page.get_by_role("button", name="Sign in").click()
            waiting = page.locator(f'[data-queue="{QUEUE}"] [data-fact="waiting"]')
            await waiting.wait_for(timeout=30_000)
            meter = CpuMeter.of(platform)
            meter.pids["chromium"] = browser_pid()
            meter.start()
            samples = []
            pauses = random.Random(5)
            for count in range(1, CALLS + 1):
                response = await rest.post("/v1/calls", json={"ani": f"+8210555{count:05}", "dnis": NUMBER})
                response.raise_for_status()
                answered = time.perf_counter()
                await page.wait_for_function(
                    "([selector, count]) => document.querySelector(selector)?.textContent === String(count)",
                    arg=[f'[data-queue="{QUEUE}"] [data-fact="waiting"]', count],
                    timeout=30_000,
                )
                samples.append((time.perf_counter() - answered) * 1000)
                await asyncio.sleep(pauses.uniform(0.5 * INTERVAL, 1.5 * INTERVAL))
            meter.stop()
            await browser.close()
    hop = await raw_kafka_hop(platform.settings.kafka_bootstrap_servers, 6, CALLS, interval=0.1)
    print(f"\n{CALLS} calls queued over REST, about {INTERVAL} s apart, until the wallboard counts each:")
    print(f"    {percentiles(samples)}")
    print(meter.report(per=CALLS, unit="call"))
    print(f"raw Kafka hop in the same run (ms):\n    {percentiles(hop)}")
    floor = sorted(hop)[len(hop) // 2] + sum(PERIODS_SECONDS) * 1000 / 2
    median = sorted(samples)[len(samples) // 2]
    print(
        f"p50 against the floor (the raw hop's p50 plus half of each 1 s period on the path, "
        f"{floor:.0f} ms): {median / floor:.2f}x"
    )


def browser_pid() -> int:
    """The Chromium browser process Playwright started (its renderers are its children, and counted
    only once they exit, so the figure is a floor)."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                command = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if command and command[0].endswith(b"chromium") and not any(b"--type=" in a for a in command):
                return int(entry.name)
    return os.getpid()


def main() -> None:
    run_on(
        fresh_platform(
            "bench-console",
            CC_API_KEYS=f"{ADMIN}:acme,{SUPERVISOR}:acme:supervisor",
            LOG_LEVEL="WARNING",
        ),
        run,
    )


if __name__ == "__main__":
    main()
