"""Ticket numbers (TKT-1): the tenant's counter issues 1, 2, 3... in the order tickets open, the policy
carries each number to its ticket, and a ticket keeps its first number. Pure: no broker."""

from cc.common.v1 import event_pb2
from cc.ticketing.v1 import commands_pb2, events_pb2
from google.protobuf.message import Message

from services.common.errors import IllegalTransition
from services.common.topics import TICKET_NUMBERS, TICKETS
from services.ticketing import numbering
from tests.unit.support import TENANT, History, at, envelope, meta, refused
from tests.unit.test_ticket_domain import Ticket, command


def event(payload: Message, aggregate_type: str, aggregate_id: str) -> event_pb2.Event:
    return envelope(
        payload,
        context="ticketing",
        aggregate_type=aggregate_type,
        aggregate_id=aggregate_id,
        version=1,
        when=at(0),
    )


def test_the_counter_issues_the_next_number_to_each_ticket() -> None:
    counter = History(
        lambda state, cmd, now, rules: numbering.decide(state, cmd, now),
        numbering.evolve,
        numbering.customer_of,
        None,
        "ticketing",
        "ticket-number",
        numbering.COUNTER,
    )
    issued = []
    for ticket_id in ("t-a", "t-b", "t-c"):
        issue = commands_pb2.TicketNumberCommand(
            meta=meta(numbering.COUNTER), issue=commands_pb2.IssueTicketNumber(ticket_id=ticket_id)
        )
        issued += counter.handle(issue, at(1))
    assert issued == [
        events_pb2.TicketNumberIssued(ticket_id="t-a", number=1),
        events_pb2.TicketNumberIssued(ticket_id="t-b", number=2),
        events_pb2.TicketNumberIssued(ticket_id="t-c", number=3),
    ]
    assert counter.state == numbering.CounterState(issued=3)


def test_an_opening_asks_the_tenants_counter_and_an_issued_number_goes_to_its_ticket() -> None:
    opened = event(events_pb2.TicketOpened(subject="s"), "ticket", "t-a")
    [(topics, issue)] = numbering.ticket_numbers(opened)
    assert (topics, issue.meta.aggregate_id, issue.meta.tenant_id) == (
        TICKET_NUMBERS,
        numbering.COUNTER,
        TENANT,
    )
    assert issue.issue.ticket_id == "t-a"  # type: ignore[union-attr]
    assert numbering.ticket_numbers(opened)[0][1].meta.command_id == issue.meta.command_id  # a redelivery
    issued = event(
        events_pb2.TicketNumberIssued(ticket_id="t-a", number=7), "ticket-number", numbering.COUNTER
    )
    [(topics, number)] = numbering.ticket_numbers(issued)
    assert (topics, number.meta.aggregate_id) == (TICKETS, "t-a")
    assert number.number == commands_pb2.NumberTicket(number=7)  # type: ignore[union-attr]
    assert numbering.ticket_numbers(event(events_pb2.TicketNoteAdded(body="x"), "ticket", "t-a")) == []


def test_a_ticket_keeps_its_first_number() -> None:
    ticket = Ticket()
    assert ticket.handle(command(number=commands_pb2.NumberTicket(number=7)), at(1)) == [
        events_pb2.TicketNumbered(number=7)
    ]
    assert ticket.state.number == 7
    refused(
        lambda: ticket.handle(command(number=commands_pb2.NumberTicket(number=8)), at(2)),
        IllegalTransition,
        "already-numbered",
    )
