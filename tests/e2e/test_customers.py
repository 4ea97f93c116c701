"""Customers over REST (CH-2, TEL-2, RT-4): a profile is registered, found by any identifier however it
is written, and changed; a call from the customer's number is theirs, waits with the VIP priority, and
the agent's screen pop shows the profile with the customer's tickets. Through the gateway, ticketing,
telephony (its own copy of the customers, found by ANI) and the broker, with the journey in chDB."""

import asyncio
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from services.platform import Platform
from tests.e2e.support import until

VIP_PRIORITY = 5  # CC_VIP_PRIORITY's default
LINE_NUMBER = "15880101"


@pytest.fixture
async def clients(
    platform: Platform,
) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient, httpx.AsyncClient]]:
    base = f"http://127.0.0.1:{platform.settings.gateway_port}"
    async with (
        httpx.AsyncClient(base_url=base, headers={"X-API-Key": "e2e-customers"}, timeout=30) as supervisor,
        httpx.AsyncClient(base_url=base, headers={"X-API-Key": "e2e-customers-lee"}, timeout=30) as lee,
        httpx.AsyncClient(
            base_url=base, headers={"X-API-Key": "e2e-customers-adapter"}, timeout=30
        ) as adapter,
    ):
        yield supervisor, lee, adapter


def ok(response: httpx.Response, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    return body


def refused(response: httpx.Response, status: int, error_id: str) -> dict[str, Any]:
    assert (response.status_code, response.json().get("error_id")) == (status, error_id), response.text
    body: dict[str, Any] = response.json()
    return body


async def found(rest: httpx.AsyncClient, kind: str, value: str) -> list[str]:
    listed = ok(await rest.get("/v1/customers", params={"kind": kind, "value": value}))
    return [customer["customer_id"] for customer in listed["customers"]]


async def test_a_customer_is_registered_found_by_any_identifier_and_changed(
    clients: tuple[httpx.AsyncClient, httpx.AsyncClient, httpx.AsyncClient],
) -> None:
    supervisor, lee, _ = clients
    kim = {
        "name": "Kim Minji",
        "identifiers": [
            {"kind": "phone", "value": "+82 10-5555-0101"},
            {"kind": "email", "value": "Minji@Example.com"},
            {"kind": "member", "value": "M-0101"},
        ],
        "tier": "Gold",
        "attributes": {"plan": "family"},
    }
    created = ok(await supervisor.post("/v1/customers", json=kim, headers={"Idempotency-Key": "c-1"}), 201)
    customer_id = created["customer_id"]
    assert created["identifiers"] == [
        {"kind": "phone", "value": "821055550101"},
        {"kind": "email", "value": "minji@example.com"},
        {"kind": "member", "value": "M-0101"},
    ]
    assert (created["name"], created["tier"], created["vip"], created["attributes"]) == (
        "Kim Minji",
        "gold",
        False,
        {"plan": "family"},
    )
    again = ok(await supervisor.post("/v1/customers", json=kim, headers={"Idempotency-Key": "c-1"}), 201)
    assert (again["customer_id"], again["version"]) == (customer_id, created["version"])  # a retry
    assert ok(await supervisor.get(f"/v1/customers/{customer_id}")) == created

    # Found by each identifier, however it is written.
    assert await found(supervisor, "phone", "+821055550101") == [customer_id]
    assert await found(supervisor, "email", "MINJI@example.COM") == [customer_id]
    assert await found(lee, "member", "M-0101") == [customer_id]
    assert await found(supervisor, "phone", "+821055559999") == []

    # An identifier names one customer; bad ones are refused naming the field.
    taken = await supervisor.post(
        "/v1/customers", json={"name": "Other", "identifiers": kim["identifiers"][:1]}
    )
    assert "customer " + customer_id in refused(taken, 409, "identifier-taken")["message"]
    bad_email = {"identifiers": [{"kind": "email", "value": "minji@"}]}
    assert (
        "identifiers"
        in refused(await supervisor.post("/v1/customers", json=bad_email), 422, "invalid-argument")["message"]
    )
    nameless = await supervisor.post("/v1/customers", json={"name": ""})
    assert refused(nameless, 422, "invalid-argument")["field_violations"][0]["field"] == "name"
    assert (await supervisor.get("/v1/customers", params={"kind": "fax", "value": "1"})).status_code == 422

    # An agent takes the caller's details down: only what is given changes, null removes an attribute.
    # Making a customer a VIP (their calls jump the queue) is for supervisors.
    changed = ok(
        await lee.patch(
            f"/v1/customers/{customer_id}",
            json={"attributes": {"plan": None, "contact": "prefers email"}},
        )
    )
    assert (changed["attributes"], changed["name"]) == ({"contact": "prefers email"}, "Kim Minji")
    assert changed["version"] == created["version"] + 1
    refused(await lee.patch(f"/v1/customers/{customer_id}", json={"vip": True}), 403, "vip-by-supervisor")
    assert ok(await supervisor.patch(f"/v1/customers/{customer_id}", json={"vip": True}))["vip"] is True
    refused(
        await supervisor.patch(f"/v1/customers/{customer_id}", json={"vip": True}), 422, "nothing-to-change"
    )
    stale = await lee.patch(f"/v1/customers/{customer_id}", json={"tier": "silver", "expected_version": 1})
    refused(stale, 409, "version-conflict")
    dropped = ok(await supervisor.patch(f"/v1/customers/{customer_id}", json={"identifiers": []}))
    assert dropped["identifiers"] == []
    assert await found(supervisor, "phone", "821055550101") == []
    missing = await supervisor.patch("/v1/customers/no-such-customer", json={"vip": True})
    refused(missing, 404, "customer-not-found")


async def offer_until_recognised(adapter: httpx.AsyncClient, ani: str, customer_id: str) -> dict[str, Any]:
    """Offer calls from `ani` to the cards line until telephony's copies of the customers and the lines
    have the profile and the line defined a moment ago (it follows their events); every call offered
    before is hung up."""
    async with asyncio.timeout(45):
        while True:
            call = ok(await adapter.post("/v1/calls", json={"ani": ani, "dnis": LINE_NUMBER}), 201)
            if call["customer_id"] == customer_id and call["line_id"] == "cards":  # both copies read
                return call
            await adapter.post(f"/v1/calls/{call['call_id']}/hangup", json={"party": "caller"})


async def test_a_call_from_a_customers_number_is_theirs_waits_as_a_vip_and_pops_their_tickets(
    clients: tuple[httpx.AsyncClient, httpx.AsyncClient, httpx.AsyncClient],
) -> None:
    supervisor, lee, adapter = clients
    base = str(adapter.base_url)
    async with httpx.AsyncClient(
        base_url=base, headers={"X-API-Key": "e2e-customers-admin"}, timeout=30
    ) as admin:
        line = {"numbers": [LINE_NUMBER], "screen_pop_url": "https://crm.example.com/customers?phone=[TEL]"}
        ok(await admin.put("/v1/lines/cards", json=line))
    park = {"name": "Park Jiho", "identifiers": [{"kind": "phone", "value": "+821055550202"}], "vip": True}
    customer_id = ok(await supervisor.post("/v1/customers", json=park), 201)["customer_id"]
    ticket = {"subject": "Card not arrived", "channel": "email", "customer_id": customer_id}
    ticket_id = ok(await supervisor.post("/v1/tickets", json=ticket), 201)["ticket_id"]

    call = await offer_until_recognised(adapter, "+82 10 5555 0202", customer_id)
    assert call["priority"] == VIP_PRIORITY
    popped = ok(await lee.get(f"/v1/calls/{call['call_id']}/screen-pop"))
    assert popped["call"]["call_id"] == call["call_id"]
    assert (popped["customer"]["customer_id"], popped["customer"]["name"], popped["customer"]["vip"]) == (
        customer_id,
        "Park Jiho",
        True,
    )
    assert [t["ticket_id"] for t in popped["tickets"]] == [ticket_id]
    assert popped["integration_url"] == "https://crm.example.com/customers?phone=" + quote(
        call["ani"], safe=""
    )
    await adapter.post(f"/v1/calls/{call['call_id']}/digits", json={"digits": "1"})
    queued = await until(
        lee, f"/v1/calls/{call['call_id']}", lambda c: c["status"] == "queued", "never queued"
    )
    assert queued["priority"] == VIP_PRIORITY

    # A caller with no profile: the call keeps the identity derived from its number, and pops nothing.
    stranger = ok(await adapter.post("/v1/calls", json={"ani": "+821055550303", "dnis": "1588-0202"}), 201)
    assert stranger["priority"] == 0 and stranger["customer_id"] not in ("", customer_id)
    unknown = ok(await lee.get(f"/v1/calls/{stranger['call_id']}/screen-pop"))
    assert (unknown["customer"], unknown["tickets"], unknown["integration_url"]) == (
        None,
        [],
        None,
    )  # no line
    refused(await lee.get("/v1/calls/no-such-call/screen-pop"), 404, "call-not-found")

    # The profile and the call are in one journey.
    journey = await until(
        supervisor,
        f"/v1/customers/{customer_id}/journey",
        lambda b: (
            {"ticketing.customer.registered", "telephony.call.queued"}
            <= {e["event_type"] for e in b["events"]}
        ),
        "the customer's journey lacks the profile or the call",
    )
    assert journey["events"][0]["event_type"] == "ticketing.customer.registered"
