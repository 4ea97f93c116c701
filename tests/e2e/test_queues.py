"""Queues as data (RT-2, ORG-3) end to end: an admin defines a queue over REST, routing serves calls by
its rules (skills at a minimum proficiency, its strategy), a change of rules takes effect for the next
call, and a queue has live metrics from the moment it exists."""

import json
import time
from collections.abc import AsyncIterator
from typing import Any

import grpc
import httpx
import pytest
from cc.routing.v1 import routing_pb2, routing_pb2_grpc

from services.platform import Platform
from tests.e2e.test_call_life import eventually, ok

ADMIN, SUPERVISOR = "e2e-queues", "e2e-queues-supervisor"


@pytest.fixture
async def rest(platform: Platform) -> AsyncIterator[httpx.AsyncClient]:
    base = f"http://127.0.0.1:{platform.settings.gateway_port}"
    async with httpx.AsyncClient(base_url=base, headers={"X-API-Key": ADMIN}, timeout=30) as client:
        yield client


async def ringing_agent(rest: httpx.AsyncClient, call_id: str) -> str:
    async def rung() -> str | None:
        call = ok(await rest.get(f"/v1/calls/{call_id}"))
        return str(call["agent_id"]) if call["status"] == "ringing" else None

    return await eventually(rung, f"{call_id} never rang an agent")


async def staffed(rest: httpx.AsyncClient, queue_id: str, agents: int) -> None:
    """Wait until routing serves the queue by its latest rules: its live staffing says so."""

    async def counted() -> bool:
        response = await rest.get(f"/v1/queues/{queue_id}/metrics")
        return response.status_code == 200 and response.json()["agents_staffed"] == agents

    await eventually(counted, f"queue {queue_id} never had {agents} agents staffed")


async def member_call(rest: httpx.AsyncClient) -> str:
    call = ok(await rest.post("/v1/calls", json={"ani": "+821055550000", "dnis": "1588"}), 201)
    ok(await rest.post(f"/v1/calls/{call['call_id']}/digits", json={"digits": "1"}))  # the member queue
    return str(call["call_id"])


async def test_calls_are_routed_by_a_queue_defined_over_the_api(
    rest: httpx.AsyncClient, platform: Platform
) -> None:
    # The IVR's member option names the queue `member`; this tenant defines it: vip at 7 or better,
    # the most skilled first.
    rules = {"skills": [{"skill": "vip", "min_proficiency": 7}], "strategy": "most-skilled"}
    created = ok(await rest.post("/v1/queues", json={"queue_id": "member", **rules}), 201)
    assert (created["version"], created["rules"]["strategy"]) == (1, "most-skilled")
    assert created["rules"]["service_level_threshold_seconds"] == 20  # defaults spelled out
    again = await rest.post("/v1/queues", json={"queue_id": "member", **rules})
    assert (again.status_code, again.json()["error_id"]) == (409, "queue-already-exists")

    for agent_id, vip, member in (("low", 6, 9), ("mid", 7, 0), ("top", 9, 0)):
        levels = [{"name": "vip", "proficiency": vip}] + (
            [{"name": "member", "proficiency": member}] if member else []
        )
        ok(await rest.post(f"/v1/agents/{agent_id}/login", json={"site_id": "seoul", "skills": levels}))

    await staffed(rest, "member", 2)  # mid and top
    first = await member_call(rest)
    assert await ringing_agent(rest, first) == "top"  # low has member 9 but vip 6: not eligible

    # The admin lowers the bar to 6 and routes by idle time: low, ready longest, takes the next call.
    changed = ok(
        await rest.put(
            "/v1/queues/member/rules",
            json={"skills": [{"skill": "vip", "min_proficiency": 6}], "expected_version": 1},
        )
    )
    assert (changed["version"], changed["rules"]["strategy"]) == (2, "longest-idle")
    await staffed(rest, "member", 3)
    second = await member_call(rest)
    assert await ringing_agent(rest, second) == "low"

    routed = ok(await rest.get(f"/v1/contacts/{second}/candidates"))
    assert routed["required_skill"] == "vip>=6"
    listed = ok(await rest.get("/v1/queues"))
    assert [(q["queue_id"], q["version"]) for q in listed] == [("member", 2)]

    address = platform.settings.address(platform.settings.routing_port)
    async with grpc.aio.insecure_channel(address) as channel:
        queue = await routing_pb2_grpc.RoutingServiceStub(channel).GetQueue(
            routing_pb2.GetQueueRequest(queue_id="member", min_version=2), metadata=(("x-api-key", ADMIN),)
        )
    assert [(s.skill, s.min_proficiency) for s in queue.rules.skills] == [("vip", 6)]


async def test_a_new_queue_has_live_metrics_at_once_and_only_admins_define_queues(
    rest: httpx.AsyncClient,
) -> None:
    assert (await rest.get("/v1/queues/escalations/metrics")).status_code == 404
    body = {
        "queue_id": "escalations",
        "skills": [{"skill": "tier2"}],
        "service_level_threshold_seconds": 60,
        "time_zone": "Asia/Seoul",  # its counters start again at Seoul's midnight
    }
    as_supervisor = await rest.post("/v1/queues", json=body, headers={"X-API-Key": SUPERVISOR})
    assert (as_supervisor.status_code, as_supervisor.json()["error_id"]) == (403, "role-not-permitted")
    assert ok(await rest.post("/v1/queues", json=body), 201)["rules"]["time_zone"] == "Asia/Seoul"
    nowhere = await rest.post("/v1/queues", json={**body, "queue_id": "mars", "time_zone": "Mars/Olympus"})
    assert (nowhere.status_code, nowhere.json()["field_violations"][0]["field"]) == (422, "rules.time_zone")

    async def zeros() -> dict[str, Any] | None:
        response = await rest.get("/v1/queues/escalations/metrics")
        return response.json() if response.status_code == 200 else None

    live = await eventually(zeros, "a new queue never had live metrics")
    assert (live["offered"], live["contacts_waiting"], live["agents_staffed"]) == (0, 0, 0)
    assert live["service_level_threshold_seconds"] == 60
    bad = await rest.post(
        "/v1/queues", json={"queue_id": "loop", "skills": [{"skill": "x", "min_proficiency": 11}]}
    )
    assert bad.status_code == 422
    assert "min_proficiency" in str(bad.json())
    overflowing = {
        "queue_id": "spill",
        "skills": [{"skill": "x"}],
        "overflow": {"after_seconds": 90, "queue_id": "general"},
    }
    created = ok(await rest.post("/v1/queues", json=overflowing), 201)
    assert created["rules"]["overflow"] == {"after_seconds": 90, "queue_id": "general"}


async def test_a_supervisor_changes_a_logged_in_agents_skills_and_routing_follows(
    rest: httpx.AsyncClient,
) -> None:
    ok(
        await rest.post(
            "/v1/queues", json={"queue_id": "tier2", "skills": [{"skill": "tier2", "min_proficiency": 5}]}
        ),
        201,
    )
    body = {"site_id": "seoul", "skills": [{"name": "tier2", "proficiency": 3}]}
    ok(await rest.post("/v1/agents/sam/login", json=body))
    await staffed(rest, "tier2", 0)

    promoted = {"skills": [{"name": "tier2", "proficiency": 6}, {"name": "member", "proficiency": 4}]}
    own = await rest.put("/v1/agents/sam/skills", json=promoted, headers={"X-API-Key": "e2e-queues-sam"})
    assert (own.status_code, own.json()["error_id"]) == (403, "role-not-permitted")
    agent = ok(await rest.put("/v1/agents/sam/skills", json=promoted, headers={"X-API-Key": SUPERVISOR}))
    assert ([s["name"] for s in agent["skills"]], agent["state"]) == (["tier2", "member"], "ready")
    await staffed(rest, "tier2", 1)


async def test_a_waiting_call_is_offered_to_more_agents_once_its_queue_widens_its_target(
    rest: httpx.AsyncClient,
) -> None:
    rules = {
        "skills": [{"skill": "payment", "min_proficiency": 9}],
        "expanding": [{"after_seconds": 2, "min_proficiency": 3}],
    }
    created = ok(await rest.post("/v1/queues", json={"queue_id": "payment", **rules}), 201)
    assert created["rules"]["expanding"] == [{"after_seconds": 2, "min_proficiency": 3, "any_site": False}]
    ok(
        await rest.post(
            "/v1/agents/pam/login",
            json={"site_id": "busan", "skills": [{"name": "payment", "proficiency": 4}]},
        )
    )
    await staffed(rest, "payment", 0)  # pam is below the queue's own minimum

    call = ok(await rest.post("/v1/calls", json={"ani": "+821055551111", "dnis": "1588"}), 201)
    started = time.monotonic()
    ok(await rest.post(f"/v1/calls/{call['call_id']}/digits", json={"digits": "2"}))
    assert await ringing_agent(rest, call["call_id"]) == "pam"
    assert time.monotonic() - started >= 1.9  # not before the step was due


async def test_a_returning_customer_waits_for_their_last_agent(rest: httpx.AsyncClient) -> None:
    rules = {"skills": [{"skill": "general"}], "last_agent": {"window_seconds": 3600, "wait_seconds": 60}}
    ok(await rest.post("/v1/queues", json={"queue_id": "general", **rules}), 201)
    ok(await rest.post("/v1/agents/gus/login", json={"site_id": "seoul", "skills": [{"name": "general"}]}))
    caller = {"ani": "+821055552222", "dnis": "1588"}

    first = ok(await rest.post("/v1/calls", json=caller), 201)["call_id"]
    ok(await rest.post(f"/v1/calls/{first}/digits", json={"digits": "9"}))
    assert await ringing_agent(rest, first) == "gus"
    ok(await rest.post(f"/v1/calls/{first}/answer", json={"agent_id": "gus"}))
    ok(await rest.post(f"/v1/calls/{first}/hangup", json={"party": "caller"}))

    async def wrapped_up() -> bool:
        return ok(await rest.get("/v1/agents/gus"))["state"] == "ready"

    await eventually(wrapped_up, "gus never came back from wrap-up")

    async def gus_today() -> dict[str, Any] | None:
        listed = ok(await rest.get("/v1/agent-statistics", params={"site_id": "seoul"}))
        gus = next((agent for agent in listed if agent["agent_id"] == "gus"), None)
        # the board the statistics come from follows the agent's events a moment after the agent itself
        handled = gus and gus["contacts_answered"] == 1 and gus["wrap_up_seconds"] > 0
        return gus if handled and gus["status"] == "ready" else None

    today = await eventually(gus_today, "gus's statistics never showed the call he handled")  # RTM-2
    assert today["on_contact_seconds"] > 0
    assert today["average_handle_seconds"] > 0 and 0 < today["occupancy_percent"] <= 100
    ok(await rest.put("/v1/agents/gus/state", json={"state": "not-ready", "reason": "break"}))
    body = {"site_id": "seoul", "skills": [{"name": "general", "proficiency": 9}]}
    ok(await rest.post("/v1/agents/gil/login", json=body))
    await staffed(rest, "general", 2)

    again = ok(await rest.post("/v1/calls", json=caller), 201)["call_id"]
    ok(await rest.post(f"/v1/calls/{again}/digits", json={"digits": "9"}))

    async def held_for_gus() -> dict[str, Any] | None:
        response = await rest.get(f"/v1/contacts/{again}/candidates")
        return response.json() if response.status_code == 200 else None

    held = await eventually(held_for_gus, "the returning call never showed in routing")
    assert held["status"] == "waiting"  # gil is ready, yet the call waits for gus
    reasons = {c["agent_id"]: c["skipped_reason"] for c in held["candidates"]}
    assert (reasons["gus"], reasons["gil"]) == ("not-ready", "not-last-agent")
    ok(await rest.put("/v1/agents/gus/state", json={"state": "ready"}))
    assert await ringing_agent(rest, again) == "gus"


async def test_a_call_offered_with_a_priority_is_served_before_one_that_waited_longer(
    rest: httpx.AsyncClient,
) -> None:
    key = {"X-API-Key": "e2e-priority"}  # a tenant of its own: nobody else waits in its queues
    calls = []
    customers = []
    for priority in (0, 3):
        body = {"ani": f"+8210555530{priority:02}", "dnis": "1588", "priority": priority}
        call = ok(await rest.post("/v1/calls", json=body, headers=key), 201)
        ok(await rest.post(f"/v1/calls/{call['call_id']}/digits", json={"digits": "2"}, headers=key))
        calls.append(call["call_id"])
        customers.append(call["customer_id"])
    first_come, urgent = calls

    async def both_waiting() -> bool:
        response = await rest.get("/v1/queues/payment/metrics", headers=key)
        return response.status_code == 200 and response.json()["contacts_waiting"] == 2

    await eventually(both_waiting, "the two calls never waited in the payment queue")

    async def estimated() -> dict[str, Any] | None:
        journey = ok(await rest.get(f"/v1/customers/{customers[1]}/journey", headers=key))
        found = [e for e in journey["events"] if e["event_type"] == "routing.contact.wait_estimated"]
        return json.loads(found[0]["payload"]) if found else None

    # While it waits, routing says where it stands (RT-10): first in line, and no estimate, since nobody
    # is staffed for the queue yet.
    estimate = await eventually(estimated, "the urgent call's wait was never estimated", timeout=45)
    assert (estimate["contact_id"], estimate["queue_id"], estimate["position"]) == (urgent, "payment", 1)
    assert "estimated_wait_seconds" not in estimate
    body = {"site_id": "seoul", "skills": [{"name": "payment"}]}
    ok(await rest.post("/v1/agents/pia/login", json=body, headers=key))

    async def rung() -> str | None:
        for call_id in calls:
            if ok(await rest.get(f"/v1/calls/{call_id}", headers=key))["status"] == "ringing":
                return call_id
        return None

    assert await eventually(rung, "no call rang pia") == urgent  # 3 x 60 s ahead of the first
    assert ok(await rest.get(f"/v1/calls/{first_come}", headers=key))["status"] == "queued"
