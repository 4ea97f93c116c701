"""Ticket groups (TKT-3): a group's rule takes new tickets by category and channel, the most specific
rule wins, and a round-robin group gives each ticket it takes to its next agent in turn. Pure."""

import pytest
from cc.common.v1 import event_pb2, types_pb2
from cc.ticketing.v1 import commands_pb2, events_pb2
from google.protobuf.message import Message

from services.common.aggregate import Versioned
from services.common.errors import InvalidArgument, NotFound
from services.common.topics import TICKET_GROUPS, TICKETS
from services.ticketing import groups
from tests.unit.support import TENANT, History, at, envelope, meta, refused, violated_fields

EMAIL, CHAT = types_pb2.CHANNEL_EMAIL, types_pb2.CHANNEL_CHAT


def group(group_id: str = "billing") -> History:
    return History(
        lambda state, cmd, now, rules: groups.decide(state, cmd, now),
        groups.evolve,
        groups.customer_of,
        None,
        "ticketing",
        "ticket-group",
        group_id,
    )


def define(history: History, **fields: object) -> list[Message]:
    given = {"name": "Billing", "agent_ids": ["kim", "lee"], "strategy": "round-robin"} | fields
    command = commands_pb2.TicketGroupCommand(
        meta=meta(history.aggregate_id),
        define=events_pb2.TicketGroup(**given),  # type: ignore[arg-type]
    )
    return history.handle(command, at(0))


def take(history: History, ticket_id: str) -> list[Message]:
    command = commands_pb2.TicketGroupCommand(
        meta=meta(history.aggregate_id), take=commands_pb2.TakeTicket(ticket_id=ticket_id)
    )
    return history.handle(command, at(1))


def test_a_round_robin_group_gives_each_ticket_it_takes_to_its_next_agent_in_turn() -> None:
    billing = group()
    define(billing, categories=["billing", "billing"], channels=[EMAIL, EMAIL])
    assert billing.state.categories == ("billing",) and billing.state.channels == (EMAIL,)
    turns = [take(billing, f"t-{n}")[0].agent_id for n in range(5)]  # type: ignore[attr-defined]
    assert turns == ["kim", "lee", "kim", "lee", "kim"]
    # A new member list keeps the rotation's place.
    define(billing, agent_ids=["kim", "lee", "park"])
    assert take(billing, "t-5") == [events_pb2.TicketGroupTookTicket(ticket_id="t-5", agent_id="park")]
    leave_it = group("tier-2")
    define(leave_it, strategy="", agent_ids=[])
    assert take(leave_it, "t-9") == [events_pb2.TicketGroupTookTicket(ticket_id="t-9", agent_id="")]


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"name": ""}, "name"),
        ({"strategy": "random"}, "strategy"),
        ({"agent_ids": []}, "agent_ids"),  # round robin among nobody
        ({"agent_ids": ["kim", "kim"]}, "agent_ids"),
        ({"channels": [99]}, "channels"),
        ({"categories": ["billing//refund"]}, "categories"),
    ],
)
def test_a_group_that_cannot_work_is_refused_naming_the_field(fields: dict[str, object], field: str) -> None:
    assert violated_fields(
        refused(lambda: define(group(), **fields), InvalidArgument, "invalid-argument")
    ) == [field]


def test_an_undefined_group_takes_no_ticket_and_a_definition_must_change_something() -> None:
    refused(lambda: take(group(), "t-1"), NotFound, "group-not-found")
    billing = group()
    define(billing)
    refused(lambda: define(billing), InvalidArgument, "group-unchanged")


def state(
    group_id: str, categories: tuple[str, ...] = (), channels: tuple[int, ...] = ()
) -> groups.GroupState:
    return groups.GroupState(group_id, group_id, ("kim",), categories, channels, "", at(0))


RULES = [
    state("any"),
    state("billing", ("billing",)),
    state("refunds", ("billing/refund", "returns")),
    state("chat-billing", ("billing",), (CHAT,)),
]


@pytest.mark.parametrize(
    ("category", "channel", "expected"),
    [
        ("billing/refund/card", EMAIL, "refunds"),  # the longest category wins
        ("billing/invoice", EMAIL, "billing"),
        ("billing", CHAT, "billing"),  # as specific as chat-billing: the lower id
        ("delivery", EMAIL, "any"),
        ("billingx", EMAIL, "any"),  # not under billing
    ],
)
def test_a_new_ticket_goes_to_the_most_specific_rule_that_takes_it(
    category: str, channel: int, expected: str
) -> None:
    assert groups.group_for(RULES, category, channel) == expected
    assert groups.group_for(RULES[1:], "delivery", EMAIL) is None


def event(payload: Message, aggregate_type: str, aggregate_id: str) -> event_pb2.Event:
    return envelope(
        payload,
        context="ticketing",
        aggregate_type=aggregate_type,
        aggregate_id=aggregate_id,
        version=1,
        when=at(0),
    )


class Fixed:
    """The groups read model, as the policy reads it."""

    def of_tenant(self, tenant_id: str) -> list[Versioned[groups.GroupState]]:
        return (
            [Versioned(rule, 1, TENANT, rule.group_id) for rule in RULES[1:]] if tenant_id == TENANT else []
        )


def test_the_policy_sends_a_new_unassigned_ticket_to_its_group_and_assigns_the_agent_it_took_it_for() -> None:
    policy = groups.GroupAssignment(Fixed())  # type: ignore[arg-type]
    opened = events_pb2.TicketOpened(subject="s", channel=EMAIL, category="billing/refund")
    [(topics, took)] = policy(event(opened, "ticket", "t-1"))
    assert (topics, took.meta.aggregate_id, took.take.ticket_id) == (TICKET_GROUPS, "refunds", "t-1")  # type: ignore[union-attr]
    # A ticket that names an agent or a group, or that no rule takes, is left alone.
    for named in ({"assignee_agent_id": "kim"}, {"group_id": "tier-2"}, {"category": "delivery"}):
        fields = {"subject": "s", "channel": EMAIL, "category": "billing"} | named
        given = events_pb2.TicketOpened(**fields)  # type: ignore[arg-type]
        assert policy(event(given, "ticket", "t-2")) == []
    [(topics, assign)] = policy(
        event(events_pb2.TicketGroupTookTicket(ticket_id="t-1", agent_id="lee"), "ticket-group", "refunds")
    )
    assert (topics, assign.meta.aggregate_id) == (TICKETS, "t-1")
    assert assign.assign == commands_pb2.AssignTicket(agent_id="lee", group_id="refunds")  # type: ignore[union-attr]
