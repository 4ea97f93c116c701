"""Presence (issue 7, RT-9): an agent whose desktop sent heartbeats and then stops goes not ready with
`lost-presence` while routing could offer it contacts; never for an agent on a call or on a break, or
one whose desktop never sent any."""

from datetime import timedelta

import pytest
from cc.routing.v1 import commands_pb2, events_pb2

from services.common.aggregate import Versioned
from services.common.deadlines import Deadline, Deadlines
from services.common.errors import IllegalTransition
from services.common.topics import AGENTS
from services.routing.domain import LOST_PRESENCE, NOT_READY, ON_CONTACT, READY, WRAP_UP, AgentStatus
from services.routing.presence import Presence, watched_until
from tests.unit.support import T0, TENANT, at
from tests.unit.test_agent_domain import Agent

LOGIN = T0.timestamp()


def agent(state: int = READY) -> AgentStatus:
    return AgentStatus("kim", "Kim", "seoul", (("member", 5),), state, T0, logged_in_at=T0)  # type: ignore[arg-type]


def test_only_an_agent_whose_desktop_spoke_this_session_and_who_could_be_offered_work_is_watched() -> None:
    assert watched_until(agent(), None, 30) is None  # no desktop heartbeats: not watched
    assert watched_until(agent(), LOGIN - 1, 30) is None  # an earlier session's desktop
    assert watched_until(agent(), LOGIN + 5, 30) == LOGIN + 35
    assert watched_until(agent(WRAP_UP), LOGIN + 5, 30) == LOGIN + 35
    for busy in (ON_CONTACT, NOT_READY):
        assert watched_until(agent(busy), LOGIN + 5, 30) is None


class Clock:
    def __init__(self) -> None:
        self.now = LOGIN

    def __call__(self) -> float:
        return self.now


def test_silence_for_the_timeout_fires_once_per_heartbeat_and_state_and_a_call_pauses_the_watch() -> None:
    clock = Clock()
    deadlines = Deadlines(clock)
    presence = Presence("127.0.0.1:1", timeout_seconds=30, clock=clock)
    presence.caught_up()
    observe = presence.timer(deadlines)
    observe(Versioned(agent(), 1, TENANT, "kim"))
    assert deadlines.due() == []  # no heartbeat yet
    presence.heard(TENANT, "kim", LOGIN + 10)
    clock.now = LOGIN + 39.9
    assert deadlines.due() == []
    presence.heard(TENANT, "kim", LOGIN + 20)  # heard again: 30 s from this one
    presence.heard(TENANT, "kim", LOGIN + 15)  # an older one read late changes nothing
    clock.now = LOGIN + 49.9
    assert deadlines.due() == []
    clock.now = LOGIN + 50
    (lost,) = deadlines.due()
    command = lost.command()
    assert command.HasField("mark_lost_presence") and command.meta.aggregate_id == "kim"

    observe(
        Versioned(agent(ON_CONTACT), 2, TENANT, "kim")
    )  # on a call: the desktop may be gone, the call is not
    clock.now = LOGIN + 500
    assert deadlines.due() == []
    observe(Versioned(agent(), 3, TENANT, "kim"))  # ready again, still silent: lost at once
    (again,) = deadlines.due()
    assert again.length == timedelta(0)
    assert again.command().meta.command_id != command.meta.command_id  # a new state, a new command


def test_lost_presence_makes_a_ready_or_wrapping_up_agent_not_ready_and_nothing_else() -> None:
    kim = Agent()
    kim.log_in()
    assert kim.state.logged_in_at == at(1)
    (changed,) = kim.send(mark_lost_presence=commands_pb2.MarkLostPresence())
    assert isinstance(changed, events_pb2.AgentStateChanged)
    assert (changed.state, changed.reason) == (NOT_READY, LOST_PRESENCE)
    with pytest.raises(IllegalTransition):
        kim.send(mark_lost_presence=commands_pb2.MarkLostPresence())  # not ready already

    lee = Agent()
    lee.log_in()
    lee.start_contact()
    with pytest.raises(IllegalTransition):
        lee.send(mark_lost_presence=commands_pb2.MarkLostPresence())  # on a call
    lee.start_wrap_up()
    (ended,) = lee.send(mark_lost_presence=commands_pb2.MarkLostPresence())
    assert (ended.contact_id, lee.state.state) == ("call-1", NOT_READY)  # that call's work ends


def test_the_watch_leaves_the_agents_other_deadlines_alone() -> None:
    clock = Clock()
    deadlines = Deadlines(clock)
    wrap_up = Deadline("wrap-up-event", timedelta(seconds=10), AGENTS, commands_pb2.AgentCommand)
    deadlines.set((TENANT, "kim"), wrap_up)
    presence = Presence("127.0.0.1:1", timeout_seconds=30, clock=clock)
    presence.caught_up()
    presence.timer(deadlines)(Versioned(agent(WRAP_UP), 1, TENANT, "kim"))  # not watched: no heartbeat
    clock.now = LOGIN + 10
    assert deadlines.due() == [wrap_up]


def test_a_heartbeat_of_an_agent_nobody_watches_yet_is_kept_for_when_it_is() -> None:
    clock = Clock()
    deadlines = Deadlines(clock)
    presence = Presence("127.0.0.1:1", timeout_seconds=30, clock=clock)
    presence.caught_up()
    observe = presence.timer(deadlines)
    presence.heard(TENANT, "kim", LOGIN + 1)  # read from the topic before the agent's state
    observe(Versioned(agent(), 1, TENANT, "kim"))
    clock.now = LOGIN + 31
    assert len(deadlines.due()) == 1


def test_after_a_restart_no_agent_is_judged_before_the_topic_is_read_nor_within_a_timeout_of_it() -> None:
    clock = Clock()
    deadlines = Deadlines(clock)
    presence = Presence("127.0.0.1:1", timeout_seconds=30, clock=clock)
    observe = presence.timer(deadlines)
    observe(Versioned(agent(), 1, TENANT, "kim"))
    clock.now = LOGIN + 600  # the instance was down for ten minutes; kim's desktop spoke at +10
    presence.heard(TENANT, "kim", LOGIN + 10)  # replayed from the topic
    assert deadlines.due() == [] and not presence.ready()
    presence.caught_up()
    clock.now = LOGIN + 629
    assert deadlines.due() == []  # a whole timeout from catching up, for its next heartbeat to come
    clock.now = LOGIN + 630
    assert len(deadlines.due()) == 1
