"""Presence end to end (issue 7, RT-9): an agent whose desktop sent heartbeats and then went silent for
the timeout (PRESENCE_TIMEOUT_SECONDS here) goes not ready with `lost-presence`; an agent whose desktop
never sent one is left as it is, and a heartbeat is the agent's own to send."""

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from services.platform import Platform
from tests.e2e.platform import PRESENCE_TIMEOUT_SECONDS
from tests.e2e.test_call_life import eventually, ok

ADMIN = {"X-API-Key": "e2e-presence"}
PAT = {"X-API-Key": "e2e-presence-pat"}


@pytest.fixture
async def rest(platform: Platform) -> AsyncIterator[httpx.AsyncClient]:
    base = f"http://127.0.0.1:{platform.settings.gateway_port}"
    async with httpx.AsyncClient(base_url=base, headers=ADMIN, timeout=30) as client:
        yield client


async def test_an_agent_whose_desktop_goes_silent_goes_not_ready(rest: httpx.AsyncClient) -> None:
    seat = {"site_id": "seoul", "skills": [{"name": "member"}]}
    silent = await rest.post("/v1/agents/pat/heartbeat", headers=PAT)
    assert (silent.status_code, silent.json()["error_id"]) == (404, "agent-not-found")
    for agent_id in ("pat", "quinn"):
        ok(await rest.post(f"/v1/agents/{agent_id}/login", json=seat))
    not_hers = await rest.post("/v1/agents/quinn/heartbeat", headers=PAT)
    assert (not_hers.status_code, not_hers.json()["error_id"]) == (403, "not-your-agent")

    started = time.monotonic()
    for _ in range(3):  # a desktop alive for a while: pat stays ready throughout
        beat = ok(await rest.post("/v1/agents/pat/heartbeat", headers=PAT))
        assert (beat["agent_id"], beat["timeout_seconds"]) == ("pat", PRESENCE_TIMEOUT_SECONDS)
        assert ok(await rest.get("/v1/agents/pat"))["state"] == "ready"
        await asyncio.sleep(1.0)

    async def lost() -> dict[str, Any] | None:
        agent = ok(await rest.get("/v1/agents/pat"))
        return agent if agent["state"] == "not-ready" else None

    agent = await eventually(lost, "pat never lost presence", timeout=PRESENCE_TIMEOUT_SECONDS + 30)
    assert agent["reason"] == "lost-presence"
    # not before the timeout of silence after the last heartbeat (sent 2 s after the first)
    assert time.monotonic() - started >= PRESENCE_TIMEOUT_SECONDS + 2
    # quinn's desktop never sent a heartbeat: not watched, still ready
    assert ok(await rest.get("/v1/agents/quinn"))["state"] == "ready"

    ok(await rest.post("/v1/agents/pat/logout", headers=PAT))
    gone = await rest.post("/v1/agents/pat/heartbeat", headers=PAT)
    assert (gone.status_code, gone.json()["error_id"]) == (409, "agent-logged-out")
