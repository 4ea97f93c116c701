"""Routing by a queue's rules (RT-2 to RT-4): each strategy's order of agents, skills with minimum
proficiency, sites, priority with ageing, and rules changed while contacts wait."""

from cc.routing.v1 import events_pb2 as routing_events

from services.routing.board import READY, WRAP_UP, Board, entries_by_tenant
from services.routing.matching import candidates_for, dispatch
from services.routing.rules import QueueRule, Strategy, proto_of
from tests.unit.support import TENANT, Changelog, Feed, answered, changed, ended, logged_in, queued, ts


def define(feed: Feed, rule: QueueRule, t: float = 0, *, change: bool = False) -> None:
    if change:
        feed.queue(rule.queue_id, routing_events.QueueRulesChanged(rules=proto_of(rule)), t)
    else:
        feed.queue(rule.queue_id, routing_events.QueueCreated(rules=proto_of(rule)), t)


def route_one(feed: Feed, call_id: str, queue_id: str, t: float) -> str:
    feed.call(call_id, queued(queue_id, t), t)
    (decision,) = dispatch(feed.board, ts(t))
    return decision.routed.agent_id


def handle(feed: Feed, call_id: str, agent_id: str, queue_id: str, start: float, talk: float) -> None:
    """The agent answers at `start`, talks `talk` seconds, wraps up and is ready again."""
    feed.call(call_id, answered(agent_id, queue_id, start), start)
    feed.agent(agent_id, changed(routing_events.AGENT_STATE_ON_CONTACT, READY, call_id), start)
    feed.call(call_id, ended(queue_id, agent_id), start + talk)
    feed.agent(agent_id, changed(WRAP_UP, routing_events.AGENT_STATE_ON_CONTACT, call_id), start + talk)
    feed.agent(agent_id, changed(READY, WRAP_UP, call_id), start + talk + 1)


def ranked(feed: Feed, queue_id: str) -> list[str]:
    return [seat.agent_id for seat in feed.board.available(queue_id)]


def desk(strategy: Strategy) -> Feed:
    """Three member agents: kim ready first with proficiency 3, lee then with 9, park last with 6."""
    feed = Feed(Board(TENANT))
    define(feed, QueueRule("member", (("member", 1),), strategy=strategy))
    feed.agent("kim", logged_in(member=3), 10)
    feed.agent("lee", logged_in(member=9), 20)
    feed.agent("park", logged_in(member=6), 30)
    return feed


def test_longest_idle_takes_the_agent_ready_longest() -> None:
    feed = desk(Strategy.LONGEST_IDLE)
    assert ranked(feed, "member") == ["kim", "lee", "park"]
    assert route_one(feed, "c1", "member", 40) == "kim"


def test_most_skilled_takes_the_highest_proficiency_then_the_longest_idle() -> None:
    feed = desk(Strategy.MOST_SKILLED)
    feed.agent("choi", logged_in(member=9), 35)
    assert ranked(feed, "member") == ["lee", "choi", "park", "kim"]
    feed.call("c1", queued("member", 40), 40)
    (decision,) = dispatch(feed.board, ts(40))
    assert decision.routed.agent_id == "lee"
    assert decision.routed.strategy == "most-skilled"
    assert [c.score for c in decision.routed.candidates] == [9.0, 9.0, 6.0, 3.0]
    assert "most skilled at 9" in decision.routed.explanation


def test_round_robin_takes_turns_whoever_was_ready_first() -> None:
    feed = desk(Strategy.ROUND_ROBIN)
    assert ranked(feed, "member") == ["kim", "lee", "park"]  # never chosen: by agent id
    chosen = []
    for n, t in enumerate((40, 100, 160, 220, 280)):
        agent_id = route_one(feed, f"c{n}", "member", t)
        chosen.append(agent_id)
        handle(feed, f"c{n}", agent_id, "member", t + 1, 5)
    assert chosen == ["kim", "lee", "park", "kim", "lee"]


def test_fewest_contacts_takes_the_agent_who_answered_fewest_today() -> None:
    feed = desk(Strategy.FEWEST_CONTACTS)
    for n in range(2):
        handle(feed, f"kim-{n}", "kim", "member", 40 + 20 * n, 5)
    handle(feed, "lee-0", "lee", "member", 100, 5)
    # kim 2, lee 1, park 0 contacts: park, though ready longest of none
    assert ranked(feed, "member") == ["park", "lee", "kim"]
    feed.call("next", queued("member", 200), 200)
    (decision,) = dispatch(feed.board, ts(200))
    assert decision.routed.agent_id == "park"
    assert [c.score for c in decision.routed.candidates] == [0.0, -1.0, -2.0]


def test_least_talk_time_takes_the_agent_who_talked_least_today() -> None:
    feed = desk(Strategy.LEAST_TALK_TIME)
    handle(feed, "a", "kim", "member", 40, 30)
    handle(feed, "b", "lee", "member", 40, 300)
    handle(feed, "c", "park", "member", 40, 90)
    handle(feed, "d", "kim", "member", 400, 20)
    assert ranked(feed, "member") == ["kim", "park", "lee"]  # 50 s, 90 s, 300 s
    assert feed.board.agent_days["kim"].talk_seconds == 50.0


def test_the_days_counts_start_again_at_midnight() -> None:
    feed = desk(Strategy.FEWEST_CONTACTS)
    handle(feed, "a", "kim", "member", 40, 5)
    assert feed.board.agent_days["kim"].contacts == 1
    feed.agent("choi", logged_in(member=1), 86_400 + 10)  # the next UTC day
    assert feed.board.agent_days["kim"].contacts == 0
    assert ranked(feed, "member") == ["lee", "park", "kim", "choi"]  # all 0: the longest idle first


def test_a_queue_uses_only_agents_with_every_skill_at_its_minimum_and_of_its_sites() -> None:
    feed = Feed(Board(TENANT))
    define(feed, QueueRule("vip", (("vip", 7), ("member", 0)), sites=("seoul",)))
    feed.agent("too-low", logged_in(vip=6, member=9), 1)
    feed.agent("no-member", logged_in(vip=9), 2)
    feed.agent("busan", logged_in(site="busan", vip=9, member=9), 3)
    feed.agent("fits", logged_in(vip=7, member=1), 4)
    feed.call("c1", queued("vip", 10, skill="ignored"), 10)
    contact = feed.board.waiting["c1"]
    listed = {c.agent_id: c.skipped_reason for c in candidates_for(feed.board, contact, ts(10))}

    assert listed == {
        "fits": "",
        "too-low": "missing-skill",
        "no-member": "missing-skill",
        "busan": "other-site",
    }
    (decision,) = dispatch(feed.board, ts(10))
    assert (decision.routed.agent_id, decision.routed.required_skill) == ("fits", "vip>=7+member")
    assert {s.reason: s.count for s in decision.routed.skipped} == {"missing-skill": 3}


def test_priority_with_ageing_serves_an_urgent_contact_first_but_not_forever() -> None:
    feed = Feed(Board(TENANT))
    define(feed, QueueRule("member", (("member", 0),), seconds_per_priority=30))
    feed.call("old", queued("member", 0), 0)
    feed.call("urgent", queued("member", 50, priority=2), 50)  # as if it came at -10
    feed.call("too-late", queued("member", 70, priority=2), 70)  # as if at 10: after "old"
    order = []
    for n in range(3):
        feed.agent(f"a{n}", logged_in(member=5), 100 + n)
        (decision,) = dispatch(feed.board, ts(100 + n))
        order.append(decision.routed.contact_id)
    assert order == ["urgent", "old", "too-late"]


def test_changing_a_queues_rules_reindexes_its_agents_and_its_waiting_contacts() -> None:
    feed = Feed(Board(TENANT))
    define(feed, QueueRule("member", (("member", 8),)))
    feed.agent("kim", logged_in(member=5), 1)
    feed.call("c1", queued("member", 2), 2)
    assert dispatch(feed.board, ts(3)) == []  # nobody is good enough
    assert feed.board.staffing("member") == {}

    define(feed, QueueRule("member", (("member", 5),)), 4, change=True)
    (decision,) = dispatch(feed.board, ts(4))
    assert decision.routed.agent_id == "kim"


def test_defined_queues_and_agents_days_are_restored_from_their_entries() -> None:
    feed = desk(Strategy.ROUND_ROBIN)
    store = Changelog()
    for n, t in enumerate((40, 100)):
        agent_id = route_one(feed, f"c{n}", "member", t)
        handle(feed, f"c{n}", agent_id, "member", t + 1, 5)
    feed.call("waiting", queued("member", 150, priority=1), 150)
    store.write(feed.board.take_changelog())

    restored = Board.restore(TENANT, entries_by_tenant(store.entries.items())[TENANT])

    assert restored == feed.board
    assert restored.queues["member"].strategy == Strategy.ROUND_ROBIN
    assert [s.agent_id for s in restored.available("member")] == ["park", "kim", "lee"]
    assert dispatch(restored, ts(151))[0].routed.agent_id == "park"


def test_a_new_queue_has_zero_metrics_and_its_staffing_at_once() -> None:
    from services.routing.metrics import all_queue_metrics

    feed = Feed(Board(TENANT))
    feed.agent("kim", logged_in(vip=8), 1)
    define(feed, QueueRule("vip", (("vip", 7),), service_level_threshold_seconds=45), 2)

    (metrics,) = all_queue_metrics(feed.board, ts(3))
    assert (metrics.queue_id, metrics.offered, metrics.contacts_waiting) == ("vip", 0, 0)
    assert (metrics.agents_staffed, metrics.agents_ready, metrics.service_level_threshold_seconds) == (
        1,
        1,
        45,
    )


def test_an_agent_whose_skills_change_is_reindexed_for_every_queue() -> None:
    feed = Feed(Board(TENANT))
    define(feed, QueueRule("vip", (("vip", 7),)))
    feed.agent("kim", logged_in(member=5), 1)
    feed.call("c1", queued("vip", 2), 2)
    assert dispatch(feed.board, ts(2)) == []

    skills_changed = routing_events.AgentSkillsChanged(
        skills=[routing_events.Skill(name="vip", proficiency=8)]
    )
    feed.agent("kim", skills_changed, 3)

    (decision,) = dispatch(feed.board, ts(3))
    assert decision.routed.agent_id == "kim"
    assert feed.board.agents["kim"].skills == {"vip": 8}
