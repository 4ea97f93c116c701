"""`make demo`: a small multi-site contact centre on the real stack, from start to report, in a few minutes.

Starts Kafka and every service on fresh data, logs in 12 agents on 2 sites, then plays ~200 inbound
calls (Poisson arrivals, IVR choices, caller patience, exponential talk times) against the REST
gateway. Simulated agent desktops answer when their phone rings (seen on the call events topic),
sometimes too late (RONA), and now and then transfer a caller to another queue; some callers out of
patience accept a callback that keeps their place. First it defines a line of business closed today,
publishes its IVR flow and shows a call to it leaving a voicemail that becomes a ticket. Prints
progress from the live queue metrics, then per-queue statistics computed by ClickHouse and one
customer's journey, and stops everything.
"""

import asyncio
import contextlib
import os
import random
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import httpx
from aiokafka import AIOKafkaConsumer
from cc.common.v1 import event_pb2

from demo.scenario import AGENTS, Caller, callers
from services.common.topics import CALLS
from services.platform import Platform

API_KEY = "dev-key-acme"
CALLS_TOTAL = int(os.environ.get("DEMO_CALLS", "200"))
ARRIVAL_SECONDS = float(os.environ.get("DEMO_SECONDS", "160"))
QUEUES = ("member", "payment", "general")
MISSED_RING_CHANCE = 0.04


class Desk:
    """What the simulated agent desktops and callers learn from the call events stream."""

    def __init__(self) -> None:
        self.answered: dict[str, asyncio.Event] = {}
        self.ended: set[str] = set()
        self.ringing: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
        self.transfers = 0
        self.callbacks = 0

    def answered_event(self, call_id: str) -> asyncio.Event:
        return self.answered.setdefault(call_id, asyncio.Event())

    async def follow(self, bootstrap: str) -> None:
        consumer = AIOKafkaConsumer(
            CALLS.events,
            bootstrap_servers=bootstrap,
            auto_offset_reset="latest",
            fetch_max_wait_ms=50,
            isolation_level="read_committed",
        )
        await consumer.start()
        try:
            while True:
                for records in (await consumer.getmany(timeout_ms=200)).values():
                    for record in records:
                        event = event_pb2.Event.FromString(record.value)
                        kind = event.WhichOneof("payload")
                        if kind == "call_ringing":
                            self.ringing.put_nowait((event.aggregate_id, event.call_ringing.agent_id))
                        elif kind == "call_answered":
                            self.answered_event(event.aggregate_id).set()
                        elif kind == "call_ended":
                            self.ended.add(event.aggregate_id)
        finally:
            await consumer.stop()


async def agent_desktops(rest: httpx.AsyncClient, desk: Desk, rng: random.Random) -> None:
    async def pick_up(call_id: str, agent_id: str) -> None:
        if rng.random() < MISSED_RING_CHANCE:
            return  # the agent is away from the desk: ring-no-answer
        await asyncio.sleep(rng.uniform(0.5, 2.0))
        await rest.post(f"/v1/calls/{call_id}/answer", json={"agent_id": agent_id})

    answering: set[asyncio.Task[None]] = set()
    while True:
        call_id, agent_id = await desk.ringing.get()
        task = asyncio.create_task(pick_up(call_id, agent_id))
        answering.add(task)
        task.add_done_callback(answering.discard)


async def one_call(
    rest: httpx.AsyncClient, desk: Desk, caller: Caller, started: float, journeys: Counter[str]
) -> str:
    await asyncio.sleep(max(0.0, started + caller.arrives_after - time.monotonic()))
    offered = await rest.post("/v1/calls", json={"ani": caller.ani, "dnis": "1588-1234"})
    call = offered.json()
    journeys[call["customer_id"]] += 1
    for digits in caller.digits:
        await asyncio.sleep(1.0)  # listening to the menu
        call = (await rest.post(f"/v1/calls/{call['call_id']}/digits", json={"digits": digits})).json()
    if call["status"] == "ended":
        return "announcement"
    answered = desk.answered_event(call["call_id"])
    try:
        await asyncio.wait_for(answered.wait(), caller.patience)
    except TimeoutError:
        if caller.accepts_callback:
            return await called_back(rest, desk, call["call_id"], caller)
        hung_up = await rest.post(f"/v1/calls/{call['call_id']}/hangup", json={"party": "caller"})
        if hung_up.status_code == 200:
            return "abandoned"
        await answered.wait()  # answered just as they gave up
    if caller.transfer_to:
        await asyncio.sleep(caller.talk_time / 2)
        if not await transferred(rest, desk, call["call_id"], caller.transfer_to, caller.patience):
            return "abandoned after a transfer"
    await asyncio.sleep(caller.talk_time)
    await rest.post(f"/v1/calls/{call['call_id']}/hangup", json={"party": "agent"})
    return "handled after a transfer" if caller.transfer_to else "handled"


async def called_back(rest: httpx.AsyncClient, desk: Desk, call_id: str, caller: Caller) -> str:
    """Out of patience, the caller accepts a callback that keeps their place (TEL-5) and hangs up.
    When an agent takes it, the simulated carrier dials them: they miss the first attempt now and then,
    and the callback waits out of the queue for the retry delay before it goes back to its place."""
    accepted = await rest.post(f"/v1/calls/{call_id}/callback", json={})
    if accepted.status_code != 200:  # an agent's phone rang just then: the caller stays on the line
        await desk.answered_event(call_id).wait()
        await asyncio.sleep(caller.talk_time)
        await rest.post(f"/v1/calls/{call_id}/hangup", json={"party": "agent"})
        return "handled"
    if not desk.callbacks:
        print(
            f"  callback: call {call_id[:13]} keeps its place in queue {accepted.json()['queue_id']!r}",
            flush=True,
        )
    desk.callbacks += 1
    attempt = 0
    while True:
        await desk.answered_event(call_id).wait()  # an agent took it: the carrier places the outbound leg
        desk.answered[call_id] = asyncio.Event()  # a retry's answer is the next one
        attempt += 1
        outcome = "no-answer" if attempt == 1 and caller.misses_first_callback else "connected"
        reported = (
            await rest.post(f"/v1/calls/{call_id}/callback-outcome", json={"outcome": outcome})
        ).json()
        if outcome == "connected":
            break
        if reported["status"] == "ended":
            return "callback failed"
    await asyncio.sleep(caller.talk_time)
    await rest.post(f"/v1/calls/{call_id}/hangup", json={"party": "agent"})
    return "called back"


async def transferred(
    rest: httpx.AsyncClient, desk: Desk, call_id: str, queue_id: str, patience: float
) -> bool:
    """The agent on the call transfers the caller to another queue (TEL-1), where the caller waits
    again; True once an agent there answers."""
    agent_id = (await rest.get(f"/v1/calls/{call_id}")).json()["agent_id"]
    answered = desk.answered[call_id] = asyncio.Event()  # the next answer is the one there
    to = {"agent_id": agent_id, "target": "queue", "to": queue_id}
    moved = await rest.post(f"/v1/calls/{call_id}/transfer", json=to)
    moved.raise_for_status()
    if not desk.transfers:
        print(f"  transfer: {agent_id} sent call {call_id[:13]} on to queue {queue_id!r}", flush=True)
    desk.transfers += 1
    try:
        await asyncio.wait_for(answered.wait(), patience)
    except TimeoutError:
        hung_up = await rest.post(f"/v1/calls/{call_id}/hangup", json={"party": "caller"})
        if hung_up.status_code == 200:
            return False
        await answered.wait()
    return True


# A line of business with Seoul office hours, Korean public holidays, and today closed as a special day,
# so the demo shows the closed branch of its flow whatever the hour it runs at.
SHOP_FLOW = {
    "start": "hours",
    "nodes": [
        {"id": "hours", "type": "check-hours", "branches": {"open": "main", "closed": "closed"}},
        {
            "id": "closed",
            "type": "voicemail",
            "parameters": {"prompt": "지금은 상담 시간이 아닙니다. 메시지를 남겨 주시면 연락드리겠습니다."},
        },
        {
            "id": "main",
            "type": "menu",
            "parameters": {"prompt": "주문 문의는 1번을 눌러주세요."},
            "branches": {"1": "orders"},
            "next": "orders",
        },
        {"id": "orders", "type": "queue", "parameters": {"queue_id": "general"}},
    ],
}


async def after_hours_call(rest: httpx.AsyncClient) -> None:
    today = datetime.now(ZoneInfo("Asia/Seoul")).date().isoformat()
    weekdays = dict.fromkeys(("mon", "tue", "wed", "thu", "fri"), "09:00-18:00")
    hours = {
        "time_zone": "Asia/Seoul",
        "weekly": weekdays,
        "holiday_country": "KR",
        "special_days": {today: ""},
    }
    line = await rest.put(
        "/v1/lines/shop", json={"display_name": "Shop", "numbers": ["15885000"], "hours": hours}
    )
    published = await rest.post("/v1/lines/shop/flows", json=SHOP_FLOW)
    for response in (line, published):  # 409: a re-run on the same data has them already
        if response.status_code != 409:
            response.raise_for_status()
    call = (await rest.post("/v1/calls", json={"ani": "+821099990000", "dnis": "15885000"})).json()
    recording = {"recording_ref": "https://carrier.example/recordings/demo-1", "duration_seconds": 21}
    ended = (await rest.post(f"/v1/calls/{call['call_id']}/voicemail", json=recording)).json()
    ticket = None
    for _ in range(100):  # ticketing opens it from the voicemail event
        found = (await rest.get("/v1/tickets", params={"customer_id": call["customer_id"]})).json()["tickets"]
        if ticket := next((t for t in found if t["call_id"] == call["call_id"]), None):
            break
        await asyncio.sleep(0.2)
    opened = (
        f"{ticket['subject']!r} with {ticket['voicemail']['recording_ref']}" if ticket else "no ticket yet"
    )
    print(
        f"After hours: line shop (closed today, {today}), flow version {call['flow_version']}: the caller "
        f"reached node {call['node_id']!r} and left a voicemail ({ended['end_reason']}); ticketing opened "
        f"{opened}\n",
        flush=True,
    )


async def progress(
    rest: httpx.AsyncClient, started: float, outcomes: Counter[str], stop: asyncio.Event
) -> None:
    while not stop.is_set():
        with_metrics, totals = [], Counter[str]()
        for queue in QUEUES:
            response = await rest.get(f"/v1/queues/{queue}/metrics")
            if response.status_code == 200:
                m = response.json()
                totals.update({k: m[k] for k in ("answered", "abandoned")})
                with_metrics.append(
                    f"{queue} waiting {m['contacts_waiting']:>2} oldest {m['oldest_wait_seconds']:>4.0f}s"
                    f" callbacks {m['scheduled']:>2}"
                )
        done = sum(outcomes.values())
        print(
            f"[{time.monotonic() - started:4.0f}s] done {done:>3}/{CALLS_TOTAL} "
            f"answered {totals['answered']:>3} abandoned {totals['abandoned']:>3} | "
            + " | ".join(with_metrics),
            flush=True,
        )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 10)


def fmt(value: float | None, unit: str = "") -> str:
    return "-" if value is None else f"{value:.1f}{unit}"


async def report(
    rest: httpx.AsyncClient, since: float, journeys: Counter[str], expected_offered: int
) -> None:
    period = {"from": datetime.fromtimestamp(since, tz=UTC).isoformat(), "threshold": 20}
    deadline = time.monotonic() + 60
    while True:  # the sink trails the log by a moment
        queues = (await rest.get("/v1/statistics/queues", params=period)).json()["queues"]
        if sum(row["offered"] for row in queues) >= expected_offered or time.monotonic() > deadline:
            break
        await asyncio.sleep(1)
    print("\nPer queue, from ClickHouse (service level at 20 s, Amazon Connect definitions):")
    print(
        f"  {'queue':10} {'offered':>8} {'answered':>9} {'abandoned':>10} {'SL 20s':>8} {'ASA':>7} {'AHT':>7}"
    )
    for row in queues:
        print(
            f"  {row['queue_id']:10} {row['offered']:>8} {row['answered']:>9} {row['abandoned']:>10} "
            f"{fmt(row['service_level_percent'], '%'):>8} "
            f"{fmt(row['average_speed_of_answer_seconds'], 's'):>7} "
            f"{fmt(row['average_handle_time_seconds'], 's'):>7}"
        )
    customer_id, calls = journeys.most_common(1)[0]
    journey = (await rest.get(f"/v1/customers/{customer_id}/journey")).json()["events"]
    print(f"\nJourney of customer {customer_id} ({calls} calls, {len(journey)} events):")
    for event in journey[:60]:
        print(
            f"  {event['occurred_at'][11:23]}  {event['event_type']:38} {event['aggregate_type']:8} "
            f"{event['aggregate_id'][:13]}"
        )


async def simulate(platform: Platform) -> None:
    settings = platform.settings
    rng = random.Random(11)
    desk = Desk()
    follower = asyncio.create_task(desk.follow(settings.kafka_bootstrap_servers))
    base = f"http://127.0.0.1:{settings.gateway_port}"
    limits = httpx.Limits(max_connections=50)
    async with httpx.AsyncClient(
        base_url=base, headers={"X-API-Key": API_KEY}, timeout=30, limits=limits
    ) as rest:
        for agent in AGENTS:
            response = await rest.post(
                f"/v1/agents/{agent.agent_id}/login",
                json={
                    "site_id": agent.site_id,
                    "display_name": agent.name,
                    "skills": [{"name": n, "proficiency": p} for n, p in agent.skills],
                },
            )
            response.raise_for_status()
        await after_hours_call(rest)
        print(
            f"Watch it live: open {base}/console/ and sign in with the API key {API_KEY} (the wallboard;\n"
            f"  an agent's desk signs in with its own key, issued on the admin page)\n",
            flush=True,
        )
        print(
            f"{len(AGENTS)} agents logged in on 2 sites; {CALLS_TOTAL} calls over ~{ARRIVAL_SECONDS:.0f}s\n",
            flush=True,
        )
        since = time.time()
        started = time.monotonic()
        outcomes: Counter[str] = Counter()
        journeys: Counter[str] = Counter()
        stop = asyncio.Event()
        desktops = asyncio.create_task(agent_desktops(rest, desk, rng))
        ticker = asyncio.create_task(progress(rest, started, outcomes, stop))

        async def counted(caller: Caller) -> None:
            outcomes[await one_call(rest, desk, caller, started, journeys)] += 1

        await asyncio.gather(*(counted(c) for c in callers(CALLS_TOTAL, ARRIVAL_SECONDS)))
        stop.set()
        await ticker
        desktops.cancel()
        print(f"\nSimulated callers: {dict(outcomes)} in {time.monotonic() - started:.0f}s")
        queued = sum(1 for c in callers(CALLS_TOTAL, ARRIVAL_SECONDS) if c.digits[-1] != "3")
        await report(rest, since, journeys, queued)
        for agent in AGENTS:
            await rest.post(f"/v1/agents/{agent.agent_id}/logout")
    follower.cancel()


def main() -> int:
    platform = Platform.fresh(
        "demo", CC_RING_TIMEOUT_SECONDS="8", CC_WRAP_UP_SECONDS="2", CC_CALLBACK_RETRY_SECONDS="10"
    )
    began = time.monotonic()
    print("Starting Kafka and the five services (logs in .local/demo/logs)...", flush=True)
    try:
        platform.up(timeout=180)
        asyncio.run(simulate(platform))
    finally:
        print("\nStopping everything...", flush=True)
        platform.down()
    print(f"Demo finished in {time.monotonic() - began:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
