"""The full candidate list of a contact in routing (RT-8), over REST and over gRPC, answered by the
routing service's board view from the same call events, agent events and decisions the worker uses."""

from collections.abc import AsyncIterator
from typing import Any

import grpc
import httpx
import pytest
from cc.routing.v1 import routing_pb2, routing_pb2_grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from services.platform import Platform
from tests.e2e.test_call_life import eventually, ok

API_KEY = "e2e-candidates"
Row = tuple[str, bool, str, int, int]


@pytest.fixture
async def rest(platform: Platform) -> AsyncIterator[httpx.AsyncClient]:
    base = f"http://127.0.0.1:{platform.settings.gateway_port}"
    async with httpx.AsyncClient(base_url=base, headers={"X-API-Key": API_KEY}, timeout=30) as client:
        yield client


@pytest.fixture
async def routing(platform: Platform) -> AsyncIterator[routing_pb2_grpc.RoutingServiceStub]:
    address = platform.settings.address(platform.settings.routing_port)
    async with grpc.aio.insecure_channel(address) as channel:
        yield routing_pb2_grpc.RoutingServiceStub(channel)


MD = (("x-api-key", API_KEY),)


def rest_rows(listed: dict[str, Any]) -> list[Row]:
    return [
        (c["agent_id"], c["eligible"], c["skipped_reason"], c["rank"], c["proficiency"])
        for c in listed["candidates"]
    ]


def grpc_rows(listed: routing_pb2.ListCandidatesResponse) -> list[Row]:
    return [(c.agent_id, c.eligible, c.skipped_reason, c.rank, c.proficiency) for c in listed.candidates]


async def queue_call(rest: httpx.AsyncClient, digits: str) -> str:
    call = ok(await rest.post("/v1/calls", json={"ani": "+821099990000", "dnis": "1588"}), 201)
    queued = ok(await rest.post(f"/v1/calls/{call['call_id']}/digits", json={"digits": digits}))
    assert queued["status"] == "queued"
    return str(call["call_id"])


async def test_the_candidates_of_a_contact_in_routing_over_rest_and_grpc(
    rest: httpx.AsyncClient, routing: routing_pb2_grpc.RoutingServiceStub
) -> None:
    # ben is the only agent with `member`, and on a break: a member call waits
    ok(
        await rest.post(
            "/v1/agents/ben/login",
            json={
                "site_id": "busan",
                "skills": [{"name": "member", "proficiency": 4}, {"name": "payment", "proficiency": 2}],
            },
        )
    )
    ok(await rest.put("/v1/agents/ben/state", json={"state": "not-ready", "reason": "break"}))
    for agent_id, skill, proficiency in (("ana", "general", 7), ("eun", "payment", 9), ("dae", "payment", 6)):
        body = {"site_id": "seoul", "skills": [{"name": skill, "proficiency": proficiency}]}
        ok(await rest.post(f"/v1/agents/{agent_id}/login", json=body))
    waiting_call = await queue_call(rest, "1")

    expected_waiting = [
        ("ben", False, "not-ready", 0, 4),
        ("ana", False, "missing-skill", 0, 0),
        ("dae", False, "missing-skill", 0, 0),
        ("eun", False, "missing-skill", 0, 0),
    ]

    async def listed_waiting() -> dict[str, Any] | None:
        response = await rest.get(f"/v1/contacts/{waiting_call}/candidates")
        body = response.json() if response.status_code == 200 else None
        return body if body and rest_rows(body) == expected_waiting else None

    waiting = await eventually(listed_waiting, "the waiting call's candidates never showed every agent")
    assert (waiting["contact_id"], waiting["queue_id"], waiting["required_skill"]) == (
        waiting_call,
        "member",
        "member",
    )
    assert (waiting["status"], waiting["agent_id"]) == ("waiting", "")
    assert waiting["waited_seconds"] >= 0 and waiting["as_of"] and waiting["enqueued_at"]
    # First in its line; no member call handled today yet, so no estimate to give (RT-10).
    assert (waiting["position"], waiting["estimated_wait_seconds"]) == (1, None)
    over_grpc = await routing.ListCandidates(
        routing_pb2.ListCandidatesRequest(contact_id=waiting_call), metadata=MD
    )
    assert over_grpc.status == routing_pb2.CONTACT_ROUTING_STATUS_WAITING
    assert (over_grpc.queue_id, grpc_rows(over_grpc)) == ("member", expected_waiting)

    # A payment call goes to eun, idle longest; until it is answered dae is eligible, ranked first.
    routed_call = await queue_call(rest, "2")

    async def listed_routed() -> dict[str, Any] | None:
        response = await rest.get(f"/v1/contacts/{routed_call}/candidates")
        body = response.json() if response.status_code == 200 else None
        return body if body and body["status"] in ("reserved", "ringing") else None

    routed = await eventually(listed_routed, "the payment call was never routed")
    expected_routed = [
        ("dae", True, "", 1, 6),
        ("eun", False, "reserved", 0, 9),
        ("ben", False, "not-ready", 0, 2),
        ("ana", False, "missing-skill", 0, 0),
    ]
    assert (routed["agent_id"], rest_rows(routed)) == ("eun", expected_routed)
    assert (routed["position"], routed["estimated_wait_seconds"]) == (0, None)  # no longer in line
    assert routed["candidates"][0]["score"] == routed["candidates"][0]["idle_seconds"] > 0
    over_grpc = await routing.ListCandidates(
        routing_pb2.ListCandidatesRequest(contact_id=routed_call), metadata=MD
    )
    assert (over_grpc.agent_id, grpc_rows(over_grpc)) == ("eun", expected_routed)

    # Once a contact leaves routing it is no longer listed.
    for call_id in (waiting_call, routed_call):
        ok(await rest.post(f"/v1/calls/{call_id}/hangup", json={"party": "caller"}))

        async def gone(call_id: str = call_id) -> bool:
            return (await rest.get(f"/v1/contacts/{call_id}/candidates")).status_code == 404

        await eventually(gone, f"{call_id} was still listed after it ended")


async def test_an_unknown_contact_is_not_found_over_rest_and_grpc(
    rest: httpx.AsyncClient, routing: routing_pb2_grpc.RoutingServiceStub
) -> None:
    missing = await rest.get("/v1/contacts/nobody/candidates")
    assert (missing.status_code, missing.json()["error_id"]) == (404, "contact-not-found")
    assert "/v1/contacts/{contact_id}/candidates" in (await rest.get("/openapi.json")).json()["paths"]

    with pytest.raises(grpc.aio.AioRpcError) as not_found:
        await routing.ListCandidates(routing_pb2.ListCandidatesRequest(contact_id="nobody"), metadata=MD)
    assert not_found.value.code() == grpc.StatusCode.NOT_FOUND
    status = rpc_status.from_call(not_found.value)  # type: ignore[arg-type]
    assert status is not None
    info = error_details_pb2.ErrorInfo()
    assert any(d.Unpack(info) for d in status.details if d.Is(error_details_pb2.ErrorInfo.DESCRIPTOR))
    assert info.reason == "contact-not-found"
    with pytest.raises(grpc.aio.AioRpcError) as invalid:
        await routing.ListCandidates(routing_pb2.ListCandidatesRequest(contact_id=""), metadata=MD)
    assert invalid.value.code() == grpc.StatusCode.INVALID_ARGUMENT
