"""Micro-benchmark of the pure routing board (services/routing/board.py, matching.py) at contact-centre
scale: 2,000 agents on 2 sites with mixed skills and proficiencies, about 500 contacts waiting, and a
steady mix of events (calls queued, ringing, answered, ended and abandoned; agents going on contact,
into wrap-up, ready, on a break and back).

    make bench-board                      (BENCH_BOARD_EVENTS=30000 to change the number of events)
    .venv/bin/python -m bench.board --profile    the same, under cProfile, with the hottest functions

For each event it times what the stream worker does with the board (fold the event, dispatch, take the
changed entries) and sizes the changelog records the event writes (JSON keys and values, as the Faust
table writes them). The baseline is the design before this board: every event wrote the whole board
to the changelog, and dispatch re-scored every agent for every waiting contact.
"""

import cProfile
import json
import os
import pstats
import random
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from cc.common.v1 import event_pb2, types_pb2
from cc.routing.v1 import events_pb2 as routing_events
from cc.telephony.v1 import events_pb2 as call_events
from google.protobuf.message import Message

from bench.support import percentiles
from services.common.envelope import build_event, timestamp
from services.common.topics import AGENTS, CALLS
from services.routing.board import NOT_READY, ON_CONTACT, READY, WRAP_UP, Board, SourcePosition, apply
from services.routing.matching import candidates_for, dispatch

AGENT_COUNT = 2000
WAITING = 500
EVENTS = int(os.environ.get("BENCH_BOARD_EVENTS", "30000"))
SITES = ("seoul", "busan")
QUEUES = ("member", "payment", "general")
TENANT = "acme"
START = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
ACTOR = types_pb2.Actor(type=types_pb2.ACTOR_TYPE_SYSTEM, id="bench")
# Targets from the issue: dispatch per event, and changelog per event.
TARGET_MICROSECONDS = 1000
TARGET_BYTES = 4096


@dataclass
class Centre:
    """A day in a contact centre, as events: it keeps about WAITING contacts waiting and every agent
    busy, so each agent who becomes ready takes the next contact of its queues at once."""

    rng: random.Random
    board: Board = field(default_factory=lambda: Board(TENANT))
    clock: float = 0.0
    versions: dict[str, int] = field(default_factory=dict)
    offsets: dict[str, int] = field(default_factory=dict)
    calls: int = 0
    # events waiting their turn: telephony rings and the agent answers after a decision
    pending: list[tuple[str, str, Message]] = field(default_factory=list)

    def event(
        self, aggregate_type: str, aggregate_id: str, payload: Message
    ) -> tuple[event_pb2.Event, SourcePosition]:
        self.versions[aggregate_id] = self.versions.get(aggregate_id, 0) + 1
        topic = CALLS.events if aggregate_type == "call" else AGENTS.events
        self.offsets[topic] = self.offsets.get(topic, -1) + 1
        envelope = build_event(
            payload,
            context="telephony" if aggregate_type == "call" else "routing",
            aggregate_type=aggregate_type,
            aggregate_id=aggregate_id,
            aggregate_version=self.versions[aggregate_id],
            tenant_id=TENANT,
            occurred_at=START + timedelta(seconds=self.clock),
            correlation_id=aggregate_id,
            causation_id="bench",
            customer_id=f"customer-{aggregate_id}",
            actor=ACTOR,
        )
        return envelope, SourcePosition(topic, 0, self.offsets[topic])

    @property
    def now(self) -> float:
        return (START + timedelta(seconds=self.clock)).timestamp()

    def next_happening(self) -> list[tuple[str, str, Message]]:
        """The events of the next thing that happens in the centre."""
        self.clock += 0.05
        if self.pending:
            return [self.pending.pop(0)]
        seats = self.board.agents
        if len(self.board.waiting) < WAITING:
            return [self.new_call()]
        roll = self.rng.random()
        if roll < 0.05 and self.board.waiting:
            call_id = self.rng.choice(list(self.board.waiting))
            return [("call", call_id, ended(self.board.waiting[call_id].queue_id, abandoned=True))]
        agent_id = self.rng.choice(list(seats))
        seat = seats[agent_id]
        if seat.state == ON_CONTACT:
            queue = (
                self.board.talking[seat.contact_id].queue_id if seat.contact_id in self.board.talking else ""
            )
            return [
                ("call", seat.contact_id, ended(queue, agent_id)),
                ("agent", agent_id, changed(WRAP_UP, ON_CONTACT, seat.contact_id)),
            ]
        if seat.state == WRAP_UP:
            on_break = roll > 0.9
            return [("agent", agent_id, changed(NOT_READY if on_break else READY, WRAP_UP, seat.contact_id))]
        if seat.state == NOT_READY:
            return [("agent", agent_id, changed(READY, NOT_READY))]
        return [self.new_call()]

    def new_call(self) -> tuple[str, str, Message]:
        self.calls += 1
        queue = self.rng.choice(QUEUES)
        payload = call_events.CallQueued(
            queue_id=queue,
            required_skill=queue,
            priority=self.rng.choice((0, 0, 0, 1, 2)),
            enqueued_at=timestamp(START + timedelta(seconds=self.clock)),
            reason="menu-choice",
        )
        return "call", f"call-{self.calls:07}", payload

    def routed(self, contact_id: str, agent_id: str, queue_id: str) -> None:
        self.pending += [
            ("call", contact_id, call_events.CallRinging(agent_id=agent_id, queue_id=queue_id)),
            ("call", contact_id, call_events.CallAnswered(agent_id=agent_id, queue_id=queue_id)),
            ("agent", agent_id, changed(ON_CONTACT, READY, contact_id)),
        ]


def changed(state: int, previous: int, contact_id: str = "") -> routing_events.AgentStateChanged:
    return routing_events.AgentStateChanged(state=state, previous_state=previous, contact_id=contact_id)


def ended(queue_id: str, agent_id: str = "", abandoned: bool = False) -> call_events.CallEnded:
    reason = (
        call_events.END_REASON_ABANDONED_IN_QUEUE if abandoned else call_events.END_REASON_NORMAL_CLEARING
    )
    return call_events.CallEnded(
        ended_by=call_events.PARTY_CALLER,
        reason=reason,
        abandoned=abandoned,
        queue_id=queue_id,
        agent_id=agent_id,
    )


def record_bytes(records: list[tuple[str, object]]) -> int:
    """The changelog bytes of `records`: JSON key and value, compact, as Faust's json codec writes."""
    return sum(len(json.dumps(key)) + len(json.dumps(value, separators=(",", ":"))) for key, value in records)


def staff(centre: Centre) -> None:
    """2,000 agents log in, each with one to three skills and a proficiency per skill, on two sites;
    then calls arrive until every agent is on a contact and WAITING more wait."""
    for number in range(AGENT_COUNT):
        levels = {q: centre.rng.randint(1, 10) for q in centre.rng.sample(QUEUES, centre.rng.randint(1, 3))}
        login = routing_events.AgentLoggedIn(
            site_id=SITES[number % 2],
            skills=[routing_events.Skill(name=q, proficiency=p) for q, p in levels.items()],
            initial_state=READY,
        )
        feed(centre, "agent", f"agent-{number:04}", login)
    while len(centre.board.waiting) < WAITING or centre.pending:
        feed(centre, *(centre.pending.pop(0) if centre.pending else centre.new_call()))
        centre.clock += 0.01
    centre.board.take_changelog()


def feed(centre: Centre, aggregate_type: str, aggregate_id: str, payload: Message) -> tuple[float, int]:
    """Apply one event as the worker does; (microseconds of board work, changelog bytes)."""
    event, source = centre.event(aggregate_type, aggregate_id, payload)
    started = time.perf_counter_ns()
    apply(centre.board, event, source)
    decisions = dispatch(centre.board, centre.now)
    records = centre.board.take_changelog()
    elapsed = (time.perf_counter_ns() - started) / 1000
    for decision in decisions:
        centre.routed(decision.contact.contact_id, decision.routed.agent_id, decision.contact.queue_id)
    return elapsed, record_bytes(records)


def run(events: int) -> tuple[dict[str, list[float]], list[int], Centre]:
    centre = Centre(random.Random(7))
    staff(centre)
    timings: dict[str, list[float]] = defaultdict(list)
    sizes: list[int] = []
    while len(sizes) < events:
        for aggregate_type, aggregate_id, payload in centre.next_happening():
            micros, size = feed(centre, aggregate_type, aggregate_id, payload)
            timings[payload.DESCRIPTOR.name].append(micros)
            sizes.append(size)
    return timings, sizes, centre


def old_design(board: Board, now: float) -> tuple[int, float]:
    """The design before: (bytes of the whole board, written on every event, as entries in JSON; the
    old format also held a version per aggregate, so this is a lower bound) and the microseconds
    dispatch took per event by re-scoring every agent for every waiting contact (timed on a sample
    of contacts)."""
    whole = len(json.dumps(board.entries(), separators=(",", ":")))
    sample = list(board.waiting.values())[:20]
    started = time.perf_counter_ns()
    for contact in sample:
        candidates_for(board, contact, now)
    per_contact = (time.perf_counter_ns() - started) / 1000 / len(sample)
    return whole, per_contact * len(board.waiting)


def report(timings: dict[str, list[float]], sizes: list[int], centre: Centre) -> None:
    every = [t for samples in timings.values() for t in samples]
    board = centre.board
    print(
        f"board: {len(board.agents)} agents on {len(SITES)} sites, {len(board.waiting)} waiting, "
        f"{len(board.routed)} ringing, {len(board.talking)} talking or wrapping up; {len(every)} events"
    )
    print("board work per event (fold + dispatch + changed entries), microseconds:")
    print(f"  {'all':18} {percentiles(every)}")
    for name, samples in sorted(timings.items(), key=lambda item: -len(item[1])):
        print(f"  {name:18} {percentiles(samples)}")
    print(f"changelog per event, bytes:\n  {'all':18} {percentiles(sizes)}")
    whole, old_micros = old_design(board, centre.now)
    ordered = sorted(every)
    p99 = ordered[int(0.99 * (len(ordered) - 1))]
    biggest = max(sizes)
    print(
        f"old design (whole board per event, every agent re-scored for every waiting contact): "
        f"{whole} bytes and about {old_micros / 1000:.0f} ms per event"
    )
    print(
        f"ratio: changelog {whole / (sum(sizes) / len(sizes)):.0f}x smaller on average; "
        f"board work {old_micros / (sum(every) / len(every)):.0f}x faster on average"
    )
    met = {True: "met", False: "MISSED"}
    print(
        f"targets: p99 {p99:.0f} us (<= {TARGET_MICROSECONDS}) {met[p99 <= TARGET_MICROSECONDS]}; "
        f"largest changelog {biggest} B (<= {TARGET_BYTES}) {met[biggest <= TARGET_BYTES]}"
    )


def main() -> None:
    if "--profile" in sys.argv:
        profiler = cProfile.Profile()
        profiler.enable()
        timings, sizes, centre = run(EVENTS)
        profiler.disable()
        report(timings, sizes, centre)
        pstats.Stats(profiler).sort_stats("tottime").print_stats(20)
        return
    report(*run(EVENTS))


if __name__ == "__main__":
    main()
