"""Blind transfers on the routing board (TEL-1): the transferring agent's talk ends and its handling is
counted in the queue it answered from when its own wrap-up ends; the call is a new offer in the queue
it goes to, or waits for the agent it goes to (for TRANSFER_WAIT_SECONDS) before anyone in its queue
may take it; a transfer to a number ends the call; the agent wraps up (routing's policy)."""

from cc.routing.v1 import events_pb2 as routing_events
from cc.telephony.v1 import events_pb2 as call_events

from services.routing.board import (
    PREFERRED,
    READY,
    TRANSFER_WAIT_SECONDS,
    WRAP_UP,
    Board,
    agent_talk_key,
)
from services.routing.consumers import agent_commands_for_call
from services.routing.matching import candidates_for, dispatch, expand_targets
from services.routing.rules import QueueRule, proto_of
from tests.unit.support import TENANT, Changelog, Feed, answered, changed, ended, logged_in, queued, ts

ON_CONTACT = routing_events.AGENT_STATE_ON_CONTACT
Target = call_events.TransferTarget


def transferred(
    to: str, target: "call_events.TransferTarget.ValueType", agent_id: str = "ann"
) -> call_events.CallTransferred:
    return call_events.CallTransferred(agent_id=agent_id, queue_id="member", target=target, to=to)


def on_a_call() -> Feed:
    """ann (member) answered call c at 10 after 5 s in member; ben (billing) and cid (member) are ready."""
    feed = Feed(Board(TENANT))
    feed.queue(
        "member", routing_events.QueueCreated(rules=proto_of(QueueRule("member", (("member", 0),)))), 0
    )
    feed.agent("ann", logged_in(member=5), 1)
    feed.call("c", queued("member", 5), 5)
    assert [d.routed.agent_id for d in dispatch(feed.board, ts(5))] == ["ann"]
    feed.call("c", answered("ann", "member", 5), 10)
    feed.agent("ann", changed(ON_CONTACT, READY, "c"), 10)
    feed.agent("ben", logged_in(billing=5), 11)
    feed.agent("cid", logged_in(member=5), 12)
    return feed


def test_a_call_transferred_to_a_queue_is_offered_there_and_each_agent_hands_in_its_own_handling() -> None:
    feed = on_a_call()
    board = feed.board

    feed.call("c", transferred("billing", Target.TRANSFER_TARGET_QUEUE), 40)
    feed.call("c", queued("billing", 40, reason="transferred"), 40)

    assert board.agent_days["ann"].talk_seconds == 30.0
    assert board.talking[agent_talk_key("c", "ann")].ended_at == ts(40) and "c" not in board.talking
    assert (board.tally("billing").offered, board.waiting["c"].step) == (1, 0)  # no place kept
    (decision,) = dispatch(board, ts(40))
    assert decision.routed.agent_id == "ben"
    # its routings count on, so that this decision's id is not the one that rang ann (rung once each)
    assert board.routed["c"].routings == 2
    feed.call("c", answered("ben", "billing", 40), 44)
    feed.agent("ben", changed(ON_CONTACT, READY, "c"), 44)
    assert board.tally("billing").answer_wait_total == 4.0  # measured from the transfer

    feed.agent("ann", changed(WRAP_UP, ON_CONTACT, "c"), 40)
    feed.agent("ann", changed(READY, WRAP_UP, "c"), 50)
    member = board.tally("member")
    assert (member.handled, member.handle_time_total) == (1, 40.0)  # ann's answer to her wrap-up's end
    assert board.talking["c"].agent_id == "ben"  # ben's talk goes on

    feed.call("c", ended("billing", "ben"), 60)
    feed.agent("ben", changed(WRAP_UP, ON_CONTACT, "c"), 60)
    feed.agent("ben", changed(READY, WRAP_UP, "c"), 65)
    billing = board.tally("billing")
    assert (billing.handled, billing.handle_time_total) == (1, 21.0)
    assert board.talking == {}


def test_a_call_transferred_to_an_agent_waits_for_it_then_its_queue_takes_it() -> None:
    feed = on_a_call()
    feed.agent("dan", logged_in(member=1, initial=routing_events.AGENT_STATE_NOT_READY), 13)
    board = feed.board

    feed.call("c", transferred("dan", Target.TRANSFER_TARGET_AGENT), 40)
    waiting = queued("member", 40, reason="transferred")
    waiting.agent_id = "dan"
    feed.call("c", waiting, 40)

    contact = board.waiting["c"]
    assert (contact.step, contact.preferred_agent, contact.preferred_wait_seconds) == (
        PREFERRED,
        "dan",
        TRANSFER_WAIT_SECONDS,
    )
    assert dispatch(board, ts(40)) == []  # cid is ready, but the call waits for dan
    reasons = {c.agent_id: c.skipped_reason for c in candidates_for(board, contact, ts(40))}
    assert (reasons["cid"], reasons["dan"]) == ("not-last-agent", "not-ready")
    restored = _stored_and_restored(board)
    assert restored == board and restored.waiting["c"].preferred_wait_seconds == TRANSFER_WAIT_SECONDS

    feed.agent("dan", changed(READY, routing_events.AGENT_STATE_NOT_READY), 45)
    (decision,) = dispatch(board, ts(45))
    assert (decision.routed.agent_id, decision.routed.target_step) == ("dan", PREFERRED)
    assert "is the agent it was transferred to" in decision.routed.explanation


def test_after_the_transfer_wait_anyone_in_its_queue_may_take_it() -> None:
    feed = on_a_call()
    feed.agent("dan", logged_in(member=1, initial=routing_events.AGENT_STATE_NOT_READY), 13)
    feed.call("c", transferred("dan", Target.TRANSFER_TARGET_AGENT), 40)
    waiting = queued("member", 40, reason="transferred")
    waiting.agent_id = "dan"
    feed.call("c", waiting, 40)

    assert expand_targets(feed.board, ts(40 + TRANSFER_WAIT_SECONDS - 0.1)) == []
    (released,) = expand_targets(feed.board, ts(40 + TRANSFER_WAIT_SECONDS))
    assert released.expanded.step == 0
    assert [d.routed.agent_id for d in dispatch(feed.board, ts(70))] == ["cid"]


def test_a_transfer_to_an_agent_not_logged_in_or_to_a_queue_waits_for_nobody() -> None:
    feed = on_a_call()
    feed.call("c", transferred("nobody", Target.TRANSFER_TARGET_AGENT), 40)
    waiting = queued("member", 40, reason="transferred")
    waiting.agent_id = "nobody"
    feed.call("c", waiting, 40)
    assert [d.routed.agent_id for d in dispatch(feed.board, ts(40))] == ["cid"]

    # ann is the customer's last agent, but a transfer does not go back to whoever transferred it
    feed = on_a_call()
    feed.board.queues["member"] = QueueRule(
        "member", (("member", 0),), last_agent_window_seconds=3600, last_agent_wait_seconds=30
    )
    feed.call("c", transferred("member", Target.TRANSFER_TARGET_QUEUE), 40)
    feed.call("c", queued("member", 40, reason="transferred"), 40)
    assert (feed.board.waiting["c"].step, feed.board.waiting["c"].preferred_agent) == (0, "")


def test_a_transfer_to_a_number_ends_the_call_as_its_agent_ends_it() -> None:
    feed = on_a_call()
    board = feed.board

    feed.call("c", transferred("+8221234567", Target.TRANSFER_TARGET_NUMBER), 40)
    out = call_events.CallEnded(
        ended_by=call_events.PARTY_AGENT,
        reason=call_events.END_REASON_TRANSFERRED_OUT,
        queue_id="member",
        agent_id="ann",
    )
    feed.call("c", out, 40)
    feed.agent("ann", changed(WRAP_UP, ON_CONTACT, "c"), 40)
    feed.agent("ann", changed(READY, WRAP_UP, "c"), 50)

    assert board.agent_days["ann"].talk_seconds == 30.0
    assert (board.tally("member").handled, board.tally("member").handle_time_total) == (1, 40.0)
    assert board.talking == {}


def test_the_transferring_agent_wraps_up_unless_the_calls_end_does_it() -> None:
    feed = Feed(Board(TENANT))
    to_queue = feed.event("call", "c", transferred("billing", Target.TRANSFER_TARGET_QUEUE), 40)
    [(_, command)] = agent_commands_for_call(to_queue)
    assert (command.meta.aggregate_id, command.start_wrap_up.contact_id) == ("ann", to_queue.aggregate_id)

    to_number = feed.event("call", "d", transferred("+8221234567", Target.TRANSFER_TARGET_NUMBER), 40)
    assert agent_commands_for_call(to_number) == []


def _stored_and_restored(board: Board) -> Board:
    store = Changelog()
    store.write(board.take_changelog())
    return store.restore()


def test_decisions_after_a_transfer_count_on_whatever_order_call_and_agent_events_arrive_in() -> None:
    feed = on_a_call()
    board = feed.board
    # ann's wrap-up, caused by the transfer, is read from the agents topic before the transfer itself
    feed.agent("ann", changed(WRAP_UP, ON_CONTACT, "c"), 40)
    feed.agent("ann", changed(READY, WRAP_UP, "c"), 41)
    feed.call("c", transferred("billing", Target.TRANSFER_TARGET_QUEUE), 40)
    feed.call("c", queued("billing", 40, reason="transferred"), 40)

    restored = _stored_and_restored(board)
    (decision,) = dispatch(restored, ts(42))
    assert (decision.routed.agent_id, restored.routed["c"].routings) == ("ben", 2)

    feed.call("c", ended("billing"), 45)
    assert "c" not in board.routings_so_far  # kept only while the call lasts
