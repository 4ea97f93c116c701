"""The agent aggregate (RT-1, RT-2): every legal and illegal transition of decide, folded through evolve."""

from collections.abc import Callable

import pytest
from cc.routing.v1 import commands_pb2, events_pb2
from google.protobuf.message import Message

from services.common.aggregate import Versioned
from services.common.errors import IllegalTransition, InvalidArgument, NotFound, PlatformError
from services.routing import domain
from services.routing.domain import LOGGED_OUT, NOT_READY, ON_CONTACT, READY, WRAP_UP, AgentRules
from services.routing.servicer import agent_view
from tests.unit.support import History, at, meta, refused

AGENT_ID = "agent-1"
UNSPECIFIED = events_pb2.AGENT_STATE_UNSPECIFIED


class Agent:
    """An agent's history with one method per command; each returns the payloads it produced."""

    def __init__(self, rules: AgentRules | None = None) -> None:
        self.history = History(
            domain.decide,
            domain.evolve,
            domain.customer_of,
            rules or AgentRules(),
            "routing",
            "agent",
            AGENT_ID,
        )
        self.clock = 0.0

    @property
    def state(self) -> domain.AgentStatus:
        assert self.history.state is not None
        return self.history.state

    @property
    def version(self) -> int:
        return self.history.version

    def send(self, **body: Message) -> list[Message]:
        self.clock += 1
        command = commands_pb2.AgentCommand(meta=meta(AGENT_ID), **body)  # type: ignore[arg-type]
        return self.history.handle(command, at(self.clock))

    def log_in(
        self, site: str = "seoul", skills: list[events_pb2.Skill] | None = None, name: str = "Kim"
    ) -> list[Message]:
        wanted = [events_pb2.Skill(name="member", proficiency=7)] if skills is None else skills
        return self.send(log_in=commands_pb2.LogInAgent(site_id=site, skills=wanted, display_name=name))

    def set_state(self, state: int, reason: str = "") -> list[Message]:
        return self.send(set_state=commands_pb2.SetAgentState(state=state, reason=reason))  # type: ignore[arg-type]

    def log_out(self) -> list[Message]:
        return self.send(log_out=commands_pb2.LogOutAgent())

    def start_contact(self, contact: str = "call-1") -> list[Message]:
        return self.send(start_contact=commands_pb2.StartContact(contact_id=contact))

    def start_wrap_up(self, contact: str = "call-1") -> list[Message]:
        return self.send(start_wrap_up=commands_pb2.StartWrapUp(contact_id=contact))

    def end_wrap_up(self, contact: str = "call-1") -> list[Message]:
        return self.send(end_wrap_up=commands_pb2.EndWrapUp(contact_id=contact))

    def mark_ring_no_answer(self, contact: str = "call-1") -> list[Message]:
        return self.send(mark_ring_no_answer=commands_pb2.MarkRingNoAnswer(contact_id=contact))

    def change_skills(self, *skills: events_pb2.Skill) -> list[Message]:
        return self.send(change_skills=commands_pb2.ChangeAgentSkills(skills=skills))


def skill(name: str, level: int) -> events_pb2.Skill:
    return events_pb2.Skill(name=name, proficiency=level)


def fields(error: PlatformError) -> list[str]:
    return [violation.field for violation in error.field_violations]


def changed(
    state: int, previous: int, reason: str = "", contact: str = "", wrap_up: int = 0
) -> events_pb2.AgentStateChanged:
    return events_pb2.AgentStateChanged(
        state=state,
        previous_state=previous,
        reason=reason,  # type: ignore[arg-type]
        contact_id=contact,
        wrap_up_seconds=wrap_up,
    )


# ---- reaching each state -------------------------------------------------------------------------


def ready() -> Agent:
    agent = Agent()
    agent.log_in()
    return agent


def not_ready() -> Agent:
    agent = ready()
    agent.set_state(NOT_READY, "break")
    return agent


def on_contact() -> Agent:
    agent = ready()
    agent.start_contact("call-1")
    return agent


def wrap_up() -> Agent:
    agent = on_contact()
    agent.start_wrap_up("call-1")
    return agent


def logged_out() -> Agent:
    agent = ready()
    agent.log_out()
    return agent


STATES: dict[str, Callable[[], Agent]] = {
    "ready": ready,
    "not-ready": not_ready,
    "on-contact": on_contact,
    "wrap-up": wrap_up,
}

COMMANDS: dict[str, Callable[[Agent], list[Message]]] = {
    "set_ready": lambda agent: agent.set_state(READY),
    "set_not_ready": lambda agent: agent.set_state(NOT_READY, "lunch"),
    "log_out": lambda agent: agent.log_out(),
    "start_contact": lambda agent: agent.start_contact("call-2"),
    "start_wrap_up": lambda agent: agent.start_wrap_up("call-1"),
    "end_wrap_up": lambda agent: agent.end_wrap_up("call-1"),
    "mark_ring_no_answer": lambda agent: agent.mark_ring_no_answer("call-2"),
    "change_skills": lambda agent: agent.change_skills(skill("vip", 9)),
}


# ---- log in --------------------------------------------------------------------------------------


def test_log_in_emits_logged_in_with_the_initial_state_of_the_rules() -> None:
    agent = Agent()

    payloads = agent.log_in(site="busan", name="Lee", skills=[skill("member", 7), skill("payment", 10)])

    assert payloads == [
        events_pb2.AgentLoggedIn(
            site_id="busan",
            display_name="Lee",
            initial_state=READY,
            skills=[skill("member", 7), skill("payment", 10)],
        )
    ]
    state = agent.state
    assert (state.agent_id, state.site_id, state.display_name) == (AGENT_ID, "busan", "Lee")
    assert state.skills == (("member", 7), ("payment", 10))
    assert (state.state, state.reason, state.contact_id, state.state_since) == (READY, "", "", at(1))


def test_log_in_state_follows_the_rules() -> None:
    agent = Agent(AgentRules(state_after_login=NOT_READY))

    payloads = agent.log_in()

    assert payloads[0].initial_state == NOT_READY  # type: ignore[attr-defined]
    assert agent.state.state == NOT_READY


def test_proficiency_zero_becomes_the_default_five() -> None:
    agent = Agent()

    payloads = agent.log_in(skills=[skill("member", 0), skill("payment", 1)])

    assert list(payloads[0].skills) == [skill("member", 5), skill("payment", 1)]  # type: ignore[attr-defined]
    assert agent.state.skills == (("member", 5), ("payment", 1))


def test_log_in_without_a_site_is_invalid() -> None:
    agent = Agent()

    error = refused(lambda: agent.log_in(site="  "), InvalidArgument, "invalid-argument")

    assert fields(error) == ["site_id"]
    assert agent.history.state is None


def test_log_in_without_skills_needs_a_profile_to_take_them_from() -> None:
    agent = Agent()

    refused(lambda: agent.log_in(skills=[]), IllegalTransition, "agent-has-no-profile")
    bad = [events_pb2.Skill(name="member", proficiency=11)]
    error = refused(lambda: agent.log_in(skills=bad), InvalidArgument, "invalid-argument")

    assert fields(error) == ["skills[0].proficiency"]


@pytest.mark.parametrize(
    ("skills", "expected"),
    [
        ([("", 5)], ["skills[0].name"]),
        ([("member", 5), ("  ", 5)], ["skills[1].name"]),
        ([("member", 11)], ["skills[0].proficiency"]),
        ([("member", -1)], ["skills[0].proficiency"]),
        ([("member", 10), ("payment", 0), ("general", 12)], ["skills[2].proficiency"]),
        (
            [("", 11), ("ok", 3), (" ", -5)],
            ["skills[0].name", "skills[0].proficiency", "skills[2].name", "skills[2].proficiency"],
        ),
    ],
)
def test_invalid_skills_name_every_violation(skills: list[tuple[str, int]], expected: list[str]) -> None:
    agent = Agent()
    wanted = [skill(name, level) for name, level in skills]

    error = refused(lambda: agent.log_in(skills=wanted), InvalidArgument, "invalid-argument")

    assert fields(error) == expected
    assert agent.version == 0


@pytest.mark.parametrize("level", [0, 1, 10])
def test_proficiency_bounds_are_inclusive(level: int) -> None:
    agent = Agent()

    agent.log_in(skills=[events_pb2.Skill(name="member", proficiency=level)])

    assert agent.state.skills == (("member", level or 5),)


@pytest.mark.parametrize("status", sorted(STATES))
def test_logging_in_twice_is_refused(status: str) -> None:
    agent = STATES[status]()

    refused(lambda: agent.log_in(), IllegalTransition, "agent-already-logged-in")


def test_logging_in_again_after_logging_out_starts_afresh() -> None:
    agent = logged_out()

    payloads = agent.log_in(site="busan", skills=[events_pb2.Skill(name="payment", proficiency=3)])

    assert payloads[0].site_id == "busan"  # type: ignore[attr-defined]
    assert (agent.state.state, agent.state.site_id, agent.state.skills) == (READY, "busan", (("payment", 3),))


# ---- before log in and after log out -------------------------------------------------------------


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_before_log_in_is_not_found(command: str) -> None:
    agent = Agent()

    error = refused(lambda: COMMANDS[command](agent), NotFound, "agent-not-found")

    assert AGENT_ID in error.message


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_after_log_out_is_refused(command: str) -> None:
    agent = logged_out()

    refused(lambda: COMMANDS[command](agent), IllegalTransition, "agent-logged-out")


def test_a_command_naming_no_action_is_invalid() -> None:
    agent = ready()
    command = commands_pb2.AgentCommand(meta=meta(AGENT_ID))

    def decide() -> object:
        return domain.decide(agent.state, command, at(5), AgentRules())

    refused(decide, InvalidArgument, "unknown-command")


# ---- set state -----------------------------------------------------------------------------------


def test_set_not_ready_with_a_reason() -> None:
    agent = ready()

    payloads = agent.set_state(NOT_READY, "break")

    assert payloads == [changed(NOT_READY, READY, reason="break")]
    assert (agent.state.state, agent.state.reason, agent.state.state_since) == (NOT_READY, "break", at(2))


def test_set_ready_from_not_ready_drops_the_reason() -> None:
    agent = not_ready()

    payloads = agent.set_state(READY, "ignored")

    assert payloads == [changed(READY, NOT_READY)]
    assert (agent.state.state, agent.state.reason) == (READY, "")


def test_changing_the_not_ready_reason_is_a_state_change() -> None:
    agent = not_ready()

    payloads = agent.set_state(NOT_READY, "lunch")

    assert payloads == [changed(NOT_READY, NOT_READY, reason="lunch")]
    assert agent.state.reason == "lunch"


@pytest.mark.parametrize("state", [ON_CONTACT, WRAP_UP, LOGGED_OUT, UNSPECIFIED])
@pytest.mark.parametrize("status", sorted(STATES))
def test_setting_a_state_other_than_ready_or_not_ready_is_invalid(state: int, status: str) -> None:
    agent = STATES[status]()

    error = refused(lambda: agent.set_state(state), InvalidArgument, "invalid-argument")

    assert fields(error) == ["state"]


@pytest.mark.parametrize(("reach", "state", "reason"), [(ready, READY, ""), (not_ready, NOT_READY, "break")])
def test_same_state_and_reason_is_refused(reach: Callable[[], Agent], state: int, reason: str) -> None:
    agent = reach()

    refused(lambda: agent.set_state(state, reason), IllegalTransition, "agent-already-in-state")


def test_setting_ready_with_a_reason_when_already_ready_is_refused() -> None:
    agent = ready()

    refused(lambda: agent.set_state(READY, "back"), IllegalTransition, "agent-already-in-state")


@pytest.mark.parametrize("state", [READY, NOT_READY])
def test_setting_a_state_while_on_contact_is_refused(state: int) -> None:
    agent = on_contact()

    error = refused(lambda: agent.set_state(state, "break"), IllegalTransition, "agent-on-contact")

    assert "call-1" in error.message


@pytest.mark.parametrize(("state", "reason"), [(READY, ""), (NOT_READY, "break")])
def test_leaving_wrap_up_early_carries_the_contact(state: int, reason: str) -> None:
    agent = wrap_up()

    payloads = agent.set_state(state, reason)

    assert payloads == [changed(state, WRAP_UP, reason=reason, contact="call-1")]
    assert (agent.state.state, agent.state.contact_id) == (state, "")
    refused(lambda: agent.end_wrap_up("call-1"), IllegalTransition, "agent-not-wrap-up")


# ---- log out -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "previous"), [("ready", READY), ("not-ready", NOT_READY), ("wrap-up", WRAP_UP)]
)
def test_log_out_records_the_previous_state(status: str, previous: int) -> None:
    agent = STATES[status]()

    payloads = agent.log_out()

    assert payloads == [events_pb2.AgentLoggedOut(previous_state=previous)]  # type: ignore[arg-type]
    assert (agent.state.state, agent.state.reason, agent.state.contact_id) == (LOGGED_OUT, "", "")


def test_log_out_while_on_contact_is_refused() -> None:
    agent = on_contact()

    refused(lambda: agent.log_out(), IllegalTransition, "agent-on-contact")


# ---- contacts ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("reach", "previous"), [(ready, READY), (not_ready, NOT_READY)])
def test_start_contact_puts_the_agent_on_contact(reach: Callable[[], Agent], previous: int) -> None:
    agent = reach()

    payloads = agent.start_contact("call-9")

    assert payloads == [changed(ON_CONTACT, previous, contact="call-9")]
    assert (agent.state.state, agent.state.contact_id, agent.state.reason) == (ON_CONTACT, "call-9", "")


def test_start_wrap_up_on_that_contact_carries_the_wrap_up_time_of_the_rules() -> None:
    agent = Agent(AgentRules(wrap_up_seconds=45))
    agent.log_in()
    agent.start_contact("call-1")

    payloads = agent.start_wrap_up("call-1")

    assert payloads == [changed(WRAP_UP, ON_CONTACT, contact="call-1", wrap_up=45)]
    assert (agent.state.state, agent.state.contact_id) == (WRAP_UP, "call-1")
    # The agent's view says how long, for a desk's countdown; and nothing once wrap-up is over.
    assert agent_view(Versioned(agent.state, 3, "acme", AGENT_ID)).wrap_up_seconds == 45
    agent.end_wrap_up("call-1")
    assert agent_view(Versioned(agent.state, 4, "acme", AGENT_ID)).wrap_up_seconds == 0


def test_default_wrap_up_is_ten_seconds() -> None:
    agent = on_contact()

    payloads = agent.start_wrap_up("call-1")

    assert payloads[0].wrap_up_seconds == 10  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("reach", "contact"),
    [(on_contact, "call-2"), (ready, "call-1"), (not_ready, "call-1"), (wrap_up, "call-1")],
)
def test_start_wrap_up_when_not_on_that_contact_is_refused(reach: Callable[[], Agent], contact: str) -> None:
    agent = reach()

    refused(lambda: agent.start_wrap_up(contact), IllegalTransition, "agent-not-on-contact")


def test_end_wrap_up_of_that_contact_makes_the_agent_ready() -> None:
    agent = wrap_up()

    payloads = agent.end_wrap_up("call-1")

    assert payloads == [changed(READY, WRAP_UP, contact="call-1")]
    assert (agent.state.state, agent.state.contact_id, agent.state.reason) == (READY, "", "")


def test_an_agent_who_placed_a_call_while_not_ready_is_not_ready_again_after_its_wrap_up() -> None:
    agent = not_ready()  # on a break: an outbound call (TEL-8) starts its contact from there
    agent.start_contact("call-1")
    agent.start_wrap_up("call-1")

    assert agent.end_wrap_up("call-1") == [changed(NOT_READY, WRAP_UP, "break", contact="call-1")]
    assert (agent.state.state, agent.state.reason, agent.state.back_to_not_ready) == (
        NOT_READY,
        "break",
        False,
    )
    agent.set_state(READY)
    agent.start_contact("call-2")
    agent.start_wrap_up("call-2")
    assert agent.end_wrap_up("call-2") == [changed(READY, WRAP_UP, contact="call-2")]  # from ready: ready


def test_a_second_call_placed_during_the_wrap_up_of_one_from_a_break_still_ends_not_ready() -> None:
    agent = not_ready()
    agent.start_contact("call-1")
    agent.start_wrap_up("call-1")
    agent.start_contact("call-2")  # placed during call-1's wrap-up

    agent.start_wrap_up("call-2")

    assert agent.end_wrap_up("call-2") == [changed(NOT_READY, WRAP_UP, "break", contact="call-2")]


@pytest.mark.parametrize(
    ("reach", "contact"),
    [(wrap_up, "call-2"), (on_contact, "call-1"), (ready, "call-1"), (not_ready, "call-1")],
)
def test_end_wrap_up_outside_that_wrap_up_is_refused(reach: Callable[[], Agent], contact: str) -> None:
    agent = reach()

    refused(lambda: agent.end_wrap_up(contact), IllegalTransition, "agent-not-wrap-up")


def test_ring_no_answer_makes_a_ready_agent_not_ready() -> None:
    agent = ready()

    payloads = agent.mark_ring_no_answer("call-5")

    assert payloads == [changed(NOT_READY, READY, reason="ring-no-answer", contact="call-5")]
    assert (agent.state.state, agent.state.reason) == (NOT_READY, "ring-no-answer")
    assert agent.state.contact_id == ""


@pytest.mark.parametrize("status", ["not-ready", "on-contact", "wrap-up"])
def test_ring_no_answer_when_not_ready_is_refused(status: str) -> None:
    agent = STATES[status]()

    refused(lambda: agent.mark_ring_no_answer("call-5"), IllegalTransition, "agent-not-ready")


# ---- the full matrix of state x command ----------------------------------------------------------

MATRIX: dict[tuple[str, str], str | None] = {
    ("ready", "set_ready"): "agent-already-in-state",
    ("ready", "set_not_ready"): None,
    ("ready", "log_out"): None,
    ("ready", "start_contact"): None,
    ("ready", "start_wrap_up"): "agent-not-on-contact",
    ("ready", "end_wrap_up"): "agent-not-wrap-up",
    ("ready", "mark_ring_no_answer"): None,
    ("not-ready", "set_ready"): None,
    ("not-ready", "set_not_ready"): None,
    ("not-ready", "log_out"): None,
    ("not-ready", "start_contact"): None,
    ("not-ready", "start_wrap_up"): "agent-not-on-contact",
    ("not-ready", "end_wrap_up"): "agent-not-wrap-up",
    ("not-ready", "mark_ring_no_answer"): "agent-not-ready",
    ("on-contact", "set_ready"): "agent-on-contact",
    ("on-contact", "set_not_ready"): "agent-on-contact",
    ("on-contact", "log_out"): "agent-on-contact",
    ("on-contact", "start_wrap_up"): None,
    ("on-contact", "end_wrap_up"): "agent-not-wrap-up",
    ("on-contact", "mark_ring_no_answer"): "agent-not-ready",
    ("on-contact", "start_contact"): "agent-on-contact",
    ("wrap-up", "set_ready"): None,
    ("wrap-up", "set_not_ready"): None,
    ("wrap-up", "log_out"): None,
    ("wrap-up", "start_contact"): None,
    ("wrap-up", "start_wrap_up"): "agent-not-on-contact",
    ("wrap-up", "end_wrap_up"): None,
    ("wrap-up", "mark_ring_no_answer"): "agent-not-ready",
    **{(status, "change_skills"): None for status in ("ready", "not-ready", "on-contact", "wrap-up")},
}

AFTER: dict[tuple[str, str], int] = {
    ("ready", "set_not_ready"): NOT_READY,
    ("ready", "log_out"): LOGGED_OUT,
    ("ready", "start_contact"): ON_CONTACT,
    ("ready", "mark_ring_no_answer"): NOT_READY,
    ("not-ready", "set_ready"): READY,
    ("not-ready", "set_not_ready"): NOT_READY,
    ("not-ready", "log_out"): LOGGED_OUT,
    ("not-ready", "start_contact"): ON_CONTACT,
    ("on-contact", "start_wrap_up"): WRAP_UP,
    ("wrap-up", "set_ready"): READY,
    ("wrap-up", "set_not_ready"): NOT_READY,
    ("wrap-up", "log_out"): LOGGED_OUT,
    ("wrap-up", "start_contact"): ON_CONTACT,
    ("wrap-up", "end_wrap_up"): READY,
    ("ready", "change_skills"): READY,  # skills change no state
    ("not-ready", "change_skills"): NOT_READY,
    ("on-contact", "change_skills"): ON_CONTACT,
    ("wrap-up", "change_skills"): WRAP_UP,
}


def test_the_matrix_covers_every_state_and_command() -> None:
    every = {(status, command) for status in STATES for command in COMMANDS}
    assert set(MATRIX) == every
    assert set(AFTER) == {key for key, error in MATRIX.items() if error is None}


@pytest.mark.parametrize(("status", "command"), sorted(MATRIX))
def test_state_command_matrix(status: str, command: str) -> None:
    agent = STATES[status]()
    version = agent.version
    error_id = MATRIX[(status, command)]

    if error_id is None:
        payloads = COMMANDS[command](agent)
        assert len(payloads) == 1
        assert agent.state.state == AFTER[(status, command)]
        assert agent.version == version + 1
    else:
        refused(lambda: COMMANDS[command](agent), IllegalTransition, error_id)
        assert agent.version == version


# ---- a working day -------------------------------------------------------------------------------


def test_a_full_contact_cycle_replays_to_the_same_state() -> None:
    agent = ready()
    agent.mark_ring_no_answer("call-1")
    agent.set_state(READY)
    agent.start_contact("call-2")
    agent.start_wrap_up("call-2")
    agent.end_wrap_up("call-2")
    agent.log_out()

    state = None
    for event in agent.history.events:
        state = domain.evolve(state, event)

    assert state == agent.state
    assert agent.state.state == LOGGED_OUT
    assert [e.event_type for e in agent.history.events] == [
        "routing.agent.logged_in",
        *["routing.agent.state_changed"] * 5,
        "routing.agent.logged_out",
    ]
    assert {e.customer_id for e in agent.history.events} == {""}


def test_state_name_is_kebab_case() -> None:
    assert [domain.state_name(s) for s in (READY, NOT_READY, ON_CONTACT, WRAP_UP, LOGGED_OUT)] == [
        "ready",
        "not-ready",
        "on-contact",
        "wrap-up",
        "logged-out",
    ]


# ---- skills --------------------------------------------------------------------------------------


def test_a_supervisor_replaces_a_logged_in_agents_skills_whatever_its_state() -> None:
    agent = ready()
    agent.start_contact("call-1")

    (changed,) = agent.change_skills(skill("vip", 8), skill("member", 0))

    assert isinstance(changed, events_pb2.AgentSkillsChanged)
    assert [(s.name, s.proficiency) for s in changed.previous_skills] == [("member", 7)]
    assert agent.state.skills == (("vip", 8), ("member", 5))  # 0 is the default proficiency
    assert agent.state.state == ON_CONTACT  # skills change nothing else


def test_the_same_skills_again_are_refused_and_bad_ones_name_their_fault() -> None:
    agent = ready()
    refused(lambda: agent.change_skills(skill("member", 7)), IllegalTransition, "agent-skills-unchanged")
    error = refused(lambda: agent.change_skills(skill("member", 11)), InvalidArgument, "invalid-argument")
    assert [v.field for v in error.field_violations] == ["skills[0].proficiency"]
    refused(lambda: agent.change_skills(), InvalidArgument, "invalid-argument")


def profile(site: str = "busan", skill: str = "vip", chat: int = 3, endpoint: str = "sip:101@pbx") -> Message:
    return commands_pb2.DefineAgentProfile(
        profile=events_pb2.AgentProfileDefined(
            display_name="Cho",
            site_id=site,
            skills=[events_pb2.Skill(name=skill, proficiency=8)],
            capacity=[events_pb2.ChannelCapacity(channel="chat", max_contacts=chat)],
            endpoint=endpoint,
        )
    )


def test_an_agent_defined_before_its_first_log_in_logs_in_with_its_profile() -> None:
    agent = Agent()
    (defined,) = agent.send(define_profile=profile())
    assert isinstance(defined, events_pb2.AgentProfileDefined)
    assert (agent.state.state, agent.state.site_id, agent.state.display_name) == (LOGGED_OUT, "busan", "Cho")
    assert agent.state.profile is not None and agent.state.profile.endpoint == "sip:101@pbx"
    with pytest.raises(IllegalTransition) as refused:
        agent.set_state(READY)
    assert refused.value.error_id == "agent-logged-out"

    (logged_in,) = agent.send(log_in=commands_pb2.LogInAgent())  # names nothing: the profile's
    assert isinstance(logged_in, events_pb2.AgentLoggedIn)
    assert (logged_in.site_id, logged_in.display_name) == ("busan", "Cho")
    assert [(s.name, s.proficiency) for s in logged_in.skills] == [("vip", 8)]
    assert [(c.channel, c.max_contacts) for c in logged_in.capacity] == [("chat", 3)]
    assert agent.state.profile is not None  # kept across the log-in


def test_a_log_in_overrides_what_it_names_and_a_profile_change_waits_for_the_next_one() -> None:
    agent = Agent()
    agent.send(define_profile=profile())
    (logged_in,) = agent.log_in(site="seoul")  # its own site and skills, the profile's capacity
    assert (logged_in.site_id, logged_in.skills[0].name, logged_in.capacity[0].channel) == (
        "seoul",
        "member",
        "chat",
    )
    agent.send(define_profile=profile(skill="payment"))
    assert agent.state.skills == (("member", 7),) and agent.state.state == READY  # this session keeps its own
    agent.log_out()
    (again,) = agent.send(log_in=commands_pb2.LogInAgent())
    assert [s.name for s in again.skills] == ["payment"]


def test_a_profile_must_name_a_site_and_skills_and_the_same_one_twice_is_refused() -> None:
    agent = Agent()
    with pytest.raises(InvalidArgument) as refused:
        agent.send(define_profile=profile(site=""))
    assert [v.field for v in refused.value.field_violations] == ["site_id"]
    with pytest.raises(InvalidArgument):
        agent.send(define_profile=profile(chat=99))
    with pytest.raises(IllegalTransition) as no_site:
        agent.send(log_in=commands_pb2.LogInAgent(site_id="seoul"))  # no profile to take skills from
    assert no_site.value.error_id == "agent-has-no-profile"
    agent.send(define_profile=profile())
    with pytest.raises(IllegalTransition) as twice:
        agent.send(define_profile=profile())
    assert twice.value.error_id == "agent-profile-unchanged"


def test_an_agent_with_a_profile_survives_a_snapshot() -> None:
    from services.common.snapshots import StateCodec

    agent = Agent()
    agent.send(define_profile=profile())
    agent.send(log_in=commands_pb2.LogInAgent())
    codec = StateCodec(domain.AgentStatus)
    assert codec.decode(codec.encode(agent.state)) == agent.state


# ---- joining a consultation (TEL-1) --------------------------------------------------------------


def join(agent: Agent, contact: str = "call-9", round_: int = 2) -> list[Message]:
    return agent.send(join_consultation=commands_pb2.JoinConsultation(contact_id=contact, round=round_))


@pytest.mark.parametrize(("reach", "previous"), [(ready, READY), (not_ready, NOT_READY)])
def test_a_free_agent_joins_a_consultation_and_a_break_resumes_after_its_wrap_up(
    reach: Callable[[], Agent], previous: int
) -> None:
    agent = reach()

    assert join(agent) == [
        changed(ON_CONTACT, previous, reason="consultation", contact="call-9"),
        events_pb2.AgentConsultJoined(contact_id="call-9", round=2),
    ]
    assert (agent.state.state, agent.state.contact_id) == (ON_CONTACT, "call-9")
    agent.start_wrap_up("call-9")
    [back] = agent.end_wrap_up("call-9")
    assert back == changed(
        previous, WRAP_UP, reason="break" if previous == NOT_READY else "", contact="call-9"
    )


def absent(reason: str) -> Callable[[], Agent]:
    def reach() -> Agent:
        agent = ready()
        if reason == "ring-no-answer":
            agent.mark_ring_no_answer("call-1")
        else:
            agent.send(mark_lost_presence=commands_pb2.MarkLostPresence())
        return agent

    return reach


@pytest.mark.parametrize(
    ("reach", "why"),
    [
        (on_contact, "on-contact"),
        (wrap_up, "wrap-up"),
        (logged_out, "logged-out"),
        (absent("ring-no-answer"), "not-ready: ring-no-answer"),
        (absent("lost-presence"), "not-ready: lost-presence"),
    ],
)
def test_an_agent_not_free_declines_a_consultation_without_changing(
    reach: Callable[[], Agent], why: str
) -> None:
    agent = reach()
    before = agent.state

    assert join(agent) == [events_pb2.AgentConsultDeclined(contact_id="call-9", reason=why, round=2)]
    assert agent.state.state == before.state and agent.state.contact_id == before.contact_id
