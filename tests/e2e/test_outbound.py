"""Outbound calls (TEL-8) end to end over REST: an agent calls a customer showing one of its line's
numbers; a number on the do-not-call list, a closed line, a number not the line's and an agent already
on a call are refused; the carrier's outcome connects the call, the agent is on it from its placement
and wraps it up after; the statistics count it as outbound and the customer's journey shows it."""

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from services.platform import Platform
from tests.e2e.support import journey_to_the_end, until
from tests.e2e.test_call_life import ok

ADMIN, KIM, ADAPTER = (
    {"X-API-Key": key} for key in ("e2e-outbound", "e2e-outbound-kim", "e2e-outbound-adapter")
)
ALL_DAY = dict.fromkeys(("mon", "tue", "wed", "thu", "fri", "sat", "sun"), "00:00-24:00")
CUSTOMER, UNWILLING = "+82 10-7777-0001", "+821077770002"


@pytest.fixture
async def rest(platform: Platform) -> AsyncIterator[httpx.AsyncClient]:
    base = f"http://127.0.0.1:{platform.settings.gateway_port}"
    async with httpx.AsyncClient(base_url=base, headers=ADMIN, timeout=30) as client:
        yield client


async def test_an_agent_calls_a_customer_within_the_line_s_hours_and_never_a_do_not_call_number(
    rest: httpx.AsyncClient,
) -> None:
    sales = {"numbers": ["15771000", "15772000"], "hours": {"time_zone": "Asia/Seoul", "weekly": ALL_DAY}}
    ok(await rest.put("/v1/lines/sales", json=sales))
    ok(
        await rest.put(
            "/v1/lines/night",
            json={"numbers": ["15773000"], "hours": {"time_zone": "Asia/Seoul", "weekly": {}}},
        )
    )
    unwilling = {"action": "do-not-call", "reason": "asked not to be called"}
    assert ok(await rest.put(f"/v1/caller-list/{UNWILLING}", json=unwilling))["action"] == "do-not-call"
    dialling = {"agent_id": "kim", "number": CUSTOMER, "line_id": "sales"}
    unknown = await rest.post("/v1/calls/outbound", json=dialling, headers=KIM)  # never logged in
    assert (unknown.status_code, unknown.json()["error_id"]) == (404, "agent-not-found"), unknown.text
    seoul = {"site_id": "seoul", "skills": [{"name": "sales"}]}
    ok(await rest.post("/v1/agents/kim/login", json=seoul, headers=KIM))
    ok(await rest.post("/v1/agents/lee/login", json=seoul))  # an admin logs lee in; kim may not call as lee

    for asked, status, error in (
        ({"number": UNWILLING}, 409, "number-do-not-call"),
        ({"line_id": "night"}, 409, "outside-calling-hours"),
        ({"line_id": "nowhere"}, 404, "line-not-found"),
        ({"caller_id": "15990000"}, 422, "invalid-argument"),
        ({"agent_id": "lee"}, 403, "not-your-agent"),
    ):
        refused = await rest.post("/v1/calls/outbound", json={**dialling, **asked}, headers=KIM)
        assert (refused.status_code, refused.json()["error_id"]) == (status, error), refused.text

    once = {**KIM, "Idempotency-Key": "kim-calls-once"}
    call = ok(
        await rest.post("/v1/calls/outbound", json={**dialling, "caller_id": "1577-2000"}, headers=once), 201
    )
    assert (call["status"], call["direction"], call["agent_id"]) == ("dialing", "outbound", "kim")
    assert (call["ani"], call["dnis"], call["line_id"]) == ("15772000", "821077770001", "sales")
    await until(
        rest, "/v1/agents/kim", lambda agent: agent["state"] == "on-contact", "kim never went on the call"
    )
    busy = await rest.post("/v1/calls/outbound", json=dialling, headers=KIM)
    assert (busy.status_code, busy.json()["error_id"]) == (409, "agent-busy"), busy.text
    # a retry of the first placement is answered with its call, though kim is busy with it now
    again = ok(
        await rest.post("/v1/calls/outbound", json={**dialling, "caller_id": "1577-2000"}, headers=once), 201
    )
    assert again["call_id"] == call["call_id"]

    connected = ok(
        await rest.post(
            f"/v1/calls/{call['call_id']}/callback-outcome", json={"outcome": "connected"}, headers=ADAPTER
        )
    )
    assert connected["status"] == "connected" and connected["answered_at"] is not None
    ended = ok(await rest.post(f"/v1/calls/{call['call_id']}/hangup", json={"party": "agent"}, headers=KIM))
    assert (ended["status"], ended["end_reason"]) == ("ended", "normal-clearing")
    await until(rest, "/v1/agents/kim", lambda agent: agent["state"] == "wrap-up", "kim never wrapped up")

    def kims_day(listed: list[dict[str, Any]]) -> bool:  # RTM-2: the answered outbound call is a contact
        return any(
            a["agent_id"] == "kim" and a["contacts_answered"] == 1 and a["talk_seconds"] > 0 for a in listed
        )

    await until(rest, "/v1/agent-statistics", kims_day, "kim's day never counted the call", site_id="seoul")

    journey = await journey_to_the_end(rest, call["customer_id"])
    kinds = [event["event_type"] for event in journey["events"]]
    assert (
        "telephony.call.outbound_call_placed" in kinds and "telephony.call.outbound_call_connected" in kinds
    )
    assert "telephony.call.recording_segment_started" in kinds  # recorded from the customer's answer

    def ticketed(body: dict[str, Any]) -> bool:
        return any(ticket["call_id"] == call["call_id"] for ticket in body["tickets"])

    tickets = await until(rest, "/v1/tickets", ticketed, "no voice ticket for the call", assignee="kim")
    [ticket] = [t for t in tickets["tickets"] if t["call_id"] == call["call_id"]]
    assert (ticket["channel"], ticket["line_id"]) == ("voice", "sales")

    def counted(body: dict[str, Any]) -> bool:
        return any(row["key"] == "outbound" and row["answered"] for row in body["rows"])

    by_direction = await until(
        rest, "/v1/statistics/calls", counted, "the outbound call was never counted", by="direction"
    )
    [row] = by_direction["rows"]
    assert (row["key"], row["offered"], row["answered"], row["abandoned"]) == ("outbound", 1, 1, 0)
    assert row["service_level_percent"] is None and row["average_speed_of_answer_seconds"] is None
