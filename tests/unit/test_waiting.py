"""Position in line and estimated wait (issue 7, RT-10): the contacts served before one, across every
queue that needs its skill, and (ahead + 1) x the queue's AHT today / agents staffed with the skill;
sent as events soon after a contact joins and then at an interval while it waits."""

from cc.common.v1 import event_pb2
from cc.routing.v1 import events_pb2 as agent_events

from services.routing.board import Board
from services.routing.matching import dispatch
from services.routing.stream.decisions import estimate_record
from services.routing.waiting import due_estimates, estimated_wait_seconds, position, wait_estimated
from tests.unit.support import TENANT, Feed, answered, changed, ended, logged_in, queued, ts

READY = agent_events.AGENT_STATE_READY
ON_CONTACT = agent_events.AGENT_STATE_ON_CONTACT
WRAP_UP = agent_events.AGENT_STATE_WRAP_UP
NOT_READY = agent_events.AGENT_STATE_NOT_READY


def busy_desk() -> Feed:
    """Two agents with the member skill; one member call handled in 120 s; then both agents on calls."""
    feed = Feed(Board(TENANT))
    for agent in ("kim", "lee"):
        feed.agent(agent, logged_in(member=5), 0)
    feed.call("first", queued("member", 1), 1)
    for decision in dispatch(feed.board, ts(1)):
        feed.call("first", answered(decision.routed.agent_id, "member", 1), 1)
    feed.call("first", ended("member", "kim"), 121)
    feed.agent("kim", changed(WRAP_UP, ON_CONTACT, "first"), 121)
    feed.agent("kim", changed(READY, WRAP_UP, "first"), 121)
    for call, agent in (("second", "kim"), ("third", "lee")):
        feed.call(call, queued("member", 130), 130)
        dispatch(feed.board, ts(130))
        feed.call(call, answered(agent, "member", 130), 130)
    return feed


def test_no_estimate_before_the_queue_has_handled_a_contact() -> None:
    feed = Feed(Board(TENANT))
    feed.agent("kim", logged_in(initial=NOT_READY, member=5), 0)
    feed.call("alone", queued("member", 1), 1)
    contact = feed.board.waiting["alone"]
    assert position(feed.board, contact) == 1 and estimated_wait_seconds(feed.board, contact) is None


def test_each_contact_waits_for_those_ahead_and_itself_over_the_staffed_agents() -> None:
    feed = busy_desk()
    feed.call("vip", queued("member", 150, priority=5), 150)
    feed.call("late", queued("member", 140), 140)
    feed.call("early", queued("member", 135, skill="member"), 135)
    feed.call("other-queue", queued("gold", 132, skill="member"), 132)  # another queue, the same agents
    feed.call("billing", queued("billing", 131), 131)  # another skill: not in this line
    board = feed.board
    order = ["vip", "other-queue", "early", "late"]
    assert [position(board, board.waiting[c]) for c in order] == [1, 2, 3, 4]
    # AHT 120 s (the member queue's one handled call), 2 agents staffed: a free agent every 60 s.
    assert [estimated_wait_seconds(board, board.waiting[c]) for c in order[2:]] == [180.0, 240.0]
    assert estimated_wait_seconds(board, board.waiting["other-queue"]) is None  # gold has no AHT yet
    assert position(board, board.waiting["billing"]) == 1


def test_a_not_ready_agent_is_not_counted_and_a_free_one_means_no_wait() -> None:
    feed = busy_desk()
    feed.call("next", queued("member", 140), 140)
    feed.agent("lee", changed(NOT_READY, ON_CONTACT, "third", "break"), 141)
    assert estimated_wait_seconds(feed.board, feed.board.waiting["next"]) == 120.0
    feed.agent("park", logged_in(initial=READY, member=1), 142)
    assert estimated_wait_seconds(feed.board, feed.board.waiting["next"]) == 0.0


def test_the_estimate_event_names_the_position_and_the_wait_and_leaves_out_an_unknown_wait() -> None:
    feed = busy_desk()
    feed.call("early", queued("member", 135), 135)
    feed.call("late", queued("member", 140), 140)
    late = wait_estimated(feed.board, feed.board.waiting["late"], ts(150))
    assert (late.position, late.estimated_wait_seconds, late.waited_seconds) == (2, 120.0, 10.0)
    feed.call("gold", queued("gold", 141, skill="member"), 141)
    unknown = wait_estimated(feed.board, feed.board.waiting["gold"], ts(150))
    assert not unknown.HasField("estimated_wait_seconds")  # null, not a wait of 0

    key, value = estimate_record(TENANT, feed.board.waiting["late"], late, ts(150))
    event = event_pb2.Event.FromString(value)
    assert key == f"{TENANT}/late".encode()
    assert (event.event_type, event.aggregate_id) == ("routing.contact.wait_estimated", "late")
    assert event.contact_wait_estimated == late


def test_estimates_are_due_at_once_for_a_new_contact_and_then_every_interval() -> None:
    feed = busy_desk()
    feed.call("early", queued("member", 135), 135)
    feed.call("late", queued("member", 140), 140)
    sent = {"early": ts(136)}
    assert [c.contact_id for c in due_estimates(feed.board, sent, ts(141), 30)] == ["late"]
    sent["late"] = ts(141)
    assert due_estimates(feed.board, sent, ts(165.9), 30) == []
    assert [c.contact_id for c in due_estimates(feed.board, sent, ts(166), 30)] == ["early"]
    # a contact that is routed or gone is owed nothing, however long ago its last estimate was
    feed.call("early", ended("member", abandoned=True), 167)
    assert [c.contact_id for c in due_estimates(feed.board, sent, ts(200), 30)] == ["late"]
