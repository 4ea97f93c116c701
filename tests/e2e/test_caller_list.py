"""Blocked and flagged callers (TEL-9) end to end over REST: a supervisor lists numbers; a blocked
caller's call ends at once, a flagged caller's carries the reason for the agent, and a number taken
off the list calls as anyone."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from services.platform import Platform
from tests.e2e.test_call_life import ok

SUPERVISOR, AGENT, ADAPTER = "e2e-callers", "e2e-callers-ann", "e2e-callers-adapter"
ABUSIVE, DISPUTED = "+821066660001", "+821066660002"


@pytest.fixture
async def rest(platform: Platform) -> AsyncIterator[httpx.AsyncClient]:
    base = f"http://127.0.0.1:{platform.settings.gateway_port}"
    async with httpx.AsyncClient(base_url=base, headers={"X-API-Key": SUPERVISOR}, timeout=30) as client:
        yield client


async def call_from(rest: httpx.AsyncClient, ani: str) -> dict[str, object]:
    offer = {"ani": ani, "dnis": "15880000"}  # the carrier's adapter offers calls
    return ok(await rest.post("/v1/calls", json=offer, headers={"X-API-Key": ADAPTER}), 201)


async def test_listed_callers_are_blocked_or_flagged_until_taken_off(rest: httpx.AsyncClient) -> None:
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    blocked = ok(await rest.put(f"/v1/caller-list/{ABUSIVE}", json={"action": "block", "reason": "abusive"}))
    assert (blocked["action"], blocked["listed"], blocked["expires_at"]) == ("block", True, None)
    flagged = {"action": "flag", "reason": "billing dispute open", "expires_at": tomorrow}
    assert ok(await rest.put(f"/v1/caller-list/{DISPUTED}", json=flagged))["expires_at"] is not None
    forbidden = await rest.put(f"/v1/caller-list/{ABUSIVE}", json=flagged, headers={"X-API-Key": AGENT})
    assert forbidden.status_code == 403
    past = await rest.put(
        f"/v1/caller-list/{ABUSIVE}", json={**flagged, "expires_at": "2020-01-01T00:00:00Z"}
    )
    assert (past.status_code, past.json()["field_violations"][0]["field"]) == (422, "expires_at")
    listed = ok_list(await rest.get("/v1/caller-list"))
    assert [e["number"] for e in listed] == ["821066660001", "821066660002"]  # numbers as their digits

    call = await call_from(rest, "+82 10-6666-0001")  # the same number, written otherwise
    assert (call["status"], call["ended_by"], call["end_reason"]) == ("ended", "system", "caller-blocked")
    call = await call_from(rest, DISPUTED)
    assert (call["status"], call["caller_flag"]) == ("in-ivr", "billing dispute open")

    removed = ok(await rest.delete(f"/v1/caller-list/{ABUSIVE}"))
    assert removed["listed"] is False
    assert (await rest.delete(f"/v1/caller-list/{ABUSIVE}")).status_code == 409
    call = await call_from(rest, ABUSIVE)
    assert (call["status"], call["caller_flag"]) == ("in-ivr", "")
    assert [e["number"] for e in ok_list(await rest.get("/v1/caller-list"))] == ["821066660002"]


def ok_list(response: httpx.Response) -> list[dict[str, object]]:
    assert response.status_code == 200, response.text
    body: list[dict[str, object]] = response.json()
    return body
