"""Routing on the whole stack at contact-centre scale (issue 5, `make bench-routing`).

    make bench-routing
    BENCH_AGENTS=200 BENCH_RATE=5 BENCH_SECONDS=20 BENCH_RAMP=5,10 BENCH_RAMP_SECONDS=15 make bench-routing

What runs: a fresh platform of its own (its own broker and every service, as `make up` runs them) on
free ports, so it never meets `make up` or another benchmark. Logs stay in .local/bench-routing-<pid>/logs.

What it does, in order:
0. Unless BENCH_QUEUE_RULES is 0, the three queues are defined over REST with rules (issue 7): member
   needs member at 5 or better, most skilled first, widened after 10 s to any proficiency; payment
   needs payment at 5 at the first site, fewest contacts today first, widened after 10 s to every site
   and after 20 s to any proficiency; general takes its skill at any level, round robin. So every
   strategy but longest idle, minimum proficiencies, sites and expanding targets are on the path.
1. BENCH_AGENTS agents (2,000) on the sites of BENCH_SITES (seoul, busan) log in over REST, at most
   BENCH_LOGIN_CONCURRENCY at a time, each with 1 to 3 of the IVR's skills (member, payment, general) at
   random proficiencies 1-10. The benchmark then waits until no consumer group lags (the board has them),
   offers one call and waits until it is routed (up to BENCH_FIRST_ROUTE_TIMEOUT, 360 s: on a fresh broker
   the routing worker can join its group before its own topics are in its metadata, and then routes
   nothing until its next metadata refresh, 5 minutes later; the output says when that happened), and
   reads the CPU the idle platform spends in BENCH_IDLE_SECONDS (10).
2. Simulated agent desks follow telephony.call.events.v1 (read_committed) and answer every CallRinging
   over REST at once (POST /v1/calls/{id}/answer), then hang up as the agent after about
   BENCH_TALK_SECONDS (3) of talk. Wrap-up is BENCH_WRAP_UP_SECONDS (1, CC_WRAP_UP_SECONDS), so agents
   come back.
3. Warm-up, not measured: calls at BENCH_RATE for BENCH_WARM_UP_SECONDS (60). A fresh broker's JIT has not
   compiled its transaction paths yet (measured: 6 ms of broker CPU per transaction cold, 1.6 ms warm;
   two minutes after start its compiler threads still took a third of its CPU).
4. Steady load, measured: calls offered over REST at BENCH_RATE (20/s) for BENCH_SECONDS (120), open loop
   (each call is sent when it is due, whatever the answers to earlier ones): POST /v1/calls, then
   POST /v1/calls/{id}/digits with 1, 2 or 9 (the member, payment and general queues; 50/30/20 %).
   BENCH_LAG_AFTER_SECONDS (10) after the last call was offered, every consumer group's lag is read.
5. Ramp: the rates of BENCH_RAMP (10,20,30,40,60 per second), each for BENCH_RAMP_SECONDS (30), until a
   step misses; prints the highest rate whose CallQueued -> ContactRouted p99 stays under
   BENCH_RAMP_P99_MS (1000). Empty BENCH_RAMP skips it.

How to read it. Latencies are in ms between the events' own `occurred_at` (stamped by the services), so
the benchmark's own delays do not count in them:
- CallQueued -> ContactRouted: the routing decision (telephony's event, through the Faust worker's
  repartition and board, to routing.decisions.v1). CallQueued -> CallRinging adds telephony consuming the
  decision and ringing the agent.
- A call not routed within BENCH_DRAIN_SECONDS (30) of the load ending counts as never routed; a p99
  "with misses" is infinite when more than 1 % of the queued calls were never routed.
- The raw hop is one idempotent acks=all produce -> consume on the same broker, in a process of its own
  (so the benchmark's busy event loop does not inflate it), spread over the steady phase (same load), and
  again once the platform is idle. The decision path is at least two such hops (source -> repartition ->
  board -> decision), so "decision p99 / raw hop p99" near 2 means routing adds next to nothing.
- Throughput: offered is the schedule; achieved is the calls whose two REST requests succeeded over the
  time until the last of them answered (below offered when the gateway falls behind).
- CPU-seconds per process (the broker's JVM included) from the first measured call to the lag reading,
  with ms per call offered; 2 cores give at most 2 CPU-seconds per second of wall time.
- Consumer lag counts committed records past each group's committed offsets, read rather than
  subtracted (a transaction's commit marker takes an offset but is no record). If any group lags, it is
  read again at twice the delay, to tell a group that is behind from one that is stuck.
- Issue 5's targets for 2,000 agents at 20/s: every call routed, decision p99 <= 100 ms and <= 5x the raw
  hop p99, no consumer lag 10 s after the load stops.
"""

import asyncio
import itertools
import os
import random
import shutil
import time
from collections import Counter
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context

from aiokafka import AIOKafkaConsumer
from cc.common.v1 import event_pb2

from bench.rest import Rest, RestError
from bench.support import (
    CpuMeter,
    consumer_lag,
    consumer_lag_by_topic,
    percentile,
    percentiles,
    raw_kafka_hop_in_process,
)
from services.common import kafka
from services.common.envelope import to_datetime
from services.common.topics import CALLS, ROUTING_DECISIONS
from services.platform import Platform
from tests.e2e.platform import fresh_platform


def _number(name: str, default: float) -> float:
    return float(os.environ.get(name, default))


AGENTS = int(_number("BENCH_AGENTS", 2000))
SITES = [site.strip() for site in os.environ.get("BENCH_SITES", "seoul,busan").split(",") if site.strip()]
RATE = _number("BENCH_RATE", 20)
SECONDS = _number("BENCH_SECONDS", 120)
WARM_UP_SECONDS = _number("BENCH_WARM_UP_SECONDS", 60)
TALK_SECONDS = _number("BENCH_TALK_SECONDS", 3)
WRAP_UP_SECONDS = int(_number("BENCH_WRAP_UP_SECONDS", 1))
LOGIN_CONCURRENCY = int(_number("BENCH_LOGIN_CONCURRENCY", 32))
RAMP = [float(rate) for rate in os.environ.get("BENCH_RAMP", "10,20,30,40,60").split(",") if rate.strip()]
RAMP_SECONDS = _number("BENCH_RAMP_SECONDS", 30)
RAMP_P99_MS = _number("BENCH_RAMP_P99_MS", 1000)
DRAIN_SECONDS = _number("BENCH_DRAIN_SECONDS", 30)
IDLE_SECONDS = _number("BENCH_IDLE_SECONDS", 10)
FIRST_ROUTE_TIMEOUT = _number("BENCH_FIRST_ROUTE_TIMEOUT", 360)
LAG_AFTER_SECONDS = _number("BENCH_LAG_AFTER_SECONDS", 10)
HOP_SAMPLES = int(_number("BENCH_HOP_SAMPLES", 200))
HTTP_CONNECTIONS = int(_number("BENCH_HTTP_CONNECTIONS", 100))
SEED = int(_number("BENCH_SEED", 1))

API_KEY = "dev-key-acme"
QUEUE_RULES = os.environ.get("BENCH_QUEUE_RULES", "1") != "0"


def queue_rules() -> dict[str, dict[str, object]]:
    """The rules of the three queues when BENCH_QUEUE_RULES is on (see the module docstring)."""
    return {
        "member": {
            "skills": [{"skill": "member", "min_proficiency": 5}],
            "strategy": "most-skilled",
            "expanding": [{"after_seconds": 10, "min_proficiency": 0}],
        },
        "payment": {
            "skills": [{"skill": "payment", "min_proficiency": 5}],
            "sites": SITES[:1],
            "strategy": "fewest-contacts",
            "expanding": [
                {"after_seconds": 10, "any_site": True},
                {"after_seconds": 20, "min_proficiency": 0},
            ],
        },
        "general": {"skills": [{"skill": "general"}], "strategy": "round-robin"},
    }


async def define_queues(rest: Rest) -> None:
    for queue_id, rules in queue_rules().items():
        await rest.post("/v1/queues", {"queue_id": queue_id, **rules})
    print(f"    queues defined with rules: {', '.join(queue_rules())}")


# The IVR's queues (services/telephony/ivr.py): the digit that queues a call there, and its share of calls.
QUEUES = {"member": ("1", 0.5), "payment": ("2", 0.3), "general": ("9", 0.2)}
TARGET_P99_MS = 100.0
TARGET_HOP_RATIO = 5.0
# A ramp step kept up when this share of its rate got through REST (the last answers come after the step).
KEPT_UP_SHARE = 0.9
CALLERS = itertools.count(1)  # each call from a caller of its own


@dataclass
class Phase:
    """Calls offered at one rate for a while, and what became of their REST requests."""

    rate: float
    seconds: float
    calls: list[str] = field(default_factory=list)  # ids of the calls whose offer and digits succeeded
    offered: int = 0
    failures: Counter[str] = field(default_factory=Counter)
    rest_ms: list[float] = field(default_factory=list)  # from when the call was due to its digits' answer
    began: float = 0.0
    answered_by: float = 0.0  # when the last REST request of the phase answered

    @property
    def achieved(self) -> float:
        return len(self.calls) / max(1e-9, self.answered_by - self.began)


@dataclass
class Calls:
    """What the benchmark saw of each call on the topics (epoch seconds of the first event of a kind)."""

    queued: dict[str, float] = field(default_factory=dict)
    routed: dict[str, float] = field(default_factory=dict)
    ringing: dict[str, float] = field(default_factory=dict)
    answered: set[str] = field(default_factory=set)
    ended: set[str] = field(default_factory=set)
    ring_no_answer: int = 0
    desk_failures: Counter[str] = field(default_factory=Counter)
    desks: set[asyncio.Task[None]] = field(default_factory=set)
    following: asyncio.Event = field(default_factory=asyncio.Event)

    def latencies(self, calls: Iterable[str], to: dict[str, float]) -> tuple[list[float], int]:
        """ms from CallQueued to `to` for the queued calls among `calls`, and how many never got there."""
        samples: list[float] = []
        missing = 0
        for call in calls:
            if call in self.queued:
                if call in to:
                    samples.append((to[call] - self.queued[call]) * 1000)
                else:
                    missing += 1
        return samples, missing


def p99_with_misses(samples: list[float], missing: int) -> float:
    """The p99 when a call that never got there counts as infinitely late."""
    ordered = sorted(samples) + [float("inf")] * missing
    return percentile(ordered, 0.99) if ordered else float("inf")


async def desk(rest: Rest, calls: Calls, call_id: str, agent_id: str, talk: float) -> None:
    """An agent's desktop: answer the ringing call at once, talk, hang up."""
    try:
        await rest.post(f"/v1/calls/{call_id}/answer", {"agent_id": agent_id})
        await asyncio.sleep(talk)
        await rest.post(f"/v1/calls/{call_id}/hangup", {"party": "agent"})
    except RestError as error:
        calls.desk_failures[error.what] += 1


async def follow(bootstrap: str, calls: Calls, rest: Rest) -> None:
    """Tail the call events and routing decisions (committed only) from their ends; ring -> desk."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        fetch_max_wait_ms=20,
        isolation_level="read_committed",
    )
    await consumer.start()
    talk = random.Random(SEED)
    try:
        partitions = await kafka.partitions_of(consumer, [CALLS.events, ROUTING_DECISIONS])
        consumer.assign(partitions)
        await consumer.seek_to_end(*partitions)
        for tp in partitions:
            await consumer.position(tp)
        calls.following.set()
        while True:
            for records in (await consumer.getmany(timeout_ms=100)).values():
                for record in records:
                    event = event_pb2.Event.FromString(record.value)
                    call = event.aggregate_id
                    match event.WhichOneof("payload"):
                        case "call_queued":
                            calls.queued.setdefault(call, to_datetime(event.occurred_at).timestamp())
                        case "contact_routed":
                            calls.routed.setdefault(call, to_datetime(event.occurred_at).timestamp())
                        case "call_ringing":
                            calls.ringing.setdefault(call, to_datetime(event.occurred_at).timestamp())
                            seconds = talk.uniform(0.5, 1.5) * TALK_SECONDS
                            task = asyncio.create_task(
                                desk(rest, calls, call, event.call_ringing.agent_id, seconds)
                            )
                            calls.desks.add(task)
                            task.add_done_callback(calls.desks.discard)
                        case "call_ring_no_answer":
                            calls.ring_no_answer += 1
                        case "call_answered":
                            calls.answered.add(call)
                        case "call_ended":
                            calls.ended.add(call)
    finally:
        await consumer.stop()


def skills_of(index: int, rng: random.Random) -> list[dict[str, object]]:
    """1 to 3 of the queues' skills (every queue gets agents), each at a random proficiency."""
    names = list(QUEUES)
    first = names[index % len(names)]
    others = rng.sample([name for name in names if name != first], rng.randint(0, len(names) - 1))
    return [{"name": name, "proficiency": rng.randint(1, 10)} for name in [first, *others]]


async def log_in_agents(rest: Rest, count: int) -> None:
    rng = random.Random(SEED)
    bodies: list[tuple[str, dict[str, object]]] = [
        (f"bench-{index:05}", {"site_id": SITES[index % len(SITES)], "skills": skills_of(index, rng)})
        for index in range(count)
    ]
    gate = asyncio.Semaphore(LOGIN_CONCURRENCY)
    samples: list[float] = []
    failures: Counter[str] = Counter()

    async def log_in(agent_id: str, body: dict[str, object]) -> None:
        async with gate:
            started = time.perf_counter()
            try:
                await rest.post(f"/v1/agents/{agent_id}/login", body)
            except RestError as error:
                failures[error.what] += 1
                return
            samples.append((time.perf_counter() - started) * 1000)

    started = time.monotonic()
    await asyncio.gather(*(log_in(agent_id, body) for agent_id, body in bodies))
    seconds = time.monotonic() - started
    print(
        f"\n{len(samples)} of {count} agents logged in over REST on {', '.join(SITES)} in {seconds:.1f}s "
        f"({len(samples) / seconds:.0f}/s, {LOGIN_CONCURRENCY} at a time; latency ms)"
        f"{f'; failed: {dict(failures)}' if failures else ''}"
    )
    print(f"    {percentiles(samples)}")


async def offer_calls(rest: Rest, phase: Phase, rng: random.Random) -> None:
    """Open loop: each call is sent when it is due, whatever became of the ones before it."""
    digits = [digit for digit, _ in QUEUES.values()]
    weights = [share for _, share in QUEUES.values()]

    async def offer(caller: int, due: float, digit: str) -> None:
        try:
            offered = await rest.post("/v1/calls", {"ani": f"+8210{caller:08}", "dnis": "1588-1234"})
            call_id = offered["call_id"]
            await rest.post(f"/v1/calls/{call_id}/digits", {"digits": digit})
        except RestError as error:
            phase.failures[error.what] += 1
            return
        finally:
            phase.answered_by = max(phase.answered_by, time.perf_counter())
        phase.calls.append(call_id)
        phase.rest_ms.append((time.perf_counter() - due) * 1000)

    total = round(phase.rate * phase.seconds)
    tasks = []
    phase.began = time.perf_counter()
    for index in range(total):
        due = phase.began + index / phase.rate
        if (delay := due - time.perf_counter()) > 0:
            await asyncio.sleep(delay)
        digit = rng.choices(digits, weights)[0]
        tasks.append(asyncio.create_task(offer(next(CALLERS), due, digit)))
        phase.offered += 1
    await asyncio.gather(*tasks)


async def drain(calls: Calls, phase: Phase, timeout: float) -> float:
    """Wait until every call of the phase has rung (or `timeout`); the seconds it took."""
    started = time.monotonic()
    while time.monotonic() - started < timeout and any(call not in calls.ringing for call in phase.calls):
        await asyncio.sleep(0.2)
    return time.monotonic() - started


async def first_call_routed(rest: Rest, calls: Calls, timeout: float) -> None:
    """One call before anything is measured, so a routing worker that consumes nothing is found here."""
    canary = Phase(1, 1)
    started = time.monotonic()
    await offer_calls(rest, canary, random.Random(SEED))
    while time.monotonic() - started < timeout and not any(call in calls.routed for call in canary.calls):
        await asyncio.sleep(0.2)
    seconds = time.monotonic() - started
    if not any(call in calls.routed for call in canary.calls):
        raise SystemExit(
            f"no call routed within {timeout:.0f}s of being offered ({dict(canary.failures) or 'accepted'}):"
            " the routing worker routes nothing; see routing-stream.log"
        )
    late = "  <-- the routing worker was not consuming everything yet" if seconds > 5 else ""
    print(f"    a first call was routed {seconds:.1f}s after it was offered{late}")


def exited(platform: Platform) -> list[str]:
    return [name for name in platform.names() if not platform.running(name)]


async def wait_for_no_lag(bootstrap: str, timeout: float) -> dict[str, int]:
    deadline = time.monotonic() + timeout
    while True:
        lag = await consumer_lag(bootstrap)
        if not any(lag.values()) or time.monotonic() > deadline:
            return lag
        await asyncio.sleep(1)


def report_phase(phase: Phase, calls: Calls) -> tuple[list[float], int]:
    """Print what became of a phase's calls; return its decision latencies and unrouted calls."""
    queued = [call for call in phase.calls if call in calls.queued]
    routed, unrouted = calls.latencies(phase.calls, calls.routed)
    ringing, _ = calls.latencies(phase.calls, calls.ringing)
    failed = f", failed: {dict(phase.failures)}" if phase.failures else ""
    print(
        f"    offered {phase.offered} calls at {phase.rate:g}/s for {phase.seconds:g}s (open loop); "
        f"{len(phase.calls)} accepted over REST = {phase.achieved:.1f}/s achieved{failed}"
    )
    print(
        f"    queued {len(queued)} of {len(phase.calls)} accepted; routed {len(routed)} of {len(queued)} "
        f"queued; rung {len(ringing)}; answered {sum(call in calls.answered for call in phase.calls)}; "
        f"ended {sum(call in calls.ended for call in phase.calls)}"
    )
    if routed:
        firsts = [calls.queued[call] for call in queued]
        lasts = [calls.routed[call] for call in queued if call in calls.routed]
        span = max(lasts) - min(firsts)
        print(f"    decisions: {len(routed) / max(span, 1e-9):.1f}/s from the first CallQueued to the last")
    print(f"    REST offer + digits, from when due  {percentiles(phase.rest_ms)}")
    print(f"    CallQueued -> ContactRouted          {percentiles(routed)}")
    print(f"    CallQueued -> CallRinging            {percentiles(ringing)}")
    return routed, unrouted


def print_lag(lag: dict[str, dict[str, int]], when: str) -> bool:
    print(f"\nconsumer lag {when} (committed records past each group's committed offsets):")
    for group, topics in sorted(lag.items()):
        records = sum(topics.values())
        behind = ", ".join(f"{topic} {count}" for topic, count in topics.items() if count)
        print(f"    {group:36} {records:6}{f'   <-- LAGGING: {behind}' if records else ''}")
    return not any(any(topics.values()) for topics in lag.values())


async def steady(platform: Platform, rest: Rest, calls: Calls, pool: ProcessPoolExecutor) -> None:
    settings = platform.settings
    bootstrap = settings.kafka_bootstrap_servers
    phase = Phase(RATE, SECONDS)
    print(f"\nsteady load (measured): {RATE:g} calls/s for {SECONDS:g}s", flush=True)
    meter = CpuMeter.of(platform).start()
    hop_under_load = asyncio.get_running_loop().run_in_executor(
        pool, raw_kafka_hop_in_process, bootstrap, settings.cc_partitions, HOP_SAMPLES, SECONDS / HOP_SAMPLES
    )
    await offer_calls(rest, phase, random.Random(SEED + 1))
    stopped = time.monotonic()
    await asyncio.sleep(max(0.0, LAG_AFTER_SECONDS - (time.monotonic() - stopped)))
    lag = await consumer_lag_by_topic(bootstrap)
    meter.stop()
    hop = await hop_under_load
    waited = await drain(calls, phase, DRAIN_SECONDS)
    print(f"    (waited {LAG_AFTER_SECONDS + waited:.0f}s after the load for the last calls to ring)")
    routed, unrouted = report_phase(phase, calls)
    print(f"    raw Kafka hop, same load            {percentiles(hop)}")
    idle_hop = await asyncio.get_running_loop().run_in_executor(
        pool, raw_kafka_hop_in_process, bootstrap, settings.cc_partitions, HOP_SAMPLES, 0.0
    )
    print(f"    raw Kafka hop, platform idle        {percentiles(idle_hop)}")
    decision_p99 = p99_with_misses(routed, unrouted)
    hop_p99 = percentile(sorted(hop), 0.99) if hop else float("nan")
    idle_p99 = percentile(sorted(idle_hop), 0.99) if idle_hop else float("nan")
    print(
        f"    decision p99 / raw hop p99 = {decision_p99 / hop_p99:.1f}x under the same load, "
        f"{decision_p99 / idle_p99:.1f}x against the idle hop"
    )
    print(meter.report(per=phase.offered, unit="call"))
    no_lag = print_lag(lag, f"{LAG_AFTER_SECONDS:g}s after the last call was offered")
    failed = f"; desk requests failed: {dict(calls.desk_failures)}" if calls.desk_failures else ""
    print(f"    rings not answered in time (RONA) so far: {calls.ring_no_answer}{failed}")

    def verdict(ok: bool) -> str:
        return "met" if ok else "MISSED"

    print(f"\ntargets of issue 5 ({AGENTS} agents, {RATE:g}/s; the issue's are 2,000 agents at 20/s):")
    print(f"    every call routed                          {verdict(unrouted == 0)} ({unrouted} not routed)")
    print(
        f"    decision p99 <= {TARGET_P99_MS:g} ms                     "
        f"{verdict(decision_p99 <= TARGET_P99_MS)} ({decision_p99:.1f} ms)"
    )
    print(
        f"    decision p99 <= {TARGET_HOP_RATIO:g}x raw hop p99 (same load)  "
        f"{verdict(decision_p99 <= TARGET_HOP_RATIO * hop_p99)} ({decision_p99 / hop_p99:.1f}x)"
    )
    print(f"    no consumer lag {LAG_AFTER_SECONDS:g}s after the load      {verdict(no_lag)}")
    if not no_lag:
        await asyncio.sleep(max(0.0, 2 * LAG_AFTER_SECONDS - (time.monotonic() - stopped)))
        print_lag(await consumer_lag_by_topic(bootstrap), f"{time.monotonic() - stopped:.0f}s after the load")
    if gone := exited(platform):
        print(f"\nPROCESSES THAT EXITED during the run: {', '.join(gone)} (see {platform.logs})")


async def ramp(platform: Platform, rest: Rest, calls: Calls) -> None:
    if not RAMP:
        return
    print(
        f"\nramp: {', '.join(f'{rate:g}' for rate in RAMP)} calls/s, {RAMP_SECONDS:g}s each, until "
        f"CallQueued -> ContactRouted p99 (unrouted calls counted as never) reaches {RAMP_P99_MS:g} ms "
        f"or fewer than {100 * KEPT_UP_SHARE:.0f} % of the offered rate get through REST"
    )
    best = None
    rng = random.Random(SEED + 2)
    for rate in RAMP:
        phase = Phase(rate, RAMP_SECONDS)
        meter = CpuMeter.of(platform).start()
        await offer_calls(rest, phase, rng)
        await drain(calls, phase, DRAIN_SECONDS)
        meter.stop()
        print(f"\n  step {rate:g}/s:")
        routed, unrouted = report_phase(phase, calls)
        total = sum(meter.spent.values())
        print(
            f"    CPU {total:.1f}s over {meter.wall:.1f}s wall ({total / meter.wall:.2f} cores busy), "
            f"{1000 * total / max(1, phase.offered):.1f} ms per call; busiest: "
            + ", ".join(f"{name} {seconds:.1f}s" for name, seconds in Counter(meter.spent).most_common(3))
        )
        if gone := exited(platform):
            print(f"    PROCESSES THAT EXITED: {', '.join(gone)} (see {platform.logs}); the ramp stops here")
            break
        p99 = p99_with_misses(routed, unrouted)
        kept_up = phase.achieved >= KEPT_UP_SHARE * rate and not phase.failures
        if p99 >= RAMP_P99_MS or not kept_up:
            why = (
                f"p99 {p99:.0f} ms"
                if p99 >= RAMP_P99_MS
                else f"{phase.achieved:.1f}/s got through, {sum(phase.failures.values())} failed"
            )
            print(f"    missed ({why}); the ramp stops here")
            break
        print(f"    kept p99 {p99:.0f} ms < {RAMP_P99_MS:g} ms")
        best = rate
    print(
        f"\nhighest rate that kept CallQueued -> ContactRouted p99 under {RAMP_P99_MS:g} ms: "
        + (f"{best:g} calls/s" if best is not None else f"none (not even {RAMP[0]:g}/s)")
    )


async def run(platform: Platform) -> None:
    settings = platform.settings
    bootstrap = settings.kafka_bootstrap_servers
    calls = Calls()
    async with Rest(f"http://127.0.0.1:{settings.gateway_port}", API_KEY, HTTP_CONNECTIONS) as rest:
        follower = asyncio.create_task(follow(bootstrap, calls, rest))
        await calls.following.wait()
        if QUEUE_RULES:
            await define_queues(rest)
        await log_in_agents(rest, AGENTS)
        started = time.monotonic()
        lag = await wait_for_no_lag(bootstrap, 180)
        print(f"    every consumer group caught up {time.monotonic() - started:.1f}s later: {lag}")
        await first_call_routed(rest, calls, FIRST_ROUTE_TIMEOUT)
        if IDLE_SECONDS > 0:
            idle = CpuMeter.of(platform).start()
            await asyncio.sleep(IDLE_SECONDS)
            idle.stop()
            busiest = sorted(idle.spent.items(), key=lambda item: -item[1])
            print(
                f"    idle platform, {AGENTS} agents logged in, no calls: "
                f"{sum(idle.spent.values()) / idle.wall:.2f} CPU-seconds per second ("
                + ", ".join(f"{name} {seconds / idle.wall:.2f}" for name, seconds in busiest)
                + ")"
            )
        with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
            if WARM_UP_SECONDS > 0:
                print(
                    f"\nwarm-up (not measured): {RATE:g} calls/s for {WARM_UP_SECONDS:g}s, so the broker's "
                    "JIT has compiled its transaction paths (cold it spent ~4x the CPU per transaction)",
                    flush=True,
                )
                warm = Phase(RATE, WARM_UP_SECONDS)
                await offer_calls(rest, warm, random.Random(SEED))
                waited = await drain(calls, warm, DRAIN_SECONDS)
                unrung = sum(call not in calls.ringing for call in warm.calls)
                print(
                    f"    {len(warm.calls)} calls accepted, the last rang {waited:.0f}s after the warm-up; "
                    f"{unrung} never rang"
                )
            await steady(platform, rest, calls, pool)
        await ramp(platform, rest, calls)
        follower.cancel()
        await asyncio.gather(*calls.desks, return_exceptions=True)


def main() -> None:
    platform = fresh_platform(
        f"bench-routing-{os.getpid()}",
        CC_WRAP_UP_SECONDS=str(WRAP_UP_SECONDS),
        LOG_LEVEL=os.environ.get("BENCH_LOG_LEVEL", "WARNING"),
    )
    print(
        f"bench-routing: {AGENTS} agents, {RATE:g} calls/s for {SECONDS:g}s after {WARM_UP_SECONDS:g}s of "
        f"warm-up, ramp {RAMP or 'off'}; platform on {platform.settings.kafka_bootstrap_servers}, "
        f"logs in {platform.logs}",
        flush=True,
    )
    try:
        platform.up(timeout=180)
        asyncio.run(run(platform))
    finally:
        platform.down()
        # The broker's log and the chDB path are large and only this run reads them; the logs stay.
        for data in ("kafka", "analytics"):
            shutil.rmtree(platform.state_dir / data, ignore_errors=True)


if __name__ == "__main__":
    main()
