"""Callbacks (TEL-5) end to end over REST: a caller waiting in a queue accepts a callback and keeps
their place (the agent who logs in gets it before a caller who came later); the agent's answer dials
the caller, nobody picks up, the agent wraps up and the callback waits out of the queue for the retry
delay, then comes back, rings the agent again and connects. The queue's live metrics count it as
scheduled; a callback can also be reserved for a time slot, and cancelled; the journey shows every
attempt."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from services.platform import Platform
from tests.e2e.support import journey_to_the_end, until
from tests.e2e.test_call_life import ok

ADMIN, KIM = "e2e-callback", {"X-API-Key": "e2e-callback-kim"}


@pytest.fixture
async def rest(platform: Platform) -> AsyncIterator[httpx.AsyncClient]:
    base = f"http://127.0.0.1:{platform.settings.gateway_port}"
    async with httpx.AsyncClient(base_url=base, headers={"X-API-Key": ADMIN}, timeout=30) as client:
        yield client


async def queued_call(rest: httpx.AsyncClient, ani: str, digits: str = "1") -> dict[str, Any]:
    """A call waiting in member (1) or payment (2)."""
    call = ok(await rest.post("/v1/calls", json={"ani": ani, "dnis": "1588"}), 201)
    return ok(await rest.post(f"/v1/calls/{call['call_id']}/digits", json={"digits": digits}))


def rings_kim(call: dict[str, Any]) -> bool:
    return call["status"] == "ringing" and call["agent_id"] == "kim"


async def test_a_callback_keeps_its_place_retries_and_connects(rest: httpx.AsyncClient) -> None:
    first = await queued_call(rest, "+821066660001")
    later = await queued_call(rest, "+821066660002")
    call_id = first["call_id"]

    kept = ok(await rest.post(f"/v1/calls/{call_id}/callback", json={}))
    assert (kept["status"], kept["callback"]) == (
        "queued",
        {"number": "+821066660001", "attempts": 0, "due_at": None, "connected": False},
    )
    again = await rest.post(f"/v1/calls/{call_id}/callback", json={})
    assert (again.status_code, again.json()["error_id"]) == (409, "callback-already-requested")
    await until(
        rest,
        "/v1/queues/member/metrics",
        lambda m: (m["contacts_waiting"], m["scheduled"]) == (2, 1),
        "the queue never counted the callback",
    )

    member = {"site_id": "seoul", "skills": [{"name": "member", "proficiency": 5}]}
    ok(await rest.post("/v1/agents/kim/login", json=member, headers=KIM))
    await until(rest, f"/v1/calls/{call_id}", rings_kim, "the callback never rang kim")
    ok(await rest.post(f"/v1/calls/{later['call_id']}/hangup", json={"party": "caller"}))  # it came second
    dialing = ok(await rest.post(f"/v1/calls/{call_id}/answer", json={"agent_id": "kim"}, headers=KIM))
    assert (dialing["status"], dialing["callback"]["attempts"]) == ("connected", 1)

    failed = ok(await rest.post(f"/v1/calls/{call_id}/callback-outcome", json={"outcome": "no-answer"}))
    assert failed["status"] == "callback-pending" and failed["callback"]["due_at"] is not None
    await until(rest, "/v1/agents/kim", lambda a: a["state"] in ("wrap-up", "ready"), "kim stayed on it")

    # the retry delay (2 s here) later it is back in its place and rings kim, ready after her wrap-up
    await until(rest, f"/v1/calls/{call_id}", rings_kim, "the retry never rang kim")
    ok(await rest.post(f"/v1/calls/{call_id}/answer", json={"agent_id": "kim"}, headers=KIM))
    connected = ok(await rest.post(f"/v1/calls/{call_id}/callback-outcome", json={"outcome": "connected"}))
    assert connected["callback"] == {
        "number": "+821066660001",
        "attempts": 2,
        "due_at": None,
        "connected": True,
    }
    ended = ok(await rest.post(f"/v1/calls/{call_id}/hangup", json={"party": "caller"}))
    assert ended["end_reason"] == "normal-clearing"
    late = await rest.post(f"/v1/calls/{call_id}/callback-outcome", json={"outcome": "connected"})
    assert (late.status_code, late.json()["error_id"]) == (409, "call-already-ended")

    journey = await journey_to_the_end(rest, first["customer_id"])
    kinds = [e["event_type"] for e in journey["events"]]
    assert kinds.count("telephony.call.callback_dialing") == 2
    assert (
        kinds.index("telephony.call.callback_requested")
        < kinds.index("telephony.call.callback_attempt_failed")
        < kinds.index("telephony.call.callback_connected")
    )


async def test_a_callback_reserved_for_a_slot_waits_out_of_the_queue(rest: httpx.AsyncClient) -> None:
    call = await queued_call(rest, "+821066660003", digits="2")
    slot = datetime.now(UTC) + timedelta(hours=2)

    past = await rest.post(f"/v1/calls/{call['call_id']}/callback", json={"at": "2020-01-01T00:00:00Z"})
    assert (past.status_code, past.json()["error_id"]) == (422, "invalid-argument")
    reserved = ok(await rest.post(f"/v1/calls/{call['call_id']}/callback", json={"at": slot.isoformat()}))

    assert reserved["status"] == "callback-pending"
    assert datetime.fromisoformat(reserved["callback"]["due_at"]) == slot
    await until(
        rest,
        "/v1/queues/payment/metrics",
        lambda m: (m["scheduled"], m["contacts_waiting"]) == (1, 0),
        "the reserved callback was not counted as scheduled out of the queue",
    )
    as_kim = await rest.delete(f"/v1/calls/{call['call_id']}/callback", headers=KIM)
    assert as_kim.status_code == 403  # supervisors, admins and integrations cancel callbacks
    cancelled = ok(await rest.delete(f"/v1/calls/{call['call_id']}/callback"))
    assert (cancelled["status"], cancelled["end_reason"]) == ("ended", "callback-cancelled")
    await until(
        rest,
        "/v1/queues/payment/metrics",
        lambda m: m["scheduled"] == 0,
        "the cancelled callback stayed scheduled",
    )
