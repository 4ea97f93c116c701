"""Queues as data (RT-2, ORG-3): a queue's rules are validated whole, defaults spelled out in its event,
and a rule decides which agents fit and in which order contacts are served (RT-4)."""

import pytest
from cc.routing.v1 import commands_pb2
from cc.routing.v1 import events_pb2 as routing_events

from services.common.errors import IllegalTransition, InvalidArgument, NotFound
from services.routing import queues
from services.routing.rules import QueueRule, Strategy, implicit_rule, proto_of, rule_of, validated
from tests.unit.support import History, at, meta


def requirement(**minimums: int) -> list[routing_events.SkillRequirement]:
    return [routing_events.SkillRequirement(skill=name, min_proficiency=m) for name, m in minimums.items()]


def rules(**fields: object) -> routing_events.QueueRules:
    fields.setdefault("skills", requirement(member=0))
    return routing_events.QueueRules(**fields)  # type: ignore[arg-type]


def history(queue_id: str = "vip") -> History:
    return History(
        lambda state, command, now, _: queues.decide(state, command, now),
        queues.evolve,
        queues.customer_of,
        None,
        "routing",
        "queue",
        queue_id,
    )


def create(queue_id: str, body: routing_events.QueueRules) -> commands_pb2.QueueCommand:
    return commands_pb2.QueueCommand(meta=meta(queue_id), create=commands_pb2.CreateQueue(rules=body))


def change(queue_id: str, body: routing_events.QueueRules) -> commands_pb2.QueueCommand:
    return commands_pb2.QueueCommand(
        meta=meta(queue_id), change_rules=commands_pb2.ChangeQueueRules(rules=body)
    )


# ---- the rule ------------------------------------------------------------------------------------


def test_all_of_needs_every_skill_at_its_minimum_and_any_of_one() -> None:
    both = QueueRule("q", (("vip", 7), ("member", 0)))
    either = QueueRule("q", (("vip", 7), ("member", 0)), any_of=True)

    assert both.fit({"vip": 7, "member": 2}, "seoul") == 9
    assert both.fit({"vip": 6, "member": 9}, "seoul") is None  # vip below its minimum
    assert both.fit({"vip": 9}, "seoul") is None
    assert either.fit({"vip": 6, "member": 3}, "seoul") == 3  # only member counts
    assert either.fit({"billing": 9}, "seoul") is None


def test_a_queue_of_sites_uses_only_their_agents() -> None:
    seoul = QueueRule("q", (("member", 0),), sites=("seoul",))
    assert seoul.fit({"member": 5}, "seoul") == 5
    assert seoul.fit({"member": 5}, "busan") is None
    assert seoul.skill_fit({"member": 5}) == 5


def test_priority_ages_each_level_into_seconds_of_waiting_and_ties_go_by_arrival_then_id() -> None:
    rule = QueueRule("q", (("member", 0),), seconds_per_priority=60)
    early = rule.order_key(0, 1000.0, "early")
    urgent = rule.order_key(2, 1100.0, "urgent")  # 100 s later, but worth 120 s of waiting
    urgent_but_late = rule.order_key(2, 1130.0, "late")  # 130 s later: the earlier one goes first
    tie_a, tie_b = rule.order_key(1, 1060.0, "a"), rule.order_key(1, 1060.0, "b")

    assert sorted([early, urgent, urgent_but_late]) == [urgent, early, urgent_but_late]
    assert tie_a < tie_b
    assert rule.order_key(1, 1060.0, "x")[0] == early[0]  # same standing: arrival decides
    assert rule.order_key(1, 1060.0, "x") > early


def test_a_rule_survives_its_entry_and_its_event() -> None:
    rule = QueueRule(
        "vip",
        (("vip", 7), ("member", 3)),
        any_of=True,
        strategy=Strategy.MOST_SKILLED,
        service_level_threshold_seconds=30,
        seconds_per_priority=15,
        sites=("seoul", "busan"),
        max_wait_seconds=300,
        overflow_queue_id="general",
        display_name="VIP line",
    )
    assert QueueRule.from_entry(rule.to_entry()) == rule
    assert rule_of("vip", proto_of(rule)) == rule
    assert QueueRule.from_entry(implicit_rule("m", "member", 20).to_entry()) == implicit_rule(
        "m", "member", 20
    )


def test_a_skill_listed_twice_is_one_requirement() -> None:
    twice = [*requirement(vip=3), *requirement(member=1), *requirement(vip=7)]
    assert rule_of("q", rules(skills=twice)).skills == (("vip", 7), ("member", 1))
    any_of = rules(skills=twice, skill_match=routing_events.SKILL_MATCH_ANY_OF)
    assert rule_of("q", any_of).skills == (("vip", 3), ("member", 1))


def test_validation_spells_out_the_defaults() -> None:
    filled = validated("vip", rules(skills=requirement(vip=7)))
    assert filled.strategy == routing_events.ROUTING_STRATEGY_LONGEST_IDLE
    assert filled.skill_match == routing_events.SKILL_MATCH_ALL_OF
    assert (filled.service_level_threshold_seconds, filled.seconds_per_priority) == (20, 60)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (routing_events.QueueRules(), "rules.skills"),
        (rules(skills=requirement(vip=11)), "rules.skills[0].min_proficiency"),
        (rules(skills=requirement(**{"\x07": 1})), "rules.skills[0].skill"),
        (rules(strategy=99), "rules.strategy"),
        (rules(service_level_threshold_seconds=-1), "rules.service_level_threshold_seconds"),
        (rules(max_wait_seconds=60), "rules.overflow_queue_id"),
        (rules(overflow_queue_id="general"), "rules.overflow_queue_id"),
        (rules(sites=[" "]), "rules.sites[0]"),
        (rules(time_zone="Asia"), "rules.time_zone"),  # a directory of zones, not one
        (rules(time_zone="Mars/Olympus"), "rules.time_zone"),
    ],
)
def test_bad_rules_are_refused_naming_the_field(body: routing_events.QueueRules, field: str) -> None:
    with pytest.raises(InvalidArgument) as refused:
        validated("vip", body)
    assert field in [v.field for v in refused.value.field_violations]


# ---- the aggregate -------------------------------------------------------------------------------


def test_a_queue_is_created_once_and_its_rules_changed_as_a_whole() -> None:
    queue = history()
    (created,) = queue.handle(create("vip", rules(skills=requirement(vip=7))), at(0))
    assert isinstance(created, routing_events.QueueCreated)
    assert queue.state.rule.skills == (("vip", 7),)
    assert queue.events[0].event_type == "routing.queue.created"

    with pytest.raises(IllegalTransition, match="exists already"):
        queue.handle(create("vip", rules()), at(1))
    (changed,) = queue.handle(
        change("vip", rules(strategy=routing_events.ROUTING_STRATEGY_ROUND_ROBIN)), at(2)
    )
    assert isinstance(changed, routing_events.QueueRulesChanged)
    assert queue.state.rule.strategy == Strategy.ROUND_ROBIN
    assert queue.state.rule.skills == (("member", 0),)  # the whole rules were replaced
    assert (queue.state.created_at, queue.state.changed_at) == (at(0), at(2))
    assert queue.events[1].event_type == "routing.queue.rules_changed"


def test_the_same_rules_again_change_nothing_and_an_unknown_queue_cannot_be_changed() -> None:
    queue = history()
    queue.handle(create("vip", rules()), at(0))
    with pytest.raises(IllegalTransition, match="has these rules already"):
        queue.handle(change("vip", rules(service_level_threshold_seconds=20)), at(1))
    with pytest.raises(NotFound):
        history("nowhere").handle(change("nowhere", rules()), at(0))


def test_a_queue_keeps_the_channel_it_was_defined_with() -> None:
    queue = history()
    queue.handle(create("vip", rules(channel="chat")), at(0))
    assert queue.state.rule.channel == "chat"
    with pytest.raises(IllegalTransition) as refused:  # its waiting chats are chats
        queue.handle(change("vip", rules(channel="voice")), at(1))
    assert refused.value.error_id == "queue-channel-fixed"
    queue.handle(change("vip", rules(channel="chat", seconds_per_priority=30)), at(2))
    with pytest.raises(InvalidArgument):
        history("fax").handle(create("fax", rules(channel="fax")), at(0))
