"""Callbacks (TEL-5) on the routing board: a callback keeping its caller's place stays in the queue's
order and counts as scheduled; one reserved for a slot, or waiting for its next attempt, is out of the
queue (scheduled, not waiting, no agent reserved) until it comes back, which is not a new offer; a
failed attempt's agent leaves it and wraps up; a retry's answer is not counted as answered again."""

from cc.routing.v1 import events_pb2 as routing_events
from cc.telephony.v1 import events_pb2 as call_events

from services.routing.board import READY, Board, ScheduledCallback, agent_talk_key
from services.routing.consumers import agent_commands_for_call
from services.routing.matching import dispatch
from services.routing.metrics import queue_metrics
from services.routing.rules import QueueRule, proto_of
from tests.unit.support import TENANT, Changelog, Feed, answered, at, changed, logged_in, queued, ts

ON_CONTACT, WRAP_UP = routing_events.AGENT_STATE_ON_CONTACT, routing_events.AGENT_STATE_WRAP_UP
NO_ANSWER = call_events.CALLBACK_OUTCOME_NO_ANSWER


def requested(enqueued: float, slot: float | None = None) -> call_events.CallbackRequested:
    callback = call_events.CallbackRequested(number="+8210", queue_id="member")
    callback.enqueued_at.FromDatetime(at(enqueued))
    if slot is not None:
        callback.at.FromDatetime(at(slot))
    return callback


def two_waiting() -> Feed:
    """Calls a (at 5) and b (at 6) wait in member; nobody is logged in."""
    feed = Feed(Board(TENANT))
    feed.queue(
        "member", routing_events.QueueCreated(rules=proto_of(QueueRule("member", (("member", 0),)))), 0
    )
    feed.call("a", queued("member", 5), 5)
    feed.call("b", queued("member", 6), 6)
    return feed


def test_a_callback_keeps_its_place_and_is_scheduled() -> None:
    feed = two_waiting()

    feed.call("a", requested(5), 8)

    metrics = queue_metrics(feed.board, "member", ts(9), occupancy=None)
    assert (metrics.contacts_waiting, metrics.scheduled, metrics.offered) == (2, 1, 2)
    feed.agent("ann", logged_in(member=5), 10)
    (first,) = dispatch(feed.board, ts(10))
    assert first.routed.contact_id == "a"  # its place, ahead of b
    assert _restored(feed.board) == feed.board


def test_a_slot_or_a_retry_waits_out_of_the_queue_and_comes_back_as_the_same_offer() -> None:
    feed = two_waiting()
    feed.agent("ann", logged_in(member=5), 7)
    assert [d.routed.contact_id for d in dispatch(feed.board, ts(7))] == ["a"]  # ann reserved for a

    feed.call("a", requested(5, slot=3600), 8)

    board = feed.board
    assert "a" not in board.waiting and "a" not in board.routed
    assert board.scheduled == {"a": ScheduledCallback("member")}
    assert board.agents["ann"].reserved_for == ""  # free for b
    assert [d.routed.contact_id for d in dispatch(board, ts(8))] == ["b"]
    metrics = queue_metrics(board, "member", ts(9), occupancy=None)
    assert (metrics.contacts_waiting, metrics.scheduled) == (1, 1)
    assert _restored(board) == board

    feed.call("a", queued("member", 3600, reason="callback-slot"), 3600)
    contact = board.waiting["a"]
    assert (contact.callback, contact.routings, board.scheduled) == (True, 1, {})
    assert board.tally("member").offered == 2  # not a new offer


def test_a_failed_attempt_frees_its_agent_and_its_retry_keeps_the_place_answered_once() -> None:
    feed = two_waiting()
    feed.call("a", requested(5), 8)
    feed.agent("ann", logged_in(member=5), 9)
    dispatch(feed.board, ts(9))
    feed.call("a", answered("ann", "member", 5), 10)
    feed.agent("ann", changed(ON_CONTACT, READY, "a"), 10)
    failed = call_events.CallbackAttemptFailed(
        agent_id="ann", outcome=NO_ANSWER, attempt=1, queue_id="member"
    )
    failed.retry_at.FromDatetime(at(100))

    feed.call("a", failed, 40)

    board = feed.board
    assert board.agent_days["ann"].talk_seconds == 30.0
    assert agent_talk_key("a", "ann") in board.talking and "a" not in board.talking
    assert board.scheduled == {"a": ScheduledCallback("member")}
    feed.agent("ann", changed(WRAP_UP, ON_CONTACT, "a"), 40)
    feed.agent("ann", changed(READY, WRAP_UP, "a"), 45)
    assert board.tally("member").handle_time_total == 35.0  # her answer to the end of her wrap-up
    assert [d.routed.contact_id for d in dispatch(board, ts(45))] == ["b"]

    feed.agent("ben", logged_in(member=5), 99)
    feed.call("c", queued("member", 50), 50)
    feed.call("a", queued("member", 5, reason="callback-retry"), 100)
    (retry,) = dispatch(board, ts(100))
    assert (retry.routed.contact_id, board.routed["a"].routings) == ("a", 2)  # ahead of c, a new decision
    second = answered("ben", "member", 5)
    second.callback_attempt = 2
    feed.call("a", second, 101)
    assert board.tally("member").answered == 1  # only its first attempt is an answer from the queue


def test_the_agent_of_a_failed_attempt_wraps_up_unless_the_calls_end_does_it() -> None:
    feed = Feed(Board(TENANT))
    failed = call_events.CallbackAttemptFailed(
        agent_id="ann", outcome=NO_ANSWER, attempt=1, queue_id="member"
    )
    last = feed.event("call", "a", failed, 40)
    assert agent_commands_for_call(last) == []
    failed.retry_at.FromDatetime(at(100))
    [(_, command)] = agent_commands_for_call(feed.event("call", "a", failed, 40))
    assert (command.meta.aggregate_id, command.start_wrap_up.contact_id) == ("ann", "a")


def _restored(board: Board) -> Board:
    store = Changelog()
    store.write(board.take_changelog())
    return store.restore()
