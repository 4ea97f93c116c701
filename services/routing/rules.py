"""A queue's rules as routing applies them (RT-2 to RT-5): which agents it may use, how it ranks them,
how it orders its waiting contacts, and how its target widens while a contact waits. Pure: the board,
the simulator and the queue aggregate share it.

**Expanding targets** ("bullseye", RT-5). A contact starts at step 0, the queue's own target. Each
expanding step, `after_seconds` into its wait, widens it, and the steps add up: a lower minimum
proficiency for every required skill, then every site; a queue with an overflow queue has one more
step, at its maximum wait, where the overflow queue's agents may take the contact as well. A contact
keeps its queue (and its place in the queue's order) throughout; only who may take it grows.

A queue defined over the API carries its rules in its events; a queue the board meets only in a call's
CallQueued (one the IVR names and no admin has defined) gets the implicit rule: its one required skill
at any proficiency, longest idle first, the tenant's default service level."""

from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from cc.routing.v1 import events_pb2

from services.common.calendar import TIME_ZONE_RULE, day_at, zone_of
from services.common.errors import FieldViolation, InvalidArgument, optional_text, text_problem
from services.routing.capacity import CHANNELS, VOICE

DEFAULT_SERVICE_LEVEL_THRESHOLD_SECONDS = 20
DEFAULT_SECONDS_PER_PRIORITY = 60
MAX_PROFICIENCY = 10
# A day: a queue whose contacts wait longer than that has no service level worth the name.
MAX_SECONDS = 86_400


class Strategy(StrEnum):
    LONGEST_IDLE = "longest-idle"
    MOST_SKILLED = "most-skilled"
    ROUND_ROBIN = "round-robin"
    FEWEST_CONTACTS = "fewest-contacts"
    LEAST_TALK_TIME = "least-talk-time"


_STRATEGY_OF_PROTO = {
    events_pb2.ROUTING_STRATEGY_UNSPECIFIED: Strategy.LONGEST_IDLE,
    events_pb2.ROUTING_STRATEGY_LONGEST_IDLE: Strategy.LONGEST_IDLE,
    events_pb2.ROUTING_STRATEGY_MOST_SKILLED: Strategy.MOST_SKILLED,
    events_pb2.ROUTING_STRATEGY_ROUND_ROBIN: Strategy.ROUND_ROBIN,
    events_pb2.ROUTING_STRATEGY_FEWEST_CONTACTS: Strategy.FEWEST_CONTACTS,
    events_pb2.ROUTING_STRATEGY_LEAST_TALK_TIME: Strategy.LEAST_TALK_TIME,
}
PROTO_OF_STRATEGY = {strategy: value for value, strategy in _STRATEGY_OF_PROTO.items() if value}


@dataclass(frozen=True)
class ExpandingStep:
    after_seconds: int
    # every required skill's minimum becomes at most this; None keeps it
    min_proficiency: int | None = None
    any_site: bool = False


@dataclass(frozen=True)
class QueueRule:
    queue_id: str
    # (skill, minimum proficiency; 0 for any)
    skills: tuple[tuple[str, int], ...]
    any_of: bool = False
    strategy: Strategy = Strategy.LONGEST_IDLE
    service_level_threshold_seconds: int = DEFAULT_SERVICE_LEVEL_THRESHOLD_SECONDS
    seconds_per_priority: int = DEFAULT_SECONDS_PER_PRIORITY
    sites: tuple[str, ...] = ()
    max_wait_seconds: int = 0
    overflow_queue_id: str = ""
    display_name: str = ""
    expanding: tuple[ExpandingStep, ...] = ()
    # The customer's last agent (RT-6): answered within the window, waited for this long; 0: off.
    last_agent_window_seconds: int = 0
    last_agent_wait_seconds: int = 0
    # The channel of its contacts (RT-7); agents take them within their capacity for it.
    channel: str = VOICE
    # The time zone of its day (its line of business's): its counters start again at its local
    # midnight. "": UTC.
    time_zone: str = ""

    def day_at(self, at: float) -> str:
        """The queue's day (an ISO date) at the moment `at`, in its time zone."""
        return day_at(at, self.time_zone)

    @property
    def last_step(self) -> int:
        """The highest step a contact of the queue can reach."""
        return len(self.expanding) + (1 if self.overflow_queue_id else 0)

    def step_starts(self, step: int) -> int:
        """Seconds into a contact's wait when `step` (0 to `last_step`) begins: 0 when a contact that
        waits for its customer's last agent may go to anyone else; the overflow comes after every
        expanding step, at its maximum wait or with the last step, whichever is later."""
        if step == 0:
            return self.last_agent_wait_seconds
        if step <= len(self.expanding):
            return self.expanding[step - 1].after_seconds
        return max(self.max_wait_seconds, self.expanding[-1].after_seconds if self.expanding else 0)

    def fit(self, skills: Mapping[str, int], site_id: str) -> int | None:
        """How well an agent with these skills, at this site, fits the queue: the sum of its
        proficiencies in the required skills it has; None when the queue may not use it."""
        if self.sites and site_id not in self.sites:
            return None
        return self.skill_fit(skills)

    def skill_fit(self, skills: Mapping[str, int]) -> int | None:
        """`fit` by skills alone, whatever the site."""
        held = [skills[name] for name, minimum in self.skills if skills.get(name, -1) >= minimum]
        if not held or (not self.any_of and len(held) < len(self.skills)):
            return None
        return sum(held)

    def order_key(self, priority: int, enqueued_at: float, contact_id: str) -> tuple[float, float, str]:
        """Waiting contacts are served in this order, across every queue that shares agents: priority
        with ageing (RT-4), each level worth `seconds_per_priority` of waiting; then arrival; then id,
        so that ties are deterministic. Fixed while a contact waits, so it keeps its place in a line."""
        return (enqueued_at - priority * self.seconds_per_priority, enqueued_at, contact_id)

    @property
    def target(self) -> tuple[tuple[tuple[str, int], ...], bool, tuple[str, ...], str]:
        """Which agents the queue may use, for which channel: queues of one target share them, in one
        order of contacts."""
        return (self.skills, self.any_of, self.sites, self.channel)

    @property
    def skill_label(self) -> str:
        """The required skills as one line: `member>=7`, `vip+member`, `billing|payment`."""
        names = [f"{name}>={minimum}" if minimum else name for name, minimum in self.skills]
        return ("|" if self.any_of else "+").join(names)

    @property
    def target_label(self) -> str:
        """Who the queue may use, as one line: its skills, then its sites when it has any, then its
        channel when it is not voice."""
        label = f"{self.skill_label} at {'/'.join(self.sites)}" if self.sites else self.skill_label
        return label if self.channel == VOICE else f"{label} for {self.channel}"

    def to_entry(self) -> dict[str, Any]:
        return {
            **vars(self),
            "skills": [list(pair) for pair in self.skills],
            "sites": list(self.sites),
            "strategy": str(self.strategy),
            "expanding": [vars(step) for step in self.expanding],
        }

    @staticmethod
    def from_entry(entry: Mapping[str, Any]) -> "QueueRule":
        return QueueRule(
            **{
                **entry,
                "skills": tuple((name, minimum) for name, minimum in entry["skills"]),
                "sites": tuple(entry["sites"]),
                "strategy": Strategy(entry["strategy"]),
                "expanding": tuple(ExpandingStep(**step) for step in entry.get("expanding", ())),
            }
        )


@dataclass(frozen=True)
class Target:
    """Which agents a contact at one step may use: those any of `rules` admits."""

    rules: tuple[QueueRule, ...]
    label: str

    @property
    def channel(self) -> str:
        """Its contacts' channel: its queue's (an overflow queue lends its agents, not its channel)."""
        return self.rules[0].channel

    def fit(self, skills: Mapping[str, int], site_id: str) -> int | None:
        fits = [fit for rule in self.rules if (fit := rule.fit(skills, site_id)) is not None]
        return max(fits) if fits else None

    def skill_fit(self, skills: Mapping[str, int]) -> int | None:
        fits = [fit for rule in self.rules if (fit := rule.skill_fit(skills)) is not None]
        return max(fits) if fits else None


def targets(rule: QueueRule, queues: Mapping[str, QueueRule]) -> list[Target]:
    """The queue's target at each step, 0 to `last_step` (see the module docstring)."""
    widened, found = rule, [Target((rule,), rule.target_label)]
    for step in rule.expanding:
        if step.min_proficiency is not None:
            floor = step.min_proficiency
            widened = replace(widened, skills=tuple((name, min(m, floor)) for name, m in widened.skills))
        if step.any_site:
            widened = replace(widened, sites=())
        found.append(Target((widened,), widened.target_label + (" at any site" if step.any_site else "")))
    if rule.overflow_queue_id:
        overflow = queues.get(rule.overflow_queue_id)
        if overflow is None:  # not defined (yet): nobody more
            found.append(found[-1])
        else:
            label = f"{found[-1].label} or overflow {overflow.queue_id}: {overflow.target_label}"
            found.append(Target((widened, overflow), label))
    return found


def implicit_rule(
    queue_id: str, skill: str, service_level_threshold_seconds: int, channel: str = VOICE
) -> QueueRule:
    return QueueRule(
        queue_id,
        skills=((skill, 0),),
        service_level_threshold_seconds=service_level_threshold_seconds,
        channel=channel,
    )


def implicit_rules(
    skills: Mapping[str, str], service_level_threshold_seconds: int = DEFAULT_SERVICE_LEVEL_THRESHOLD_SECONDS
) -> dict[str, QueueRule]:
    """The implicit rules of queues known by id and skill only (the default centre's)."""
    return {q: implicit_rule(q, skill, service_level_threshold_seconds) for q, skill in skills.items()}


def rule_of(queue_id: str, rules: events_pb2.QueueRules) -> QueueRule:
    """The rule of a queue from its (validated) rules message, defaults filled in. A skill listed twice
    is one requirement: the higher minimum when all are needed, the lower when any one will do."""
    any_of = rules.skill_match == events_pb2.SKILL_MATCH_ANY_OF
    minimums: dict[str, int] = {}
    for s in rules.skills:
        held = minimums.get(s.skill)
        minimums[s.skill] = (
            s.min_proficiency if held is None else (min if any_of else max)(held, s.min_proficiency)
        )
    return QueueRule(
        queue_id,
        skills=tuple(minimums.items()),
        any_of=any_of,
        strategy=_STRATEGY_OF_PROTO.get(rules.strategy, Strategy.LONGEST_IDLE),
        service_level_threshold_seconds=rules.service_level_threshold_seconds
        or DEFAULT_SERVICE_LEVEL_THRESHOLD_SECONDS,
        seconds_per_priority=rules.seconds_per_priority or DEFAULT_SECONDS_PER_PRIORITY,
        sites=tuple(rules.sites),
        max_wait_seconds=rules.max_wait_seconds,
        overflow_queue_id=rules.overflow_queue_id,
        display_name=rules.display_name,
        expanding=tuple(
            ExpandingStep(
                s.after_seconds, s.min_proficiency if s.HasField("min_proficiency") else None, s.any_site
            )
            # in the order they come due; steps due together apply in the order given
            for s in sorted(rules.expanding, key=lambda step: step.after_seconds)
        ),
        last_agent_window_seconds=rules.last_agent_window_seconds,
        last_agent_wait_seconds=rules.last_agent_wait_seconds,
        channel=rules.channel or VOICE,
        time_zone=rules.time_zone,
    )


def proto_of(rule: QueueRule) -> events_pb2.QueueRules:
    """The rules message of a rule, every default spelled out."""
    return events_pb2.QueueRules(
        display_name=rule.display_name,
        skills=[events_pb2.SkillRequirement(skill=n, min_proficiency=m) for n, m in rule.skills],
        skill_match=events_pb2.SKILL_MATCH_ANY_OF if rule.any_of else events_pb2.SKILL_MATCH_ALL_OF,
        strategy=PROTO_OF_STRATEGY[rule.strategy],
        service_level_threshold_seconds=rule.service_level_threshold_seconds,
        seconds_per_priority=rule.seconds_per_priority,
        sites=rule.sites,
        max_wait_seconds=rule.max_wait_seconds,
        overflow_queue_id=rule.overflow_queue_id,
        expanding=[
            events_pb2.ExpandingStep(
                after_seconds=s.after_seconds, min_proficiency=s.min_proficiency, any_site=s.any_site
            )
            for s in rule.expanding
        ],
        last_agent_window_seconds=rule.last_agent_window_seconds,
        last_agent_wait_seconds=rule.last_agent_wait_seconds,
        channel=rule.channel,
        time_zone=rule.time_zone,
    )


def validated(queue_id: str, rules: events_pb2.QueueRules) -> events_pb2.QueueRules:
    """The rules as the queue's event records them (defaults spelled out), or InvalidArgument naming
    every field at fault."""
    violations: list[FieldViolation] = []

    def check(ok: bool, field: str, description: str) -> None:
        if not ok:
            violations.append(FieldViolation(f"rules.{field}", description))

    check(bool(rules.skills), "skills", "at least one required skill")
    for index, skill in enumerate(rules.skills):
        problem = text_problem(skill.skill)
        check(problem is None, f"skills[{index}].skill", f"a skill's name {problem}")
        check(
            0 <= skill.min_proficiency <= MAX_PROFICIENCY,
            f"skills[{index}].min_proficiency",
            "1 to 10, or 0 for any proficiency",
        )
    check(rules.strategy in _STRATEGY_OF_PROTO, "strategy", "a known strategy")
    check(rules.skill_match in (0, 1, 2), "skill_match", "all-of or any-of")
    seconds = (
        "service_level_threshold_seconds",
        "seconds_per_priority",
        "max_wait_seconds",
        "last_agent_window_seconds",
        "last_agent_wait_seconds",
    )
    for field in seconds:
        check(0 <= getattr(rules, field) <= MAX_SECONDS, field, f"0 to {MAX_SECONDS} seconds")
    check(not rules.channel or rules.channel in CHANNELS, "channel", f"one of {', '.join(CHANNELS)}")
    check(not rules.time_zone or zone_of(rules.time_zone) is not None, "time_zone", TIME_ZONE_RULE)
    for index, site in enumerate(rules.sites):
        problem = text_problem(site)
        check(problem is None, f"sites[{index}]", f"a site {problem}")
    overflow = rules.overflow_queue_id
    check(
        bool(overflow) == bool(rules.max_wait_seconds),
        "overflow_queue_id",
        "a maximum wait needs the queue its contacts overflow to, and an overflow queue needs a maximum wait",
    )
    check(not overflow or text_problem(overflow) is None, "overflow_queue_id", "a queue id")
    for index, step in enumerate(rules.expanding):
        field = f"expanding[{index}]"
        check(0 < step.after_seconds <= MAX_SECONDS, f"{field}.after_seconds", f"1 to {MAX_SECONDS} seconds")
        check(0 <= step.min_proficiency <= MAX_PROFICIENCY, f"{field}.min_proficiency", "0 to 10")
    if violations:
        raise InvalidArgument("invalid-argument", "the queue's rules are not valid", violations)
    optional_text(rules.display_name, "rules.display_name", "the queue's name")
    return proto_of(rule_of(queue_id, rules))
