"""Consultation and conference (TEL-1) end to end over REST: the agent on a call consults an outside
number with the caller on hold, cancels, consults again and makes it a three-party conference, then
leaves it, which transfers the call to the party; the agent wraps up, the journey shows each step and
the queue's statistics count the time on hold. Then another agent is consulted: busy while consulted,
it leaves, is consulted again and takes the call over, with its voice ticket."""

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from services.platform import Platform
from tests.e2e.support import journey_to_the_end, until
from tests.e2e.test_call_life import ok

KIM = {"X-API-Key": "e2e-consult-kim"}
ANN, SUE = {"X-API-Key": "e2e-consult-ann"}, {"X-API-Key": "e2e-consult-sue"}
EXPERT = "+82 2-555-0100"


@pytest.fixture
async def rest(platform: Platform) -> AsyncIterator[httpx.AsyncClient]:
    base = f"http://127.0.0.1:{platform.settings.gateway_port}"
    async with httpx.AsyncClient(base_url=base, headers={"X-API-Key": "e2e-consult"}, timeout=30) as client:
        yield client


async def test_consult_cancel_conference_and_leave_over_rest(rest: httpx.AsyncClient) -> None:
    member = {"site_id": "seoul", "skills": [{"name": "member", "proficiency": 5}]}
    ok(await rest.post("/v1/agents/kim/login", json=member, headers=KIM))
    call = ok(await rest.post("/v1/calls", json={"ani": "+821055550077", "dnis": "1588"}), 201)
    call_id, kim = call["call_id"], {"agent_id": "kim"}
    ok(await rest.post(f"/v1/calls/{call_id}/digits", json={"digits": "1"}))
    await until(rest, f"/v1/calls/{call_id}", lambda c: c["status"] == "ringing", "the call never rang kim")
    ok(await rest.post(f"/v1/calls/{call_id}/answer", json=kim, headers=KIM))

    consulting = ok(
        await rest.post(f"/v1/calls/{call_id}/consult", json={**kim, "number": EXPERT}, headers=KIM)
    )
    assert (consulting["on_hold"], consulting["consult"]) == (
        True,
        {"number": EXPERT, "agent_id": "", "joined": False, "conference": False},
    )
    no_hold = await rest.post(f"/v1/calls/{call_id}/hold", json=kim, headers=KIM)
    assert (no_hold.status_code, no_hold.json()["error_id"]) == (409, "call-consulting")
    no_hang_up = await rest.post(f"/v1/calls/{call_id}/hangup", json={"party": "agent"}, headers=KIM)
    assert (no_hang_up.status_code, no_hang_up.json()["error_id"]) == (409, "call-consulting")

    back = ok(await rest.post(f"/v1/calls/{call_id}/consult/cancel", json=kim, headers=KIM))
    assert (back["on_hold"], back["consult"], back["status"]) == (False, None, "connected")
    assert back["hold_seconds"] > 0
    none_now = await rest.post(f"/v1/calls/{call_id}/consult/conference", json=kim, headers=KIM)
    assert (none_now.status_code, none_now.json()["error_id"]) == (409, "call-not-consulting")

    ok(await rest.post(f"/v1/calls/{call_id}/consult", json={**kim, "number": EXPERT}, headers=KIM))
    three = ok(await rest.post(f"/v1/calls/{call_id}/consult/conference", json=kim, headers=KIM))
    assert (three["on_hold"], three["consult"]) == (
        False,
        {"number": EXPERT, "agent_id": "", "joined": False, "conference": True},
    )

    left = ok(await rest.post(f"/v1/calls/{call_id}/hangup", json={"party": "agent"}, headers=KIM))
    assert (left["status"], left["end_reason"], left["ended_by"]) == ("ended", "transferred-out", "agent")
    await until(rest, "/v1/agents/kim", lambda a: a["state"] == "wrap-up", "kim never wrapped up")

    journey = await journey_to_the_end(rest, call["customer_id"])
    steps = [
        e["event_type"].removeprefix("telephony.call.")
        for e in journey["events"]
        if e["event_type"].startswith(
            ("telephony.call.consult", "telephony.call.conferenced", "telephony.call.transferred")
        )
    ]
    assert steps == ["consult_started", "consult_ended", "consult_started", "conferenced", "transferred"]

    def held(body: dict[str, Any]) -> bool:
        return any(row["queue_id"] == "member" and row["held"] for row in body["queues"])

    statistics = await until(rest, "/v1/statistics/queues", held, "the consultation's hold was never counted")
    [row] = [row for row in statistics["queues"] if row["queue_id"] == "member"]
    assert row["average_hold_time_seconds"] == pytest.approx(left["hold_seconds"], abs=0.001)


async def test_an_agent_consults_another_agent_who_leaves_then_takes_the_call_over(
    rest: httpx.AsyncClient,
) -> None:
    async with httpx.AsyncClient(
        base_url=rest.base_url, headers={"X-API-Key": "e2e-consult-agents"}, timeout=30
    ) as admin:
        await _consulting_another_agent(admin)


async def _consulting_another_agent(rest: httpx.AsyncClient) -> None:
    ok(await rest.post("/v1/queues", json={"queue_id": "billing", "skills": [{"skill": "billing"}]}), 201)
    member = {"site_id": "seoul", "skills": [{"name": "member", "proficiency": 5}]}
    ok(await rest.post("/v1/agents/ann/login", json=member, headers=ANN))
    billing = {"site_id": "seoul", "skills": [{"name": "billing", "proficiency": 5}]}
    ok(await rest.post("/v1/agents/sue/login", json=billing, headers=SUE))
    offered = {"ani": "+821055550078", "dnis": "1588"}
    call_id = ok(await rest.post("/v1/calls", json=offered), 201)["call_id"]
    ok(await rest.post(f"/v1/calls/{call_id}/digits", json={"digits": "1"}))
    path = f"/v1/calls/{call_id}"
    await until(rest, path, lambda c: c["status"] == "ringing", "the call never rang ann")
    ok(await rest.post(f"{path}/answer", json={"agent_id": "ann"}, headers=ANN))

    ask_sue = {"agent_id": "ann", "consulted_agent_id": "sue"}
    nobody = await rest.post(f"{path}/consult", json={**ask_sue, "consulted_agent_id": "nobody"}, headers=ANN)
    assert (nobody.status_code, nobody.json()["error_id"]) == (404, "agent-not-found"), nobody.text
    once = {**ANN, "Idempotency-Key": "ann-asks-sue"}
    consulting = ok(await rest.post(f"{path}/consult", json=ask_sue, headers=once))
    assert consulting["consult"] == {"number": "", "agent_id": "sue", "joined": False, "conference": False}
    await until(rest, path, lambda c: c["consult"] and c["consult"]["joined"], "sue never joined")
    again = ok(await rest.post(f"{path}/consult", json=ask_sue, headers=once))  # a retry: the same answer
    assert again["consult"]["agent_id"] == "sue"
    # sue leaves of her own accord, wraps up, and is free again
    left = ok(await rest.post(f"{path}/consult/party-left", json={"agent_id": "sue"}, headers=SUE))
    assert (left["consult"], left["agent_id"]) == (None, "ann")
    await until(rest, "/v1/agents/sue", lambda a: a["state"] == "ready", "sue never came back")

    # now the billing queue is consulted: whoever of it routing would choose, sue
    by_queue = await _consulted(rest, path, {"agent_id": "ann", "queue_id": "billing"})
    assert by_queue["consult"]["agent_id"] == "sue"
    await until(rest, path, lambda c: c["consult"] and c["consult"]["joined"], "sue never joined")
    none_free = await rest.post(
        f"{path}/consult", json={"agent_id": "ann", "queue_id": "billing"}, headers=ANN
    )
    # ann is consulting already, and sue, billing's only agent, is on the call
    assert (none_free.status_code, none_free.json()["error_id"]) == (409, "no-agent-free"), none_free.text
    busy = await rest.post(f"{path}/consult", json=ask_sue, headers=ANN)
    assert (busy.status_code, busy.json()["error_id"]) == (409, "agent-busy"), busy.text
    handed = ok(await rest.post(f"{path}/consult/transfer", json={"agent_id": "ann"}, headers=ANN))
    assert (handed["status"], handed["agent_id"], handed["consult"]) == ("connected", "sue", None)
    await until(rest, "/v1/agents/ann", lambda a: a["state"] != "on-contact", "ann never left")
    ended = ok(await rest.post(f"{path}/hangup", json={"party": "agent"}, headers=SUE))
    assert ended["status"] == "ended"
    await until(rest, "/v1/agents/sue", lambda a: a["state"] == "wrap-up", "sue never wrapped up")

    def sues(body: dict[str, Any]) -> bool:
        return any(ticket["call_id"] == call_id for ticket in body["tickets"])

    await until(rest, "/v1/tickets", sues, "the call's ticket never went to sue", assignee="sue")


async def _consulted(rest: httpx.AsyncClient, path: str, asked: dict[str, str]) -> Any:
    """Consult as asked, once routing's view of the queue has its free agent (a moment after she is)."""
    async with asyncio.timeout(45):
        while True:
            response = await rest.post(f"{path}/consult", json=asked, headers=ANN)
            if response.status_code != 409 or response.json()["error_id"] != "no-agent-free":
                return ok(response)
            await asyncio.sleep(0.3)
