"""Lines of business and IVR flows as data (TEL-3, TEL-4, ORG-2) end to end over REST: an admin
defines lines with their numbers and hours and publishes flows; a bad flow is refused naming its
nodes; a call walks its line's flow, keeps the version it started on, gets its priority and
attributes from the flow, hears the closed announcement after hours, and a card number entered at a
masked node reaches no call, event or journey row."""

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from services.platform import Platform
from tests.e2e.support import until
from tests.e2e.test_call_life import ok

ADMIN, AGENT = "e2e-lines", "e2e-lines-ann"
CARD = "4111111111111111"
ALL_DAY = dict.fromkeys(("mon", "tue", "wed", "thu", "fri", "sat", "sun"), "00:00-24:00")


def shop_flow(sales_queue: str) -> dict[str, Any]:
    return {
        "start": "welcome",
        "nodes": [
            {"id": "welcome", "type": "play", "parameters": {"announcement": "Welcome"}, "next": "hours"},
            {"id": "hours", "type": "check-hours", "branches": {"open": "main", "closed": "closed"}},
            {"id": "closed", "type": "hang-up", "parameters": {"announcement": "We are closed"}},
            {
                "id": "main",
                "type": "menu",
                "parameters": {"prompt": "1 sales, 2 pay by card, 3 our partner", "max_retries": "2"},
                "branches": {"1": "vip", "2": "card", "3": "partner"},
                "next": "sales",
            },
            {"id": "vip", "type": "set-priority", "parameters": {"priority": "5"}, "next": "tag"},
            {
                "id": "tag",
                "type": "set-attribute",
                "parameters": {"name": "segment", "value": "gold"},
                "next": "sales",
            },
            {
                "id": "card",
                "type": "collect",
                "parameters": {
                    "prompt": "Card number",
                    "masked": "true",
                    "min_digits": "13",
                    "max_digits": "19",
                },
                "next": "sales",
            },
            {"id": "partner", "type": "transfer", "parameters": {"number": "1588-7000"}},
            {"id": "sales", "type": "queue", "parameters": {"queue_id": sales_queue}},
        ],
    }


@pytest.fixture
async def rest(platform: Platform) -> AsyncIterator[httpx.AsyncClient]:
    base = f"http://127.0.0.1:{platform.settings.gateway_port}"
    async with httpx.AsyncClient(base_url=base, headers={"X-API-Key": ADMIN}, timeout=30) as client:
        yield client


async def call_to(rest: httpx.AsyncClient, dnis: str, ani: str = "+821033330000") -> dict[str, Any]:
    return ok(await rest.post("/v1/calls", json={"ani": ani, "dnis": dnis}), 201)


async def test_a_line_flow_published_over_rest_drives_its_calls(rest: httpx.AsyncClient) -> None:
    shop = {
        "display_name": "Shop",
        "numbers": ["15889000"],
        "hours": {"time_zone": "Asia/Seoul", "weekly": ALL_DAY},
    }
    defined = ok(await rest.put("/v1/lines/shop", json=shop))
    assert (defined["version"], defined["flow_version"]) == (1, 0)
    assert defined["settings"]["hours"]["holiday_country"] == ""
    taken = await rest.put("/v1/lines/copycat", json={"numbers": ["15889000"]})
    assert (taken.status_code, taken.json()["error_id"]) == (409, "number-in-use")

    # A flow with a dangling exit, then one with a node nothing reaches: each 422 names its node.
    broken = shop_flow("lines-sales")
    broken["nodes"][0]["next"] = "nowhere"
    refused = await rest.post("/v1/lines/shop/flows", json=broken)
    assert (refused.status_code, refused.json()["error_id"]) == (422, "invalid-flow")
    assert {v["field"] for v in refused.json()["field_violations"]} == {"nodes[welcome].next"}
    orphaned = shop_flow("lines-sales")
    orphaned["nodes"].append({"id": "orphan", "type": "hang-up"})
    refused = await rest.post("/v1/lines/shop/flows", json=orphaned)
    assert [v["field"] for v in refused.json()["field_violations"]] == ["nodes[orphan]"]
    forbidden = await rest.post("/v1/lines/shop/flows", json=shop_flow("x"), headers={"X-API-Key": AGENT})
    assert forbidden.status_code == 403

    published = ok(await rest.post("/v1/lines/shop/flows", json=shop_flow("lines-sales")), 201)
    assert published["flow_version"] == 1

    # A call starts on version 1; version 2 is published while it is in the IVR; it finishes on 1.
    first = await call_to(rest, "15889000")
    assert (first["status"], first["line_id"], first["flow_version"], first["node_id"]) == (
        "in-ivr",
        "shop",
        1,
        "main",
    )
    ok(await rest.post("/v1/lines/shop/flows", json=shop_flow("lines-other")), 201)
    queued = ok(await rest.post(f"/v1/calls/{first['call_id']}/digits", json={"digits": "1"}))
    assert (queued["status"], queued["queue_id"], queued["priority"]) == ("queued", "lines-sales", 5)
    assert queued["attributes"] == {"segment": "gold"}
    second = await call_to(rest, "15889000", ani="+821033330001")
    assert second["flow_version"] == 2

    versions = ok(await rest.get("/v1/lines/shop/flows/1")), ok(await rest.get("/v1/lines/shop/flows/0"))
    assert [v["version"] for v in versions] == [1, 2]
    assert versions[0]["flow"]["nodes"][-1]["parameters"] == {"queue_id": "lines-sales"}
    assert (await rest.get("/v1/lines/shop/flows/7")).status_code == 404
    assert [line["line_id"] for line in ok_list(await rest.get("/v1/lines"))] == ["shop"]

    # A card number at the masked node: the call and the caller's journey never hold it.
    payer = await call_to(rest, "15889000", ani="+821033330002")
    ok(await rest.post(f"/v1/calls/{payer['call_id']}/digits", json={"digits": "2"}))
    paid = ok(await rest.post(f"/v1/calls/{payer['call_id']}/digits", json={"digits": CARD}))
    assert paid["status"] == "queued" and paid["ivr_digits"] == ["2", "*" * 16]
    journey = await until(
        rest,
        f"/v1/customers/{payer['customer_id']}/journey",
        lambda body: any(e["event_type"] == "telephony.call.queued" for e in body["events"]),
        "the payer's journey never showed the call queued",
    )
    kinds = [e["event_type"] for e in journey["events"]]
    assert "telephony.call.ivr_digits_collected" in kinds
    assert CARD not in str(journey) and CARD not in str(paid)

    # The partner's option: the flow passes the caller to the outside number, and the call ends here.
    passed = await call_to(rest, "15889000", ani="+821033330003")
    out = ok(await rest.post(f"/v1/calls/{passed['call_id']}/digits", json={"digits": "3"}))
    assert (out["status"], out["end_reason"], out["transferred_to"]) == (
        "ended",
        "transferred-out",
        "1588-7000",
    )
    journey = await until(
        rest,
        f"/v1/customers/{passed['customer_id']}/journey",
        lambda body: any(e["event_type"] == "telephony.call.ended" for e in body["events"]),
        "the journey never showed the transferred call's end",
    )
    assert "telephony.call.ivr_transferred" in [e["event_type"] for e in journey["events"]]


async def test_a_call_after_hours_hears_the_closed_announcement_and_ends(rest: httpx.AsyncClient) -> None:
    never_open = {"numbers": ["15889001"], "hours": {"time_zone": "Asia/Seoul", "weekly": {}}}
    ok(await rest.put("/v1/lines/night", json=never_open))
    ok(await rest.post("/v1/lines/night/flows", json=shop_flow("lines-sales")), 201)

    call = await call_to(rest, "15889001")

    assert (call["status"], call["ended_by"], call["end_reason"]) == (
        "ended",
        "system",
        "announcement-completed",
    )
    assert call["line_id"] == "night"


def ok_list(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    body: list[dict[str, Any]] = response.json()
    return body


async def test_a_voicemail_after_hours_becomes_a_ticket_with_its_recording(rest: httpx.AsyncClient) -> None:
    ok(await rest.put("/v1/lines/answerphone", json={"numbers": ["15889002"], "hours": {"time_zone": "UTC"}}))
    voicemail_flow = {
        "start": "hours",
        "nodes": [
            {"id": "hours", "type": "check-hours", "branches": {"open": "sales", "closed": "vm"}},
            {
                "id": "vm",
                "type": "voicemail",
                "parameters": {"prompt": "Leave a message", "max_seconds": "90"},
            },
            {"id": "sales", "type": "queue", "parameters": {"queue_id": "lines-sales"}},
        ],
    }
    ok(await rest.post("/v1/lines/answerphone/flows", json=voicemail_flow), 201)

    call = await call_to(rest, "15889002", ani="+821033339999")
    assert (call["status"], call["node_id"]) == ("in-ivr", "vm")
    too_long = await rest.post(
        f"/v1/calls/{call['call_id']}/voicemail", json={"recording_ref": "rec-1", "duration_seconds": 96}
    )
    assert (too_long.status_code, too_long.json()["field_violations"][0]["field"]) == (
        422,
        "duration_seconds",
    )
    recording = "https://carrier.example/recordings/RE42"
    left = await rest.post(
        f"/v1/calls/{call['call_id']}/voicemail", json={"recording_ref": recording, "duration_seconds": 37}
    )
    ended = ok(left)
    assert (ended["status"], ended["ended_by"], ended["end_reason"]) == ("ended", "caller", "voicemail-left")

    found = await until(
        rest,
        "/v1/tickets",
        lambda body: body["tickets"],
        "no voicemail ticket",
        customer_id=call["customer_id"],
    )
    (ticket,) = found["tickets"]
    assert (ticket["subject"], ticket["assignee_agent_id"], ticket["call_id"]) == (
        "Voicemail from +821033339999 on line answerphone",
        "",
        call["call_id"],
    )
    assert ticket["voicemail"] == {
        "recording_ref": recording,
        "duration_seconds": 37,
        "caller_number": "+821033339999",
        "line_id": "answerphone",
        "dnis": "15889002",
    }
