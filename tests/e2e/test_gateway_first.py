"""A gateway that starts before any service (issue 6, honest readiness). On a fresh broker nothing has
created the platform's topics yet; a reader assigned to a topic that does not exist reads nothing, ever,
so a gateway that did not see to its topics would never follow the live metrics or the API keys (a key
issued later would be refused at the gateway). The gateway makes sure of its topics itself: alone on an
empty broker, it follows both, and /readyz waits only for the services."""

import asyncio
from collections.abc import Iterator

import httpx
import pytest

from services.platform import Platform
from tests.e2e.platform import fresh_platform


@pytest.fixture
def gateway_alone() -> Iterator[Platform]:
    platform = fresh_platform("e2e-gateway-first", ("gateway",))
    try:
        platform.kafka("start")
        platform.start_service("gateway", "services.gateway")
        yield platform
    finally:
        platform.down()


async def test_a_gateway_on_an_empty_broker_follows_its_topics_and_waits_only_for_the_services(
    gateway_alone: Platform,
) -> None:
    url = f"http://127.0.0.1:{gateway_alone.settings.gateway_port}/readyz"
    checks: dict[str, bool] = {}
    async with httpx.AsyncClient(timeout=5) as client, asyncio.timeout(90):
        while not (checks.get("live-metrics") and checks.get("api-keys")):
            assert gateway_alone.running("gateway"), "the gateway exited"
            try:
                answer = await client.get(url)
                checks = answer.json()["checks"]
            except httpx.HTTPError:
                pass  # not listening yet
            await asyncio.sleep(0.2)
        assert answer.status_code == 503  # no service runs: not ready, and it says why
    assert not any(checks[name] for name in ("telephony", "routing", "ticketing", "analytics", "keys"))
