"""Blind transfers (TEL-1) end to end over REST: an agent transfers a call to another queue, where it is
a new offer that another agent answers; that agent transfers it to a named agent, for whom it waits;
that agent transfers it to an outside number, which ends it here. Each transferring agent wraps up,
each transfer is in the journey with who made it, and the statistics count each agent's handling in
the queue it answered from."""

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from services.platform import Platform
from tests.e2e.support import journey_to_the_end, until
from tests.e2e.test_call_life import ok

ADMIN = "e2e-transfer"
KIM, LEE = {"X-API-Key": "e2e-transfer-kim"}, {"X-API-Key": "e2e-transfer-lee"}


@pytest.fixture
async def rest(platform: Platform) -> AsyncIterator[httpx.AsyncClient]:
    base = f"http://127.0.0.1:{platform.settings.gateway_port}"
    async with httpx.AsyncClient(base_url=base, headers={"X-API-Key": ADMIN}, timeout=30) as client:
        yield client


def skilled(skill: str) -> dict[str, Any]:
    return {"site_id": "seoul", "skills": [{"name": skill, "proficiency": 5}]}


def rings(agent_id: str) -> Any:
    return lambda call: call["status"] == "ringing" and call["agent_id"] == agent_id


async def answer(rest: httpx.AsyncClient, call_id: str, agent_id: str, key: dict[str, str]) -> None:
    await until(rest, f"/v1/calls/{call_id}", rings(agent_id), f"the call never rang {agent_id}")
    ok(await rest.post(f"/v1/calls/{call_id}/answer", json={"agent_id": agent_id}, headers=key))


async def wrapping_up(rest: httpx.AsyncClient, agent_id: str, key: dict[str, str]) -> None:
    """The agent that transferred is in wrap-up; it ends it early to take the next call."""
    await until(
        rest, f"/v1/agents/{agent_id}", lambda a: a["state"] == "wrap-up", f"{agent_id} never wrapped up"
    )
    ok(await rest.put(f"/v1/agents/{agent_id}/state", json={"state": "ready"}, headers=key))


async def ticket_with(rest: httpx.AsyncClient, call: dict[str, Any], agent_id: str) -> None:
    def assigned(body: dict[str, Any]) -> bool:
        return [t["assignee_agent_id"] for t in body["tickets"] if t["call_id"] == call["call_id"]] == [
            agent_id
        ]

    found = f"the call's ticket never went to {agent_id}"
    await until(rest, "/v1/tickets", assigned, found, customer_id=call["customer_id"])


async def test_a_call_transferred_to_a_queue_an_agent_and_a_number(rest: httpx.AsyncClient) -> None:
    ok(await rest.post("/v1/agents/kim/login", json=skilled("member"), headers=KIM))
    ok(await rest.post("/v1/agents/lee/login", json=skilled("payment"), headers=LEE))
    call = ok(await rest.post("/v1/calls", json={"ani": "+821055550000", "dnis": "1588"}), 201)
    call_id = call["call_id"]
    ok(await rest.post(f"/v1/calls/{call_id}/digits", json={"digits": "1"}))  # member enquiries
    await answer(rest, call_id, "kim", KIM)

    to_payment = {"agent_id": "kim", "target": "queue", "to": "payment"}
    not_lees = await rest.post(
        f"/v1/calls/{call_id}/transfer", json={**to_payment, "agent_id": "lee"}, headers=LEE
    )
    assert (not_lees.status_code, not_lees.json()["error_id"]) == (409, "call-not-with-agent")
    as_kim = await rest.post(f"/v1/calls/{call_id}/transfer", json=to_payment, headers=LEE)
    assert as_kim.status_code == 403  # an agent acts only as itself
    bad = await rest.post(
        f"/v1/calls/{call_id}/transfer", json={**to_payment, "target": "number", "to": "x"}, headers=KIM
    )
    assert (bad.status_code, bad.json()["error_id"]) == (422, "invalid-argument")
    moved = ok(await rest.post(f"/v1/calls/{call_id}/transfer", json=to_payment, headers=KIM))
    assert (moved["status"], moved["queue_id"], moved["agent_id"], moved["transfers"]) == (
        "queued",
        "payment",
        "",
        1,
    )
    await wrapping_up(rest, "kim", KIM)

    await answer(rest, call_id, "lee", LEE)  # payment's agent; kim, now ready, lacks its skill
    await ticket_with(rest, call, "lee")  # the call's voice ticket follows it to the agent on it
    back = {"agent_id": "lee", "target": "agent", "to": "kim"}
    waiting = ok(await rest.post(f"/v1/calls/{call_id}/transfer", json=back, headers=LEE))
    assert (waiting["status"], waiting["queue_id"], waiting["transfers"]) == ("queued", "payment", 2)
    await wrapping_up(rest, "lee", LEE)

    await answer(rest, call_id, "kim", KIM)  # it waited for kim, though lee (ready) has payment's skill
    out = {"agent_id": "kim", "target": "number", "to": "+82 2-1234-5678"}
    ended = ok(await rest.post(f"/v1/calls/{call_id}/transfer", json=out, headers=KIM))
    assert (ended["status"], ended["end_reason"], ended["ended_by"]) == ("ended", "transferred-out", "agent")
    await until(rest, "/v1/agents/kim", lambda a: a["state"] == "wrap-up", "kim never wrapped up")
    await ticket_with(rest, call, "kim")

    journey = await journey_to_the_end(rest, call["customer_id"])
    transfers = [e for e in journey["events"] if e["event_type"] == "telephony.call.transferred"]
    assert [("kim" in e["actor"], "lee" in e["actor"]) for e in transfers] == [
        (True, False),
        (False, True),
        (True, False),
    ]
    queued = [e for e in journey["events"] if e["event_type"] == "telephony.call.queued"]
    assert len(queued) == 3

    def counted(body: dict[str, Any]) -> bool:
        rows = {row["queue_id"]: row for row in body["queues"]}
        return "payment" in rows and rows["payment"]["average_handle_time_seconds"] is not None

    statistics = await until(rest, "/v1/statistics/queues", counted, "lee's handling was never counted")
    rows = {row["queue_id"]: row for row in statistics["queues"]}
    # member: offered once, answered by kim; payment: offered by the transfer, then again to wait for kim
    assert (rows["member"]["offered"], rows["member"]["answered"]) == (1, 1)
    assert (rows["payment"]["offered"], rows["payment"]["answered"]) == (2, 2)
    # The same facts by agent and by the agents' site (AN-3): the offers belong to no agent.
    by_agent = ok(await rest.get("/v1/statistics/calls", params={"by": "agent"}))
    assert {row["key"]: row["offered"] for row in by_agent["rows"]} == {"": 3, "kim": 0, "lee": 0}
    by_site = ok(await rest.get("/v1/statistics/calls", params={"by": "site"}))
    assert {row["key"]: row["answered"] for row in by_site["rows"]} == {"": 0, "seoul": 3}
    by_line = ok(await rest.get("/v1/statistics/calls", params={"by": "line"}))  # the built-in default line
    assert [(row["key"], row["offered"], row["answered"]) for row in by_line["rows"]] == [("", 3, 3)]
    refused = await rest.get("/v1/statistics/calls", params={"time_zone": "Mars/Olympus"})
    assert refused.status_code == 422 and "time_zone" in refused.text, refused.text
