"""Call control (TEL-1) end to end over REST: the agent whose phone rings rejects the call, which goes
back to its queue and on to another agent while the first goes not ready (`rejected`); the agent on
the call holds and resumes it, and the call's end counts the time on hold; the journey shows each
step with who did it."""

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from services.platform import Platform
from tests.e2e.support import journey_to_the_end, until
from tests.e2e.test_call_life import ok

ADMIN, KIM, LEE = "e2e-control", "e2e-control-kim", "e2e-control-lee"


@pytest.fixture
async def rest(platform: Platform) -> AsyncIterator[httpx.AsyncClient]:
    base = f"http://127.0.0.1:{platform.settings.gateway_port}"
    async with httpx.AsyncClient(base_url=base, headers={"X-API-Key": ADMIN}, timeout=30) as client:
        yield client


def rings(agent_id: str) -> Any:
    return lambda call: call["status"] == "ringing" and call["agent_id"] == agent_id


async def test_reject_hold_and_resume_over_rest(rest: httpx.AsyncClient) -> None:
    member = {"site_id": "seoul", "skills": [{"name": "member", "proficiency": 5}]}
    ok(await rest.post("/v1/agents/kim/login", json=member, headers={"X-API-Key": KIM}))
    call = ok(await rest.post("/v1/calls", json={"ani": "+821044440000", "dnis": "1588"}), 201)
    call_id = call["call_id"]
    ok(await rest.post(f"/v1/calls/{call_id}/digits", json={"digits": "1"}))
    await until(rest, f"/v1/calls/{call_id}", rings("kim"), "the call never rang kim")

    someone_else = await rest.post(
        f"/v1/calls/{call_id}/reject", json={"agent_id": "kim"}, headers={"X-API-Key": LEE}
    )
    assert someone_else.status_code == 403  # an agent acts only as itself
    rejected = ok(
        await rest.post(f"/v1/calls/{call_id}/reject", json={"agent_id": "kim"}, headers={"X-API-Key": KIM})
    )
    assert (rejected["status"], rejected["agent_id"]) == ("queued", "")
    kim = await until(rest, "/v1/agents/kim", lambda a: a["state"] == "not-ready", "kim stayed ready")
    assert kim["reason"] == "rejected"

    ok(await rest.post("/v1/agents/lee/login", json=member, headers={"X-API-Key": LEE}))
    await until(rest, f"/v1/calls/{call_id}", rings("lee"), "the rejected call never rang lee")
    ok(await rest.post(f"/v1/calls/{call_id}/answer", json={"agent_id": "lee"}, headers={"X-API-Key": LEE}))
    early = await rest.post(
        f"/v1/calls/{call_id}/resume", json={"agent_id": "lee"}, headers={"X-API-Key": LEE}
    )
    assert (early.status_code, early.json()["error_id"]) == (409, "call-not-on-hold")

    held = ok(
        await rest.post(f"/v1/calls/{call_id}/hold", json={"agent_id": "lee"}, headers={"X-API-Key": LEE})
    )
    assert held["on_hold"] is True
    resumed = ok(
        await rest.post(f"/v1/calls/{call_id}/resume", json={"agent_id": "lee"}, headers={"X-API-Key": LEE})
    )
    assert resumed["on_hold"] is False and resumed["hold_seconds"] > 0
    ended = ok(
        await rest.post(f"/v1/calls/{call_id}/hangup", json={"party": "agent"}, headers={"X-API-Key": LEE})
    )
    assert ended["hold_seconds"] == resumed["hold_seconds"]

    journey = await journey_to_the_end(rest, call["customer_id"])
    kinds = [e["event_type"] for e in journey["events"]]
    assert kinds.index("telephony.call.rejected") < kinds.index("telephony.call.answered")
    assert (
        kinds.index("telephony.call.held")
        < kinds.index("telephony.call.resumed")
        < kinds.index("telephony.call.ended")
    )
    held_by = next(e["actor"] for e in journey["events"] if e["event_type"] == "telephony.call.held")
    assert "lee" in held_by  # who did it

    # The queue's statistics count the call as held, with its time on hold.
    def held_counted(body: dict[str, Any]) -> bool:
        return any(row["held"] for row in body["queues"])

    statistics = await until(rest, "/v1/statistics/queues", held_counted, "the hold was never counted")
    [row] = [row for row in statistics["queues"] if row["held"]]
    assert row["held"] == 1
    assert row["average_hold_time_seconds"] == pytest.approx(ended["hold_seconds"], abs=0.001)
