"""API keys of named users (issue 6, API-2): an admin issues, lists and revokes them over REST; each
key acts with its role and as its user; only the hash of a key is ever written; a revoked key is
refused by the gateway and by every service within seconds."""

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import grpc
import httpx
import pytest
from cc.analytics.v1 import analytics_pb2, analytics_pb2_grpc
from cc.gateway.v1 import keys_pb2, keys_pb2_grpc
from cc.routing.v1 import routing_pb2, routing_pb2_grpc
from cc.telephony.v1 import telephony_pb2, telephony_pb2_grpc
from cc.ticketing.v1 import ticketing_pb2, ticketing_pb2_grpc

from services.common import kafka
from services.common.keys import KeyRing, secret_sha256, split
from services.common.topics import API_KEYS
from services.platform import Platform
from tests.e2e.support import until

# Revocation reaches every service's key ring this fast on an idle machine; the bound allows a loaded one.
REVOKED_WITHIN_SECONDS = 5.0


@pytest.fixture
async def admin(platform: Platform) -> AsyncIterator[httpx.AsyncClient]:
    async with rest(platform, "e2e-keys-admin") as client:
        yield client


def rest(platform: Platform, key: str) -> httpx.AsyncClient:
    base = f"http://127.0.0.1:{platform.settings.gateway_port}"
    return httpx.AsyncClient(base_url=base, headers={"X-API-Key": key}, timeout=30)


async def issue(admin: httpx.AsyncClient, **body: str) -> dict[str, str]:
    created = await admin.post("/v1/api-keys", json=body)
    assert created.status_code == 201, created.text
    answer: dict[str, str] = created.json()
    return answer


def refusal(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json()["error_id"]


async def test_an_admin_issues_keys_that_act_with_their_role_and_as_their_user(
    platform: Platform, admin: httpx.AsyncClient
) -> None:
    kim = await issue(admin, user="kim@keys.example", role="agent", agent_id="kim", description="desk 12")
    park = await issue(admin, user="park@keys.example", role="supervisor")
    carrier = await issue(admin, user="carrier-sip-1", role="integration")
    assert kim["secret_key"].startswith("cck.") and kim["key"]["created_by"].startswith("admin-key-")

    async with (
        rest(platform, kim["secret_key"]) as as_kim,
        rest(platform, park["secret_key"]) as as_park,
        rest(platform, carrier["secret_key"]) as as_carrier,
    ):
        member = {"site_id": "seoul", "skills": [{"name": "member"}]}
        assert (await as_kim.post("/v1/agents/kim/login", json=member)).status_code == 200
        assert refusal(await as_kim.post("/v1/agents/lee/login", json=member)) == (403, "not-your-agent")
        assert (await as_park.post("/v1/agents/lee/login", json=member)).status_code == 200
        for write in (
            as_park.post("/v1/api-keys", json={"user": "mallory", "role": "admin"}),
            as_park.get("/v1/api-keys"),
            as_kim.post(f"/v1/api-keys/{park['key']['key_id']}/revoke", json={}),
        ):
            assert refusal(await write) == (403, "role-not-permitted")

        call = (await as_carrier.post("/v1/calls", json={"ani": "+821055550000", "dnis": "1588"})).json()
        journey = await until(
            admin, f"/v1/customers/{call['customer_id']}/journey", lambda b: b["events"], "no journey"
        )
        assert journey["events"][0]["actor"] == "integration:carrier-sip-1"

    listed = (await admin.get("/v1/api-keys")).json()["keys"]
    mine = {key["user"]: key for key in listed}
    assert mine["kim@keys.example"]["role"] == "agent" and mine["kim@keys.example"]["agent_id"] == "kim"
    assert mine["park@keys.example"]["revoked_at"] is None
    assert all("secret" not in field for key in listed for field in key)  # nor its hash


async def test_a_key_must_say_what_it_may_do(admin: httpx.AsyncClient) -> None:
    no_agent = await admin.post("/v1/api-keys", json={"user": "kim", "role": "agent"})
    assert refusal(no_agent) == (422, "invalid-argument")
    assert [v["field"].rsplit(".", 1)[-1] for v in no_agent.json()["field_violations"]] == ["agent_id"]
    not_an_agent = await admin.post(
        "/v1/api-keys", json={"user": "kim", "role": "analyst", "agent_id": "kim"}
    )
    assert refusal(not_an_agent) == (422, "invalid-argument")
    bad_role = await admin.post("/v1/api-keys", json={"user": "kim", "role": "owner"})
    assert bad_role.status_code == 422
    assert refusal(await admin.post("/v1/api-keys/no-such-key/revoke", json={})) == (404, "api-key-not-found")


async def test_a_retried_create_never_issues_a_second_key(admin: httpx.AsyncClient) -> None:
    once = {"Idempotency-Key": "issue-lee-once"}
    first = await admin.post("/v1/api-keys", json={"user": "lee", "role": "analyst"}, headers=once)
    again = await admin.post("/v1/api-keys", json={"user": "lee", "role": "analyst"}, headers=once)
    assert first.status_code == 201
    assert refusal(again) == (409, "api-key-already-issued")
    assert [k["user"] for k in (await admin.get("/v1/api-keys")).json()["keys"]].count("lee") == 1


async def test_only_the_hash_of_a_key_is_written_and_a_new_key_ring_rebuilds_it(
    kafka_bootstrap: str, admin: httpx.AsyncClient
) -> None:
    issued = await issue(admin, user="auditor@keys.example", role="analyst")
    parts = split(issued["secret_key"])
    assert parts is not None
    secret = parts[1].encode()

    consumer = kafka.reader(kafka_bootstrap)
    await consumer.start()
    try:
        partitions = await kafka.partitions_of(consumer, [API_KEYS.commands, API_KEYS.events])
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        written = b""
        async with asyncio.timeout(30):
            while any([await consumer.position(tp) < end for tp, end in ends.items()]):
                for records in (await consumer.getmany(timeout_ms=500)).values():
                    written += b"".join(r.value or b"" for r in records)
    finally:
        await consumer.stop()
    assert secret_sha256(parts[1]).encode() in written
    assert secret not in written

    ring = KeyRing({}, kafka_bootstrap)  # as a restarted service builds it
    following = asyncio.create_task(ring.run())
    try:
        async with asyncio.timeout(30):
            while not ring.ready():
                await asyncio.sleep(0.1)
        credential = ring.authenticate(issued["secret_key"])
        assert credential is not None and credential.name == "auditor@keys.example"
        assert ring.authenticate(issued["secret_key"] + "x") is None
    finally:
        following.cancel()
        await asyncio.gather(following, return_exceptions=True)


async def test_a_revoked_key_is_refused_everywhere_within_seconds(
    platform: Platform, admin: httpx.AsyncClient
) -> None:
    issued = await issue(admin, user="leaver@keys.example", role="supervisor")
    key, key_id = issued["secret_key"], issued["key"]["key_id"]
    settings = platform.settings
    channels = {
        port: grpc.aio.insecure_channel(settings.address(getattr(settings, port)))
        for port in ("telephony_port", "routing_port", "ticketing_port", "analytics_port", "keys_port")
    }
    metadata = (("x-api-key", key),)
    reads: list[Callable[[], Awaitable[object]]] = [
        lambda: telephony_pb2_grpc.TelephonyServiceStub(channels["telephony_port"]).GetCall(
            telephony_pb2.GetCallRequest(call_id="none"), metadata=metadata, timeout=10
        ),
        lambda: routing_pb2_grpc.RoutingServiceStub(channels["routing_port"]).ListAgents(
            routing_pb2.ListAgentsRequest(), metadata=metadata, timeout=10
        ),
        lambda: ticketing_pb2_grpc.TicketingServiceStub(channels["ticketing_port"]).GetTicket(
            ticketing_pb2.GetTicketRequest(ticket_id="none"), metadata=metadata, timeout=10
        ),
        lambda: analytics_pb2_grpc.AnalyticsServiceStub(channels["analytics_port"]).GetQueueStatistics(
            analytics_pb2.GetQueueStatisticsRequest(), metadata=metadata, timeout=10
        ),
        lambda: keys_pb2_grpc.ApiKeyServiceStub(channels["keys_port"]).ListApiKeys(
            keys_pb2.ListApiKeysRequest(), metadata=metadata, timeout=10
        ),
    ]

    async def refused(read: Callable[[], Awaitable[object]]) -> bool:
        try:
            await read()
        except grpc.aio.AioRpcError as error:
            return error.code() == grpc.StatusCode.UNAUTHENTICATED
        return False

    try:
        async with rest(platform, key) as as_leaver:
            # Known to every service before the revocation (a key works once its rings have read it).
            async with asyncio.timeout(30):
                while (
                    any([await refused(read) for read in reads])
                    or (await as_leaver.get("/v1/agents")).status_code != 200
                ):
                    await asyncio.sleep(0.1)

            revoked = await admin.post(f"/v1/api-keys/{key_id}/revoke", json={"reason": "left the team"})
            assert revoked.status_code == 200 and revoked.json()["revoked_by"].startswith("admin-key-")
            began = time.monotonic()
            async with asyncio.timeout(REVOKED_WITHIN_SECONDS):
                while not (
                    all([await refused(read) for read in reads])
                    and (await as_leaver.get("/v1/agents")).status_code == 401
                ):
                    await asyncio.sleep(0.05)
            print(f"revoked key refused everywhere after {time.monotonic() - began:.2f}s")
    finally:
        for channel in channels.values():
            await channel.close()
    again = await admin.post(f"/v1/api-keys/{key_id}/revoke", json={})
    assert refusal(again) == (409, "api-key-revoked")
    listed = (await admin.get("/v1/api-keys", params={"include_revoked": "true"})).json()["keys"]
    assert {k["key_id"]: k["revoke_reason"] for k in listed}[key_id] == "left the team"
    assert key_id not in {k["key_id"] for k in (await admin.get("/v1/api-keys")).json()["keys"]}
