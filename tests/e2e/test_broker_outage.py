"""A broker outage (issue 6), on a platform with a broker of its own: writes answer 503 with Retry-After
within the command timeout instead of hanging, reads from the read models keep answering, writes
succeed again soon after the broker is back, and every process stops within 10 s of SIGTERM whether
the broker is up or gone."""

import asyncio
import os
import signal
import time
from collections.abc import Iterator

import httpx
import pytest

from services.platform import Platform
from tests.e2e.platform import fresh_platform

COMMAND_TIMEOUT = 5.0
KEY = {"X-API-Key": "outage-key"}


@pytest.fixture(scope="module")
def own_platform() -> Iterator[Platform]:
    platform = fresh_platform(
        "e2e-outage",
        None,  # every service: the gateway is ready only when all it forwards to are
        CC_API_KEYS="outage-key:tenant-outage",
        CC_COMMAND_TIMEOUT_SECONDS=str(COMMAND_TIMEOUT),
    )
    try:
        platform.up(timeout=180)
        yield platform
    finally:
        platform.down()


async def test_a_broker_outage_answers_503_fast_keeps_reads_and_recovers(own_platform: Platform) -> None:
    base = f"http://127.0.0.1:{own_platform.settings.gateway_port}"
    offer = {"ani": "+821033334444", "dnis": "1588"}
    async with httpx.AsyncClient(base_url=base, headers=KEY, timeout=60) as rest:
        before = await rest.post("/v1/calls", json=offer)
        assert before.status_code == 201, before.text
        call_id = before.json()["call_id"]

        broker = own_platform.pid("kafka")
        assert broker is not None
        os.kill(broker, signal.SIGKILL)

        started = time.monotonic()
        refused = await rest.post("/v1/calls", json=offer, headers={"Idempotency-Key": "during-outage"})
        took = time.monotonic() - started
        assert refused.status_code == 503, refused.text
        assert refused.headers["Retry-After"].isdigit()
        assert took <= COMMAND_TIMEOUT + 3, f"a write waited {took:.1f}s with the broker away"

        read = await rest.get(f"/v1/calls/{call_id}")
        assert (read.status_code, read.json()["call_id"]) == (200, call_id)

        await asyncio.to_thread(own_platform.kafka, "start")
        back = time.monotonic()
        while True:  # the same key: however many tries it takes, one call
            retried = await rest.post("/v1/calls", json=offer, headers={"Idempotency-Key": "during-outage"})
            if retried.status_code == 201:
                break
            assert retried.status_code == 503, retried.text
            assert time.monotonic() - back < 30, "writes did not come back within 30 s of the broker"
            await asyncio.sleep(float(retried.headers["Retry-After"]))
        again = await rest.post("/v1/calls", json=offer, headers={"Idempotency-Key": "during-outage"})
        assert again.json()["call_id"] == retried.json()["call_id"]
    assert all(own_platform.running(name) for name in own_platform.services)


def stop_times(platform: Platform) -> dict[str, float]:
    """SIGTERM each service in turn: the seconds until each process had ended (30 at most)."""
    took: dict[str, float] = {}
    for name in platform.services:
        process = platform.children[name]
        started = time.monotonic()
        os.killpg(process.pid, signal.SIGTERM)
        while process.poll() is None and time.monotonic() - started < 30:
            time.sleep(0.1)
        took[name] = round(time.monotonic() - started, 1)
    return took


async def test_every_process_stops_within_10s_of_sigterm_broker_up_or_down(own_platform: Platform) -> None:
    with_broker = await asyncio.to_thread(stop_times, own_platform)
    assert all(seconds <= 10 for seconds in with_broker.values()), with_broker

    await asyncio.to_thread(own_platform.up, 180)  # the broker runs on; every service starts again
    broker = own_platform.pid("kafka")
    assert broker is not None
    os.kill(broker, signal.SIGKILL)
    await asyncio.sleep(2)  # long enough for every client to have lost its connections
    without_broker = await asyncio.to_thread(stop_times, own_platform)
    assert all(seconds <= 10 for seconds in without_broker.values()), without_broker
