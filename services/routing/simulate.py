"""A discrete-event simulation of a contact centre in virtual time, routed by the production board and
matching code (RT-3, AN-7): the same `apply` folds the same call and agent events, and the same
`dispatch` chooses the agent, so what it measures is what the routing worker would do.

    python -m services.routing.simulate SCENARIO.toml --calls N --seed S --json

Arrivals are Poisson per queue; handle times exponential or lognormal; callers give up after an
exponential patience (0: never). Handle time is all of the agent's busy time for a contact; ring and
wrap-up are 0 unless the scenario sets `ring_seconds` / `wrap_up_seconds`, so a one-queue scenario is
exactly M/M/N (+M with patience). `--calls N` offers N calls, each run to completion. The figures per
queue (an abandoned call counts in the service level's denominator, as in the live metrics):

    {"queues": {"<id>": {"offered", "answered", "abandoned", "service_level_percent",
     "average_speed_of_answer_seconds", "abandonment_rate_percent", "occupancy_percent"}}}

Occupancy of a queue is the agents' busy time on its contacts over the staffed time of the agents who
may take them at all (its widest target). Only the JSON goes to standard output. A scenario file
(bench/scenarios/):

    service_level_threshold_seconds = 20
    [[queues]]
    id = "member"
    skill = "member"                     # or skills = { member = 5, vip = 0 } (name = minimum proficiency)
    skill_match = "all-of"               # or "any-of"
    strategy = "longest-idle"            # most-skilled, round-robin, fewest-contacts, least-talk-time
    sites = []                           # only agents of these sites; empty for every site
    expanding = [{ after_seconds = 30, min_proficiency = 1 }, { after_seconds = 60, any_site = true }]
    overflow_queue = "general"           # with overflow_after_seconds: its agents may take the call too
    arrivals_per_hour = 1800
    handle_seconds_mean = 180
    handle_distribution = "exponential"  # or "lognormal" (handle_seconds_cv, 1.0)
    patience_seconds_mean = 0            # 0 = callers never abandon
    [[agents]]
    count = 14
    site = "seoul"
    skills = { member = 5 }

A scenario may also set `outside_target_handle_factor` (1.0): an agent without a queue's skills at
their minimums (one its target took on after widening) handles that queue's calls this many times
longer.
"""

import argparse
import heapq
import json
import math
import random
import sys
import tomllib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cc.common.v1 import event_pb2
from cc.routing.v1 import events_pb2 as agent_events
from cc.telephony.v1 import events_pb2 as call_events
from google.protobuf.message import Message

from services.common.envelope import PAYLOAD_FIELDS
from services.routing.board import ON_CONTACT, READY, WRAP_UP, Board, SourcePosition, apply
from services.routing.matching import dispatch, expand_targets
from services.routing.rules import ExpandingStep, QueueRule, Strategy, proto_of, targets
from services.routing.waiting import estimated_wait_seconds

# Virtual time starts here; the board's clock readings are epoch seconds like the worker's.
START_EPOCH = datetime(2026, 1, 5, tzinfo=UTC).timestamp()
TENANT = "simulation"


@dataclass(frozen=True)
class QueueSpec:
    queue_id: str
    rule: QueueRule
    arrivals_per_second: float
    handle_seconds_mean: float
    handle_distribution: str = "exponential"
    handle_seconds_cv: float = 1.0
    patience_seconds_mean: float = 0.0
    # Who handles the queue's calls at their usual speed (see `outside_target_handle_factor`): its
    # rule's skills, whatever its sites; set apart from `rule` only to compare routing rules.
    competence: QueueRule | None = None

    @property
    def competent(self) -> QueueRule:
        return self.competence or self.rule


@dataclass(frozen=True)
class AgentGroup:
    count: int
    site: str
    skills: dict[str, int]


@dataclass(frozen=True)
class Scenario:
    queues: list[QueueSpec]
    agents: list[AgentGroup]
    service_level_threshold_seconds: int = 20
    ring_seconds: float = 0.0
    wrap_up_seconds: float = 0.0
    # An agent outside a queue's own target (taken on after its target widened, or by a queue that
    # asks for no particular skill) handles its contacts this many times longer.
    outside_target_handle_factor: float = 1.0

    @staticmethod
    def parse(data: dict[str, Any]) -> "Scenario":
        """A scenario from its TOML table; ValueError naming what is wrong."""
        queues = []
        threshold = int(data.get("service_level_threshold_seconds", 20))
        for queue in data.get("queues", []):
            distribution = queue.get("handle_distribution", "exponential")
            if distribution not in ("exponential", "lognormal"):
                raise ValueError(
                    f"queue {queue.get('id')}: handle_distribution must be exponential or lognormal"
                )
            queues.append(
                QueueSpec(
                    queue_id=str(queue["id"]),
                    rule=_rule(queue, threshold),
                    arrivals_per_second=float(queue["arrivals_per_hour"]) / 3600,
                    handle_seconds_mean=float(queue["handle_seconds_mean"]),
                    handle_distribution=distribution,
                    handle_seconds_cv=float(queue.get("handle_seconds_cv", 1.0)),
                    patience_seconds_mean=float(queue.get("patience_seconds_mean", 0)),
                )
            )
        agents = [
            AgentGroup(int(group["count"]), str(group.get("site", "site")), dict(group["skills"]))
            for group in data.get("agents", [])
        ]
        if not queues or not agents:
            raise ValueError("a scenario needs at least one [[queues]] and one [[agents]] table")
        return Scenario(
            queues=queues,
            agents=agents,
            service_level_threshold_seconds=threshold,
            ring_seconds=float(data.get("ring_seconds", 0)),
            outside_target_handle_factor=float(data.get("outside_target_handle_factor", 1.0)),
            wrap_up_seconds=float(data.get("wrap_up_seconds", 0)),
        )


def _rule(queue: dict[str, Any], threshold: int) -> QueueRule:
    queue_id = str(queue["id"])
    skills = queue.get("skills") or {str(queue["skill"]): 0}
    match = queue.get("skill_match", "all-of")
    if match not in ("all-of", "any-of"):
        raise ValueError(f"queue {queue_id}: skill_match must be all-of or any-of")
    try:
        strategy = Strategy(queue.get("strategy", Strategy.LONGEST_IDLE))
    except ValueError:
        known = ", ".join(Strategy)
        raise ValueError(f"queue {queue_id}: strategy {queue['strategy']!r} is not one of {known}") from None
    return QueueRule(
        queue_id,
        skills=tuple((str(name), int(minimum)) for name, minimum in skills.items()),
        any_of=match == "any-of",
        strategy=strategy,
        service_level_threshold_seconds=threshold,
        sites=tuple(str(site) for site in queue.get("sites", ())),
        expanding=tuple(
            ExpandingStep(
                int(step["after_seconds"]), step.get("min_proficiency"), bool(step.get("any_site", False))
            )
            for step in queue.get("expanding", ())
        ),
        max_wait_seconds=int(queue.get("overflow_after_seconds", 0)),
        overflow_queue_id=str(queue.get("overflow_queue", "")),
    )


@dataclass
class QueueResult:
    offered: int = 0
    answered: int = 0
    abandoned: int = 0
    answered_within_threshold: int = 0
    wait_total: float = 0.0
    busy_total: float = 0.0
    # Answered contacts that waited with an estimate (RT-10), and the estimates' errors (estimate - wait).
    estimated: int = 0
    estimate_error_total: float = 0.0
    estimate_absolute_error_total: float = 0.0

    def figures(self, staffed_seconds: float) -> dict[str, float | int]:
        removed = self.answered + self.abandoned
        return {
            "offered": self.offered,
            "answered": self.answered,
            "abandoned": self.abandoned,
            "service_level_percent": _percent(self.answered_within_threshold, removed),
            "average_speed_of_answer_seconds": self.wait_total / self.answered if self.answered else 0.0,
            "abandonment_rate_percent": _percent(self.abandoned, self.offered),
            "occupancy_percent": 100 * self.busy_total / staffed_seconds if staffed_seconds else 0.0,
            # How far the estimated wait a waiting contact was given at arrival was from its wait.
            "estimated_wait_mean_absolute_error_seconds": _mean(
                self.estimate_absolute_error_total, self.estimated
            ),
            "estimated_wait_mean_error_seconds": _mean(self.estimate_error_total, self.estimated),
        }


def _percent(part: float, whole: float) -> float:
    return 100 * part / whole if whole else 0.0


def _mean(total: float, count: int) -> float:
    return total / count if count else 0.0


@dataclass
class _Call:
    call_id: str
    queue: QueueSpec
    enqueued_at: float
    routed: bool = False  # a caller whose call rings an agent stays on the line
    ended: bool = False
    wrap_up: float = 0.0
    estimate: float | None = None  # the wait it was told at arrival, when it had to wait


@dataclass
class Simulation:
    """One run: a clock in seconds since START, a calendar of what happens next, and the board."""

    scenario: Scenario
    rng: random.Random
    board: Board = field(init=False)
    now: float = 0.0
    _calendar: list[tuple[float, int, str, str]] = field(default_factory=list)
    _sequence: int = 0
    _offset: int = 0
    _calls: dict[str, _Call] = field(default_factory=dict)
    _results: dict[str, QueueResult] = field(default_factory=dict)
    _versions: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.board = Board(
            TENANT, service_level_threshold_seconds=self.scenario.service_level_threshold_seconds
        )
        self._results = {queue.queue_id: QueueResult() for queue in self.scenario.queues}

    def run(self, calls: int) -> dict[str, dict[str, float | int]]:
        self._seat_the_agents()
        arrivals = self._arrival_times(calls)
        for at, queue_index in arrivals:
            self._plan(at, "arrive", str(queue_index))
        while self._calendar:
            at, _, kind, subject = heapq.heappop(self._calendar)
            self.now = at
            getattr(self, f"_{kind}")(subject)
        staffed = self.now  # every agent is logged in from the start to the last call's end
        return {
            queue.queue_id: self._results[queue.queue_id].figures(staffed * self._agents_for(queue.rule))
            for queue in self.scenario.queues
        }

    # ---- the calendar ----------------------------------------------------------------------------

    def _plan(self, at: float, kind: str, subject: str) -> None:
        self._sequence += 1
        heapq.heappush(self._calendar, (at, self._sequence, kind, subject))

    def _arrival_times(self, calls: int) -> list[tuple[float, int]]:
        """The first `calls` arrivals of the queues' merged Poisson streams."""
        total = sum(queue.arrivals_per_second for queue in self.scenario.queues)
        weights = [queue.arrivals_per_second / total for queue in self.scenario.queues]
        at, times = 0.0, []
        for _ in range(calls):
            at += self.rng.expovariate(total)
            times.append((at, self.rng.choices(range(len(weights)), weights)[0]))
        return times

    def _arrive(self, queue_index: str) -> None:
        queue = self.scenario.queues[int(queue_index)]
        call = _Call(f"call-{len(self._calls) + 1}", queue, self.now)
        self._calls[call.call_id] = call
        self._results[queue.queue_id].offered += 1
        queued = call_events.CallQueued(queue_id=queue.queue_id, reason="simulated")
        queued.enqueued_at.FromNanoseconds(self._nanoseconds(self.now))
        self._event(call.call_id, queued)
        estimate = estimated_wait_seconds(self.board, self.board.waiting[call.call_id])
        call.estimate = estimate if estimate else None  # 0: an agent is free, nothing to estimate
        for step in range(1, queue.rule.last_step + 1):
            self._plan(self.now + queue.rule.step_starts(step), "expand", call.call_id)
        if queue.patience_seconds_mean > 0:
            self._plan(
                self.now + self.rng.expovariate(1 / queue.patience_seconds_mean), "give_up", call.call_id
            )
        self._dispatch()

    def _expand(self, call_id: str) -> None:
        if expand_targets(self.board, START_EPOCH + self.now):  # every contact due, this one among them
            self._dispatch()

    def _give_up(self, call_id: str) -> None:
        call = self._calls[call_id]
        if call.routed or call.ended:
            return
        call.ended = True
        self._results[call.queue.queue_id].abandoned += 1
        self._event(call_id, call_events.CallEnded(abandoned=True))

    def _answer(self, subject: str) -> None:
        call_id, agent_id = subject.split(" ")
        call = self._calls[call_id]
        result = self._results[call.queue.queue_id]
        wait = self.now - call.enqueued_at
        result.answered += 1
        result.wait_total += wait
        result.answered_within_threshold += wait <= self.scenario.service_level_threshold_seconds
        if call.estimate is not None:
            result.estimated += 1
            result.estimate_error_total += call.estimate - wait
            result.estimate_absolute_error_total += abs(call.estimate - wait)
        answered = call_events.CallAnswered(agent_id=agent_id, queue_id=call.queue.queue_id)
        answered.enqueued_at.FromNanoseconds(self._nanoseconds(call.enqueued_at))
        self._event(call_id, answered)
        handle = self._handle_time(call.queue)  # talk, then wrap-up, out of the agent's busy time
        if call.queue.competent.skill_fit(self.board.agents[agent_id].skills) is None:
            handle *= self.scenario.outside_target_handle_factor
        result.busy_total += handle + self.scenario.ring_seconds
        call.wrap_up = min(self.scenario.wrap_up_seconds, handle)
        self._plan(self.now + handle - call.wrap_up, "hang_up", subject)

    def _hang_up(self, subject: str) -> None:
        call_id, agent_id = subject.split(" ")
        self._calls[call_id].ended = True
        self._event(call_id, call_events.CallEnded())
        self._agent_state(agent_id, WRAP_UP, ON_CONTACT, call_id)
        self._plan(self.now + self._calls[call_id].wrap_up, "ready", subject)

    def _ready(self, subject: str) -> None:
        call_id, agent_id = subject.split(" ")
        self._agent_state(agent_id, READY, WRAP_UP, call_id)
        self._dispatch()

    # ---- the production board ----------------------------------------------------------------------

    def _dispatch(self) -> None:
        for decision in dispatch(self.board, START_EPOCH + self.now):
            self._calls[decision.contact.contact_id].routed = True
            subject = f"{decision.contact.contact_id} {decision.routed.agent_id}"
            if self.scenario.ring_seconds:
                self._plan(self.now + self.scenario.ring_seconds, "answer", subject)
            else:  # answered in the same instant: nothing may happen in between
                self._answer(subject)

    def _seat_the_agents(self) -> None:
        for queue in self.scenario.queues:
            self._event(queue.queue_id, agent_events.QueueCreated(rules=proto_of(queue.rule)))
        for group_index, group in enumerate(self.scenario.agents):
            skills = [
                agent_events.Skill(name=name, proficiency=level) for name, level in group.skills.items()
            ]
            for n in range(group.count):
                logged_in = agent_events.AgentLoggedIn(site_id=group.site, skills=skills, initial_state=READY)
                self._event(f"agent-{group_index}-{n}", logged_in)

    def _agent_state(
        self,
        agent_id: str,
        state: "agent_events.AgentState.ValueType",
        previous: "agent_events.AgentState.ValueType",
        contact_id: str,
    ) -> None:
        changed = agent_events.AgentStateChanged(state=state, previous_state=previous, contact_id=contact_id)
        self._event(agent_id, changed)

    def _event(self, aggregate_id: str, payload: Message) -> None:
        """Fold one event into the board, enveloped with only what the board reads (its payload, aggregate
        and time): the full envelope (`build_event`) cost a third of a run, in names and times."""
        version = self._versions.get(aggregate_id, 0) + 1
        self._versions[aggregate_id] = version
        event = event_pb2.Event(tenant_id=TENANT, aggregate_id=aggregate_id, aggregate_version=version)
        event.occurred_at.FromNanoseconds(self._nanoseconds(self.now))
        getattr(event, PAYLOAD_FIELDS[payload.DESCRIPTOR.full_name]).CopyFrom(payload)
        self._offset += 1
        apply(self.board, event, SourcePosition("simulation", 0, self._offset))
        self.board.drop_changelog()  # nothing is written anywhere

    @staticmethod
    def _nanoseconds(seconds: float) -> int:
        return int((START_EPOCH + seconds) * 1e9)

    def _handle_time(self, queue: QueueSpec) -> float:
        mean = queue.handle_seconds_mean
        if queue.handle_distribution == "lognormal":
            sigma = math.sqrt(math.log(1 + queue.handle_seconds_cv**2))
            return self.rng.lognormvariate(math.log(mean) - sigma**2 / 2, sigma)
        return self.rng.expovariate(1 / mean)

    def _agents_for(self, rule: QueueRule) -> int:
        """The agents who may take the queue's calls at all: those of its widest target."""
        widest = targets(rule, {queue.queue_id: queue.rule for queue in self.scenario.queues})[-1]
        return sum(g.count for g in self.scenario.agents if widest.fit(g.skills, g.site) is not None)


def simulate(scenario: Scenario, calls: int, seed: int) -> dict[str, dict[str, float | int]]:
    return Simulation(scenario, random.Random(seed)).run(calls)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m services.routing.simulate", description=__doc__.split("\n")[0]
    )
    parser.add_argument("scenario", type=Path)
    parser.add_argument("--calls", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON (the only output)")
    args = parser.parse_args(argv)
    try:
        scenario = Scenario.parse(tomllib.loads(args.scenario.read_text()))
    except (OSError, ValueError, KeyError, tomllib.TOMLDecodeError) as error:
        print(f"{args.scenario}: {error}", file=sys.stderr)
        return 2
    figures = {"queues": simulate(scenario, args.calls, args.seed)}
    if args.json:
        print(json.dumps(figures))
    else:
        for queue_id, row in figures["queues"].items():
            print(
                queue_id,
                " ".join(f"{k}={v:.2f}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()),
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
