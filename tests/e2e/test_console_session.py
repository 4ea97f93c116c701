"""The web console's session and its wallboard stream: signing in keeps the key in an HttpOnly,
SameSite=Strict cookie (EventSource cannot send headers; no script can read the key), the cookie alone
authenticates, an X-API-Key header wins over it, and one tenant-wide stream carries every queue's live
metrics once a second."""

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from services.platform import Platform
from tests.e2e.test_call_life import eventually, ok

ADMIN, SUPERVISOR = "e2e-console", "e2e-console-supervisor"


@pytest.fixture
async def browser(platform: Platform) -> AsyncIterator[httpx.AsyncClient]:
    """A client that sends no key header: only what the gateway's cookies say."""
    base = f"http://127.0.0.1:{platform.settings.gateway_port}"
    # As a page of the console would: its changes say they come from the gateway's own origin.
    async with httpx.AsyncClient(base_url=base, headers={"Origin": base}, timeout=30) as client:
        yield client


async def test_a_session_cookie_authenticates_and_header_keys_win_over_it(browser: httpx.AsyncClient) -> None:
    assert (await browser.get("/v1/session")).status_code == 401

    refused = await browser.post("/v1/session", json={"api_key": "not-a-key"})
    assert (refused.status_code, refused.json()["error_id"]) == (401, "invalid-api-key")
    assert "set-cookie" not in refused.headers

    signed_in = await browser.post("/v1/session", json={"api_key": SUPERVISOR})
    assert ok(signed_in) == {
        "tenant_id": "tenant-console",
        "role": "supervisor",
        "name": signed_in.json()["name"],
        "agent_id": "",
    }
    cookie = signed_in.headers["set-cookie"]
    assert cookie.startswith("cc_session=") and "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert ok(await browser.get("/v1/session"))["role"] == "supervisor"

    # A header names another caller: the header is who calls.
    other = ok(await browser.get("/v1/session", headers={"X-API-Key": "e2e-rest"}))
    assert other["tenant_id"] == "tenant-rest"

    assert (await browser.delete("/v1/session")).status_code == 204
    assert (await browser.get("/v1/session")).status_code == 401


async def test_one_stream_carries_every_queue_of_the_tenant(browser: httpx.AsyncClient) -> None:
    ok(await browser.post("/v1/session", json={"api_key": ADMIN}))
    for queue_id in ("console-b", "console-a"):
        ok(await browser.post("/v1/queues", json={"queue_id": queue_id, "skills": [{"skill": "x"}]}), 201)

    async def both() -> list[str] | None:
        queues = [q["queue_id"] for q in ok(await browser.get("/v1/metrics"))["queues"]]
        return queues if {"console-a", "console-b"} <= set(queues) else None

    queues = await eventually(both, "the new queues never had live metrics")
    assert queues == sorted(queues)

    stream = await browser.get("/v1/metrics/stream", params={"count": 2})
    assert stream.headers["content-type"].startswith("text/event-stream")
    events = [block for block in stream.text.split("\n\n") if block]
    assert len(events) == 2
    for event in events:
        name, data = event.split("\n")
        assert name == "event: tenant-metrics"
        body: dict[str, Any] = json.loads(data.removeprefix("data: "))
        by_queue = {q["queue_id"]: q for q in body["queues"]}
        assert by_queue["console-a"]["contacts_waiting"] == 0
        assert "console-b" in by_queue

    # Another tenant's wallboard shows none of these queues.
    theirs = ok(await browser.get("/v1/metrics", headers={"X-API-Key": "e2e-intruder"}))
    assert not {"console-a", "console-b"} & {q["queue_id"] for q in theirs["queues"]}


async def test_a_change_made_with_the_cookie_must_come_from_the_consoles_own_origin(
    browser: httpx.AsyncClient,
) -> None:
    """SameSite=Strict stops other sites; another origin of the same site (another port) is stopped here."""
    ok(await browser.post("/v1/session", json={"api_key": ADMIN}))
    queue = {"queue_id": "console-origin", "skills": [{"skill": "x"}]}
    for headers in ({"Origin": "http://127.0.0.1:1"}, {"Sec-Fetch-Site": "same-site"}, {"Origin": ""}):
        refused = await browser.post("/v1/queues", json=queue, headers=headers)
        assert (refused.status_code, refused.json().get("error_id")) == (403, "cross-origin-request"), (
            headers,
            refused.text,
        )
    assert (await browser.get("/v1/metrics", headers={"Origin": "http://127.0.0.1:1"})).status_code == 200
    ok(await browser.post("/v1/queues", json=queue, headers={"Sec-Fetch-Site": "same-origin"}), 201)
    # A key in the header is no ambient credential: it may come from anywhere.
    elsewhere = {"Origin": "http://127.0.0.1:1", "X-API-Key": ADMIN}
    rules = {"skills": [{"skill": "y"}]}
    ok(await browser.put("/v1/queues/console-origin/rules", json=rules, headers=elsewhere))
