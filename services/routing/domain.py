"""The agent aggregate (RT-1, RT-2, RT-7, RT-9): decide and evolve, pure. An admin may define an
agent's profile (name, site, skills, capacity, endpoint) before it first logs in; a log-in that names no
site, skills or capacity takes the profile's. Agents log in with a site, skills and a capacity per
channel, set themselves ready or not ready with a reason, are put on a call when they answer, wrap up
for a configurable time after it, and go not ready on ring-no-answer or when their desktop's heartbeats
stop. A supervisor can change a logged-in agent's skills. Contacts of other channels leave the agent's
state as it is: routing counts them against its capacity."""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from cc.common.v1 import event_pb2
from cc.routing.v1 import commands_pb2, events_pb2
from google.protobuf.message import Message

from services.common.aggregate import evolved
from services.common.envelope import to_datetime
from services.common.errors import (
    FieldViolation,
    IllegalTransition,
    InvalidArgument,
    NotFound,
    optional_text,
    require,
    text_problem,
)
from services.routing.capacity import validated_capacity

AgentState = events_pb2.AgentState
READY = AgentState.AGENT_STATE_READY
NOT_READY = AgentState.AGENT_STATE_NOT_READY
ON_CONTACT = AgentState.AGENT_STATE_ON_CONTACT
WRAP_UP = AgentState.AGENT_STATE_WRAP_UP
LOGGED_OUT = AgentState.AGENT_STATE_LOGGED_OUT
DEFAULT_PROFICIENCY = 5
RING_NO_ANSWER = "ring-no-answer"
# It declined a contact of another channel than voice offered to it (RT-7).
DECLINED = "declined"
# Its desktop stopped sending heartbeats (RT-9).
LOST_PRESENCE = "lost-presence"
# On a call because another agent consults it (TEL-1): telephony reads this reason (JoinConsultation).
CONSULTATION = "consultation"


@dataclass(frozen=True)
class AgentRules:
    # The seed product's settings: state after login (수신대기 = ready) and after a call (후처리 = wrap-up).
    state_after_login: "events_pb2.AgentState.ValueType" = READY
    wrap_up_seconds: int = 10


Skills = tuple[tuple[str, int], ...]  # (name, proficiency)
Capacity = tuple[tuple[str, int, bool], ...]  # (channel, contacts at once, exclusive)


def skill_pairs(skills: Iterable[events_pb2.Skill]) -> Skills:
    return tuple((s.name, s.proficiency) for s in skills)


def skill_messages(skills: Skills) -> list[events_pb2.Skill]:
    return [events_pb2.Skill(name=name, proficiency=level) for name, level in skills]


def capacity_triples(capacity: Iterable[events_pb2.ChannelCapacity]) -> Capacity:
    return tuple((c.channel, c.max_contacts, c.exclusive) for c in capacity)


def capacity_messages(capacity: Capacity) -> list[events_pb2.ChannelCapacity]:
    return [
        events_pb2.ChannelCapacity(channel=channel, max_contacts=most, exclusive=exclusive)
        for channel, most, exclusive in capacity
    ]


@dataclass(frozen=True)
class AgentProfile:
    """What an admin defined for the agent: what its log-ins take by default."""

    display_name: str
    site_id: str
    skills: Skills
    capacity: Capacity
    endpoint: str

    def message(self) -> events_pb2.AgentProfileDefined:
        return events_pb2.AgentProfileDefined(
            display_name=self.display_name,
            site_id=self.site_id,
            skills=skill_messages(self.skills),
            capacity=capacity_messages(self.capacity),
            endpoint=self.endpoint,
        )


@dataclass(frozen=True)
class AgentStatus:
    agent_id: str
    display_name: str
    site_id: str
    skills: Skills
    state: "events_pb2.AgentState.ValueType"
    state_since: datetime
    reason: str = ""
    contact_id: str = ""
    # While wrapping up: how long wrap-up lasts (a length, not a time: see services.common.deadlines),
    # and the event that began it (the timer's command id derives from it, the same on every instance).
    wrap_up_for: timedelta | None = None
    wrap_up_event_id: str = ""
    # Its capacity profile as logged in (RT-7): (channel, contacts at once, exclusive); empty is one call.
    capacity: Capacity = ()
    profile: AgentProfile | None = None
    # When this session began: a heartbeat from before it is an earlier desktop's (services.routing.presence).
    logged_in_at: datetime | None = None
    # A contact taken while not ready (an outbound call the agent placed, TEL-8) ends its wrap-up not
    # ready again, with the reason it had; any other goes back to ready.
    back_to_not_ready: bool = False
    back_reason: str = ""


def state_name(state: "events_pb2.AgentState.ValueType") -> str:
    return AgentState.Name(state).removeprefix("AGENT_STATE_").lower().replace("_", "-")


def customer_of(state: AgentStatus | None, command: commands_pb2.AgentCommand) -> str:
    return ""  # agent events belong to no customer's journey


def decide(
    state: AgentStatus | None, command: commands_pb2.AgentCommand, now: datetime, rules: AgentRules
) -> list[Message]:
    agent_id = command.meta.aggregate_id
    action = command.WhichOneof("command")
    if action == "log_in":
        if state is not None and state.state != LOGGED_OUT:
            raise IllegalTransition("agent-already-logged-in", f"agent {agent_id} is already logged in")
        return [_log_in(command.log_in, rules, state.profile if state else None)]
    if action == "define_profile":
        defined = _profile(command.define_profile.profile)
        if state is not None and state.profile == profile_of(defined):
            raise IllegalTransition("agent-profile-unchanged", f"agent {agent_id} has this profile already")
        return [defined]
    if state is None:
        raise NotFound("agent-not-found", f"agent {agent_id} has never logged in")
    if action == "join_consultation":
        return _consulted(state, command.join_consultation)
    if state.state == LOGGED_OUT:
        raise IllegalTransition("agent-logged-out", f"agent {agent_id} is logged out")
    match action:
        case "set_state":
            return [_set_state(state, command.set_state)]
        case "log_out":
            if state.state == ON_CONTACT:
                raise IllegalTransition(
                    "agent-on-contact", f"agent {agent_id} is on contact {state.contact_id}"
                )
            return [events_pb2.AgentLoggedOut(previous_state=state.state)]
        case "start_contact":
            contact = command.start_contact.contact_id
            if state.state == ON_CONTACT:
                raise IllegalTransition(
                    "agent-on-contact", f"agent {agent_id} is on contact {state.contact_id}"
                )
            return [_changed(state, ON_CONTACT, contact_id=contact)]
        case "start_wrap_up":
            contact = command.start_wrap_up.contact_id
            _expect(state, ON_CONTACT, contact)
            return [_changed(state, WRAP_UP, contact_id=contact, wrap_up_seconds=rules.wrap_up_seconds)]
        case "end_wrap_up":
            contact = command.end_wrap_up.contact_id
            _expect(state, WRAP_UP, contact)
            if state.back_to_not_ready:
                return [_changed(state, NOT_READY, reason=state.back_reason, contact_id=contact)]
            return [_changed(state, READY, contact_id=contact)]
        case "change_skills":
            skills = _skills(command.change_skills.skills)
            if skill_pairs(skills) == state.skills:
                raise IllegalTransition(
                    "agent-skills-unchanged", f"agent {agent_id} has these skills already"
                )
            previous = skill_messages(state.skills)
            return [events_pb2.AgentSkillsChanged(skills=skills, previous_skills=previous)]
        case "mark_lost_presence":
            if state.state not in (READY, WRAP_UP):
                raise IllegalTransition("agent-not-ready", f"agent {agent_id} is {state_name(state.state)}")
            # from wrap-up, that contact's work ends with it
            contact = state.contact_id if state.state == WRAP_UP else ""
            return [_changed(state, NOT_READY, reason=LOST_PRESENCE, contact_id=contact)]
        case "mark_ring_no_answer":
            if state.state != READY:
                raise IllegalTransition("agent-not-ready", f"agent {agent_id} is {state_name(state.state)}")
            missed = command.mark_ring_no_answer
            reason = optional_text(missed.reason, "reason", "why") or RING_NO_ANSWER
            return [_changed(state, NOT_READY, reason=reason, contact_id=missed.contact_id)]
    raise InvalidArgument("unknown-command", "the agent command names no known action")


def _log_in(
    log_in: commands_pb2.LogInAgent, rules: AgentRules, profile: AgentProfile | None
) -> events_pb2.AgentLoggedIn:
    """What the log-in names, and the profile's site, skills, capacity and name for what it leaves out."""
    if profile is None and not (log_in.site_id and log_in.skills):
        # a request that is well formed, but this agent has nothing to take the rest from
        raise IllegalTransition(
            "agent-has-no-profile", "the agent has no profile: its log-in names its site and skills"
        )
    defaults = profile.message() if profile else events_pb2.AgentProfileDefined()
    return events_pb2.AgentLoggedIn(
        site_id=require(log_in.site_id or defaults.site_id, "site_id", "the agent's site"),
        skills=_skills(log_in.skills or defaults.skills),
        display_name=optional_text(
            log_in.display_name or defaults.display_name, "display_name", "the agent's name"
        ),
        initial_state=rules.state_after_login,
        capacity=validated_capacity(log_in.capacity or defaults.capacity),
    )


def _profile(wanted: events_pb2.AgentProfileDefined) -> events_pb2.AgentProfileDefined:
    """The profile as its event records it, or InvalidArgument naming the field at fault."""
    return events_pb2.AgentProfileDefined(
        display_name=optional_text(wanted.display_name, "display_name", "the agent's name"),
        site_id=require(wanted.site_id, "site_id", "the agent's site"),
        skills=_skills(wanted.skills),
        capacity=validated_capacity(wanted.capacity),
        endpoint=optional_text(wanted.endpoint, "endpoint", "where its calls ring"),
    )


def profile_of(defined: events_pb2.AgentProfileDefined) -> AgentProfile:
    return AgentProfile(
        display_name=defined.display_name,
        site_id=defined.site_id,
        skills=skill_pairs(defined.skills),
        capacity=capacity_triples(defined.capacity),
        endpoint=defined.endpoint,
    )


def _skills(wanted: Sequence[events_pb2.Skill]) -> list[events_pb2.Skill]:
    """The skills as events record them (the default proficiency filled in), or every fault named."""
    violations = [FieldViolation("skills", "at least one skill is required")] if not wanted else []
    for index, skill in enumerate(wanted):
        if (problem := text_problem(skill.name)) is not None:
            violations.append(FieldViolation(f"skills[{index}].name", f"a skill's name {problem}"))
        if not 0 <= skill.proficiency <= 10:
            violations.append(
                FieldViolation(
                    f"skills[{index}].proficiency", "proficiency is 1 to 10 (0 for the default, 5)"
                )
            )
    if violations:
        raise InvalidArgument("invalid-argument", "the agent's skills are not valid", violations)
    return [events_pb2.Skill(name=s.name, proficiency=s.proficiency or DEFAULT_PROFICIENCY) for s in wanted]


def _set_state(state: AgentStatus, wanted: commands_pb2.SetAgentState) -> events_pb2.AgentStateChanged:
    if wanted.state not in (READY, NOT_READY):
        raise InvalidArgument(
            "invalid-argument",
            "an agent can set itself ready or not ready only",
            [FieldViolation("state", "ready or not-ready")],
        )
    if state.state == ON_CONTACT:
        raise IllegalTransition(
            "agent-on-contact", f"agent {state.agent_id} is on contact {state.contact_id}"
        )
    # only not-ready has a reason
    reason = optional_text(wanted.reason, "reason", "the reason") if wanted.state == NOT_READY else ""
    if state.state == wanted.state and state.reason == reason:
        raise IllegalTransition(
            "agent-already-in-state", f"agent {state.agent_id} is {state_name(state.state)} already"
        )
    contact = (
        state.contact_id if state.state == WRAP_UP else ""
    )  # leaving wrap-up early ends that contact's work
    return _changed(state, wanted.state, reason=reason, contact_id=contact)


def _expect(state: AgentStatus, wanted: "events_pb2.AgentState.ValueType", contact_id: str) -> None:
    if state.state != wanted or state.contact_id != contact_id:
        raise IllegalTransition(
            f"agent-not-{state_name(wanted)}",
            f"agent {state.agent_id} is not {state_name(wanted)} on {contact_id}",
        )


def _consulted(state: AgentStatus, join: commands_pb2.JoinConsultation) -> list[Message]:
    """Another agent consults this one on a call (TEL-1): on it if free (ready, or on a break of its own:
    not one routing or a lost desktop put it on), else declined with why, so that telephony ends the
    consultation; either answer names the consultation's round."""
    contact = require(join.contact_id, "contact_id", "the call consulted on")
    absent = state.state == NOT_READY and state.reason in (RING_NO_ANSWER, LOST_PRESENCE, DECLINED)
    if state.state == READY or (state.state == NOT_READY and not absent):
        return [
            _changed(state, ON_CONTACT, reason=CONSULTATION, contact_id=contact),
            events_pb2.AgentConsultJoined(contact_id=contact, round=join.round),
        ]
    why = f"not-ready: {state.reason}" if absent else state_name(state.state)
    return [events_pb2.AgentConsultDeclined(contact_id=contact, reason=why, round=join.round)]


def _changed(
    state: AgentStatus,
    new: "events_pb2.AgentState.ValueType",
    *,
    reason: str = "",
    contact_id: str = "",
    wrap_up_seconds: int = 0,
) -> events_pb2.AgentStateChanged:
    return events_pb2.AgentStateChanged(
        state=new,
        previous_state=state.state,
        reason=reason,
        contact_id=contact_id,
        wrap_up_seconds=wrap_up_seconds,
    )


def evolve(state: AgentStatus | None, event: event_pb2.Event) -> AgentStatus:
    at = to_datetime(event.occurred_at)
    match event.WhichOneof("payload"):
        case "agent_profile_defined":
            profile = profile_of(event.agent_profile_defined)
            if state is not None and state.state != LOGGED_OUT:
                return evolved(state, profile=profile)  # the session keeps its own until it logs out
            return AgentStatus(
                agent_id=event.aggregate_id,
                display_name=profile.display_name,
                site_id=profile.site_id,
                skills=profile.skills,
                state=LOGGED_OUT,
                state_since=state.state_since if state else at,
                capacity=profile.capacity,
                profile=profile,
            )
        case "agent_logged_in":
            logged_in = event.agent_logged_in
            return AgentStatus(
                agent_id=event.aggregate_id,
                display_name=logged_in.display_name,
                site_id=logged_in.site_id,
                skills=skill_pairs(logged_in.skills),
                state=logged_in.initial_state,
                state_since=at,
                capacity=capacity_triples(logged_in.capacity),
                profile=state.profile if state else None,
                logged_in_at=at,
            )
    assert state is not None, f"{event.event_type} before agent_logged_in"
    match event.WhichOneof("payload"):
        case "agent_state_changed":
            changed = event.agent_state_changed
            wrapping_up = changed.state == WRAP_UP
            if changed.state == ON_CONTACT:
                # from a break, or from a contact (or its wrap-up) taken from one
                back = state.state == NOT_READY or (
                    state.state in (ON_CONTACT, WRAP_UP) and state.back_to_not_ready
                )
                back_reason = state.reason if state.state == NOT_READY else state.back_reason
            else:  # wrap-up keeps where it goes back to; anything else is where the agent is now
                back = wrapping_up and state.back_to_not_ready
                back_reason = state.back_reason if back else ""
            return evolved(
                state,
                back_to_not_ready=back,
                back_reason=back_reason if back else "",
                state=changed.state,
                state_since=at,
                reason=changed.reason,
                contact_id=changed.contact_id if changed.state in (ON_CONTACT, WRAP_UP) else "",
                wrap_up_for=timedelta(seconds=changed.wrap_up_seconds) if wrapping_up else None,
                wrap_up_event_id=event.event_id if wrapping_up else "",
            )
        case "agent_skills_changed":
            return evolved(state, skills=skill_pairs(event.agent_skills_changed.skills))
        case "agent_logged_out":
            return evolved(
                state,
                state=LOGGED_OUT,
                state_since=at,
                reason="",
                contact_id="",
                wrap_up_for=None,
                wrap_up_event_id="",
            )
    return state
