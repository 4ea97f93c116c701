"""Ticket groups (TKT-3): teams as data, and the rule that assigns new tickets to them.

A group names its agents (in rotation order), the categories and channels of the new tickets it takes,
and a strategy: round-robin gives each ticket it takes to its next agent in turn, none leaves the
ticket with the group for its agents to pick. A new ticket that names no agent and no group goes to the
most specific group whose rule matches (the longest matching category, then the group id), through the
group aggregate itself, so the rotation is one sequence of events however many instances run. Pure
decide and evolve, and the policy that carries a ticket to its group and back."""

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from cc.common.v1 import event_pb2, types_pb2
from cc.ticketing.v1 import commands_pb2, events_pb2
from google.protobuf.message import Message

from services.common.aggregate import AggregateCommand, Versioned, evolved
from services.common.command_bus import caused_by
from services.common.envelope import to_datetime
from services.common.errors import InvalidArgument, NotFound, require
from services.common.projection import Projection
from services.common.topics import TICKET_GROUPS, TICKETS, AggregateTopics
from services.ticketing.domain import clean_category, refused

GROUP_ID = re.compile(r"[a-z0-9][a-z0-9_\-]{0,63}")
ROUND_ROBIN = "round-robin"
STRATEGIES = ("", ROUND_ROBIN)


@dataclass(frozen=True)
class GroupState:
    group_id: str
    name: str
    agent_ids: tuple[str, ...]
    categories: tuple[str, ...]
    channels: tuple[int, ...]
    strategy: str
    changed_at: datetime
    # Tickets taken by the rule: the rotation's position.
    taken: int = 0

    def message(self) -> events_pb2.TicketGroup:
        return events_pb2.TicketGroup(
            name=self.name,
            agent_ids=self.agent_ids,
            categories=self.categories,
            channels=self.channels,  # type: ignore[arg-type]
            strategy=self.strategy,
        )

    def match(self, category: str, channel: int) -> int | None:
        """How specific the group's rule is for a new ticket (the length of the category it matched
        by, 0 for a group of any category), or None when the rule does not take it."""
        if self.channels and channel not in self.channels:
            return None
        if not self.categories:
            return 0
        matched = [c for c in self.categories if category == c or category.startswith(c + "/")]
        return max(map(len, matched)) if matched else None


Groups = Projection[GroupState, commands_pb2.TicketGroupCommand]


def group_for(groups: Iterable[GroupState], category: str, channel: int) -> str | None:
    """The group a new ticket goes to: the most specific rule that takes it, ties to the lower id."""
    ranked = [
        (-score, group.group_id) for group in groups if (score := group.match(category, channel)) is not None
    ]
    return min(ranked)[1] if ranked else None


def customer_of(state: GroupState | None, command: commands_pb2.TicketGroupCommand) -> str:
    return ""  # a team of the tenant, not one customer's


def _defined(given: events_pb2.TicketGroup) -> events_pb2.TicketGroup:
    agents = [require(agent, "agent_ids", "an agent") for agent in given.agent_ids]
    if len(set(agents)) != len(agents):
        raise refused("agent_ids", "each agent once")
    if given.strategy not in STRATEGIES:
        raise refused("strategy", "round-robin, or empty to leave tickets with the group")
    if given.strategy == ROUND_ROBIN and not agents:
        raise refused("agent_ids", "a round-robin group needs agents to take turns")
    if any(channel not in types_pb2.Channel.values() or not channel for channel in given.channels):
        raise refused("channels", "known channels")
    return events_pb2.TicketGroup(
        name=require(given.name, "name", "the group's name"),
        agent_ids=agents,
        categories=sorted({clean_category(c, "categories") for c in given.categories} - {""}),
        channels=sorted(set(given.channels)),
        strategy=given.strategy,
    )


def decide(
    state: GroupState | None, command: commands_pb2.TicketGroupCommand, now: datetime
) -> list[Message]:
    group_id = command.meta.aggregate_id
    match command.WhichOneof("command"):
        case "define":
            defined = _defined(command.define)
            if state is not None and state.message() == defined:
                raise InvalidArgument("group-unchanged", f"group {group_id} already is so")
            return [events_pb2.TicketGroupDefined(group=defined)]
        case "take":
            if state is None:
                raise NotFound("group-not-found", f"no ticket group {group_id}")
            ticket_id = require(command.take.ticket_id, "ticket_id", "the ticket")
            turn = (
                state.agent_ids[state.taken % len(state.agent_ids)] if state.strategy == ROUND_ROBIN else ""
            )
            return [events_pb2.TicketGroupTookTicket(ticket_id=ticket_id, agent_id=turn)]
    raise InvalidArgument("unknown-command", "the ticket group command names no known action")


def evolve(state: GroupState | None, event: event_pb2.Event) -> GroupState:
    match event.WhichOneof("payload"):
        case "ticket_group_defined":
            group = event.ticket_group_defined.group
            return GroupState(
                group_id=event.aggregate_id,
                name=group.name,
                agent_ids=tuple(group.agent_ids),
                categories=tuple(group.categories),
                channels=tuple(group.channels),
                strategy=group.strategy,
                changed_at=to_datetime(event.occurred_at),
                taken=state.taken if state else 0,
            )
        case "ticket_group_took_ticket" if state is not None:
            return evolved(state, taken=state.taken + 1)
    assert state is not None, f"{event.event_type} before ticket_group_defined"
    return state


class GroupAssignment:
    """The policy: a new ticket that names no agent and no group goes to the group its rule picks, and
    the agent the group took it for (if any) is assigned, with the group."""

    def __init__(self, groups: Groups) -> None:
        self._groups = groups

    def __call__(self, event: event_pb2.Event) -> Sequence[tuple[AggregateTopics, AggregateCommand]]:
        tenant, correlation = event.tenant_id, event.correlation_id
        match event.WhichOneof("payload"):
            case "ticket_opened" if not (
                event.ticket_opened.assignee_agent_id or event.ticket_opened.group_id
            ):
                opened = event.ticket_opened
                live = (entry.state for entry in self._groups.of_tenant(tenant))
                group_id = group_for(live, opened.category, opened.channel)
                if group_id is None:
                    return []
                meta = caused_by(event.event_id, "take-ticket", tenant, group_id, correlation)
                take = commands_pb2.TakeTicket(ticket_id=event.aggregate_id)
                return [(TICKET_GROUPS, commands_pb2.TicketGroupCommand(meta=meta, take=take))]
            case "ticket_group_took_ticket":
                took = event.ticket_group_took_ticket
                meta = caused_by(event.event_id, "assign-to-group", tenant, took.ticket_id, correlation)
                assign = commands_pb2.AssignTicket(agent_id=took.agent_id, group_id=event.aggregate_id)
                return [(TICKETS, commands_pb2.TicketCommand(meta=meta, assign=assign))]
        return []


def group_id_of(group_id: str) -> str:
    """A group's id as a command key: refused unless it is a short word."""
    if not GROUP_ID.fullmatch(group_id):
        raise refused("group_id", "a-z, digits, - and _, at most 64, starting with a letter or digit")
    return group_id


def by_id(entries: Iterable[Versioned[GroupState]]) -> list[Versioned[GroupState]]:
    return sorted(entries, key=lambda entry: entry.aggregate_id)
