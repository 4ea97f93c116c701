"""The customer's last agent (RT-6): a queue that prefers it holds a returning customer's contact for
that agent, within the queue's window and for up to its wait, before anyone else may take it."""

from cc.routing.v1 import events_pb2 as routing_events
from cc.telephony.v1 import events_pb2 as call_events
from google.protobuf.message import Message

from services.routing.board import PREFERRED, READY, WRAP_UP, Board, entries_by_tenant
from services.routing.matching import candidates_for, dispatch, expand_targets
from services.routing.rules import QueueRule, proto_of
from tests.unit.support import TENANT, Changelog, Feed, answered, changed, logged_in, queued, ts

ON_CONTACT = routing_events.AGENT_STATE_ON_CONTACT
MEMBER = QueueRule("member", (("member", 0),), last_agent_window_seconds=3600, last_agent_wait_seconds=30)


def call(feed: Feed, call_id: str, payload: Message, t: float, customer: str = "kim-customer") -> None:
    event = feed.event("call", call_id, payload, t)
    event.customer_id = customer
    feed.deliver(event)


def served_once(rule: QueueRule = MEMBER) -> Feed:
    """ann answered the customer at 10 and is wrapping up at 100; ben is ready."""
    feed = Feed(Board(TENANT))
    feed.queue("member", routing_events.QueueCreated(rules=proto_of(rule)), 0)
    feed.agent("ann", logged_in(member=5), 1)
    call(feed, "first", queued("member", 5), 5)
    assert [d.routed.agent_id for d in dispatch(feed.board, ts(5))] == ["ann"]
    call(feed, "first", answered("ann", "member", 5), 10)
    feed.agent("ann", changed(ON_CONTACT, READY, "first"), 10)
    feed.agent("ann", changed(WRAP_UP, ON_CONTACT, "first"), 90)
    feed.agent("ben", logged_in(member=9), 95)
    return feed


def test_a_returning_customer_waits_for_its_last_agent_who_takes_it_when_ready() -> None:
    feed = served_once()
    call(feed, "again", queued("member", 100), 100)
    assert dispatch(feed.board, ts(100)) == []  # ben is ready, but the call waits for ann
    contact = feed.board.waiting["again"]
    assert (contact.step, contact.preferred_agent) == (PREFERRED, "ann")
    assert [(c.agent_id, c.skipped_reason) for c in candidates_for(feed.board, contact, ts(100))] == [
        ("ben", "not-last-agent"),
        ("ann", "wrap-up"),
    ]

    feed.agent("ann", changed(READY, WRAP_UP, "first"), 110)
    (decision,) = dispatch(feed.board, ts(110))
    assert (decision.routed.agent_id, decision.routed.target_step) == ("ann", -1)
    assert "is the customer's last agent" in decision.routed.explanation


def test_after_the_queues_wait_anyone_may_take_it() -> None:
    feed = served_once()
    call(feed, "again", queued("member", 100), 100)
    assert expand_targets(feed.board, ts(129.9)) == []
    (released,) = expand_targets(feed.board, ts(130))
    assert (released.expanded.step, released.expanded.target) == (0, "member")
    (decision,) = dispatch(feed.board, ts(130))
    assert (decision.routed.agent_id, decision.routed.target_step) == ("ben", 0)


def test_no_preference_outside_the_window_for_a_logged_out_agent_or_another_customer() -> None:
    feed = served_once()
    call(feed, "late", queued("member", 3700), 3700)  # the window is an hour after the answer at 10
    assert [d.routed.agent_id for d in dispatch(feed.board, ts(3700))] == ["ben"]

    feed = served_once()
    call(feed, "stranger", queued("member", 100), 100, customer="someone-else")
    assert [d.routed.agent_id for d in dispatch(feed.board, ts(100))] == ["ben"]

    feed = served_once()
    feed.agent("ann", routing_events.AgentLoggedOut(previous_state=WRAP_UP), 99)
    call(feed, "again", queued("member", 100), 100)
    assert [d.routed.agent_id for d in dispatch(feed.board, ts(100))] == ["ben"]

    feed = served_once(QueueRule("member", (("member", 0),)))  # a queue that does not prefer
    call(feed, "again", queued("member", 100), 100)
    assert [d.routed.agent_id for d in dispatch(feed.board, ts(100))] == ["ben"]


def test_a_contact_its_last_agent_did_not_answer_goes_to_anyone_and_state_survives_a_restore() -> None:
    feed = served_once()
    call(feed, "again", queued("member", 100), 100)
    store = Changelog()
    store.write(feed.board.take_changelog())
    restored = Board.restore(TENANT, entries_by_tenant(store.entries.items())[TENANT])
    assert restored == feed.board and restored.last_agents["kim-customer"].agent_id == "ann"
    assert restored.waiting["again"].step == PREFERRED

    feed.agent("ann", changed(READY, WRAP_UP, "first"), 110)
    dispatch(feed.board, ts(110))
    call(feed, "again", call_events.CallRingNoAnswer(agent_id="ann", queue_id="member"), 125)
    call(feed, "again", queued("member", 100), 125)  # back in the queue, where anyone may take it
    assert feed.board.waiting["again"].step == 0
    assert [d.routed.agent_id for d in dispatch(feed.board, ts(125))] == ["ben"]
