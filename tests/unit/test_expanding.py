"""Expanding targets (RT-5): after N seconds a waiting contact's target widens, a lower minimum, then
every site, then its overflow queue's agents; each step is an event, and the decision names the step."""

from dataclasses import replace

import pytest
from cc.common.v1 import event_pb2
from cc.routing.v1 import events_pb2 as routing_events

from services.common.errors import InvalidArgument
from services.routing.board import Board, entries_by_tenant
from services.routing.matching import dispatch, expand_targets
from services.routing.rules import ExpandingStep, QueueRule, proto_of, rule_of, validated
from services.routing.stream.decisions import expansion_record
from tests.unit.support import TENANT, Changelog, Feed, logged_in, queued, ts

VIP = QueueRule(
    "vip",
    (("vip", 8),),
    sites=("seoul",),
    expanding=(ExpandingStep(30, min_proficiency=5), ExpandingStep(60, any_site=True)),
    max_wait_seconds=90,
    overflow_queue_id="general",
)


def desk() -> Feed:
    feed = Feed(Board(TENANT))
    for rule in (QueueRule("general", (("general", 0),)), VIP):
        feed.queue(rule.queue_id, routing_events.QueueCreated(rules=proto_of(rule)), 0)
    return feed


def widen_and_route(feed: Feed, t: float) -> tuple[list[int], list[str]]:
    steps = [e.expanded.step for e in expand_targets(feed.board, ts(t))]
    return steps, [d.routed.agent_id for d in dispatch(feed.board, ts(t))]


@pytest.mark.parametrize(
    ("agent", "site", "skills", "routed_at", "step"),
    [
        ("seoul-6", "seoul", {"vip": 6}, 30, 1),  # a lower minimum after 30 s
        ("busan-9", "busan", {"vip": 9}, 60, 2),  # then any site after 60 s
        ("general", "seoul", {"general": 5}, 90, 3),  # then the overflow queue's agents after 90 s
    ],
)
def test_each_step_widens_the_target_when_it_is_due(
    agent: str, site: str, skills: dict[str, int], routed_at: float, step: int
) -> None:
    feed = desk()
    feed.agent(agent, logged_in(site=site, **skills), 1)
    feed.call("c1", queued("vip", 10), 10)
    assert dispatch(feed.board, ts(10)) == []
    assert widen_and_route(feed, 10 + routed_at - 0.5)[1] == []  # not yet

    feed.call("c2", queued("vip", 10), 10)  # a second contact of the same age widens with it
    steps, routed = widen_and_route(feed, 10 + routed_at)
    assert routed == [agent] and steps[-1] == step
    decision = dispatch(feed.board, ts(10 + routed_at))
    assert decision == []  # one agent, two contacts: the other waits at the same step
    assert feed.board.waiting["c2"].step == step


def test_the_decision_names_the_step_and_the_widened_target() -> None:
    feed = desk()
    feed.agent("seoul-6", logged_in(vip=6), 1)
    feed.call("c1", queued("vip", 0), 0)
    (expansion,) = expand_targets(feed.board, ts(31))
    assert (expansion.expanded.step, expansion.expanded.target) == (1, "vip>=5 at seoul")
    (decision,) = dispatch(feed.board, ts(31))
    assert decision.routed.target_step == 1
    assert "vip>=5 at seoul, widened at step 1" in decision.routed.explanation


def test_a_late_check_takes_every_step_due_at_once_and_overflow_names_its_queue() -> None:
    feed = desk()
    feed.call("c1", queued("vip", 0), 0)
    (expansion,) = expand_targets(feed.board, ts(500))
    assert expansion.expanded.step == 3
    assert expansion.expanded.target == "vip>=5 at any site or overflow general: general"
    assert expand_targets(feed.board, ts(501)) == []  # nothing further to widen


def test_the_board_view_follows_the_workers_widening_once() -> None:
    worker, view = desk(), desk()
    for feed in (worker, view):
        feed.call("c1", queued("vip", 0), 0)
    (expansion,) = expand_targets(worker.board, ts(61))
    _, value = expansion_record(TENANT, expansion, ts(61))
    event = event_pb2.Event.FromString(value)
    assert event.event_type == "routing.contact.target_expanded"
    for _ in range(2):  # a copy sent again changes nothing
        view.deliver(event, view.next_source("contact"))
    assert view.board.waiting["c1"].step == 2
    assert view.board.ahead_of(view.board.waiting["c1"]) == 0


def test_a_widened_contact_is_restored_at_its_step_and_keeps_it_on_ring_no_answer() -> None:
    feed = desk()
    feed.call("c1", queued("vip", 0), 0)
    expand_targets(feed.board, ts(45))
    store = Changelog()
    store.write(feed.board.take_changelog())
    restored = Board.restore(TENANT, entries_by_tenant(store.entries.items())[TENANT])
    assert restored == feed.board and restored.waiting["c1"].step == 1

    feed.agent("seoul-6", logged_in(vip=6), 46)
    (decision,) = dispatch(feed.board, ts(46))
    assert decision.routed.target_step == 1
    feed.call("c1", queued("vip", 0), 60)  # ring no answer: back in the queue
    assert feed.board.waiting["c1"].step == 1


def test_steps_come_due_in_order_and_the_overflow_after_every_step() -> None:
    assert rule_of("vip", proto_of(VIP)) == VIP
    shuffled = proto_of(VIP)
    shuffled.expanding[0].after_seconds = 75  # the lower minimum now comes after the any-site step
    steps = validated("vip", shuffled).expanding
    assert [(s.after_seconds, s.any_site) for s in steps] == [(60, True), (75, False)]
    late = replace(VIP, expanding=(ExpandingStep(120, any_site=True),))
    assert (late.step_starts(1), late.step_starts(2)) == (120, 120)  # the overflow (90 s) waits for it
    zero = proto_of(VIP)
    zero.expanding[0].after_seconds = 0
    with pytest.raises(InvalidArgument) as refused:
        validated("vip", zero)
    assert [v.field for v in refused.value.field_violations] == ["rules.expanding[0].after_seconds"]
