"""Outbound campaigns (TEL-8) end to end over REST: a supervisor defines a campaign of three numbers,
one of them on the do-not-call list, and runs it; the pacer gives its ready agent the first contact, the
carrier's answer reaches it, and once the agent is ready again after the call the do-not-call number is
skipped and the third is dialled; unanswered on its only attempt it is given up, and the campaign
completes. Bad definitions and roles without the right are refused with what is wrong."""

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from services.platform import Platform
from tests.e2e.support import until
from tests.e2e.test_call_life import ok

SUPERVISOR, ADMIN, KIM, ADAPTER = (
    {"X-API-Key": key}
    for key in ("e2e-campaigns", "e2e-campaigns-admin", "e2e-campaigns-kim", "e2e-campaigns-adapter")
)
ALL_DAY = dict.fromkeys(("mon", "tue", "wed", "thu", "fri", "sat", "sun"), "00:00-24:00")
FIRST, UNWILLING, THIRD = "+82 10-8888-0001", "+821088880002", "821088880003"


@pytest.fixture
async def rest(platform: Platform) -> AsyncIterator[httpx.AsyncClient]:
    base = f"http://127.0.0.1:{platform.settings.gateway_port}"
    async with httpx.AsyncClient(base_url=base, headers=SUPERVISOR, timeout=30) as client:
        yield client


def contact(index: int, status: str) -> Any:
    return lambda campaign: campaign["contacts"][index]["status"] == status


async def placed(rest: httpx.AsyncClient, call_id: str) -> Any:
    """The call of a dialled contact once it exists: a policy places it after the campaign's dial event,
    so the campaign shows the contact dialling a moment before the call can be read."""
    return await until(rest, f"/v1/calls/{call_id}", lambda _: True, f"call {call_id} was never placed")


async def test_a_campaign_calls_its_list_through_its_ready_agent_and_completes(
    rest: httpx.AsyncClient,
) -> None:
    line = {"numbers": ["15779000"], "hours": {"time_zone": "Asia/Seoul", "weekly": ALL_DAY}}
    ok(await rest.put("/v1/lines/renewals", json=line, headers=ADMIN))
    ok(await rest.put(f"/v1/caller-list/{UNWILLING}", json={"action": "do-not-call", "reason": "asked"}))
    numbers = [{"number": FIRST, "name": "Kim Minji"}, {"number": UNWILLING}, {"number": THIRD}]
    renewals = {"name": "Renewals", "line_id": "renewals", "agent_ids": ["kim"], "max_attempts": 1}

    for body, headers, status, error in (
        ({**renewals, "contacts": numbers}, KIM, 403, "role-not-permitted"),
        ({**renewals, "contacts": numbers, "line_id": "nowhere"}, SUPERVISOR, 404, "line-not-found"),
        ({**renewals, "contacts": [{"number": FIRST}] * 2}, SUPERVISOR, 422, "invalid-argument"),
        ({**renewals, "contacts": []}, SUPERVISOR, 422, "invalid-argument"),
    ):
        refused = await rest.post("/v1/campaigns", json=body, headers=headers)
        assert (refused.status_code, refused.json()["error_id"]) == (status, error), refused.text

    campaign = ok(await rest.post("/v1/campaigns", json={**renewals, "contacts": numbers}), 201)
    path = f"/v1/campaigns/{campaign['campaign_id']}"
    assert (campaign["status"], campaign["caller_id"]) == ("paused", "15779000")
    assert campaign["counts"]["pending"] == 3
    assert [c["number"] for c in campaign["contacts"]] == ["821088880001", "821088880002", "821088880003"]
    seoul = {"site_id": "seoul", "skills": [{"name": "sales"}]}
    ok(await rest.post("/v1/agents/kim/login", json=seoul, headers=KIM))
    assert ok(await rest.put(f"{path}/status", json={"status": "running"}))["status"] == "running"

    # the pacer gives kim, ready, the first contact: an outbound call of the campaign
    given = await until(rest, path, contact(0, "dialling"), "kim was never given the first contact")
    first = given["contacts"][0]
    call = await placed(rest, first["call_id"])
    assert (call["status"], call["direction"], call["agent_id"]) == ("dialing", "outbound", "kim")
    assert call["campaign_id"] == campaign["campaign_id"]
    assert (call["dnis"], call["ani"]) == ("821088880001", "15779000")
    answered = {"outcome": "connected"}
    ok(await rest.post(f"/v1/calls/{first['call_id']}/callback-outcome", json=answered, headers=ADAPTER))
    await until(rest, path, contact(0, "reached"), "the answer never reached the campaign")
    ok(await rest.post(f"/v1/calls/{first['call_id']}/hangup", json={"party": "agent"}, headers=KIM))

    # ready again after the wrap-up: the do-not-call number is skipped, the third dialled
    third = (await until(rest, path, contact(2, "dialling"), "kim was never given the third"))["contacts"][2]
    skipped = ok(await rest.get(path))["contacts"][1]
    assert (skipped["status"], skipped["skip_reason"]) == ("skipped", "do-not-call: asked")
    assert third["agent_id"] == "kim" and third["attempts"] == 1
    await placed(rest, third["call_id"])
    unanswered = {"outcome": "no-answer"}
    ok(await rest.post(f"/v1/calls/{third['call_id']}/callback-outcome", json=unanswered, headers=ADAPTER))

    done = await until(rest, path, lambda c: c["status"] == "completed", "the campaign never completed")
    assert {k: v for k, v in done["counts"].items() if v} == {"reached": 1, "skipped": 1, "failed": 1}
    assert done["contacts"][2]["last_outcome"] == "no-answer"
    again = await rest.put(f"{path}/status", json={"status": "running"})
    assert (again.status_code, again.json()["error_id"]) == (409, "campaign-ended"), again.text
    [listed] = ok(await rest.get("/v1/campaigns"))
    assert (listed["campaign_id"], listed["status"], listed["contacts"]) == (
        campaign["campaign_id"],
        "completed",
        [],
    )
