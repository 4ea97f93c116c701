"""Roles over REST (issue 6, API-2): an analyst only reads, an agent's key acts only as its agent and
on its own call, and every event names the person or integration behind its command."""

import asyncio
import json

import httpx

from services.platform import Platform


async def test_each_role_does_only_what_it_may_and_events_name_who_did_it(platform: Platform) -> None:
    base = f"http://127.0.0.1:{platform.settings.gateway_port}"

    def client(key: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=base, headers={"X-API-Key": key}, timeout=30)

    async with (
        client("e2e-roles-admin") as admin,
        client("e2e-roles-analyst") as analyst,
        client("e2e-roles-kim") as kim,
        client("e2e-roles-lee") as lee,
    ):
        member = {"site_id": "seoul", "skills": [{"name": "member"}]}
        assert (await kim.post("/v1/agents/kim/login", json=member)).status_code == 200  # itself
        refused = await kim.post("/v1/agents/lee/login", json=member)
        assert (refused.status_code, refused.json()["error_id"]) == (403, "not-your-agent")
        assert (await kim.post("/v1/calls", json={"ani": "+8210", "dnis": "1588"})).status_code == 403

        call = (await admin.post("/v1/calls", json={"ani": "+821099990000", "dnis": "1588"})).json()
        call_id, customer_id = call["call_id"], call["customer_id"]
        await admin.post(f"/v1/calls/{call_id}/digits", json={"digits": "1"})
        async with asyncio.timeout(45):
            while (await analyst.get(f"/v1/calls/{call_id}")).json()["status"] != "ringing":  # reads: open
                await asyncio.sleep(0.2)

        for write in (
            analyst.post(f"/v1/calls/{call_id}/answer", json={"agent_id": "kim"}),
            analyst.put("/v1/agents/kim/state", json={"state": "not-ready"}),
            analyst.post("/v1/calls", json={"ani": "+8210", "dnis": "1588"}),
        ):
            refused = await write
            assert (refused.status_code, refused.json()["error_id"]) == (403, "role-not-permitted")
        assert (await kim.post(f"/v1/calls/{call_id}/answer", json={"agent_id": "lee"})).status_code == 403
        assert (await kim.post(f"/v1/calls/{call_id}/answer", json={"agent_id": "kim"})).status_code == 200
        not_lees = await lee.post(f"/v1/calls/{call_id}/hangup", json={"party": "agent"})
        assert (not_lees.status_code, not_lees.json()["error_id"]) == (403, "not-your-call")
        as_caller = await kim.post(f"/v1/calls/{call_id}/hangup", json={"party": "caller"})
        assert (as_caller.status_code, as_caller.json()["error_id"]) == (403, "agent-hangs-up-as-agent")
        assert (await kim.post(f"/v1/calls/{call_id}/hangup", json={"party": "agent"})).status_code == 200

        async with asyncio.timeout(45):
            while True:
                events = (await analyst.get(f"/v1/customers/{customer_id}/journey")).json()["events"]
                actors = {e["event_type"]: e["actor"] for e in events}
                if "telephony.call.ended" in actors:
                    break
                await asyncio.sleep(0.2)
        assert actors["telephony.call.answered"] == "agent:kim"
        assert actors["telephony.call.ended"] == "agent:kim"
        assert actors["telephony.call.offered"].startswith("user:")  # the admin's key, by name
        assert "e2e-roles" not in json.dumps(events)  # never the key itself
