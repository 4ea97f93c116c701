"""Timers end to end (issue 6): RONA fires on a real platform. The unanswered call goes back to its
queue keeping its place, the agent goes not ready, and the call rings the next agent once."""

from collections.abc import AsyncIterator

import httpx
import pytest

from services.platform import Platform
from tests.e2e.support import until


@pytest.fixture
async def rest(platform: Platform) -> AsyncIterator[httpx.AsyncClient]:
    base = f"http://127.0.0.1:{platform.settings.gateway_port}"
    async with httpx.AsyncClient(base_url=base, headers={"X-API-Key": "e2e-timers"}, timeout=30) as client:
        yield client


async def test_an_unanswered_ring_goes_back_to_the_queue_keeping_its_place_and_rings_the_next_agent(
    rest: httpx.AsyncClient,
) -> None:
    await rest.post("/v1/agents/park/login", json={"site_id": "seoul", "skills": [{"name": "member"}]})
    call = (await rest.post("/v1/calls", json={"ani": "+821055556666", "dnis": "1588"})).json()
    call_id, customer_id = call["call_id"], call["customer_id"]
    queued = (await rest.post(f"/v1/calls/{call_id}/digits", json={"digits": "1"})).json()
    first = await until(rest, f"/v1/calls/{call_id}", lambda c: c["status"] == "ringing", "it never rang")
    assert first["agent_id"] == "park"

    # Nobody answers: after the ring timeout the call waits again, at its first place in the queue.
    await until(rest, f"/v1/calls/{call_id}", lambda c: c["version"] > first["version"], "RONA never fired")
    park = await until(rest, "/v1/agents/park", lambda a: a["state"] == "not-ready", "park stayed ready")
    assert park["reason"] == "ring-no-answer"
    again = (await rest.get(f"/v1/calls/{call_id}")).json()
    assert again["status"] == "queued" and again["enqueued_at"] == queued["enqueued_at"]

    # The next agent gets it, rung once.
    await rest.post("/v1/agents/jeon/login", json={"site_id": "busan", "skills": [{"name": "member"}]})
    second = await until(rest, f"/v1/calls/{call_id}", lambda c: c["status"] == "ringing", "never rang again")
    assert second["agent_id"] == "jeon"
    await rest.post(f"/v1/calls/{call_id}/answer", json={"agent_id": "jeon"})

    journey = await until(
        rest,
        f"/v1/customers/{customer_id}/journey",
        lambda j: "telephony.call.answered" in [e["event_type"] for e in j["events"]],
        "the journey never showed the answer",
    )
    types = [e["event_type"] for e in journey["events"]]
    assert types.count("telephony.call.ring_no_answer") == 1
    assert types.count("telephony.call.ringing") == 2  # once per decision, however often it was sent
    assert types.count("routing.contact.routed") == 2
