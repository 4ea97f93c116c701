"""One inbound call's whole life through all five services running as real processes, on a real
broker and chDB: driven over REST and over gRPC; the journey from ClickHouse; live metrics at the gateway."""

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import grpc
import httpx
import pytest
from cc.analytics.v1 import analytics_pb2, analytics_pb2_grpc
from cc.routing.v1 import events_pb2 as routing_events
from cc.routing.v1 import routing_pb2, routing_pb2_grpc
from cc.telephony.v1 import events_pb2 as call_events
from cc.telephony.v1 import telephony_pb2, telephony_pb2_grpc
from cc.ticketing.v1 import events_pb2 as ticket_events
from cc.ticketing.v1 import ticketing_pb2, ticketing_pb2_grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from services.common.envelope import new_id
from services.platform import Platform
from tests.e2e.support import violated_fields

T = TypeVar("T")


async def eventually(probe: Callable[[], Awaitable[T | None]], what: str, timeout: float = 30.0) -> T:
    async with asyncio.timeout(timeout):
        while True:
            value = await probe()
            if value:
                return value
            await asyncio.sleep(0.2)
    raise AssertionError(what)  # unreachable: the timeout raises first


@pytest.fixture
async def rest(platform: Platform) -> AsyncIterator[httpx.AsyncClient]:
    base = f"http://127.0.0.1:{platform.settings.gateway_port}"
    async with httpx.AsyncClient(base_url=base, headers={"X-API-Key": "e2e-rest"}, timeout=30) as client:
        yield client


def ok(response: httpx.Response, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_a_call_lives_its_whole_life_over_rest(rest: httpx.AsyncClient) -> None:
    ok(
        await rest.post(
            "/v1/agents/kim/login",
            json={
                "site_id": "seoul",
                "display_name": "Kim",
                "skills": [{"name": "payment", "proficiency": 8}],
            },
        )
    )
    ok(await rest.post("/v1/agents/lee/login", json={"site_id": "busan", "skills": [{"name": "member"}]}))
    agents = (await rest.get("/v1/agents")).json()
    assert {a["agent_id"]: a["state"] for a in agents} == {"kim": "ready", "lee": "ready"}

    call = ok(await rest.post("/v1/calls", json={"ani": "+821055501234", "dnis": "1588-1234"}), 201)
    assert call["status"] == "in-ivr"
    call_id, customer_id = call["call_id"], call["customer_id"]
    ok(await rest.post(f"/v1/calls/{call_id}/digits", json={"digits": "5"}))  # unknown: the menu replays
    queued = ok(await rest.post(f"/v1/calls/{call_id}/digits", json={"digits": "2"}))
    assert (queued["status"], queued["queue_id"], queued["ivr_digits"]) == ("queued", "payment", ["5", "2"])

    async def ringing() -> dict[str, Any] | None:
        current = (await rest.get(f"/v1/calls/{call_id}")).json()
        return current if current["status"] == "ringing" else None

    assert (await eventually(ringing, "the call never rang"))["agent_id"] == "kim"  # lee lacks the skill
    answered = ok(await rest.post(f"/v1/calls/{call_id}/answer", json={"agent_id": "kim"}))
    assert answered["status"] == "connected"

    async def agent_state(wanted: str) -> dict[str, Any] | None:
        agent = (await rest.get("/v1/agents/kim")).json()
        return agent if agent["state"] == wanted else None

    await eventually(lambda: agent_state("on-contact"), "kim never went on contact")
    ended = ok(await rest.post(f"/v1/calls/{call_id}/hangup", json={"party": "agent"}))
    assert (ended["status"], ended["ended_by"], ended["end_reason"]) == ("ended", "agent", "normal-clearing")
    await eventually(lambda: agent_state("wrap-up"), "kim never wrapped up")
    await eventually(lambda: agent_state("ready"), "kim never became ready after wrap-up")

    async def voice_ticket() -> dict[str, Any] | None:
        tickets = (await rest.get("/v1/tickets", params={"customer_id": customer_id})).json()["tickets"]
        return tickets[0] if tickets else None

    ticket = await eventually(voice_ticket, "no ticket for the answered call")
    assert (ticket["channel"], ticket["call_id"], ticket["assignee_agent_id"], ticket["status"]) == (
        "voice",
        call_id,
        "kim",
        "open",
    )
    ticket_id = ticket["ticket_id"]
    assert ok(await rest.post(f"/v1/tickets/{ticket_id}/notes", json={"body": "refund asked"}), 201)["notes"]
    for status in ("pending", "solved", "closed"):
        assert (
            ok(await rest.post(f"/v1/tickets/{ticket_id}/transitions", json={"to": status}))["status"]
            == status
        )
    refused = await rest.post(f"/v1/tickets/{ticket_id}/transitions", json={"to": "open"})
    assert refused.status_code == 409
    assert refused.json()["error_id"] == "illegal-ticket-transition"

    async def whole_journey() -> list[dict[str, Any]] | None:
        events = (await rest.get(f"/v1/customers/{customer_id}/journey")).json()["events"]
        types = [e["event_type"] for e in events]
        # Both topics' halves of the story (the sink stores each at its own pace), the tickets' in full.
        whole = {"telephony.call.answered", "telephony.call.ended"} <= set(types)
        return events if whole and types.count("ticketing.ticket.status_changed") == 3 else None

    events = await eventually(whole_journey, "the journey never held the whole story", timeout=45)
    types = [e["event_type"] for e in events]
    assert types[0] == "telephony.call.offered"
    for before, after in [
        ("telephony.call.queued", "routing.contact.routed"),
        ("routing.contact.routed", "telephony.call.ringing"),
        ("telephony.call.answered", "ticketing.ticket.opened"),
        ("telephony.call.ended", "ticketing.ticket.status_changed"),
    ]:
        assert types.index(before) < types.index(after), (before, after, types)
    assert [e["occurred_at"] for e in events] == sorted(e["occurred_at"] for e in events)
    assert len({e["event_id"] for e in events}) == len(events)
    routed = json.loads(next(e["payload"] for e in events if e["event_type"] == "routing.contact.routed"))
    assert routed["agent_id"] == "kim"
    assert [(c["agent_id"], c["rank"]) for c in routed["candidates"]] == [("kim", 1)]
    assert routed["skipped"] == [{"reason": "missing-skill", "count": 1}]  # lee
    # The same story asked for by the contact and by its ticket (AN-1).
    story = [e["event_id"] for e in events if e["aggregate_id"] in (call_id, ticket_id)]
    for path in (f"/v1/contacts/{call_id}/journey", f"/v1/tickets/{ticket_id}/journey"):
        narrowed = ok(await rest.get(path))
        assert (narrowed["customer_id"], [e["event_id"] for e in narrowed["events"]]) == (customer_id, story)
    unknown = await rest.get("/v1/contacts/no-such-call/journey")
    assert (unknown.status_code, unknown.json()["error_id"]) == (404, "contact-not-found")

    async def metrics() -> dict[str, Any] | None:
        response = await rest.get("/v1/queues/payment/metrics")
        body = response.json() if response.status_code == 200 else None
        return body if body and body["answered"] >= 1 and body["average_handle_time_seconds"] else None

    statistics = ok(await rest.get("/v1/statistics/queues", params={"threshold": 20}))
    [payment] = [row for row in statistics["queues"] if row["queue_id"] == "payment"]
    assert (
        payment["offered"],
        payment["answered"],
        payment["abandoned"],
        payment["service_level_percent"],
    ) == (1, 1, 0, 100.0)
    backwards = await rest.get(
        "/v1/statistics/queues", params={"from": "2030-01-02T00:00:00Z", "to": "2030-01-01T00:00:00Z"}
    )
    assert ok(backwards)["queues"] == []  # an empty period holds no calls
    ancient = ok(await rest.get("/v1/statistics/queues", params={"from": "0276-07-19T14:39:28Z"}))
    assert ancient["queues"] == statistics["queues"]  # a bound before any event cuts off nothing

    live = await eventually(metrics, "live metrics never reached the gateway")
    assert (live["offered"], live["answered"], live["abandoned"], live["agents_staffed"]) == (1, 1, 0, 1)
    assert live["service_level_percent"] == 100.0


async def test_a_call_lives_its_whole_life_over_grpc(platform: Platform) -> None:
    settings = platform.settings
    md = (("x-api-key", "e2e-grpc"),)
    channels = {
        name: grpc.aio.insecure_channel(settings.address(getattr(settings, f"{name}_port")))
        for name in ("telephony", "routing", "ticketing", "analytics")
    }
    try:
        for name, channel in channels.items():
            health = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
            assert health.status == health_pb2.HealthCheckResponse.SERVING, name
        listing = reflection_pb2_grpc.ServerReflectionStub(channels["telephony"]).ServerReflectionInfo(
            iter([reflection_pb2.ServerReflectionRequest(list_services="")])
        )
        names = [s.name async for r in listing for s in r.list_services_response.service]
        assert "cc.telephony.v1.TelephonyService" in names

        telephony = telephony_pb2_grpc.TelephonyServiceStub(channels["telephony"])
        routing = routing_pb2_grpc.RoutingServiceStub(channels["routing"])
        ticketing = ticketing_pb2_grpc.TicketingServiceStub(channels["ticketing"])
        analytics = analytics_pb2_grpc.AnalyticsServiceStub(channels["analytics"])
        await routing.LogInAgent(
            routing_pb2.LogInAgentRequest(
                agent_id="park", site_id="seoul", skills=[routing_events.Skill(name="member", proficiency=5)]
            ),
            metadata=md,
        )
        call = await telephony.OfferCall(
            telephony_pb2.OfferCallRequest(ani="+821077700000", dnis="1588-1234"), metadata=md
        )
        await telephony.SendDigits(
            telephony_pb2.SendDigitsRequest(call_id=call.call_id, digits="1"), metadata=md
        )

        async def ringing() -> telephony_pb2.Call | None:
            current = await telephony.GetCall(telephony_pb2.GetCallRequest(call_id=call.call_id), metadata=md)
            return current if current.status == telephony_pb2.CALL_STATUS_RINGING else None

        assert (await eventually(ringing, "never rang")).agent_id == "park"
        await telephony.AnswerCall(
            telephony_pb2.AnswerCallRequest(call_id=call.call_id, agent_id="park"), metadata=md
        )
        ended = await telephony.HangUpCall(
            telephony_pb2.HangUpCallRequest(call_id=call.call_id, party=call_events.PARTY_CALLER), metadata=md
        )
        assert ended.end_reason == call_events.END_REASON_NORMAL_CLEARING

        async def ticket() -> ticketing_pb2.Ticket | None:
            found = await ticketing.ListTickets(
                ticketing_pb2.ListTicketsRequest(customer_id=call.customer_id), metadata=md
            )
            # Once numbered (TKT-1): the number's event moves the version this test expects.
            return found.tickets[0] if found.tickets and found.tickets[0].number else None

        opened = await eventually(ticket, "no voice ticket")
        solved = await ticketing.TransitionTicket(
            ticketing_pb2.TransitionTicketRequest(
                ticket_id=opened.ticket_id,
                to_status=ticket_events.TICKET_STATUS_SOLVED,
                reason="refund issued",
                expected_version=opened.version,
            ),
            metadata=md,
        )
        assert (solved.status, solved.version) == (ticket_events.TICKET_STATUS_SOLVED, opened.version + 1)
        with pytest.raises(grpc.aio.AioRpcError) as conflict:
            await ticketing.TransitionTicket(
                ticketing_pb2.TransitionTicketRequest(
                    ticket_id=opened.ticket_id,
                    to_status=ticket_events.TICKET_STATUS_CLOSED,
                    expected_version=opened.version,
                ),
                metadata=md,
            )
        assert conflict.value.code() == grpc.StatusCode.ABORTED

        async def journey() -> analytics_pb2.CustomerJourney | None:
            found = await analytics.GetCustomerJourney(
                analytics_pb2.GetCustomerJourneyRequest(customer_id=call.customer_id), metadata=md
            )
            # The sink stores the calls' and the tickets' topics batch by batch, each at its own pace:
            # wait for both halves of the story, not for the last event of one.
            hops = {"telephony.call.answered", "telephony.call.ended", "ticketing.ticket.status_changed"}
            return found if hops <= {e.event_type for e in found.events} else None

        story = await eventually(journey, "journey incomplete", timeout=45)
        types = [e.event_type for e in story.events]
        assert types.index("telephony.call.answered") < types.index("ticketing.ticket.opened")
        assert types.index("telephony.call.ended") < types.index("ticketing.ticket.status_changed")
    finally:
        for channel in channels.values():
            await channel.close()


async def test_a_caller_who_hangs_up_in_the_queue_has_abandoned(platform: Platform) -> None:
    base = f"http://127.0.0.1:{platform.settings.gateway_port}"
    async with httpx.AsyncClient(base_url=base, headers={"X-API-Key": "e2e-metrics"}, timeout=30) as rest:
        call = ok(await rest.post("/v1/calls", json={"ani": "+821000000001", "dnis": "1588"}), 201)
        ok(await rest.post(f"/v1/calls/{call['call_id']}/digits", json={"digits": "9"}))
        ended = ok(await rest.post(f"/v1/calls/{call['call_id']}/hangup", json={"party": "caller"}))
        assert ended["end_reason"] == "abandoned-in-queue"

        async def abandoned() -> dict[str, Any] | None:
            response = await rest.get("/v1/queues/general/metrics")
            body = response.json() if response.status_code == 200 else None
            return body if body and body["abandoned"] == 1 else None

        live = await eventually(abandoned, "the abandon never showed in live metrics")
        assert (live["offered"], live["answered"], live["abandonment_rate_percent"]) == (1, 0, 100.0)
        stream = await rest.get("/v1/queues/general/metrics/stream", params={"count": 2})
        assert stream.text.count("event: queue-metrics") == 2


async def test_bad_input_gets_clear_errors_over_rest(platform: Platform) -> None:
    base = f"http://127.0.0.1:{platform.settings.gateway_port}"
    async with httpx.AsyncClient(base_url=base, headers={"X-API-Key": "e2e-errors"}, timeout=30) as rest:
        missing = await rest.get(f"/v1/calls/{new_id()}")
        assert (missing.status_code, missing.json()["error_id"]) == (404, "call-not-found")
        assert (await rest.get("/v1/tickets/nope")).json()["error_id"] == "ticket-not-found"
        assert (await rest.put("/v1/agents/ghost/state", json={"state": "ready"})).status_code == 404
        malformed = await rest.post("/v1/calls", json={"dnis": "1588"})
        assert malformed.status_code == 422
        assert malformed.json()["field_violations"][0]["field"] == "ani"
        digits = await rest.post(f"/v1/calls/{new_id()}/digits", json={"digits": "12a"})
        assert digits.status_code == 422 and digits.json()["field_violations"][0]["field"] == "digits"
        skills = await rest.post("/v1/agents/x/login", json={"site_id": "seoul", "skills": []})
        assert (skills.status_code, skills.json()["error_id"]) == (409, "agent-has-no-profile")
        bad = await rest.post("/v1/agents/x/login", json={"site_id": "seoul", "skills": [{"name": "\u0007"}]})
        assert bad.status_code == 422 and bad.json()["field_violations"][0]["field"] == "skills.0.name"
        unauthenticated = await rest.get("/v1/agents", headers={"X-API-Key": "wrong"})
        assert (unauthenticated.status_code, unauthenticated.json()["error_id"]) == (401, "invalid-api-key")
        assert (await rest.get("/openapi.json")).json()["paths"]["/v1/calls"]["post"]
        ready = await rest.get("/readyz")
        assert ready.status_code == 200 and all(ready.json()["checks"].values()), ready.text


async def test_bad_input_gets_clear_errors_over_grpc(platform: Platform) -> None:
    from google.rpc import error_details_pb2
    from grpc_status import rpc_status

    md = (("x-api-key", "e2e-errors"),)
    async with grpc.aio.insecure_channel(
        platform.settings.address(platform.settings.telephony_port)
    ) as channel:
        telephony = telephony_pb2_grpc.TelephonyServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as missing:
            await telephony.GetCall(telephony_pb2.GetCallRequest(call_id="nope"), metadata=md)
        assert missing.value.code() == grpc.StatusCode.NOT_FOUND
        with pytest.raises(grpc.aio.AioRpcError) as invalid:
            await telephony.OfferCall(telephony_pb2.OfferCallRequest(ani="+8210"), metadata=md)
        assert invalid.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        status = rpc_status.from_call(invalid.value)  # type: ignore[arg-type]
        assert status is not None
        bad = error_details_pb2.BadRequest()
        assert any(d.Unpack(bad) for d in status.details if d.Is(error_details_pb2.BadRequest.DESCRIPTOR))
        assert [v.field for v in bad.field_violations] == ["dnis"]
        with pytest.raises(grpc.aio.AioRpcError) as anonymous:
            await telephony.GetCall(telephony_pb2.GetCallRequest(call_id="nope"))
        assert anonymous.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_an_oversized_request_is_refused_and_every_service_keeps_serving(platform: Platform) -> None:
    """Issue 6: one OfferCall with a megabyte ANI used to make telephony exit, again on every restart. Now
    each edge refuses it (gRPC's message limit, the contract's field limits, the gateway's body limit)
    and the same services go on serving the next call."""
    md = (("x-api-key", "e2e-errors"),)
    settings = platform.settings
    async with (
        grpc.aio.insecure_channel(settings.address(settings.telephony_port)) as calls,
        grpc.aio.insecure_channel(settings.address(settings.routing_port)) as agents,
    ):
        telephony = telephony_pb2_grpc.TelephonyServiceStub(calls)
        with pytest.raises(grpc.aio.AioRpcError) as huge:
            megabyte = telephony_pb2.OfferCallRequest(ani="1" * 1_000_000, dnis="1588")
            await telephony.OfferCall(megabyte, metadata=md)
        assert huge.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        with pytest.raises(grpc.aio.AioRpcError) as long_ani:
            await telephony.OfferCall(telephony_pb2.OfferCallRequest(ani="1" * 201, dnis="1588"), metadata=md)
        assert long_ani.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert violated_fields(long_ani.value) == ["ani"]
        routing = routing_pb2_grpc.RoutingServiceStub(agents)
        with pytest.raises(grpc.aio.AioRpcError) as long_skill:
            await routing.LogInAgent(
                routing_pb2.LogInAgentRequest(
                    agent_id="a-1", site_id="seoul", skills=[routing_events.Skill(name="s" * 201)]
                ),
                metadata=md,
            )
        assert violated_fields(long_skill.value) == ["skills[0].name"]
        at_the_limit = await telephony.OfferCall(
            telephony_pb2.OfferCallRequest(ani="1" * 200, dnis="1588"), metadata=md
        )
        assert at_the_limit.ani == "1" * 200

    base = f"http://127.0.0.1:{settings.gateway_port}"
    async with httpx.AsyncClient(base_url=base, headers={"X-API-Key": "e2e-errors"}, timeout=30) as rest:
        too_big = await rest.post("/v1/calls", json={"ani": "1" * 1_000_000, "dnis": "1588"})
        assert (too_big.status_code, too_big.json()["error_id"]) == (413, "request-too-large")
        too_long = await rest.post("/v1/calls", json={"ani": "1" * 201, "dnis": "1588"})
        assert too_long.status_code == 422 and too_long.json()["field_violations"][0]["field"] == "ani"
        call = ok(await rest.post("/v1/calls", json={"ani": "+821000000002", "dnis": "1588"}), 201)
        assert ok(await rest.get(f"/v1/calls/{call['call_id']}"))["ani"] == "+821000000002"
    assert all(platform.running(name) for name in platform.names())
