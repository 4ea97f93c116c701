"""A service killed without warning comes back with identical state, rebuilt from the log."""

import asyncio
import signal

import grpc
import httpx
from cc.telephony.v1 import events_pb2 as call_events
from cc.telephony.v1 import telephony_pb2, telephony_pb2_grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.platform import Platform


async def test_a_killed_telephony_service_rebuilds_identical_calls(platform: Platform) -> None:
    md = (("x-api-key", "e2e-grpc"),)
    address = platform.settings.address(platform.settings.telephony_port)
    async with grpc.aio.insecure_channel(address) as channel:
        telephony = telephony_pb2_grpc.TelephonyServiceStub(channel)
        calls = []
        # ended by the announcement, queued where tenant-grpc has no agent with the skill, still in the IVR
        for digit in ("3", "2", "7"):
            call = await telephony.OfferCall(
                telephony_pb2.OfferCallRequest(ani="+821012121212", dnis="1588"), metadata=md
            )
            calls.append(
                await telephony.SendDigits(
                    telephony_pb2.SendDigitsRequest(call_id=call.call_id, digits=digit), metadata=md
                )
            )

    platform.stop_service("telephony", sig=signal.SIGKILL)
    platform.start_service("telephony", "services.telephony")
    await platform.wait_ready(timeout=90)

    async with grpc.aio.insecure_channel(address) as channel:
        health = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
        assert health.status == health_pb2.HealthCheckResponse.SERVING
        telephony = telephony_pb2_grpc.TelephonyServiceStub(channel)
        for before in calls:
            after = await telephony.GetCall(telephony_pb2.GetCallRequest(call_id=before.call_id), metadata=md)
            assert after == before
        # and it still writes: the queued call can be abandoned at the version it had
        ended = await telephony.HangUpCall(
            telephony_pb2.HangUpCallRequest(
                call_id=calls[1].call_id, party=call_events.PARTY_CALLER, expected_version=calls[1].version
            ),
            metadata=md,
        )
        assert ended.version == calls[1].version + 2  # its recording's segment ends, then the call


async def test_a_killed_routing_worker_recovers_its_board_and_routes_once(platform: Platform) -> None:
    base = f"http://127.0.0.1:{platform.settings.gateway_port}"
    async with httpx.AsyncClient(base_url=base, headers={"X-API-Key": "e2e-restart"}, timeout=30) as rest:
        await rest.post("/v1/agents/yoon/login", json={"site_id": "busan", "skills": [{"name": "payment"}]})
        first = await offer_and_queue(rest, "2")
        await until_ringing(rest, first, "yoon")
        await rest.post(f"/v1/calls/{first}/answer", json={"agent_id": "yoon"})
        await rest.post(f"/v1/calls/{first}/hangup", json={"party": "caller"})
        # wrap-up is 1 s here; the agent is ready again before the worker dies
        async with asyncio.timeout(30):
            while (await rest.get("/v1/agents/yoon")).json()["state"] != "ready":
                await asyncio.sleep(0.2)

        platform.stop_service("routing-stream", sig=signal.SIGKILL)
        second = await offer_and_queue(rest, "2")  # queued while no router runs
        platform.start_service("routing-stream", "services.routing.stream")

        # Only the recovered board knows yoon is ready: no agent event arrives after the restart.
        await until_ringing(rest, second, "yoon", timeout=90)
        journey = await rest.get(
            f"/v1/customers/{(await rest.get(f'/v1/calls/{first}')).json()['customer_id']}/journey"
        )
        routed = [e for e in journey.json()["events"] if e["event_type"] == "routing.contact.routed"]
        assert sorted(e["aggregate_id"] for e in routed).count(first) == 1


async def offer_and_queue(rest: httpx.AsyncClient, digits: str) -> str:
    call = (await rest.post("/v1/calls", json={"ani": "+821033334444", "dnis": "1588"})).json()
    await rest.post(f"/v1/calls/{call['call_id']}/digits", json={"digits": digits})
    return str(call["call_id"])


async def until_ringing(rest: httpx.AsyncClient, call_id: str, agent_id: str, timeout: float = 30) -> None:
    async with asyncio.timeout(timeout):
        while True:
            call = (await rest.get(f"/v1/calls/{call_id}")).json()
            if call["status"] == "ringing":
                assert call["agent_id"] == agent_id
                return
            await asyncio.sleep(0.2)
