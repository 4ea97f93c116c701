"""Ticket numbers (TKT-1): one counter aggregate per tenant hands out the next number to each ticket
opened, so numbers are unique within the tenant and follow the order tickets opened (tickets opened
within the same moment on different partitions may take theirs in either order). Pure decide and
evolve, and the policy that carries a number from the ticket's opening to the counter and back.

The counter is a single aggregate (one partition) per tenant, which is plenty for tickets. The counter's
command for a ticket is derived from its opening event, so a redelivered opening gets its first answer
back from the outcome ledger; one redelivered after the outcome window (a day) would draw a second
number, which the ticket refuses (it keeps its first): numbers may skip, never repeat."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from cc.common.v1 import event_pb2
from cc.ticketing.v1 import commands_pb2, events_pb2
from google.protobuf.message import Message

from services.common.aggregate import AggregateCommand
from services.common.command_bus import caused_by
from services.common.errors import InvalidArgument, require
from services.common.topics import TICKET_NUMBERS, TICKETS, AggregateTopics

# The one counter of a tenant: its aggregate id.
COUNTER = "tickets"


@dataclass(frozen=True)
class CounterState:
    issued: int = 0


def customer_of(state: CounterState | None, command: commands_pb2.TicketNumberCommand) -> str:
    return ""  # the tenant's, not one customer's


def decide(
    state: CounterState | None, command: commands_pb2.TicketNumberCommand, now: datetime
) -> list[Message]:
    if command.WhichOneof("command") != "issue":
        raise InvalidArgument("unknown-command", "the ticket number command names no known action")
    ticket_id = require(command.issue.ticket_id, "ticket_id", "the ticket")
    issued = state.issued if state else 0
    return [events_pb2.TicketNumberIssued(ticket_id=ticket_id, number=issued + 1)]


def evolve(state: CounterState | None, event: event_pb2.Event) -> CounterState:
    if event.WhichOneof("payload") == "ticket_number_issued":
        return CounterState(issued=event.ticket_number_issued.number)
    return state or CounterState()


def ticket_numbers(event: event_pb2.Event) -> Sequence[tuple[AggregateTopics, AggregateCommand]]:
    """A ticket opened -> the tenant's counter issues it a number -> the ticket takes it."""
    tenant, correlation = event.tenant_id, event.correlation_id
    match event.WhichOneof("payload"):
        case "ticket_opened":
            meta = caused_by(event.event_id, "issue-ticket-number", tenant, COUNTER, correlation)
            issue = commands_pb2.IssueTicketNumber(ticket_id=event.aggregate_id)
            return [(TICKET_NUMBERS, commands_pb2.TicketNumberCommand(meta=meta, issue=issue))]
        case "ticket_number_issued":
            issued = event.ticket_number_issued
            meta = caused_by(event.event_id, "number-ticket", tenant, issued.ticket_id, correlation)
            number = commands_pb2.NumberTicket(number=issued.number)
            return [(TICKETS, commands_pb2.TicketCommand(meta=meta, number=number))]
    return []
