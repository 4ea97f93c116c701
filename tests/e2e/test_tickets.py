"""Tickets over REST (TKT-1 to TKT-5): a supervisor creates a ticket on any channel, an agent takes
it, fields are edited, replies go to the customer apart from notes, the ticket goes up a tier and back,
every status change names who made it, and the list filters, sorts and pages. Through the gateway,
the ticketing service and the broker, with the journey in chDB."""

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from services.platform import Platform
from tests.e2e.support import until


@pytest.fixture
async def clients(platform: Platform) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    base = f"http://127.0.0.1:{platform.settings.gateway_port}"
    async with (
        httpx.AsyncClient(base_url=base, headers={"X-API-Key": "e2e-tickets"}, timeout=30) as supervisor,
        httpx.AsyncClient(base_url=base, headers={"X-API-Key": "e2e-tickets-kim"}, timeout=30) as kim,
    ):
        yield supervisor, kim


def ok(response: httpx.Response, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_a_ticket_is_created_taken_edited_and_found(
    clients: tuple[httpx.AsyncClient, httpx.AsyncClient],
) -> None:
    supervisor, kim = clients
    refund = {
        "subject": "Charged twice",
        "description": "Two charges on 3 March.\nPlease refund one.",
        "channel": "email",
        "customer_id": "cu-tickets",
        "priority": "high",
        "tags": ["Refund", "vip"],
        "category": "billing / refund",
        "group_id": "tier-1",
        "fields": {"order_id": "A-17", "amount": "12000"},
    }
    created = ok(await supervisor.post("/v1/tickets", json=refund, headers={"Idempotency-Key": "r-1"}), 201)
    assert (created["status"], created["priority"], created["tags"], created["category"]) == (
        "new",
        "high",
        ["refund", "vip"],
        "billing/refund",
    )
    assert created["fields"] == {"order_id": "A-17", "amount": "12000"}
    assert created["description"] == refund["description"]
    ticket_id = created["ticket_id"]
    again = ok(await supervisor.post("/v1/tickets", json=refund, headers={"Idempotency-Key": "r-1"}), 201)
    # A retry, not a second ticket: the same one, as it is now (its number may have come meanwhile).
    assert (again["ticket_id"], again["opened_at"], again["subject"]) == (
        ticket_id,
        created["opened_at"],
        "Charged twice",
    )

    for bad, field in [({**refund, "channel": "fax"}, "channel"), ({**refund, "subject": ""}, "subject")]:
        refused = await supervisor.post("/v1/tickets", json=bad)
        assert refused.status_code == 422 and field in refused.text, refused.text

    # An agent takes the ticket for itself, never for someone else; taking it opens it.
    taken = await kim.put(
        f"/v1/tickets/{ticket_id}/assignment", json={"agent_id": "lee", "group_id": "tier-1"}
    )
    assert (taken.status_code, taken.json()["error_id"]) == (403, "not-your-agent")
    taken_body = ok(
        await kim.put(f"/v1/tickets/{ticket_id}/assignment", json={"agent_id": "kim", "group_id": "tier-1"})
    )
    assert (taken_body["assignee_agent_id"], taken_body["status"]) == ("kim", "open")
    [opened] = taken_body["status_changes"]
    assert (opened["from_status"], opened["to_status"], opened["actor_type"], opened["actor_id"]) == (
        "new",
        "open",
        "agent",
        "kim",
    )

    edited = ok(
        await kim.patch(
            f"/v1/tickets/{ticket_id}",
            json={"priority": "urgent", "tags": ["refund"], "fields": {"amount": None, "reason": "double"}},
        )
    )
    assert (edited["priority"], edited["tags"], edited["fields"]) == (
        "urgent",
        ["refund"],
        {"order_id": "A-17", "reason": "double"},
    )
    nothing = await kim.patch(f"/v1/tickets/{ticket_id}", json={"priority": "urgent"})
    assert (nothing.status_code, nothing.json()["error_id"]) == (422, "nothing-to-change")
    stale = await kim.patch(f"/v1/tickets/{ticket_id}", json={"subject": "x", "expected_version": 1})
    assert (stale.status_code, stale.json()["error_id"]) == (409, "version-conflict")

    # Tier 1 replies to the customer, notes internally, sends it up to tier 2, and gets it back.
    replied = ok(await kim.post(f"/v1/tickets/{ticket_id}/replies", json={"body": "We are on it"}), 201)
    assert [r["body"] for r in replied["replies"]] == ["We are on it"] and replied["first_replied_at"]
    noted = ok(await kim.post(f"/v1/tickets/{ticket_id}/notes", json={"body": "bank to confirm"}), 201)
    assert [n["body"] for n in noted["notes"]] == ["bank to confirm"] and len(noted["replies"]) == 1
    escalation = {"reason": "needs the bank", "group_id": "tier-2"}
    up = ok(await kim.post(f"/v1/tickets/{ticket_id}/escalate", json=escalation))
    assert (up["tier"], up["group_id"], up["assignee_agent_id"]) == (2, "tier-2", "")
    back = ok(await supervisor.post(f"/v1/tickets/{ticket_id}/return", json={"reason": "bank confirmed"}))
    assert (back["tier"], back["group_id"], back["assignee_agent_id"]) == (1, "tier-1", "kim")
    assert [(e["direction"], e["from_tier"], e["to_tier"], e["reason"]) for e in back["escalations"]] == [
        ("up", 1, 2, "needs the bank"),
        ("back", 2, 1, "bank confirmed"),
    ]
    again_back = await supervisor.post(f"/v1/tickets/{ticket_id}/return", json={"reason": "twice"})
    assert (again_back.status_code, again_back.json()["error_id"]) == (409, "ticket-not-escalated")

    held = ok(
        await supervisor.post(
            f"/v1/tickets/{ticket_id}/transitions", json={"to": "on-hold", "reason": "bank"}
        )
    )
    last = held["status_changes"][-1]
    assert (last["to_status"], last["reason"], last["actor_type"]) == ("on-hold", "bank", "user")
    assert last["actor_id"].startswith("supervisor")

    # Two more tickets, then the list: filters, a sort, and pages that follow each other.
    chat = {
        "subject": "Where is my card?",
        "channel": "chat",
        "customer_id": "cu-tickets",
        "category": "cards",
    }
    ok(await supervisor.post("/v1/tickets", json=chat), 201)
    ok(await supervisor.post("/v1/tickets", json={**chat, "subject": "Card blocked", "priority": "low"}), 201)

    async def listed(**params: Any) -> list[str]:
        return [t["subject"] for t in ok(await supervisor.get("/v1/tickets", params=params))["tickets"]]

    assert await listed(status="on-hold") == ["Charged twice"]
    assert await listed(assignee="kim", category="billing", tag="refund") == ["Charged twice"]
    assert await listed(category="cards", sort="opened") == ["Where is my card?", "Card blocked"]
    assert await listed(status=["new", "on-hold"], sort="priority") == [
        "Charged twice",
        "Where is my card?",
        "Card blocked",
    ]
    pages: list[str] = []
    cursor = ""
    while True:
        page = ok(
            await supervisor.get("/v1/tickets", params={"limit": 1, "cursor": cursor, "sort": "opened"})
        )
        pages += [t["subject"] for t in page["tickets"]]
        if not (cursor := page["next_cursor"]):
            break
    assert pages == ["Charged twice", "Where is my card?", "Card blocked"]
    foreign = await supervisor.get("/v1/tickets", params={"cursor": "bm90IGpzb24"})
    assert (foreign.status_code, foreign.json()["error_id"]) == (422, "invalid-page-token")

    # The journey shows the ticket's whole life, each change with its own event (and, whenever the
    # counter gave it, its number).
    journey = await until(
        supervisor,
        "/v1/customers/cu-tickets/journey",
        lambda body: len([e for e in body["events"] if e["aggregate_id"] == ticket_id]) >= 10,
        "the ticket's last change never reached the journey",
    )
    every = [e["event_type"] for e in journey["events"] if e["aggregate_id"] == ticket_id]
    assert every.count("ticketing.ticket.numbered") == 1
    types = [kind for kind in every if kind != "ticketing.ticket.numbered"]
    assert types == [
        "ticketing.ticket.opened",
        "ticketing.ticket.assigned",
        "ticketing.ticket.status_changed",
        "ticketing.ticket.fields_changed",
        "ticketing.ticket.replied",
        "ticketing.ticket.note_added",
        "ticketing.ticket.escalated",
        "ticketing.ticket.returned",
        "ticketing.ticket.status_changed",
    ]


def clocks(ticket: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {clock["metric"]: clock for clock in ticket["sla"]}


async def test_a_tickets_sla_clocks_run_on_its_lines_targets_pause_and_stop(
    clients: tuple[httpx.AsyncClient, httpx.AsyncClient], platform: Platform
) -> None:
    supervisor, _ = clients
    base = f"http://127.0.0.1:{platform.settings.gateway_port}"
    async with httpx.AsyncClient(
        base_url=base, headers={"X-API-Key": "e2e-tickets-admin"}, timeout=30
    ) as admin:
        sla = {
            "first_response_minutes": {"normal": 60},
            "resolution_minutes": {"normal": 240},
            "all_hours": True,
        }
        cards = {
            "display_name": "Cards",
            "ticket_sla": sla,
            "ticket_categories": ["cards/late", "cards/lost"],
        }
        line = ok(await admin.put("/v1/lines/sla-cards", json=cards))
        assert line["settings"]["ticket_sla"] == sla
        zero = {"ticket_sla": {"first_response_minutes": {"normal": 0}}}
        assert (await admin.put("/v1/lines/sla-cards", json=zero)).status_code == 422
    # Ticketing follows the line's events: once it has them, a category outside the line's tree is
    # refused naming the field (TKT-2), and a ticket opened runs both clocks.
    shelf = {"subject": "Wrong shelf", "channel": "email", "customer_id": "cu-shelf", "line_id": "sla-cards"}
    async with asyncio.timeout(30):
        while (
            refused := await supervisor.post("/v1/tickets", json={**shelf, "category": "loans"})
        ).is_success:
            await asyncio.sleep(0.2)
    assert refused.status_code == 422 and refused.json()["field_violations"][0]["field"] == "category"
    ticket = {
        "subject": "Card not arrived",
        "channel": "email",
        "customer_id": "cu-sla",
        "line_id": "sla-cards",
        "category": "cards/late",
    }
    created = ok(await supervisor.post("/v1/tickets", json=ticket), 201)
    ticket_id = created["ticket_id"]
    opened = await until(
        supervisor, f"/v1/tickets/{ticket_id}", lambda t: len(t["sla"]) == 2, "no SLA clocks"
    )
    first = clocks(opened)["first_response"]
    assert (first["state"], first["target_seconds"], opened["line_id"]) == ("running", 3600, "sla-cards")
    due = datetime.fromisoformat(first["due_at"]) - datetime.fromisoformat(opened["opened_at"])
    assert 3599 <= due.total_seconds() <= 3601

    async def with_clocks(*states: str) -> list[str]:
        found = await supervisor.get("/v1/tickets", params={"customer_id": "cu-sla", "sla": list(states)})
        return [t["ticket_id"] for t in ok(found)["tickets"]]

    assert await with_clocks("running") == [ticket_id]
    assert await with_clocks("breached", "met") == []
    assert (await supervisor.get("/v1/tickets", params={"sla": "late"})).status_code == 422

    async def move(to: str) -> dict[str, Any]:
        return ok(await supervisor.post(f"/v1/tickets/{ticket_id}/transitions", json={"to": to}))

    waiting = clocks(await move("pending"))
    assert {m: (c["state"], c["due_at"]) for m, c in waiting.items()} == {
        "first_response": ("paused", None),
        "resolution": ("paused", None),
    }
    assert clocks(await move("open"))["resolution"]["state"] == "running"
    replied = ok(await supervisor.post(f"/v1/tickets/{ticket_id}/replies", json={"body": "On its way"}), 201)
    assert clocks(replied)["first_response"]["state"] == "met"
    solved = clocks(await move("solved"))
    assert (solved["first_response"]["state"], solved["resolution"]["state"]) == ("met", "met")
    listed = ok(await supervisor.get("/v1/tickets", params={"customer_id": "cu-sla"}))
    assert clocks(listed["tickets"][0])["resolution"]["state"] == "met"
    assert await with_clocks("met") == [ticket_id] and await with_clocks("running") == []


@pytest.fixture
async def templates_tenant(
    platform: Platform,
) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient, httpx.AsyncClient]]:
    """A tenant of its own: its automatic messages reply to every ticket it receives."""
    base = f"http://127.0.0.1:{platform.settings.gateway_port}"
    async with (
        httpx.AsyncClient(base_url=base, headers={"X-API-Key": "e2e-templates"}, timeout=30) as supervisor,
        httpx.AsyncClient(base_url=base, headers={"X-API-Key": "e2e-templates-kim"}, timeout=30) as kim,
        httpx.AsyncClient(base_url=base, headers={"X-API-Key": "e2e-templates-admin"}, timeout=30) as admin,
    ):
        yield supervisor, kim, admin


async def test_templates_are_recommended_by_category_and_automatic_messages_go_out_by_themselves(
    templates_tenant: tuple[httpx.AsyncClient, httpx.AsyncClient, httpx.AsyncClient],
) -> None:
    supervisor, kim, admin = templates_tenant
    ok(await admin.put("/v1/lines/night", json={"hours": {"time_zone": "UTC", "weekly": {}}}))  # never open
    templates = {
        "ack": {
            "title": "Received",
            "body": "Hello {{customer.name}}, we have {{ticket.id}}.",
            "automatic": "received",
        },
        "night": {
            "title": "Closed",
            "body": "We are closed; back soon.",
            "automatic": "after-hours",
            "line_id": "night",
        },
        "done": {
            "title": "Solved",
            "body": "Solved: {{ticket.subject}}. Rate us: https://survey.example/{{ticket.survey_token}}",
            "automatic": "solved",
        },
        "refund": {"title": "Refund", "body": "{{agent.id}} here: refunded.", "categories": ["billing"]},
    }
    for template_id, template in templates.items():
        assert ok(await supervisor.put(f"/v1/reply-templates/{template_id}", json=template))["version"] == 1
    unknown = await supervisor.put(
        "/v1/reply-templates/bad", json={"title": "x", "body": "{{customer.email}}"}
    )
    assert unknown.status_code == 422 and "customer.email" in unknown.text
    assert (await kim.put("/v1/reply-templates/mine", json={"title": "x", "body": "y"})).status_code == 403
    recommended = ok(await kim.get("/v1/reply-templates", params={"category": "billing/refund"}))
    assert [t["template_id"] for t in recommended["templates"]] == ["ack", "done", "night", "refund"]
    assert [
        t["template_id"]
        for t in ok(await kim.get("/v1/reply-templates", params={"category": "delivery"}))["templates"]
    ] == [
        "ack",
        "done",
        "night",
    ]
    automatic = ok(await kim.get("/v1/reply-templates", params={"automatic": "received"}))
    assert [t["template_id"] for t in automatic["templates"]] == ["ack"]

    # A ticket received by email gets the acknowledgement by itself, in the customer's name; on a line
    # that is closed, the after-hours notice instead. Neither is a first response.
    customer_id = ok(await supervisor.post("/v1/customers", json={"name": "Minji"}), 201)["customer_id"]
    email = {
        "subject": "Refund please",
        "channel": "email",
        "customer_id": customer_id,
        "category": "billing",
    }
    ticket_id = ok(await supervisor.post("/v1/tickets", json=email), 201)["ticket_id"]
    path = f"/v1/tickets/{ticket_id}"
    acked = await until(supervisor, path, lambda t: t["replies"], "no acknowledgement")
    [ack] = acked["replies"]
    assert (ack["body"], ack["template_id"], ack["automatic"], ack["author_type"]) == (
        f"Hello Minji, we have {ticket_id}.",
        "ack",
        True,
        "system",
    )
    assert acked["first_replied_at"] is None
    night = ok(await supervisor.post("/v1/tickets", json={**email, "line_id": "night"}), 201)["ticket_id"]
    closed = await until(supervisor, f"/v1/tickets/{night}", lambda t: t["replies"], "no after-hours notice")
    assert [r["template_id"] for r in closed["replies"]] == ["night"]

    # The agent answers with a recommended template; solving sends the solved message by itself.
    ok(await kim.put(f"/v1/tickets/{ticket_id}/assignment", json={"agent_id": "kim"}))
    answered = ok(await kim.post(f"{path}/replies", json={"template_id": "refund"}), 201)
    assert answered["replies"][-1]["body"] == "kim here: refunded."
    assert answered["first_replied_at"] is not None
    both = await kim.post(f"{path}/replies", json={"template_id": "refund", "body": "typed too"})
    assert both.status_code == 422
    ok(await kim.post(f"{path}/transitions", json={"to": "solved"}))
    solved = await until(supervisor, path, lambda t: len(t["replies"]) == 3, "no solved message")
    token = solved["survey_token"]
    assert solved["replies"][-1]["body"] == f"Solved: Refund please. Rate us: https://survey.example/{token}"

    # The customer answers the survey (TKT-9): recorded once, never by the agent whose work it rates.
    answer = {"survey_token": token, "score": 5, "comment": "fast refund"}
    assert (await kim.post(f"{path}/satisfaction", json=answer)).status_code == 403
    wrong = await supervisor.post(f"{path}/satisfaction", json={**answer, "survey_token": "guessed"})
    assert (wrong.status_code, wrong.json()["error_id"]) == (409, "survey-token-mismatch")
    rated = ok(await supervisor.post(f"{path}/satisfaction", json=answer))["satisfaction"]
    assert (rated["score"], rated["comment"], rated["actor_type"]) == (5, "fast refund", "user")
    again = await supervisor.post(f"{path}/satisfaction", json={**answer, "score": 1})
    assert (again.status_code, again.json()["error_id"]) == (409, "already-rated")
    csat = await until(
        supervisor,
        "/v1/statistics/tickets",
        lambda b: any(row["rated"] for row in b["rows"]),
        "the survey's answer never reached the statistics",
        by="agent",
    )
    assert [(r["key"], r["rated"], r["satisfaction_percent"]) for r in csat["rows"] if r["rated"]] == [
        ("kim", 1, 100.0)
    ]

    # A removed template is no longer listed nor replied with.
    assert ok(await supervisor.delete("/v1/reply-templates/refund"))["removed"] is True
    assert "refund" not in [t["template_id"] for t in ok(await kim.get("/v1/reply-templates"))["templates"]]
    gone = await kim.post(f"/v1/tickets/{night}/replies", json={"template_id": "refund"})
    assert (gone.status_code, gone.json()["error_id"]) == (404, "template-not-found")


async def test_ticket_statistics_count_the_tenants_tickets_by_channel_per_day_in_a_time_zone(
    clients: tuple[httpx.AsyncClient, httpx.AsyncClient],
) -> None:
    supervisor, _ = clients
    sms = {"subject": "Texted us", "channel": "sms", "customer_id": "cu-stats"}
    ok(await supervisor.post("/v1/tickets", json=sms), 201)
    asked = {"by": "channel", "bucket": "day", "time_zone": "Asia/Seoul"}
    table = await until(
        supervisor,
        "/v1/statistics/tickets",
        lambda b: any(row["key"] == "sms" and row["created"] >= 1 for row in b["rows"]),
        "the sms ticket never reached the statistics",
        **asked,
    )
    assert (table["bucket"], table["by"], table["time_zone"]) == ("day", "channel", "Asia/Seoul")
    sms_row = next(row for row in table["rows"] if row["key"] == "sms")
    seoul_midnight = datetime.fromisoformat(sms_row["bucket_start"]).astimezone(ZoneInfo("Asia/Seoul"))
    assert (seoul_midnight.hour, seoul_midnight.minute) == (0, 0)
    for bad, field in [({"time_zone": "Mars/Olympus"}, "time_zone"), ({"by": "fax"}, "by")]:
        refused = await supervisor.get("/v1/statistics/tickets", params=bad)
        assert refused.status_code == 422 and field in refused.text, refused.text


async def test_a_complaint_is_taken_with_its_claim_found_counted_and_turned_back_into_a_request(
    clients: tuple[httpx.AsyncClient, httpx.AsyncClient],
) -> None:
    supervisor, _ = clients
    grievance = {
        "subject": "Broken on arrival",
        "channel": "web-form",
        "customer_id": "cu-voc",
        "kind": "complaint",
    }
    created = ok(await supervisor.post("/v1/tickets", json={**grievance, "claim": "exchange"}), 201)
    assert (created["kind"], created["claim"]) == ("complaint", "exchange")
    ticket_id = created["ticket_id"]
    request_with_claim = await supervisor.post(
        "/v1/tickets", json={**grievance, "kind": "request", "claim": "refund"}
    )
    assert request_with_claim.status_code == 422 and "claim" in request_with_claim.text
    complaints = ok(
        await supervisor.get("/v1/tickets", params={"kind": "complaint", "customer_id": "cu-voc"})
    )
    assert [t["ticket_id"] for t in complaints["tickets"]] == [ticket_id]
    by_kind = await until(
        supervisor,
        "/v1/statistics/tickets",
        lambda b: any(row["key"] == "complaint" for row in b["rows"]),
        "the complaint never reached the statistics",
        by="kind",
    )
    assert {row["key"] for row in by_kind["rows"]} <= {"complaint", "request"}
    by_claim = ok(await supervisor.get("/v1/statistics/tickets", params={"by": "claim"}))
    assert any(row["key"] == "exchange" for row in by_claim["rows"])
    answered = ok(await supervisor.patch(f"/v1/tickets/{ticket_id}", json={"kind": "request"}))
    assert (answered["kind"], answered["claim"]) == ("request", "")
    assert (
        ok(await supervisor.get("/v1/tickets", params={"kind": "complaint", "customer_id": "cu-voc"}))[
            "tickets"
        ]
        == []
    )


async def test_tickets_of_one_journey_are_linked_on_both_sides_and_a_duplicate_is_merged_into_the_first(
    clients: tuple[httpx.AsyncClient, httpx.AsyncClient],
) -> None:
    supervisor, kim = clients
    order = {"subject": "Where is my order", "channel": "email", "customer_id": "cu-journey"}
    first, second, duplicate = [
        ok(await supervisor.post("/v1/tickets", json=order), 201)["ticket_id"] for _ in range(3)
    ]

    # Each takes its number in the tenant a moment after it opens (TKT-1), and is found by it.
    numbers = []
    for ticket_id in (first, second, duplicate):
        numbered = await until(supervisor, f"/v1/tickets/{ticket_id}", lambda t: t["number"], "no number")
        numbers.append(numbered["number"])
    assert len(set(numbers)) == 3
    found = ok(await supervisor.get("/v1/tickets", params={"number": numbers[1]}))
    assert [t["ticket_id"] for t in found["tickets"]] == [second]

    linked = ok(await kim.post(f"/v1/tickets/{first}/links", json={"ticket_id": second}))
    assert linked["linked_ticket_ids"] == [second]
    mirrored = await until(
        supervisor, f"/v1/tickets/{second}", lambda t: t["linked_ticket_ids"], "no mirrored link"
    )
    assert mirrored["linked_ticket_ids"] == [first]
    again = await kim.post(f"/v1/tickets/{second}/links", json={"ticket_id": first})
    assert (again.status_code, again.json()["error_id"]) == (409, "already-linked")
    nowhere = await kim.post(f"/v1/tickets/{first}/links", json={"ticket_id": "no-such-ticket"})
    assert (nowhere.status_code, nowhere.json()["error_id"]) == (404, "ticket-not-found")
    assert ok(await kim.delete(f"/v1/tickets/{second}/links/{first}"))["linked_ticket_ids"] == []
    await until(
        supervisor, f"/v1/tickets/{first}", lambda t: t["linked_ticket_ids"] == [], "link left on one side"
    )

    merged = ok(
        await kim.post(f"/v1/tickets/{duplicate}/merge", json={"into_ticket_id": first, "reason": "same"})
    )
    assert (merged["status"], merged["merged_into_ticket_id"]) == ("closed", first)
    survivor = await until(
        supervisor, f"/v1/tickets/{first}", lambda t: t["merged_ticket_ids"], "merge not listed"
    )
    assert survivor["merged_ticket_ids"] == [duplicate] and survivor["status"] == "new"
    into_closed = await kim.post(f"/v1/tickets/{second}/merge", json={"into_ticket_id": duplicate})
    assert (into_closed.status_code, into_closed.json()["error_id"]) == (409, "ticket-closed")


async def test_a_group_takes_the_new_tickets_of_its_categories_in_turns_among_its_agents(
    clients: tuple[httpx.AsyncClient, httpx.AsyncClient],
) -> None:
    supervisor, kim = clients
    refunds = {
        "name": "Refunds",
        "agent_ids": ["kim", "lee"],
        "categories": ["refunds"],
        "strategy": "round-robin",
    }
    assert (await kim.put("/v1/ticket-groups/refunds", json=refunds)).status_code == 403
    defined = ok(await supervisor.put("/v1/ticket-groups/refunds", json=refunds))
    assert (defined["group_id"], defined["categories"], defined["tickets_taken"]) == (
        "refunds",
        ["refunds"],
        0,
    )
    nobody = await supervisor.put("/v1/ticket-groups/empty", json={**refunds, "agent_ids": []})
    assert nobody.status_code == 422 and "agent_ids" in nobody.text

    ticket = {
        "subject": "Refund me",
        "channel": "email",
        "customer_id": "cu-groups",
        "category": "refunds/card",
    }
    opened = [ok(await supervisor.post("/v1/tickets", json=ticket), 201)["ticket_id"] for _ in range(2)]
    assigned = [
        await until(
            supervisor, f"/v1/tickets/{ticket_id}", lambda t: t["assignee_agent_id"], "never assigned"
        )
        for ticket_id in opened
    ]
    assert sorted(t["assignee_agent_id"] for t in assigned) == ["kim", "lee"]  # one each, in turn
    assert {(t["group_id"], t["status"]) for t in assigned} == {("refunds", "open")}
    taken = await until(
        supervisor, "/v1/ticket-groups/refunds", lambda g: g["tickets_taken"] == 2, "not counted"
    )
    assert taken["agent_ids"] == ["kim", "lee"]
    assert [g["group_id"] for g in ok(await supervisor.get("/v1/ticket-groups"))["groups"]] == ["refunds"]
