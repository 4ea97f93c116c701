"""Live agent statistics (RTM-2) and queue occupancy: time in each status today, contacts answered,
handle time, and occupancy as Amazon Connect defines it (on contacts over on contacts plus ready)."""

import pytest
from cc.routing.v1 import events_pb2 as routing_events
from cc.telephony.v1 import events_pb2 as call_events

from services.routing.agent_stats import agent_statistics, queue_occupancies, queue_occupancy
from services.routing.board import NOT_READY, READY, WRAP_UP, Board
from services.routing.matching import dispatch
from services.routing.metrics import queue_metrics
from services.routing.rules import QueueRule, proto_of
from tests.unit.support import TENANT, Feed, answered, changed, ended, logged_in, queued, ts

ON_CONTACT = routing_events.AGENT_STATE_ON_CONTACT
DAY = 86_400


def one_handled_call() -> Feed:
    """kim: ready 0-10, rung 10-12, talking 12-42, wrap-up 42-47, ready again from 47."""
    feed = Feed(Board(TENANT))
    feed.agent("kim", logged_in(member=5), 0)
    feed.call("c1", queued("member", 10), 10)
    dispatch(feed.board, ts(10))
    feed.call("c1", answered("kim", "member", 10), 12)
    feed.agent("kim", changed(ON_CONTACT, READY, "c1"), 12)
    feed.call("c1", ended("member", "kim"), 42)
    feed.agent("kim", changed(WRAP_UP, ON_CONTACT, "c1"), 42)
    feed.agent("kim", changed(READY, WRAP_UP, "c1"), 47)
    return feed


def test_an_agents_day_counts_each_status_up_to_now() -> None:
    feed = one_handled_call()
    stats = agent_statistics(feed.board, feed.board.agents["kim"], ts(60))

    seconds = (stats.ready_seconds, stats.reserved_seconds, stats.on_contact_seconds, stats.wrap_up_seconds)
    assert seconds == (23.0, 2.0, 30.0, 5.0)
    assert (stats.status, stats.status_seconds, stats.contacts_answered, stats.talk_seconds) == (
        "ready",
        13.0,
        1,
        30.0,
    )
    assert stats.average_handle_seconds == 35.0  # talk 30 + wrap-up 5
    assert stats.occupancy_percent == pytest.approx(100 * 37 / 60, abs=0.01)


def test_not_ready_time_counts_in_neither_side_of_occupancy() -> None:
    feed = one_handled_call()
    feed.agent("kim", changed(NOT_READY, READY, reason="lunch"), 60)
    stats = agent_statistics(feed.board, feed.board.agents["kim"], ts(1000))
    assert stats.not_ready_seconds == 940.0
    assert stats.occupancy_percent == pytest.approx(100 * 37 / 60, abs=0.01)


def test_a_new_agent_has_no_occupancy_yet_and_a_new_day_starts_from_zero() -> None:
    feed = Feed(Board(TENANT))
    feed.agent("lee", logged_in(initial=NOT_READY, member=5), 0)
    assert not agent_statistics(feed.board, feed.board.agents["lee"], ts(5)).HasField("occupancy_percent")

    feed = one_handled_call()
    feed.agent("lee", logged_in(member=5), DAY + 100)  # an event of the next UTC day
    stats = agent_statistics(feed.board, feed.board.agents["kim"], ts(DAY + 100))
    since_midnight = ts(DAY + 100) % DAY  # the clock of the tests is not midnight-aligned
    assert (stats.contacts_answered, stats.on_contact_seconds) == (0, 0.0)
    assert stats.ready_seconds == pytest.approx(since_midnight)


def test_logging_out_keeps_the_days_time_for_the_next_log_in() -> None:
    feed = one_handled_call()
    feed.agent("kim", routing_events.AgentLoggedOut(previous_state=READY), 60)
    feed.agent("kim", logged_in(member=5), 100)
    stats = agent_statistics(feed.board, feed.board.agents["kim"], ts(110))
    assert (stats.ready_seconds, stats.on_contact_seconds, stats.contacts_answered) == (33.0, 30.0, 1)


def test_a_queues_occupancy_covers_the_agents_it_may_use() -> None:
    feed = one_handled_call()
    feed.agent("idle", logged_in(member=5), 0)  # ready all along
    feed.agent("other", logged_in(payment=5), 0)  # not a member agent: not counted
    # member agents: busy 37 of (37 + 23) for kim, 0 of 60 for idle
    assert queue_occupancy(feed.board, "member", ts(60)) == pytest.approx(100 * 37 / 120, abs=0.01)
    assert queue_metrics(feed.board, "member", ts(60)).occupancy_percent == pytest.approx(30.83, abs=0.01)
    # Every queue at once, as the routing worker publishes them: each counts only its own agents, and a
    # queue no logged-in agent may serve has none.
    feed.queue(
        "payment", routing_events.QueueCreated(rules=proto_of(QueueRule("payment", (("payment", 0),)))), 0
    )
    feed.queue(
        "general", routing_events.QueueCreated(rules=proto_of(QueueRule("general", (("general", 0),)))), 0
    )
    together = queue_occupancies(feed.board, ["member", "payment", "general"], ts(60))
    assert together == {"member": pytest.approx(30.83, abs=0.01), "payment": 0.0, "general": None}


def test_an_outbound_call_counts_in_the_agents_day_and_in_no_queue() -> None:
    """kim places a call at 10 from ready (TEL-8); the customer answers at 15; it ends at 45."""
    feed = Feed(Board(TENANT))
    feed.agent("kim", logged_in(member=5), 0)
    feed.agent("kim", changed(ON_CONTACT, READY, "o1"), 10)
    connected = call_events.OutboundCallConnected(agent_id="kim", line_id="sales")
    feed.call("o1", connected, 15)
    feed.call("o1", ended("", "kim"), 45)
    feed.agent("kim", changed(WRAP_UP, ON_CONTACT, "o1"), 45)
    feed.agent("kim", changed(READY, WRAP_UP, "o1"), 50)

    stats = agent_statistics(feed.board, feed.board.agents["kim"], ts(60))
    assert (stats.contacts_answered, stats.talk_seconds) == (1, 30.0)
    assert feed.board.tallies == {} and feed.board.talking == {}  # no queue counts it; nothing left open
