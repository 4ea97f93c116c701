"""Routing choice (RT-2, RT-3, RT-8): the board folded from real envelopes, and dispatch over it."""

from collections.abc import Iterable
from dataclasses import dataclass

import pytest
from cc.routing.v1 import events_pb2 as routing_events
from cc.telephony.v1 import events_pb2 as call_events
from google.protobuf.message import Message
from hypothesis import given, settings
from hypothesis import strategies as st

from services.common.envelope import derived_id
from services.common.topics import CALLS
from services.routing.board import NOT_READY, ON_CONTACT, READY, WRAP_UP, Board, SourcePosition
from services.routing.matching import (
    RUNNERS_UP,
    Decision,
    candidates_for,
    dispatch,
    unrung_decisions,
)
from tests.unit.support import TENANT, Feed, answered, changed, ended, logged_in, queued, ts


def new_feed(tenant_id: str = TENANT) -> Feed:
    return Feed(Board(tenant_id=tenant_id))


def ready_agent(feed: Feed, agent_id: str, t: float, site: str = "seoul", **proficiencies: int) -> None:
    assert feed.agent(agent_id, logged_in(site, **proficiencies), t)


def not_ready_agent(feed: Feed, agent_id: str, t: float, **proficiencies: int) -> None:
    assert feed.agent(agent_id, logged_in(initial=NOT_READY, **proficiencies), t)


def only(decisions: list[Decision]) -> Decision:
    assert len(decisions) == 1, [d.routed.agent_id for d in decisions]
    return decisions[0]


def rows(candidates: Iterable[routing_events.RoutingCandidate]) -> dict[str, tuple[bool, str, int]]:
    return {c.agent_id: (c.eligible, c.skipped_reason, c.rank) for c in candidates}


def skipped(decision: Decision) -> dict[str, int]:
    return {s.reason: s.count for s in decision.routed.skipped}


# ---- the choice ----------------------------------------------------------------------------------


def test_the_longest_idle_ready_agent_with_the_skill_is_chosen() -> None:
    feed = new_feed()
    ready_agent(feed, "a-recent", 20, member=9)
    ready_agent(feed, "a-longest", 5, member=1)
    ready_agent(feed, "a-middle", 10, member=5)
    feed.call("call-1", queued("member", 30), 30)

    decision = only(dispatch(feed.board, ts(40)))

    routed = decision.routed
    assert (routed.contact_id, routed.agent_id, routed.queue_id, routed.required_skill) == (
        "call-1",
        "a-longest",
        "member",
        "member",
    )
    assert routed.strategy == "longest-idle" == "longest-idle"
    assert [(c.agent_id, c.rank, c.idle_seconds, c.score) for c in routed.candidates] == [
        ("a-longest", 1, 35.0, 35.0),
        ("a-middle", 2, 30.0, 30.0),
        ("a-recent", 3, 20.0, 20.0),
    ]
    assert (routed.eligible_agents, skipped(decision)) == (3, {})
    assert routed.waited_seconds == 10.0
    assert routed.enqueued_at.ToDatetime().timestamp() == pytest.approx(ts(30))
    assert "a-longest" in routed.explanation
    assert (
        "idle longest at 35.0s of 3 ready agent(s) for queue 'member' (member, longest-idle); 0 skipped"
        in routed.explanation
    )


def skipped_for_every_reason(feed: Feed) -> None:
    """Two ready agents with the member skill, and one agent skipped for each reason."""
    ready_agent(feed, "a-reserved", 1, member=5)  # longest idle: taken by the first contact
    ready_agent(feed, "a-missing", 0, payment=10)
    not_ready_agent(feed, "a-not-ready", 2, member=5)
    ready_agent(feed, "a-on-contact", 3, member=5)
    feed.agent("a-on-contact", changed(ON_CONTACT, READY, contact_id="call-x"), 4)
    ready_agent(feed, "a-wrap-up", 3, member=5)
    feed.agent("a-wrap-up", changed(ON_CONTACT, READY, contact_id="call-y"), 4)
    feed.agent("a-wrap-up", changed(WRAP_UP, ON_CONTACT, contact_id="call-y"), 5)
    ready_agent(feed, "a-ready", 6, site="busan", member=5)
    ready_agent(feed, "a-ready-later", 8, member=5)
    feed.call("call-0", queued("member", 9), 9)
    assert only(dispatch(feed.board, ts(9))).routed.agent_id == "a-reserved"
    feed.call("call-1", queued("member", 10), 10)


def test_a_decision_lists_the_eligible_agents_and_counts_the_skipped_ones_by_reason() -> None:
    feed = new_feed()
    skipped_for_every_reason(feed)

    decision = only(dispatch(feed.board, ts(16)))

    routed = decision.routed
    assert routed.agent_id == "a-ready"
    assert rows(routed.candidates) == {"a-ready": (True, "", 1), "a-ready-later": (True, "", 2)}
    assert [c.site_id for c in routed.candidates] == ["busan", "seoul"]
    assert [(s.reason, s.count) for s in routed.skipped] == [
        ("missing-skill", 1),
        ("reserved", 1),
        ("on-contact", 1),
        ("wrap-up", 1),
        ("not-ready", 1),
    ]
    assert routed.eligible_agents == 2
    assert "2 ready agent(s)" in routed.explanation
    assert "5 skipped" in routed.explanation
    assert "site busan" in routed.explanation


def test_the_full_candidate_list_names_every_agent_with_why_and_rank_zero_when_skipped() -> None:
    feed = new_feed()
    skipped_for_every_reason(feed)

    candidates = candidates_for(feed.board, feed.board.waiting["call-1"], ts(16))

    assert rows(candidates) == {
        "a-ready": (True, "", 1),
        "a-ready-later": (True, "", 2),
        "a-reserved": (False, "reserved", 0),
        "a-missing": (False, "missing-skill", 0),
        "a-not-ready": (False, "not-ready", 0),
        "a-on-contact": (False, "on-contact", 0),
        "a-wrap-up": (False, "wrap-up", 0),
    }
    assert [c.agent_id for c in candidates[:2]] == ["a-ready", "a-ready-later"]  # eligible first
    assert [(c.idle_seconds, c.score) for c in candidates[:2]] == [(10.0, 10.0), (8.0, 8.0)]
    assert all(c.idle_seconds == c.score == 0.0 for c in candidates if not c.eligible)
    assert {c.agent_id: c.proficiency for c in candidates}["a-missing"] == 0
    assert list(feed.board.waiting) == ["call-1"]  # reading the list changes nothing


def test_a_decision_lists_at_most_the_chosen_agent_and_five_runners_up() -> None:
    feed = new_feed()
    for number in range(9):
        ready_agent(feed, f"a-{number}", number, member=5)
    feed.call("call-1", queued("member", 10), 10)

    routed = only(dispatch(feed.board, ts(20))).routed

    assert [c.agent_id for c in routed.candidates] == [f"a-{n}" for n in range(1 + RUNNERS_UP)]
    assert [c.rank for c in routed.candidates] == list(range(1, 7))
    assert [c.score for c in routed.candidates] == [20.0, 19.0, 18.0, 17.0, 16.0, 15.0]
    assert routed.eligible_agents == 9


def test_missing_skill_is_reported_before_the_agent_state() -> None:
    feed = new_feed()
    not_ready_agent(feed, "a-1", 0, payment=5)
    ready_agent(feed, "a-2", 0, member=5)
    feed.call("call-1", queued("member", 1), 1)

    assert rows(candidates_for(feed.board, feed.board.waiting["call-1"], ts(2)))["a-1"] == (
        False,
        "missing-skill",
        0,
    )
    assert skipped(only(dispatch(feed.board, ts(2)))) == {"missing-skill": 1}


def test_ties_on_idle_time_go_to_higher_proficiency_then_agent_id() -> None:
    feed = new_feed()
    ready_agent(feed, "b", 0, member=7)
    ready_agent(feed, "a", 0, member=7)
    ready_agent(feed, "c", 0, member=9)
    ready_agent(feed, "d", 0, member=2)
    feed.call("call-1", queued("member", 1), 1)

    decision = only(dispatch(feed.board, ts(5)))

    assert decision.routed.agent_id == "c"
    ranks = [(c.agent_id, c.rank) for c in decision.routed.candidates]
    assert ranks == [("c", 1), ("a", 2), ("b", 3), ("d", 4)]


def test_no_ready_agent_means_no_decision_and_the_contact_keeps_waiting() -> None:
    feed = new_feed()
    not_ready_agent(feed, "a-1", 0, member=5)
    ready_agent(feed, "a-2", 0, payment=5)
    feed.call("call-1", queued("member", 1), 1)

    assert dispatch(feed.board, ts(30)) == []
    assert list(feed.board.waiting) == ["call-1"]
    assert feed.board.routed == {}
    assert all(not seat.reserved_for for seat in feed.board.agents.values())


def test_no_agent_at_all_means_no_decision() -> None:
    feed = new_feed()
    feed.call("call-1", queued("member", 1), 1)

    assert dispatch(feed.board, ts(2)) == []
    assert candidates_for(feed.board, feed.board.waiting["call-1"], ts(2)) == []


# ---- who goes first ------------------------------------------------------------------------------


def test_when_an_agent_becomes_ready_the_longest_waiting_contact_of_its_queues_goes_first() -> None:
    feed = new_feed()
    not_ready_agent(feed, "a-1", 0, member=5)
    feed.call("call-payment", queued("payment", 1), 1)  # waiting longest, but a-1 lacks the skill
    feed.call("call-member-2", queued("member", 3), 3)
    feed.call("call-member-1", queued("member", 2), 4)  # appended later, enqueued earlier
    assert dispatch(feed.board, ts(5)) == []

    feed.agent("a-1", changed(READY, NOT_READY), 10)
    decision = only(dispatch(feed.board, ts(10)))

    assert (decision.routed.contact_id, decision.routed.agent_id) == ("call-member-1", "a-1")
    assert decision.routed.waited_seconds == 8.0
    assert set(feed.board.waiting) == {"call-payment", "call-member-2"}
    assert set(feed.board.routed) == {"call-member-1"}


def test_priority_goes_before_waiting_time() -> None:
    feed = new_feed()
    not_ready_agent(feed, "a-1", 0, member=5)
    feed.call("call-old", queued("member", 1), 1)
    feed.call("call-vip", queued("member", 5, priority=3), 5)
    feed.agent("a-1", changed(READY, NOT_READY), 10)

    assert only(dispatch(feed.board, ts(10))).routed.contact_id == "call-vip"


def test_a_contact_whose_skill_the_agent_lacks_is_skipped_and_others_still_route() -> None:
    feed = new_feed()
    ready_agent(feed, "a-member", 0, member=5)
    ready_agent(feed, "a-general", 1, general=5)
    feed.call("call-payment", queued("payment", 2), 2)
    feed.call("call-member", queued("member", 3), 3)
    feed.call("call-general", queued("general", 4), 4)

    decisions = dispatch(feed.board, ts(5))

    assert [(d.routed.contact_id, d.routed.agent_id) for d in decisions] == [
        ("call-member", "a-member"),
        ("call-general", "a-general"),
    ]
    assert list(feed.board.waiting) == ["call-payment"]


def test_one_dispatch_routes_several_contacts_to_several_agents_in_order() -> None:
    feed = new_feed()
    ready_agent(feed, "a-1", 0, member=5)
    ready_agent(feed, "a-2", 1, member=5)
    ready_agent(feed, "a-3", 2, member=5)
    feed.call("call-1", queued("member", 3), 3)
    feed.call("call-2", queued("member", 4), 4)

    decisions = dispatch(feed.board, ts(5))

    pairs = [(d.routed.contact_id, d.routed.agent_id) for d in decisions]
    assert pairs == [("call-1", "a-1"), ("call-2", "a-2")]
    assert skipped(decisions[1]) == {"reserved": 1}


# ---- reservation ---------------------------------------------------------------------------------


def test_dispatch_reserves_the_agent_so_a_second_contact_is_not_routed_to_it() -> None:
    feed = new_feed()
    ready_agent(feed, "a-1", 0, member=5)
    feed.call("call-1", queued("member", 1), 1)
    feed.call("call-2", queued("member", 2), 2)

    decision = only(dispatch(feed.board, ts(3)))

    assert decision.routed.contact_id == "call-1"
    assert feed.board.agents["a-1"].reserved_for == "call-1"
    assert feed.board.routed["call-1"].routings == 1
    assert list(feed.board.waiting) == ["call-2"]
    assert dispatch(feed.board, ts(4)) == []
    candidate = candidates_for(feed.board, feed.board.waiting["call-2"], ts(4))
    assert [(c.agent_id, c.skipped_reason) for c in candidate] == [("a-1", "reserved")]


def test_the_agent_gets_the_next_contact_only_after_the_whole_contact_cycle() -> None:
    feed = new_feed()
    ready_agent(feed, "a-1", 0, member=5)
    feed.call("call-1", queued("member", 1), 1)
    feed.call("call-2", queued("member", 2), 2)
    only(dispatch(feed.board, ts(3)))

    feed.call("call-1", answered("a-1", "member", 1), 5)
    seat = feed.board.agents["a-1"]
    assert (seat.state, seat.reserved_for, seat.contact_id) == (ON_CONTACT, "", "call-1")
    assert seat.ready_since is None
    assert dispatch(feed.board, ts(6)) == []
    feed.agent("a-1", changed(ON_CONTACT, READY, contact_id="call-1"), 6)
    feed.call("call-1", ended("member", "a-1"), 30)
    assert dispatch(feed.board, ts(30)) == []
    feed.agent("a-1", changed(WRAP_UP, ON_CONTACT, contact_id="call-1"), 30)
    assert dispatch(feed.board, ts(35)) == []
    feed.agent("a-1", changed(READY, WRAP_UP, contact_id="call-1"), 40)

    decision = only(dispatch(feed.board, ts(41)))

    assert (decision.routed.contact_id, decision.routed.agent_id) == ("call-2", "a-1")
    assert decision.routed.candidates[0].idle_seconds == 1.0


@pytest.mark.parametrize(
    ("missed", "reason"),
    [
        (call_events.CallRingNoAnswer(agent_id="a-1", queue_id="member"), "ring-no-answer"),
        (call_events.CallRejected(agent_id="a-1", queue_id="member"), "rejected"),
    ],
)
def test_ring_no_answer_frees_the_reservation_and_the_requeued_contact_goes_to_another_agent(
    missed: Message, reason: str
) -> None:
    feed = new_feed()
    ready_agent(feed, "a-1", 0, member=5)
    ready_agent(feed, "a-2", 5, member=5)
    feed.call("call-1", queued("member", 10), 10)
    first = only(dispatch(feed.board, ts(10)))
    assert first.routed.agent_id == "a-1"

    feed.call("call-1", missed, 25)
    seat = feed.board.agents["a-1"]
    assert (seat.state, seat.reserved_for, seat.ready_since) == (NOT_READY, "", None)
    feed.call("call-1", queued("member", 10, reason=reason), 25)

    contact = feed.board.waiting["call-1"]
    assert (contact.enqueued_at, contact.routings) == (ts(10), 1)
    second = only(dispatch(feed.board, ts(25)))
    assert second.routed.agent_id == "a-2"
    assert skipped(second) == {"not-ready": 1}
    assert second.routed.waited_seconds == 15.0
    assert second.routed.decision_id == derived_id("decision", TENANT, "call-1", "2")
    assert second.routed.decision_id != first.routed.decision_id


def test_ring_no_answer_of_another_contact_leaves_the_reservation_alone() -> None:
    feed = new_feed()
    ready_agent(feed, "a-1", 0, member=5)
    feed.call("call-1", queued("member", 1), 1)
    only(dispatch(feed.board, ts(1)))

    feed.call("call-other", call_events.CallRingNoAnswer(agent_id="a-1", queue_id="member"), 2)

    seat = feed.board.agents["a-1"]
    assert (seat.state, seat.reserved_for) == (READY, "call-1")


def test_a_caller_hanging_up_while_ringing_frees_the_agent_for_the_next_contact() -> None:
    feed = new_feed()
    ready_agent(feed, "a-1", 0, member=5)
    feed.call("call-1", queued("member", 1), 1)
    feed.call("call-2", queued("member", 2), 2)
    only(dispatch(feed.board, ts(3)))

    feed.call("call-1", ended("member", "a-1", abandoned=True), 6)

    assert feed.board.agents["a-1"].reserved_for == ""
    assert "call-1" not in feed.board.routed
    decision = only(dispatch(feed.board, ts(7)))
    assert (decision.routed.contact_id, decision.routed.agent_id) == ("call-2", "a-1")
    assert decision.routed.candidates[0].idle_seconds == 7.0  # keeps the idle time from before the ring


def test_a_caller_hanging_up_while_waiting_leaves_the_queue() -> None:
    feed = new_feed()
    feed.call("call-1", queued("member", 1), 1)

    feed.call("call-1", ended("member", abandoned=True), 4)
    ready_agent(feed, "a-1", 5, member=5)

    assert feed.board.waiting == {}
    assert dispatch(feed.board, ts(6)) == []


def test_logging_out_removes_the_agent_from_the_candidates() -> None:
    feed = new_feed()
    ready_agent(feed, "a-1", 0, member=5)
    ready_agent(feed, "a-2", 3, member=5)
    feed.agent("a-1", routing_events.AgentLoggedOut(previous_state=READY), 4)
    feed.call("call-1", queued("member", 5), 5)

    decision = only(dispatch(feed.board, ts(6)))

    assert decision.routed.agent_id == "a-2"
    assert [c.agent_id for c in decision.routed.candidates] == ["a-2"]


# ---- determinism and idempotency -----------------------------------------------------------------


def scenario(tenant_id: str) -> list[Decision]:
    feed = new_feed(tenant_id)
    ready_agent(feed, "a-1", 0, member=5)
    ready_agent(feed, "a-2", 1, member=5)
    feed.call("call-1", queued("member", 2), 2)
    feed.call("call-2", queued("member", 3), 3)
    return dispatch(feed.board, ts(4))


def test_decision_ids_are_deterministic() -> None:
    first, again = scenario(TENANT), scenario(TENANT)

    assert [d.routed.decision_id for d in first] == [d.routed.decision_id for d in again]
    assert [d.routed.decision_id for d in first] == [
        derived_id("decision", TENANT, "call-1", "1"),
        derived_id("decision", TENANT, "call-2", "1"),
    ]
    assert [d.routed for d in first] == [d.routed for d in again]
    other_tenant = scenario("tenant-b")
    assert {d.routed.decision_id for d in other_tenant}.isdisjoint(d.routed.decision_id for d in first)


def test_a_source_record_applied_already_is_a_duplicate() -> None:
    feed = new_feed()
    event = feed.event("call", "call-1", queued("member", 1), 1)
    source = SourcePosition(CALLS.events, 3, 41)

    assert feed.deliver(event, source) is True
    assert feed.deliver(event, source) is False  # forwarded again after a crash: same source record
    assert feed.deliver(event, SourcePosition(CALLS.events, 3, 40)) is False  # an earlier one

    assert feed.board.tally("member").offered == 1
    assert list(feed.board.waiting) == ["call-1"]
    assert feed.board.sources == {f"{CALLS.events}/3": 41}


def test_each_source_partition_keeps_its_own_mark() -> None:
    feed = new_feed()
    first = feed.event("call", "call-1", queued("member", 1), 1)
    second = feed.event("call", "call-2", queued("member", 2), 2)

    assert feed.deliver(first, SourcePosition(CALLS.events, 0, 7)) is True
    assert feed.deliver(second, SourcePosition(CALLS.events, 1, 2)) is True  # a lower offset elsewhere

    assert feed.board.tally("member").offered == 2
    assert feed.board.sources == {f"{CALLS.events}/0": 7, f"{CALLS.events}/1": 2}


def test_a_duplicate_is_found_however_late_it_comes() -> None:
    """No time window: a redelivered event of a call that ended hours ago is still a duplicate."""
    feed = new_feed()
    queued_event, source = feed.event("call", "call-1", queued("member", 1), 1), feed.next_source("call")
    assert feed.deliver(queued_event, source)
    assert feed.call("call-1", ended("member", abandoned=True), 2)
    for hour in range(1, 6):
        assert feed.agent(f"agent-{hour}", logged_in(general=5), hour * 3600)

    assert feed.deliver(queued_event, source) is False

    assert feed.board.waiting == {}
    assert (feed.board.tally("member").offered, feed.board.tally("member").abandoned) == (1, 1)


def test_an_event_the_board_does_not_fold_is_not_applied_and_changes_nothing() -> None:
    feed = new_feed()
    before = feed.board.entries()

    assert feed.call("call-1", call_events.CallOffered(ani="+82", dnis="1588"), 0) is False

    assert feed.board.entries() == before
    assert feed.board.take_changelog() == []


def test_the_board_stays_small_however_many_calls_have_ended() -> None:
    feed = new_feed()
    for number in range(500):
        feed.call(f"call-{number}", queued("member", number), number)
        feed.call(f"call-{number}", ended("member", abandoned=True), number + 1)

    # one source mark, the day, the queue's skill and its tally
    assert len(feed.board.entries()) == 4
    assert feed.board.tally("member").offered == 500


# ---- property: the chosen agent has the skill and has been idle longest --------------------------


@dataclass(frozen=True)
class Seat:
    agent_id: str
    skills: dict[str, int]
    state: int
    ready_at: int


SEATS = st.lists(
    st.builds(
        Seat,
        agent_id=st.sampled_from([f"agent-{n}" for n in range(8)]),
        skills=st.dictionaries(st.sampled_from(["member", "payment"]), st.integers(1, 10), min_size=1),
        state=st.sampled_from([READY, NOT_READY, ON_CONTACT, WRAP_UP]),
        ready_at=st.integers(0, 50),
    ),
    max_size=8,
    unique_by=lambda seat: seat.agent_id,
)


@settings(max_examples=150, deadline=None)
@given(seats=SEATS)
def test_the_chosen_agent_has_the_skill_and_is_the_longest_idle(seats: list[Seat]) -> None:
    feed = new_feed()
    for seat in seats:
        feed.agent(seat.agent_id, logged_in(**seat.skills), seat.ready_at)
        if seat.state != READY:
            contact = "" if seat.state == NOT_READY else "call-0"
            feed.agent(seat.agent_id, changed(seat.state, READY, contact_id=contact), seat.ready_at)
    feed.call("call-1", queued("member", 60), 60)

    decisions = dispatch(feed.board, ts(100))

    eligible = [s for s in seats if s.state == READY and "member" in s.skills]
    if not eligible:
        assert decisions == []
        assert list(feed.board.waiting) == ["call-1"]
        return
    routed = only(decisions).routed
    best = min(eligible, key=lambda s: (s.ready_at, -s.skills["member"], s.agent_id))
    assert routed.agent_id == best.agent_id
    assert feed.board.agents[routed.agent_id].reserved_for == "call-1"
    ranked = list(routed.candidates)
    assert [c.rank for c in ranked] == list(range(1, min(len(eligible), 1 + RUNNERS_UP) + 1))
    assert all(c.eligible for c in ranked)
    assert [c.score for c in ranked] == sorted((c.score for c in ranked), reverse=True)
    assert ranked[0].score == 100 - best.ready_at
    assert routed.eligible_agents == len(eligible)
    assert sum(s.count for s in routed.skipped) == len(seats) - len(eligible)
    full = candidates_for(feed.board, feed.board.routed["call-1"], ts(100))
    assert len(full) == len(seats)
    assert all(c.rank == 0 and c.skipped_reason for c in full if not c.eligible)


def test_a_decision_whose_agent_never_rang_is_sent_again_with_the_same_id() -> None:
    feed = new_feed()
    feed.agent("kim", logged_in(member=5), 0)
    feed.call("call-1", queued("member", 1), 1)
    [decision] = dispatch(feed.board, ts(2))

    assert unrung_decisions(feed.board, ts(6.9), after_seconds=5) == []
    [again] = unrung_decisions(feed.board, ts(7), after_seconds=5)
    assert (again.routed.decision_id, again.routed.agent_id, again.routed.contact_id) == (
        decision.routed.decision_id,
        "kim",
        "call-1",
    )
    assert "re-sent" in again.routed.explanation


def test_once_the_agent_rings_the_decision_is_not_sent_again() -> None:
    feed = new_feed()
    feed.agent("kim", logged_in(member=5), 0)
    feed.call("call-1", queued("member", 1), 1)
    dispatch(feed.board, ts(2))

    feed.call("call-1", call_events.CallRinging(agent_id="kim", queue_id="member"), 2.1)

    assert unrung_decisions(feed.board, ts(60), after_seconds=5) == []
