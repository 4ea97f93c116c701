"""The routing service's board view (RT-8 candidates on demand): a board that never dispatches follows
the stream worker's decisions (`contact_routed` -> the agent reserved), answers the full candidate list
of a contact in routing, and folds records of several topics in timestamp order."""

from datetime import UTC

import pytest
from aiokafka import ConsumerRecord, TopicPartition
from cc.common.v1 import event_pb2
from cc.routing.v1 import events_pb2 as routing_events
from cc.routing.v1 import routing_pb2
from cc.telephony.v1 import events_pb2 as call_events
from google.protobuf.message import Message
from hypothesis import given, settings
from hypothesis import strategies as st

from services.common.errors import NotFound
from services.common.topics import AGENTS, CALLS, ROUTING_DECISIONS
from services.routing.board import (
    FORWARDED_PAYLOADS,
    NOT_READY,
    READY,
    STATUS_READY,
    STATUS_RESERVED,
    Board,
    SourcePosition,
)
from services.routing.board_view import BoardView, TimestampMerge, candidate_list
from services.routing.matching import Decision, dispatch, unrung_decisions
from tests.unit.support import (
    TENANT,
    Feed,
    answered,
    at,
    changed,
    ended,
    envelope,
    logged_in,
    queued,
    ts,
)
from tests.unit.test_board import agent_follows, next_event, with_enqueue_time


def routed_event(routed: routing_events.ContactRouted, version: int, t: float) -> event_pb2.Event:
    """A decision as the stream worker sends it: its version counts the contact's routings."""
    return envelope(
        routed,
        context="routing",
        aggregate_type="contact",
        aggregate_id=routed.contact_id,
        version=version,
        when=at(t),
    )


def decision_event(decision: Decision, t: float) -> event_pb2.Event:
    return routed_event(decision.routed, decision.contact.routings, t)


class Decisions:
    """The routing.decisions.v1 partition a view reads: one offset after another."""

    def __init__(self) -> None:
        self.offset = -1

    def deliver(self, feed: Feed, event: event_pb2.Event) -> bool:
        self.offset += 1
        return feed.deliver(event, SourcePosition(ROUTING_DECISIONS, 0, self.offset))


def worker_and_view() -> tuple[Feed, Feed, Decisions]:
    return Feed(Board(TENANT)), Feed(Board(TENANT)), Decisions()


def both(worker: Feed, view: Feed, kind: str, aggregate_id: str, payload: Message, t: float) -> None:
    """An event the worker and the view both read (the same envelope)."""
    event = worker.event(kind, aggregate_id, payload, t)
    worker.deliver(event)
    view.deliver(event)


# ---- the fold: contact_routed -> reserved -------------------------------------------------------------


def test_a_decision_reserves_the_chosen_agent_on_a_board_that_never_dispatches() -> None:
    worker, view, decisions = worker_and_view()
    both(worker, view, "agent", "kim", logged_in(member=5), 0)
    both(worker, view, "agent", "lee", logged_in(member=5), 1)
    both(worker, view, "call", "call-1", queued("member", 2), 2)
    [decision] = dispatch(worker.board, ts(2))
    assert view.board.waiting.keys() == {"call-1"}  # the view has not dispatched

    assert decisions.deliver(view, decision_event(decision, 2))

    assert view.board.waiting == {}
    contact = view.board.routed["call-1"]
    assert (contact.agent_id, contact.routings, contact.rung, contact.routed_at) == ("kim", 1, False, ts(2))
    assert view.board.agents["kim"].status == STATUS_RESERVED
    assert [seat.agent_id for seat in view.board.available("member")] == ["lee"]
    assert view.board.routed == worker.board.routed
    assert view.board.agents == worker.board.agents


def test_a_decision_sent_again_is_not_applied_again() -> None:
    worker, view, decisions = worker_and_view()
    both(worker, view, "agent", "kim", logged_in(member=5), 0)
    both(worker, view, "call", "call-1", queued("member", 1), 1)
    [decision] = dispatch(worker.board, ts(1))
    decisions.deliver(view, decision_event(decision, 1))
    [resent] = unrung_decisions(worker.board, ts(7), after_seconds=5)

    assert decisions.deliver(view, decision_event(resent, 7)) is True  # read, but it changes nothing

    assert view.board.routed["call-1"].routed_at == ts(1)
    assert view.board.routed == worker.board.routed


def test_a_decision_read_after_its_contact_went_back_to_its_queue_is_stale() -> None:
    worker, view, decisions = worker_and_view()
    both(worker, view, "agent", "kim", logged_in(member=5), 0)
    both(worker, view, "call", "call-1", queued("member", 1), 1)
    [first] = dispatch(worker.board, ts(1))
    decisions.deliver(view, decision_event(first, 1))
    both(worker, view, "call", "call-1", call_events.CallRinging(agent_id="kim", queue_id="member"), 1)
    both(worker, view, "call", "call-1", call_events.CallRingNoAnswer(agent_id="kim", queue_id="member"), 16)
    both(worker, view, "call", "call-1", queued("member", 1, reason="ring-no-answer"), 16)

    decisions.deliver(view, routed_event(first.routed, version=1, t=17))  # the first decision, re-sent late

    assert view.board.waiting.keys() == {"call-1"}
    assert view.board.waiting["call-1"].routings == 1
    assert view.board.agents["kim"].state == NOT_READY


def test_a_decision_for_a_contact_or_agent_the_board_does_not_hold_reserves_nobody() -> None:
    worker, view, decisions = worker_and_view()
    both(worker, view, "agent", "kim", logged_in(member=5), 0)
    worker.call("call-1", queued("member", 1), 1)  # the view has not read it yet
    [decision] = dispatch(worker.board, ts(1))

    decisions.deliver(view, decision_event(decision, 1))

    assert (view.board.waiting, view.board.routed) == ({}, {})
    assert view.board.agents["kim"].status == STATUS_READY

    view.call("call-2", queued("member", 2), 2)
    logged_out = routing_events.ContactRouted(contact_id="call-2", agent_id="gone", queue_id="member")
    decisions.deliver(view, routed_event(logged_out, version=1, t=2))
    assert view.board.waiting.keys() == {"call-2"}


def test_the_worker_never_forwards_a_decision_to_its_boards() -> None:
    assert "contact_routed" not in FORWARDED_PAYLOADS
    assert {"call_queued", "call_answered", "agent_logged_in", "agent_state_changed"} <= FORWARDED_PAYLOADS


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_a_view_following_the_decisions_holds_what_the_worker_holds_after_every_event(
    data: st.DataObject,
) -> None:
    worker, view, decisions = worker_and_view()
    t = 0.0
    for step in range(30):
        t += data.draw(st.sampled_from([0.0, 0.5, 1.0, 6.0]))
        kind, aggregate_id, payloads = next_event(data, worker.board, step)
        follow = agent_follows(kind, payloads, worker.board)
        for payload in payloads:
            both(worker, view, kind, aggregate_id, with_enqueue_time(payload, t), t)
        for payload in follow:
            agent_id = payloads[0].agent_id  # type: ignore[attr-defined]
            payload.contact_id = aggregate_id  # type: ignore[attr-defined]
            both(worker, view, "agent", agent_id, payload, t)
        for decision in dispatch(worker.board, ts(t)):
            decisions.deliver(view, decision_event(decision, t))
        for resent in unrung_decisions(worker.board, ts(t), after_seconds=5):
            decisions.deliver(view, decision_event(resent, t))

        assert view.board.agents == worker.board.agents
        assert view.board.waiting == worker.board.waiting
        assert view.board.routed == worker.board.routed
        assert view.board.next_match() is None


# ---- the view's answers ------------------------------------------------------------------------------


def record(
    topic: str, offset: int, event: event_pb2.Event, timestamp_ms: int = 0, partition: int = 0
) -> ConsumerRecord:
    value = event.SerializeToString()
    return ConsumerRecord(topic, partition, offset, timestamp_ms, 0, None, value, None, 0, len(value), ())


class ViewFeed:
    """Events of one tenant as records of their topics, folded by a BoardView."""

    def __init__(self, view: BoardView, tenant_id: str = TENANT) -> None:
        self.view = view
        self.feed = Feed(Board(tenant_id))  # only for its envelopes and versions
        self.offsets: dict[str, int] = {}

    def fold(self, topic: str, event: event_pb2.Event) -> None:
        self.offsets[topic] = self.offsets.get(topic, -1) + 1
        self.view.fold(record(topic, self.offsets[topic], event))

    def agent(self, agent_id: str, payload: Message, t: float) -> None:
        self.fold(AGENTS.events, self.feed.event("agent", agent_id, payload, t))

    def call(self, call_id: str, payload: Message, t: float) -> None:
        self.fold(CALLS.events, self.feed.event("call", call_id, payload, t))


def waiting_centre(view: BoardView) -> ViewFeed:
    """A payment call waiting: nobody ready has the skill. ben has it but is on a break."""
    centre = ViewFeed(view)
    centre.agent("ana", logged_in("seoul", general=7), 0)
    centre.agent("ben", logged_in("busan", member=4, payment=2), 1)
    centre.agent("ben", changed(NOT_READY, READY, reason="break"), 2)
    centre.agent("cyd", logged_in("seoul", member=5), 3)
    centre.call("call-1", queued("payment", 10), 10)
    return centre


def rows(response: routing_pb2.ListCandidatesResponse) -> list[tuple[str, bool, str, int, int]]:
    return [(c.agent_id, c.eligible, c.skipped_reason, c.rank, c.proficiency) for c in response.candidates]


def test_the_view_lists_every_agent_for_a_waiting_contact_with_why() -> None:
    view = BoardView("unused:9")
    waiting_centre(view)

    listed = view.candidates(TENANT, "call-1", ts(25))

    assert (listed.contact_id, listed.queue_id, listed.required_skill) == ("call-1", "payment", "payment")
    assert (listed.status, listed.agent_id, listed.waited_seconds) == (
        routing_pb2.CONTACT_ROUTING_STATUS_WAITING,
        "",
        15.0,
    )
    assert listed.as_of.ToDatetime(tzinfo=UTC) == at(25)
    assert listed.enqueued_at.ToDatetime(tzinfo=UTC) == at(10)
    assert rows(listed) == [
        ("ben", False, "not-ready", 0, 2),
        ("ana", False, "missing-skill", 0, 0),
        ("cyd", False, "missing-skill", 0, 0),
    ]


def test_the_view_ranks_the_eligible_agents_of_a_reserved_then_ringing_contact() -> None:
    view = BoardView("unused:9")
    centre = waiting_centre(view)
    centre.agent("eun", logged_in("busan", payment=9), 11)
    centre.agent("dae", logged_in("seoul", payment=6), 12)
    # the worker chose eun (idle longest); its decision reaches the view
    chosen = routing_events.ContactRouted(contact_id="call-1", agent_id="eun", queue_id="payment")
    centre.fold(ROUTING_DECISIONS, routed_event(chosen, version=1, t=12))

    reserved = view.candidates(TENANT, "call-1", ts(20))
    assert (reserved.status, reserved.agent_id) == (routing_pb2.CONTACT_ROUTING_STATUS_RESERVED, "eun")
    assert rows(reserved) == [
        ("dae", True, "", 1, 6),
        ("eun", False, "reserved", 0, 9),
        ("ben", False, "not-ready", 0, 2),
        ("ana", False, "missing-skill", 0, 0),
        ("cyd", False, "missing-skill", 0, 0),
    ]
    assert (reserved.candidates[0].idle_seconds, reserved.candidates[0].score) == (8.0, 8.0)

    centre.call("call-1", call_events.CallRinging(agent_id="eun", queue_id="payment"), 13)
    assert view.candidates(TENANT, "call-1", ts(20)).status == routing_pb2.CONTACT_ROUTING_STATUS_RINGING


@pytest.mark.parametrize("tenant_id, contact_id", [(TENANT, "call-unknown"), ("tenant-b", "call-1")])
def test_an_unknown_contact_or_another_tenants_is_not_found(tenant_id: str, contact_id: str) -> None:
    view = BoardView("unused:9")
    waiting_centre(view)

    with pytest.raises(NotFound) as missing:
        view.candidates(tenant_id, contact_id, ts(20))

    assert missing.value.error_id == "contact-not-found"


def test_the_view_lists_who_would_take_a_new_contact_of_a_queue_now() -> None:
    view = BoardView("unused:9")
    centre = waiting_centre(view)
    centre.agent("eun", logged_in("busan", payment=9), 11)
    centre.agent("dae", logged_in("seoul", payment=6), 12)

    listed = view.queue_candidates(TENANT, "payment", ts(20))

    assert (listed.contact_id, listed.queue_id, listed.required_skill) == ("", "payment", "payment")
    assert [c.agent_id for c in listed.candidates if c.eligible] == ["eun", "dae"]  # idle longest first
    with pytest.raises(NotFound) as missing:
        view.queue_candidates(TENANT, "nowhere", ts(20))
    assert missing.value.error_id == "queue-not-found"
    with pytest.raises(NotFound):
        view.queue_candidates("tenant-b", "payment", ts(20))


def test_a_contact_answered_or_ended_is_no_longer_listed() -> None:
    view = BoardView("unused:9")
    centre = waiting_centre(view)
    centre.call("call-2", queued("payment", 11), 11)
    centre.call("call-1", ended("payment", abandoned=True), 12)
    centre.call("call-2", answered("ben", "payment", 11), 13)

    for contact_id in ("call-1", "call-2"):
        with pytest.raises(NotFound):
            view.candidates(TENANT, contact_id, ts(20))


def test_an_unreadable_record_is_skipped_and_counted_and_the_board_keeps_no_change_marks() -> None:
    view = BoardView("unused:9")
    waiting_centre(view)
    view.fold(ConsumerRecord(CALLS.events, 0, 99, 0, 0, None, b"\xff\xff", None, 0, 2, ()))

    assert view.unreadable == 1
    board = view.board(TENANT)
    assert board is not None and board.take_changelog() == []
    assert view.candidates(TENANT, "call-1", ts(20)).status == routing_pb2.CONTACT_ROUTING_STATUS_WAITING
    assert not view.ready()


def test_the_candidate_list_is_a_pure_reading_of_the_board() -> None:
    feed = Feed(Board(TENANT))
    feed.agent("kim", logged_in(member=5), 0)
    feed.agent("kim", changed(NOT_READY, READY), 1)
    feed.call("call-1", queued("member", 2), 2)
    before = feed.board.entries()

    listed = candidate_list(feed.board, feed.board.waiting["call-1"], ts(4))

    assert rows(listed) == [("kim", False, "not-ready", 0, 5)]
    assert feed.board.entries() == before


# ---- folding several topics in timestamp order ---------------------------------------------------------


TOPICS = (CALLS.events, AGENTS.events, ROUTING_DECISIONS)
CALLS_0, AGENTS_0, DECISIONS_0 = (TopicPartition(topic, 0) for topic in TOPICS)


def stamped(tp: TopicPartition, offset: int, timestamp_ms: int) -> ConsumerRecord:
    return ConsumerRecord(tp.topic, tp.partition, offset, timestamp_ms, 0, None, b"", None, 0, 0, ())


def order(records: list[ConsumerRecord]) -> list[tuple[str, int]]:
    return [(r.topic.split(".")[1], r.offset) for r in records]


def test_records_of_several_partitions_go_in_timestamp_order_and_a_decision_after_its_causes() -> None:
    merge = TimestampMerge(TOPICS)
    merge.add([stamped(DECISIONS_0, 0, 100), stamped(DECISIONS_0, 1, 300)])
    merge.add([stamped(CALLS_0, 0, 100), stamped(CALLS_0, 1, 200)])
    merge.add([stamped(AGENTS_0, 0, 50)])

    assert order(merge.take(lagging=(), now=0)) == [
        ("agent", 0),
        ("call", 0),
        ("decisions", 0),  # the same millisecond as call 0: after it
        ("call", 1),
        ("decisions", 1),
    ]
    assert merge.take(lagging=(), now=0) == []


def test_a_partition_with_records_still_to_read_holds_the_others_back_for_a_while() -> None:
    merge = TimestampMerge(TOPICS, max_idle_seconds=1.0)
    merge.add([stamped(DECISIONS_0, 0, 200)])

    assert merge.take(lagging={CALLS_0}, now=10.0) == []  # the call that caused it may be on its way
    assert merge.holds_before(DECISIONS_0, 1) and not merge.holds_before(DECISIONS_0, 0)
    merge.add([stamped(CALLS_0, 0, 100)])
    assert order(merge.take(lagging={CALLS_0}, now=10.2)) == [("call", 0)]  # then calls 0 is empty again

    assert merge.take(lagging={CALLS_0}, now=10.5) == []
    assert order(merge.take(lagging={CALLS_0}, now=11.6)) == [("decisions", 0)]  # waited long enough
    assert merge.buffered(DECISIONS_0) == 0


def test_a_lagging_partition_holds_the_others_back_only_once_its_buffer_is_empty() -> None:
    merge = TimestampMerge(TOPICS)
    merge.add([stamped(CALLS_0, 0, 100), stamped(CALLS_0, 1, 300)])
    merge.add([stamped(DECISIONS_0, 0, 150), stamped(DECISIONS_0, 1, 400)])

    assert order(merge.take(lagging={CALLS_0}, now=0)) == [("call", 0), ("decisions", 0), ("call", 1)]
    assert merge.buffered(DECISIONS_0) == 1
