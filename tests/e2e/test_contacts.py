"""Omnichannel capacity end to end (issue 7, RT-7): synthetic chat contacts offered over REST to a chat
queue an admin defined are routed beside calls, within the agent's capacity per channel; an agent on an
exclusive call is offered no chat; a declined or timed-out offer goes back to its queue. And agents as
data: an admin defines an agent's profile before its first log-in, and the log-in takes it."""

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from services.platform import Platform
from tests.e2e.test_call_life import eventually, ok

ADMIN = {"X-API-Key": "e2e-chat"}
CHO = {"X-API-Key": "e2e-chat-cho"}  # the agent's own key


@pytest.fixture
async def rest(platform: Platform) -> AsyncIterator[httpx.AsyncClient]:
    base = f"http://127.0.0.1:{platform.settings.gateway_port}"
    async with httpx.AsyncClient(base_url=base, headers=ADMIN, timeout=30) as client:
        yield client


async def offer_chat(rest: httpx.AsyncClient, customer: str) -> str:
    body = {"channel": "chat", "queue_id": "web", "customer_id": customer}
    contact = ok(await rest.post("/v1/contacts", json=body), 201)
    assert (contact["status"], contact["channel"]) == ("queued", "chat")
    return str(contact["contact_id"])


async def status_of(rest: httpx.AsyncClient, contact_id: str, status: str) -> dict[str, Any]:
    async def reached() -> dict[str, Any] | None:
        contact = ok(await rest.get(f"/v1/contacts/{contact_id}"))
        return contact if contact["status"] == status else None

    return await eventually(reached, f"{contact_id} never became {status}")


async def test_chats_are_offered_within_the_agents_capacity_beside_an_exclusive_call(
    rest: httpx.AsyncClient,
) -> None:
    web = {"channel": "chat", "skills": [{"skill": "web"}]}
    ok(await rest.post("/v1/queues", json={"queue_id": "web", **web}), 201)
    ok(await rest.post("/v1/queues", json={"queue_id": "member", "skills": [{"skill": "member"}]}), 201)
    nowhere = await rest.post("/v1/contacts", json={"channel": "chat", "queue_id": "undefined"})
    assert (nowhere.status_code, nowhere.json()["error_id"]) == (404, "queue-not-found")
    wrong = await rest.post("/v1/contacts", json={"channel": "email", "queue_id": "web"})
    assert (wrong.status_code, wrong.json()["error_id"]) == (409, "queue-serves-another-channel")

    profile = {"voice": 1, "chat": 2, "exclusive": ["voice"]}
    login = {"site_id": "seoul", "skills": [{"name": "web"}, {"name": "member"}], "capacity": profile}
    agent = ok(await rest.post("/v1/agents/cho/login", json=login))
    assert agent["capacity"] == {**profile, "email": 0, "task": 0}

    first, second, third = [await offer_chat(rest, f"chat-customer-{n}") for n in range(3)]
    for contact_id in (first, second):
        assert (await status_of(rest, contact_id, "offered"))["agent_id"] == "cho"
    assert ok(await rest.get(f"/v1/contacts/{third}"))["status"] == "queued"  # cho is full

    accepted = ok(await rest.post(f"/v1/contacts/{first}/accept", json={"agent_id": "cho"}, headers=CHO))
    assert accepted["status"] == "accepted"
    not_hers = await rest.post(f"/v1/contacts/{second}/accept", json={"agent_id": "lee"}, headers=CHO)
    assert (not_hers.status_code, not_hers.json()["error_id"]) == (403, "not-your-agent")
    declined = ok(await rest.post(f"/v1/contacts/{second}/decline", json={"agent_id": "cho"}, headers=CHO))
    assert (declined["status"], declined["agent_id"]) == ("queued", "")
    # Declining makes cho not ready, as a call she let ring out would: nothing comes straight back.
    agent = await eventually(lambda: _not_ready(rest, "cho"), "cho never went not ready on declining")
    assert agent["reason"] == "declined"
    assert ok(await rest.get(f"/v1/contacts/{third}"))["status"] == "queued"
    ok(await rest.put("/v1/agents/cho/state", json={"state": "ready"}, headers=CHO))
    await status_of(rest, second, "offered")  # it kept its place ahead of the third
    assert ok(await rest.get(f"/v1/contacts/{third}"))["status"] == "queued"  # one room: first is open
    ok(await rest.post(f"/v1/contacts/{first}/close", headers=CHO))
    await status_of(rest, third, "offered")  # the room the closed chat left
    for contact_id in (second, third):
        ok(await rest.post(f"/v1/contacts/{contact_id}/accept", json={"agent_id": "cho"}, headers=CHO))
        ok(await rest.post(f"/v1/contacts/{contact_id}/close", headers=CHO))

    # On a call, with voice exclusive, cho is offered no chat until the call is wrapped up.
    call = ok(await rest.post("/v1/calls", json={"ani": "+821055557777", "dnis": "1588"}), 201)
    ok(await rest.post(f"/v1/calls/{call['call_id']}/digits", json={"digits": "1"}))  # the member queue

    async def rung() -> bool:
        return bool(ok(await rest.get(f"/v1/calls/{call['call_id']}"))["status"] == "ringing")

    await eventually(rung, "the call never rang cho")
    ok(await rest.post(f"/v1/calls/{call['call_id']}/answer", json={"agent_id": "cho"}, headers=CHO))
    waiting = await offer_chat(rest, "chat-customer-3")

    async def skipped_on_contact() -> bool:
        response = await rest.get(f"/v1/contacts/{waiting}/candidates")
        if response.status_code != 200:
            return False
        reasons = {c["agent_id"]: c["skipped_reason"] for c in response.json()["candidates"]}
        return reasons.get("cho") == "on-contact"

    await eventually(skipped_on_contact, "the chat never showed cho on her call")
    assert ok(await rest.get(f"/v1/contacts/{waiting}"))["status"] == "queued"
    ok(await rest.post(f"/v1/calls/{call['call_id']}/hangup", json={"party": "caller"}))
    await status_of(rest, waiting, "offered")  # after the call's wrap-up

    # Not taken in time: routing declines it for cho, who goes not ready as after a ring unanswered.
    agent = await eventually(
        lambda: _not_ready(rest, "cho"), "cho never went not ready after the offer timed out", timeout=45
    )
    assert agent["reason"] == "ring-no-answer"
    assert ok(await rest.get(f"/v1/contacts/{waiting}"))["status"] == "queued"

    async def whole_journey() -> list[str] | None:
        journey = ok(await rest.get("/v1/customers/chat-customer-0/journey"))
        types = [e["event_type"] for e in journey["events"]]
        return types if "routing.contact.closed" in types else None

    types = await eventually(whole_journey, "the chat's journey never held its close", timeout=45)
    for before, after in [
        ("routing.contact.queued", "routing.contact.routed"),
        ("routing.contact.routed", "routing.contact.offered"),
        ("routing.contact.offered", "routing.contact.accepted"),
        ("routing.contact.accepted", "routing.contact.closed"),
    ]:
        assert types.index(before) < types.index(after), (before, after, types)


async def test_an_agent_defined_by_an_admin_logs_in_with_nothing_but_its_key(rest: httpx.AsyncClient) -> None:
    admin, dan = {"X-API-Key": "e2e-profiles"}, {"X-API-Key": "e2e-profiles-dan"}
    queue = {"queue_id": "mail", "channel": "email", "skills": [{"skill": "billing"}]}
    ok(await rest.post("/v1/queues", json=queue, headers=admin), 201)
    profile = {
        "display_name": "Dan",
        "site_id": "busan",
        "skills": [{"name": "billing", "proficiency": 6}],
        "capacity": {"voice": 0, "email": 2},
        "endpoint": "sip:dan@pbx.busan",
    }
    own = await rest.put("/v1/agents/dan/profile", json=profile, headers=dan)
    assert (own.status_code, own.json()["error_id"]) == (403, "role-not-permitted")
    defined = ok(await rest.put("/v1/agents/dan/profile", json=profile, headers=admin))
    assert (defined["state"], defined["site_id"], defined["profile"]["endpoint"]) == (
        "logged-out",
        "busan",
        "sip:dan@pbx.busan",
    )
    assert [a["agent_id"] for a in ok(await rest.get("/v1/agents", headers=admin))] == []
    everyone = ok(await rest.get("/v1/agents", params={"include_logged_out": "true"}, headers=admin))
    assert [a["agent_id"] for a in everyone] == ["dan"]

    agent = ok(await rest.post("/v1/agents/dan/login", json={}, headers=dan))
    assert (agent["state"], agent["site_id"], agent["display_name"]) == ("ready", "busan", "Dan")
    assert (agent["capacity"]["email"], agent["capacity"]["voice"]) == (2, 0)
    body = {"channel": "email", "queue_id": "mail", "customer_id": "mail-customer"}
    mail = ok(await rest.post("/v1/contacts", json=body, headers=admin), 201)

    async def offered() -> dict[str, Any] | None:
        contact = ok(await rest.get(f"/v1/contacts/{mail['contact_id']}", headers=admin))
        return contact if contact["status"] == "offered" else None

    assert (await eventually(offered, "the email was never offered to dan"))["agent_id"] == "dan"


async def _not_ready(rest: httpx.AsyncClient, agent_id: str) -> dict[str, Any] | None:
    agent = ok(await rest.get(f"/v1/agents/{agent_id}"))
    return agent if agent["state"] == "not-ready" else None
