"""Faults while calls come in (issue 6, `make chaos`): nothing accepted is lost, nothing is done twice,
every call ends, and ClickHouse holds every one of them.

    make chaos                          5 fresh starts, then every fault, CHAOS_CALLS (20) calls during each
    CHAOS_FRESH_STARTS=1 CHAOS_FAULTS=broker CHAOS_CALLS=30 make chaos    what CI runs

First, CHAOS_FRESH_STARTS (5) times in a row: a fresh broker and platform on empty data, one agent logs
in, one call is offered and must ring the agent within a minute. A worker that said ready before its
topics, partitions or boards were there would leave that call unrouted.

A platform of its own (its broker and every service on free loopback ports), with a desk of
CHAOS_AGENTS (10) agents logged in on the member queue; a desk supervisor sets any agent that went not
ready (ring no answer) ready again. For each fault, calls are offered over REST at CHAOS_RATE (4/s),
each with its own Idempotency-Key and retried (the same key) until accepted; the caller presses 1 (the
member queue), routing rings an agent, the agent answers as itself and hangs up a second later, every
request retried the same way. So each fault meets calls in the IVR, queued, ringing and answered.
A second into the load the fault is injected:
- `broker`: kill -9 the broker, start it again 5 s later;
- `<service>`: kill -9 that service and start it again at once (telephony, routing, routing-stream,
  ticketing, analytics, gateway);
- `broker-pause`: SIGSTOP the broker for 15 s, longer than the consumers' session timeout (10 s).
Every loop is bounded: a call not accepted within CHAOS_GIVE_UP_SECONDS (120) counts as not accepted,
and one not ended within that time after it was accepted counts as not ended.

Then, per fault: accepted calls; lost (accepted, unknown afterwards); duplicated (one key answered with
two call ids, or a call with two CallOffered in ClickHouse); not ended; missing from ClickHouse (no
offered or no ended event in the customer's journey within CHAOS_SETTLE_SECONDS, 60); the longest
single request; and recovery (from the repair until a new call is accepted). Exits 1 unless lost,
duplicated, not ended and missing are all 0.
"""

import asyncio
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import httpx

from bench.support import run_on
from services.platform import SERVICES, Platform
from tests.e2e.platform import fresh_platform

CALLS = int(os.environ.get("CHAOS_CALLS", "20"))
FRESH_STARTS = int(os.environ.get("CHAOS_FRESH_STARTS", "5"))
RATE = float(os.environ.get("CHAOS_RATE", "4"))
GIVE_UP_SECONDS = float(os.environ.get("CHAOS_GIVE_UP_SECONDS", "120"))
SETTLE_SECONDS = float(os.environ.get("CHAOS_SETTLE_SECONDS", "60"))
AGENTS = int(os.environ.get("CHAOS_AGENTS", "10"))
TALK_SECONDS = 1.0
ALL_FAULTS = ["broker", *(name for name, _, _ in SERVICES), "broker-pause"]
FAULTS = [f for f in os.environ.get("CHAOS_FAULTS", ",".join(ALL_FAULTS)).split(",") if f]
API_KEY = "chaos-key"
KEYS = f"{API_KEY}:tenant-chaos:integration"
MODULES = {name: module for name, module, _ in SERVICES}


@dataclass
class Row:
    fault: str
    accepted: dict[str, str] = field(default_factory=dict)  # idempotency key -> call id
    duplicated: int = 0
    lost: int = 0
    not_ended: int = 0
    missing: int = 0
    refused: dict[str, str] = field(default_factory=dict)  # idempotency key -> the last answer it got
    longest_ms: float = 0.0
    recovery_s: float = 0.0

    @property
    def clean(self) -> bool:
        return self.lost == self.duplicated == self.not_ended == self.missing == 0


class Caller:
    """Sends requests until they are answered, the same key each time, timing every attempt."""

    def __init__(self, rest: httpx.AsyncClient, row: Row) -> None:
        self._rest = rest
        self._row = row

    async def until_answered(self, path: str, body: dict[str, object], key: str) -> httpx.Response | None:
        """The first answer below 500; None after GIVE_UP_SECONDS, with the last failure kept by key so
        that a call never accepted says whether it was refused or never answered."""
        deadline = time.monotonic() + GIVE_UP_SECONDS
        last = "no attempt"
        while time.monotonic() < deadline:
            started = time.monotonic()
            try:
                response = await self._rest.post(path, json=body, headers={"Idempotency-Key": key})
                last = f"HTTP {response.status_code} {response.text[:300]}"
            except httpx.HTTPError as error:
                response, last = None, f"no answer ({type(error).__name__}: {error})"
            self._row.longest_ms = max(self._row.longest_ms, (time.monotonic() - started) * 1000)
            if response is not None and response.status_code < 500:
                return response
            await asyncio.sleep(0.5)
        self._row.refused[key] = f"gave up after {GIVE_UP_SECONDS:.0f}s; last: {last}"
        return None

    async def get(self, path: str) -> dict[str, object] | None:
        try:
            response = await self._rest.get(path)
        except httpx.HTTPError:
            return None
        return response.json() if response.status_code == 200 else None  # type: ignore[no-any-return]

    async def served(self, call_id: str, key: str) -> None:
        """Drive the call's agent side until it ends: answer as the agent it rings, hang up after a talk."""
        deadline = time.monotonic() + GIVE_UP_SECONDS
        rings = 0
        while time.monotonic() < deadline:
            call = await self.get(f"/v1/calls/{call_id}")
            status = call["status"] if call else ""
            if status == "ended":
                return
            if call and status == "ringing":
                rings += 1  # a ring after a ring no answer is a new attempt, with a key of its own
                answer = {"agent_id": call["agent_id"]}
                await self.until_answered(f"/v1/calls/{call_id}/answer", answer, f"{key}-answer-{rings}")
            elif status == "connected":
                await asyncio.sleep(TALK_SECONDS)
                await self.until_answered(f"/v1/calls/{call_id}/hangup", {"party": "agent"}, f"{key}-hangup")
            await asyncio.sleep(0.2)

    async def one_call(self, index: int, fault: str) -> None:
        key = f"chaos-{fault}-{index}"
        ani = f"+8210{ALL_FAULTS.index(fault):02d}{index:06d}"  # one customer per call
        body: dict[str, object] = {"ani": ani, "dnis": "1588"}
        offered = await self.until_answered("/v1/calls", body, key)
        if offered is not None and offered.status_code != 201:
            self._row.refused[key] = f"refused: HTTP {offered.status_code} {offered.text[:300]}"
        if offered is None or offered.status_code != 201:
            return
        call_id = offered.json()["call_id"]
        again = await self.until_answered("/v1/calls", body, key)  # a retry after success: the same call
        if again is not None and again.json().get("call_id") != call_id:
            self._row.duplicated += 1
        self._row.accepted[key] = call_id
        await self.until_answered(f"/v1/calls/{call_id}/digits", {"digits": "1"}, f"{key}-digits")
        await self.served(call_id, key)


async def staff_the_desk(rest: httpx.AsyncClient) -> None:
    """Log the desk's agents in on the member queue, retried like every request."""
    caller = Caller(rest, Row("desk"))
    member: dict[str, object] = {"site_id": "seoul", "skills": [{"name": "member"}]}
    for agent in range(AGENTS):
        await caller.until_answered(f"/v1/agents/desk-{agent}/login", member, f"desk-{agent}-login")


async def supervise(rest: httpx.AsyncClient) -> None:
    """Set agents that went not ready (a ring no answer while the platform was broken) ready again."""
    caller = Caller(rest, Row("supervisor"))
    while True:
        try:
            agents = (await rest.get("/v1/agents")).json()
        except (httpx.HTTPError, ValueError):
            agents = []
        for agent in agents if isinstance(agents, list) else []:
            if agent["state"] == "not-ready":
                ready = {"state": "ready", "expected_version": agent["version"]}
                await caller.until_answered(f"/v1/agents/{agent['agent_id']}/state", ready, "")
        await asyncio.sleep(1)


async def inject(platform: Platform, fault: str) -> Callable[[], Awaitable[None]]:
    """Break something now; return what repairs it."""
    if fault in ("broker", "broker-pause"):
        pid = platform.pid("kafka")
        assert pid is not None
        if fault == "broker-pause":
            os.kill(pid, signal.SIGSTOP)

            async def resume() -> None:
                await asyncio.sleep(15)
                os.kill(pid, signal.SIGCONT)

            return resume
        os.kill(pid, signal.SIGKILL)

        async def restart_broker() -> None:
            await asyncio.sleep(5)
            await asyncio.to_thread(platform.kafka, "start")

        return restart_broker
    platform.stop_service(fault, sig=signal.SIGKILL)

    async def restart_service() -> None:
        platform.start_service(fault, MODULES[fault])

    return restart_service


async def recovered_after(rest: httpx.AsyncClient, fault: str) -> float:
    """Seconds until a new call is accepted again."""
    started = time.monotonic()
    probe = Caller(rest, Row(fault))
    await probe.until_answered("/v1/calls", {"ani": "+821000000000", "dnis": "1588"}, f"probe-{fault}")
    return time.monotonic() - started


async def check(rest: httpx.AsyncClient, row: Row) -> None:
    """Lost, not ended and missing from ClickHouse, waiting up to SETTLE_SECONDS for each to settle."""
    deadline = time.monotonic() + SETTLE_SECONDS
    pending = dict(row.accepted)
    customers: dict[str, str] = {}
    while pending and time.monotonic() < deadline:
        for key, call_id in list(pending.items()):
            response = await rest.get(f"/v1/calls/{call_id}")
            if response.status_code == 200 and response.json()["status"] == "ended":
                customers[call_id] = response.json()["customer_id"]
                del pending[key]
        await asyncio.sleep(0.5)
    for call_id in pending.values():
        row.lost += (await rest.get(f"/v1/calls/{call_id}")).status_code == 404
    row.not_ended = len(pending) - row.lost
    unseen = dict(customers)
    while unseen and time.monotonic() < deadline + SETTLE_SECONDS:
        for call_id, customer in list(unseen.items()):
            events = (await rest.get(f"/v1/customers/{customer}/journey")).json()["events"]
            types = [e["event_type"] for e in events if e["aggregate_id"] == call_id]
            if types.count("telephony.call.offered") > 1:
                row.duplicated += 1
            if "telephony.call.offered" in types and "telephony.call.ended" in types:
                del unseen[call_id]
        await asyncio.sleep(1)
    row.missing = len(unseen)


async def under_fault(platform: Platform, rest: httpx.AsyncClient, fault: str) -> Row:
    row = Row(fault)
    caller = Caller(rest, row)
    calls = []
    repair = None
    for index in range(CALLS):
        calls.append(asyncio.create_task(caller.one_call(index, fault)))
        if index == min(int(RATE), CALLS - 1):  # a second into the load
            repair = await inject(platform, fault)
        await asyncio.sleep(1 / RATE)
    assert repair is not None
    await repair()
    row.recovery_s = await recovered_after(rest, fault)
    await asyncio.gather(*calls)
    await asyncio.to_thread(platform_ready, platform)
    await check(rest, row)
    return row


def platform_ready(platform: Platform) -> None:
    asyncio.run(platform.wait_ready(timeout=180))


async def run(platform: Platform) -> None:
    base = f"http://127.0.0.1:{platform.settings.gateway_port}"
    rows: list[Row] = []
    async with httpx.AsyncClient(base_url=base, headers={"X-API-Key": API_KEY}, timeout=30) as rest:
        await staff_the_desk(rest)
        supervisor = asyncio.create_task(supervise(rest))
        for fault in FAULTS:
            print(
                f"\n{fault}: {CALLS} calls at {RATE}/s to {AGENTS} agents, the fault a second in", flush=True
            )
            rows.append(await under_fault(platform, rest, fault))
        supervisor.cancel()
    print(
        f"\n{'fault':16}{'accepted':>9}{'lost':>6}{'dup':>5}{'not ended':>10}{'missing CH':>11}"
        f"{'longest ms':>11}{'recovery s':>11}"
    )
    for r in rows:
        print(
            f"{r.fault:16}{len(r.accepted):>9}{r.lost:>6}{r.duplicated:>5}{r.not_ended:>10}{r.missing:>11}"
            f"{r.longest_ms:>11.0f}{r.recovery_s:>11.1f}"
        )
    for r in rows:
        for key, answer in sorted(r.refused.items()):
            print(f"{r.fault}: {key} {answer}")  # a request the platform refused or never answered
    if not all(r.clean for r in rows) or any(len(r.accepted) < CALLS for r in rows):
        print("\nFAILED: something was lost, duplicated, left unended, missing or never accepted")
        sys.exit(1)
    print("\nno call lost, duplicated, left unended or missing from ClickHouse")


async def first_call_rings(platform: Platform) -> None:
    """On a platform just started: an agent logs in and the first call offered rings it."""
    base = f"http://127.0.0.1:{platform.settings.gateway_port}"
    started = time.monotonic()
    async with httpx.AsyncClient(base_url=base, headers={"X-API-Key": API_KEY}, timeout=30) as rest:
        caller = Caller(rest, Row("fresh-start"))
        member: dict[str, object] = {"site_id": "seoul", "skills": [{"name": "member"}]}
        await caller.until_answered("/v1/agents/first/login", member, "login")
        offered = await caller.until_answered("/v1/calls", {"ani": "+821011112222", "dnis": "1588"}, "first")
        assert offered is not None and offered.status_code == 201, offered
        call_id = offered.json()["call_id"]
        await caller.until_answered(f"/v1/calls/{call_id}/digits", {"digits": "1"}, "first-digits")
        async with asyncio.timeout(60):
            while (await rest.get(f"/v1/calls/{call_id}")).json()["status"] != "ringing":
                await asyncio.sleep(0.2)
    took = time.monotonic() - started
    print(f"    the first call rang its agent {took:.1f}s after the agent logged in", flush=True)


def fresh_starts() -> None:
    for attempt in range(1, FRESH_STARTS + 1):
        print(f"\nfresh start {attempt} of {FRESH_STARTS}: a new broker and platform, empty", flush=True)
        run_on(fresh_platform(f"chaos-fresh-{attempt}", CC_API_KEYS=KEYS), first_call_rings)


def main() -> None:
    unknown = set(FAULTS) - set(ALL_FAULTS)
    if unknown:
        sys.exit(f"unknown CHAOS_FAULTS {sorted(unknown)}; known: {', '.join(ALL_FAULTS)}")
    fresh_starts()
    if FAULTS:
        # A short wrap-up, so the desk keeps up with the calls.
        run_on(fresh_platform("chaos", CC_API_KEYS=KEYS, CC_WRAP_UP_SECONDS="1"), run)


if __name__ == "__main__":
    main()
