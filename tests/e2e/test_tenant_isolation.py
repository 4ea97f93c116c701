"""Tenant isolation on every REST endpoint (issue 6): another tenant's key never sees or changes a
tenant's calls, agents, queues, lines, contacts, tickets, journey, live metrics or statistics, and the same
ids in two tenants are two different things."""

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from services.platform import Platform
from tests.e2e.support import until


class Tried:
    """Every endpoint the intruder called, as the OpenAPI document names it."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.endpoints: set[tuple[str, str]] = set()

    async def call(self, method: str, template: str, **values: Any) -> httpx.Response:
        json, params = values.pop("json", None), values.pop("params", None)
        self.endpoints.add((method.lower(), template))
        return await self.client.request(method, template.format(**values), json=json, params=params)


@pytest.fixture
async def clients(platform: Platform) -> AsyncIterator[tuple[httpx.AsyncClient, Tried]]:
    base = f"http://127.0.0.1:{platform.settings.gateway_port}"
    async with (
        httpx.AsyncClient(base_url=base, headers={"X-API-Key": "e2e-owner"}, timeout=30) as owner,
        httpx.AsyncClient(base_url=base, headers={"X-API-Key": "e2e-intruder"}, timeout=30) as intruder,
    ):
        yield owner, Tried(intruder)


async def test_another_tenant_never_sees_or_changes_anything_on_any_endpoint(
    clients: tuple[httpx.AsyncClient, Tried],
) -> None:
    owner, intruder = clients
    seoul = {"site_id": "seoul", "skills": [{"name": "member"}]}
    offer = {"ani": "+821077778888", "dnis": "1588"}
    assert (await owner.post("/v1/agents/iso/login", json=seoul)).is_success
    call = (await owner.post("/v1/calls", json=offer)).json()
    call_id, customer_id = call["call_id"], call["customer_id"]
    await owner.post(f"/v1/calls/{call_id}/digits", json={"digits": "1"})
    ringing = await until(owner, f"/v1/calls/{call_id}", lambda c: c["status"] == "ringing", "it never rang")
    # The agent's desktop finds the call ringing for it (its own tenant only, below).
    assert (await owner.get("/v1/agents/iso/call")).json() == ringing

    ids = {
        "call_id": call_id,
        "agent_id": "iso",
        "contact_id": call_id,
        "customer_id": customer_id,
        "action": "cancel",
        "other_ticket_id": "theirs",
        "group_id": "floor",
    }
    for method, template, body in [
        ("GET", "/v1/calls/{call_id}", None),
        ("POST", "/v1/calls/{call_id}/digits", {"digits": "1"}),
        ("POST", "/v1/calls/{call_id}/answer", {"agent_id": "iso"}),
        ("POST", "/v1/calls/{call_id}/hangup", {"party": "caller"}),
        ("POST", "/v1/calls/{call_id}/voicemail", {"recording_ref": "r", "duration_seconds": 5}),
        ("POST", "/v1/calls/{call_id}/hold", {"agent_id": "iso"}),
        ("POST", "/v1/calls/{call_id}/resume", {"agent_id": "iso"}),
        ("POST", "/v1/calls/{call_id}/reject", {"agent_id": "iso"}),
        ("POST", "/v1/calls/{call_id}/recording/pause", {"agent_id": "iso"}),
        ("POST", "/v1/calls/{call_id}/recording/resume", {"agent_id": "iso"}),
        ("POST", "/v1/calls/{call_id}/transfer", {"agent_id": "iso", "target": "queue", "to": "general"}),
        ("POST", "/v1/calls/{call_id}/consult", {"agent_id": "iso", "number": "+8225550100"}),
        ("POST", "/v1/calls/{call_id}/consult/{action}", {"agent_id": "iso"}),
        ("POST", "/v1/calls/{call_id}/callback", {}),
        ("DELETE", "/v1/calls/{call_id}/callback", None),
        ("POST", "/v1/calls/{call_id}/callback-outcome", {"outcome": "connected"}),
        ("GET", "/v1/contacts/{contact_id}/candidates", None),
        ("GET", "/v1/agents/{agent_id}", None),
        ("GET", "/v1/agents/{agent_id}/call", None),
        ("PUT", "/v1/agents/{agent_id}/state", {"state": "not-ready", "reason": "break"}),
        ("PUT", "/v1/agents/{agent_id}/skills", {"skills": [{"name": "vip"}]}),
        ("POST", "/v1/agents/{agent_id}/heartbeat", None),
        ("POST", "/v1/agents/{agent_id}/logout", None),
    ]:
        refused = await intruder.call(method, template, json=body, **ids)
        assert refused.status_code == 404, (template, refused.text)
    assert (await intruder.call("GET", "/v1/agents")).json() == []
    assert (await intruder.call("GET", "/v1/agent-statistics")).json() == []
    assert (await owner.get(f"/v1/calls/{call_id}")).json() == ringing  # nothing changed
    await owner.post(f"/v1/calls/{call_id}/answer", json={"agent_id": "iso"})
    await owner.post(f"/v1/calls/{call_id}/hangup", json={"party": "caller"})
    # The owner's ticket group is the owner's: the intruder neither sees it nor changes it.
    floor = {"name": "Floor", "agent_ids": ["iso"], "strategy": "round-robin"}
    assert (await owner.put("/v1/ticket-groups/floor", json=floor)).is_success
    assert (await intruder.call("GET", "/v1/ticket-groups/{group_id}", **ids)).status_code == 404
    assert (await intruder.call("GET", "/v1/ticket-groups")).json()["groups"] == []
    theirs_floor = await intruder.call(
        "PUT", "/v1/ticket-groups/{group_id}", json={"name": "Mine", "agent_ids": ["mine"]}, **ids
    )
    assert theirs_floor.json()["version"] == 1
    assert (await owner.get("/v1/ticket-groups/floor")).json()["name"] == "Floor"
    tickets = await until(owner, "/v1/tickets", lambda b: b["tickets"], "no ticket", customer_id=customer_id)
    ids["ticket_id"] = tickets["tickets"][0]["ticket_id"]
    await until(owner, f"/v1/customers/{customer_id}/journey", lambda b: b["events"], "no journey")
    await until(owner, f"/v1/tickets/{ids['ticket_id']}/journey", lambda b: b["events"], "no ticket journey")
    await until(owner, "/v1/queues/member/metrics", lambda b: b["offered"] >= 1, "no live metrics")
    await until(owner, "/v1/statistics/queues", lambda b: b["queues"], "no statistics")

    for method, template, body in [
        ("GET", "/v1/tickets/{ticket_id}", None),
        ("POST", "/v1/tickets/{ticket_id}/transitions", {"to": "solved"}),
        ("POST", "/v1/tickets/{ticket_id}/notes", {"body": "not yours"}),
        ("PATCH", "/v1/tickets/{ticket_id}", {"priority": "urgent"}),
        ("PUT", "/v1/tickets/{ticket_id}/assignment", {"agent_id": "iso"}),
        ("POST", "/v1/tickets/{ticket_id}/replies", {"body": "not yours"}),
        ("POST", "/v1/tickets/{ticket_id}/escalate", {"reason": "not yours"}),
        ("POST", "/v1/tickets/{ticket_id}/return", {"reason": "not yours"}),
        ("GET", "/v1/tickets/{ticket_id}/journey", None),
        ("POST", "/v1/tickets/{ticket_id}/satisfaction", {"survey_token": "guessed", "score": 1}),
        ("POST", "/v1/tickets/{ticket_id}/links", {"ticket_id": "theirs"}),
        ("DELETE", "/v1/tickets/{ticket_id}/links/{other_ticket_id}", None),
        ("POST", "/v1/tickets/{ticket_id}/merge", {"into_ticket_id": "theirs"}),
        ("GET", "/v1/contacts/{contact_id}/journey", None),
    ]:
        refused = await intruder.call(method, template, json=body, **ids)
        assert refused.status_code == 404, (template, refused.text)
    listed = await intruder.call("GET", "/v1/tickets", params={"customer_id": customer_id})
    assert listed.json()["tickets"] == []
    assert (await intruder.call("GET", "/v1/tickets")).json()["tickets"] == []
    # A ticket the intruder creates for the same customer is its own, and the owner never sees it.
    theirs_ticket = {"subject": "mine", "channel": "email", "customer_id": customer_id}
    assert (await intruder.call("POST", "/v1/tickets", json=theirs_ticket)).status_code == 201
    assert len((await owner.get("/v1/tickets", params={"customer_id": customer_id})).json()["tickets"]) == 1
    # The intruder's journey of that customer id holds at most its own ticket, never the owner's call.
    journey = await intruder.call("GET", "/v1/customers/{customer_id}/journey", **ids)
    assert {e["aggregate_type"] for e in journey.json()["events"]} <= {"ticket"}
    assert not {e["aggregate_id"] for e in journey.json()["events"]} & {call_id, ids["ticket_id"]}
    metrics = await intruder.call("GET", "/v1/queues/{queue_id}/metrics", queue_id="member")
    assert metrics.status_code == 404 or metrics.json()["offered"] == 0
    wallboard = (await intruder.call("GET", "/v1/metrics")).json()["queues"]
    assert all(queue["offered"] == 0 for queue in wallboard)  # its own queues only: no call of the owner's
    # A session is the caller's own: signing in with its key shows its tenant, and signing out is harmless.
    session = await intruder.call("POST", "/v1/session", json={"api_key": "e2e-intruder"})
    assert session.json()["tenant_id"] == "tenant-intruder"
    assert (await intruder.call("GET", "/v1/session")).json()["tenant_id"] == "tenant-intruder"
    assert (await intruder.call("DELETE", "/v1/session")).status_code == 204
    assert (await intruder.call("GET", "/v1/statistics/queues")).json()["queues"] == []
    assert (await intruder.call("GET", "/v1/statistics/calls", params={"by": "agent"})).json()["rows"] == []
    # The owner's voice ticket is in its ticket statistics, never in the intruder's (which has only
    # the email ticket it created above).
    by_channel = {"by": "channel"}
    await until(
        owner,
        "/v1/statistics/tickets",
        lambda b: any(r["key"] == "voice" for r in b["rows"]),
        "no voice",
        **by_channel,
    )
    theirs_stats = await intruder.call("GET", "/v1/statistics/tickets", params=by_channel)
    assert {row["key"] for row in theirs_stats.json()["rows"]} <= {"email"}
    # Exports hold only the intruder's own rows: none of the owner's call, agent or voice ticket.
    for template in ("/v1/exports/events", "/v1/exports/tickets"):
        exported = (await intruder.call("GET", template)).text
        leaks = [line for line in exported.splitlines() if call_id in line or ids["ticket_id"] in line]
        assert leaks == [] and "iso" not in exported, (leaks, call_id, ids["ticket_id"])
    for template in ("/v1/exports/statistics/calls", "/v1/exports/statistics/tickets"):
        exported = (
            await intruder.call("GET", template, params=by_channel if "tickets" in template else None)
        ).text
        assert "voice" not in exported and exported.count("\r\n") <= 2

    # The same ids in the intruder's tenant are its own: its "iso" logs in without touching the owner's.
    busan = {"site_id": "busan", "skills": [{"name": "general"}]}
    mine = await intruder.call("POST", "/v1/agents/{agent_id}/login", json=busan, **ids)
    assert mine.is_success and mine.json()["site_id"] == "busan"
    profiled = await intruder.call("PUT", "/v1/agents/{agent_id}/profile", json=busan, **ids)
    assert profiled.is_success and profiled.json()["profile"]["site_id"] == "busan"
    assert (await owner.get("/v1/agents/iso")).json()["site_id"] == "seoul"
    assert (await owner.get("/v1/agents/iso")).json()["profile"] is None
    assert (await intruder.call("POST", "/v1/calls", json=offer)).status_code == 201
    assert (await owner.get(f"/v1/tickets/{ids['ticket_id']}")).json()["notes"] == []

    # Queues: the intruder neither reads nor changes the owner's, and defines its own of the same id.
    rules = {"skills": [{"skill": "member", "min_proficiency": 3}]}
    assert (await owner.post("/v1/queues", json={"queue_id": "iso-q", **rules})).status_code == 201
    ids["queue_id"] = "iso-q"
    assert (await intruder.call("GET", "/v1/queues/{queue_id}", **ids)).status_code == 404
    changed = await intruder.call(
        "PUT", "/v1/queues/{queue_id}/rules", json={"skills": [{"skill": "x"}]}, **ids
    )
    assert changed.status_code == 404, changed.text
    assert (await intruder.call("GET", "/v1/queues")).json() == []
    theirs_q = await intruder.call(
        "POST", "/v1/queues", json={"queue_id": "iso-q", "skills": [{"skill": "x"}]}
    )
    assert theirs_q.status_code == 201
    assert (await owner.get("/v1/queues/iso-q")).json()["rules"]["skills"] == rules["skills"]

    # Contacts of other channels: the intruder neither reads, takes nor closes the owner's chat, nor
    # offers one to the owner's chat queue.
    chat_queue = {"queue_id": "iso-chat", "channel": "chat", "skills": [{"skill": "member"}]}
    assert (await owner.post("/v1/queues", json=chat_queue)).status_code == 201
    chat = {"channel": "chat", "queue_id": "iso-chat"}
    chat_id = (await owner.post("/v1/contacts", json=chat)).json()["contact_id"]
    for method, template, body in [
        ("GET", "/v1/contacts/{contact_id}", None),
        ("POST", "/v1/contacts/{contact_id}/accept", {"agent_id": "iso"}),
        ("POST", "/v1/contacts/{contact_id}/decline", {"agent_id": "iso"}),
        ("POST", "/v1/contacts/{contact_id}/close", None),
    ]:
        refused = await intruder.call(method, template, json=body, contact_id=chat_id)
        assert refused.status_code == 404, (template, refused.text)
    offered = await intruder.call("POST", "/v1/contacts", json=chat)
    assert (offered.status_code, offered.json()["error_id"]) == (404, "queue-not-found")
    assert (await owner.get(f"/v1/contacts/{chat_id}")).json()["status"] == "queued"

    # Lines of business: the intruder neither reads the owner's line nor its flows, nor publishes to it;
    # its own line of the same id and number is its own.
    line = {"numbers": ["15880101"]}
    assert (await owner.put("/v1/lines/iso-line", json=line)).status_code == 200
    flow = {"start": "q", "nodes": [{"id": "q", "type": "queue", "parameters": {"queue_id": "member"}}]}
    assert (await owner.post("/v1/lines/iso-line/flows", json=flow)).status_code == 201
    for method, template, body in [
        ("GET", "/v1/lines/{line_id}", None),
        ("GET", "/v1/lines/{line_id}/flows/{version}", None),
        ("POST", "/v1/lines/{line_id}/flows", flow),
    ]:
        refused = await intruder.call(method, template, json=body, line_id="iso-line", version=1)
        assert refused.status_code == 404, (template, refused.text)
    assert (await intruder.call("GET", "/v1/lines")).json() == []
    # ... nor calls customers out of it (TEL-8).
    dialled = {"agent_id": "iso", "number": "+821077770009", "line_id": "iso-line"}
    refused = await intruder.call("POST", "/v1/calls/outbound", json=dialled)
    assert (refused.status_code, refused.json()["error_id"]) == (404, "line-not-found"), refused.text
    theirs_line = await intruder.call("PUT", "/v1/lines/{line_id}", json=line, line_id="iso-line")
    assert theirs_line.status_code == 200 and theirs_line.json()["flow_version"] == 0
    assert (await owner.get("/v1/lines/iso-line")).json()["flow_version"] == 1

    # The caller list: the intruder neither reads nor removes the owner's entries, and its own list
    # of the same number blocks only its own calls.
    number = "+821077770000"
    block = {"action": "block", "reason": "abusive"}
    assert (await owner.put(f"/v1/caller-list/{number}", json=block)).status_code == 200
    for method, template in [("GET", "/v1/caller-list/{number}"), ("DELETE", "/v1/caller-list/{number}")]:
        refused = await intruder.call(method, template, number=number)
        assert refused.status_code in (404, 409), (template, refused.text)
    assert (await intruder.call("GET", "/v1/caller-list")).json() == []
    theirs_entry = await intruder.call("PUT", "/v1/caller-list/{number}", json=block, number=number)
    assert theirs_entry.status_code == 200
    assert (await owner.get(f"/v1/caller-list/{number}")).json()["version"] == 1

    # Campaigns (TEL-8): the intruder neither reads, lists nor runs the owner's; its own campaign on its
    # own line of the same id is its own.
    renewals = {
        "name": "Renewals",
        "line_id": "iso-line",
        "agent_ids": ["iso"],
        "contacts": [{"number": number}],
    }
    owners_campaign = await owner.post("/v1/campaigns", json=renewals)
    assert owners_campaign.status_code == 201, owners_campaign.text
    ids["campaign_id"] = owners_campaign.json()["campaign_id"]
    for method, template, body in [
        ("GET", "/v1/campaigns/{campaign_id}", None),
        ("PUT", "/v1/campaigns/{campaign_id}/status", {"status": "running"}),
    ]:
        refused = await intruder.call(method, template, json=body, **ids)
        assert refused.status_code == 404, (template, refused.text)
    assert (await intruder.call("GET", "/v1/campaigns")).json() == []
    theirs_campaign = await intruder.call("POST", "/v1/campaigns", json=renewals)
    assert theirs_campaign.status_code == 201, theirs_campaign.text
    assert (await owner.get(f"/v1/campaigns/{ids['campaign_id']}")).json()["status"] == "paused"

    # Keys too: the intruder's admin neither lists nor revokes the owner's, and issues its own.
    owners_key = await owner.post("/v1/api-keys", json={"user": "kim@owner", "role": "supervisor"})
    ids["key_id"] = owners_key.json()["key"]["key_id"]
    revoke = await intruder.call("POST", "/v1/api-keys/{key_id}/revoke", json={}, **ids)
    assert revoke.status_code == 404, revoke.text
    assert (await intruder.call("GET", "/v1/api-keys")).json()["keys"] == []
    theirs = await intruder.call("POST", "/v1/api-keys", json={"user": "lee@intruder", "role": "analyst"})
    assert theirs.status_code == 201
    assert [k["key_id"] for k in (await owner.get("/v1/api-keys")).json()["keys"]] == [ids["key_id"]]

    # Customers: the intruder neither reads, finds nor changes the owner's, its screen pop of the
    # owner's call is refused, and its own customer of the same number is its own.
    kim = {"name": "Kim", "identifiers": [{"kind": "phone", "value": "+821077779999"}]}
    ids["customer_id"] = (await owner.post("/v1/customers", json=kim)).json()["customer_id"]
    for method, template, body in [
        ("GET", "/v1/customers/{customer_id}", None),
        ("PATCH", "/v1/customers/{customer_id}", {"vip": True}),
        ("GET", "/v1/calls/{call_id}/screen-pop", None),
    ]:
        refused = await intruder.call(method, template, json=body, **ids)
        assert refused.status_code == 404, (template, refused.text)
    by_phone = {"kind": "phone", "value": "+821077779999"}
    assert (await intruder.call("GET", "/v1/customers", params=by_phone)).json()["customers"] == []
    assert (await intruder.call("POST", "/v1/customers", json=kim)).status_code == 201
    assert len((await owner.get("/v1/customers", params=by_phone)).json()["customers"]) == 1

    # Reply templates: the intruder neither reads nor removes the owner's, and its own of the same id
    # is its own.
    thanks = {"title": "Thanks", "body": "Thank you, {{customer.name}}."}
    assert (await owner.put("/v1/reply-templates/iso-thanks", json=thanks)).status_code == 200
    ids["template_id"] = "iso-thanks"
    for method, template in [
        ("GET", "/v1/reply-templates/{template_id}"),
        ("DELETE", "/v1/reply-templates/{template_id}"),
    ]:
        refused = await intruder.call(method, template, **ids)
        assert refused.status_code == 404, (template, refused.text)
    assert (await intruder.call("GET", "/v1/reply-templates")).json()["templates"] == []
    theirs_t = await intruder.call(
        "PUT", "/v1/reply-templates/{template_id}", json={**thanks, "title": "Mine"}, **ids
    )
    assert theirs_t.status_code == 200 and theirs_t.json()["version"] == 1
    assert (await owner.get("/v1/reply-templates/iso-thanks")).json()["title"] == "Thanks"

    documented = {
        (method, path)
        for path, operations in (await owner.get("/openapi.json")).json()["paths"].items()
        for method in operations
        if path not in ("/healthz", "/readyz", "/v1/queues/{queue_id}/metrics/stream", "/v1/metrics/stream")
    }
    assert documented - intruder.endpoints == set()
