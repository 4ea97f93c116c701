"""TicketingService: transitions and notes as ticket commands; reads from the tickets read model."""

import grpc
from cc.common.v1 import types_pb2
from cc.ticketing.v1 import commands_pb2, ticketing_pb2, ticketing_pb2_grpc
from google.protobuf.message import Message

from services.common.aggregate import Versioned
from services.common.command_bus import CommandBus, command_meta
from services.common.envelope import timestamp
from services.common.errors import optional_text, require
from services.common.grpc_server import current_credential, current_tenant
from services.common.pci import redact_card_numbers
from services.common.projection import Projection
from services.common.queries import execute, expected_version, lookup
from services.ticketing.domain import TicketState, note_text


def ticket_view(entry: Versioned[TicketState]) -> ticketing_pb2.Ticket:
    ticket = entry.state
    view = ticketing_pb2.Ticket(
        ticket_id=ticket.ticket_id,
        subject=ticket.subject,
        channel=ticket.channel,
        customer_id=ticket.customer_id,
        queue_id=ticket.queue_id,
        assignee_agent_id=ticket.assignee_agent_id,
        call_id=ticket.call_id,
        status=ticket.status,
        opened_at=timestamp(ticket.opened_at),
        updated_at=timestamp(ticket.updated_at),
        version=entry.version,
        notes=[
            ticketing_pb2.TicketNote(
                note_id=n.note_id,
                body=n.body,
                author=types_pb2.Actor(type=n.author.type, id=n.author.id),
                added_at=timestamp(n.added_at),
            )
            for n in ticket.notes
        ],
    )
    if ticket.voicemail is not None:
        view.voicemail.CopyFrom(ticket.voicemail.message())
    return view


TicketWrite = ticketing_pb2.TransitionTicketRequest | ticketing_pb2.AddTicketNoteRequest


class TicketingServicer(ticketing_pb2_grpc.TicketingServiceServicer):
    def __init__(self, bus: CommandBus, tickets: Projection[TicketState, commands_pb2.TicketCommand]) -> None:
        self._bus = bus
        self._tickets = tickets

    async def _on_ticket(self, request: TicketWrite, **action: Message) -> ticketing_pb2.Ticket:
        """One command on a ticket, with the request's idempotency key and expected version."""
        meta = command_meta(
            tenant_id=current_tenant(),
            aggregate_id=require(request.ticket_id, "ticket_id", "the ticket"),
            expected_version=expected_version(request),
            actor=current_credential().actor(),
        )
        command = commands_pb2.TicketCommand(meta=meta, **action)  # type: ignore[arg-type]
        return ticket_view(await execute(self._bus, self._tickets, command, request.request_id))

    async def GetTicket(
        self, request: ticketing_pb2.GetTicketRequest, context: grpc.aio.ServicerContext
    ) -> ticketing_pb2.Ticket:
        ticket_id = require(request.ticket_id, "ticket_id", "the ticket")
        return ticket_view(await lookup(self._tickets, current_tenant(), ticket_id, request.min_version))

    async def ListTickets(
        self, request: ticketing_pb2.ListTicketsRequest, context: grpc.aio.ServicerContext
    ) -> ticketing_pb2.ListTicketsResponse:
        customer_id = require(request.customer_id, "customer_id", "the customer")
        entries = [e for e in self._tickets.of_tenant(current_tenant()) if e.state.customer_id == customer_id]
        entries.sort(key=lambda e: e.state.opened_at)
        return ticketing_pb2.ListTicketsResponse(tickets=[ticket_view(e) for e in entries])

    async def TransitionTicket(
        self, request: ticketing_pb2.TransitionTicketRequest, context: grpc.aio.ServicerContext
    ) -> ticketing_pb2.Ticket:
        # a card number read out and typed in is masked before it is kept (SEC-1)
        reason = redact_card_numbers(optional_text(request.reason, "reason", "the reason"))
        change = commands_pb2.ChangeTicketStatus(to_status=request.to_status, reason=reason)
        return await self._on_ticket(request, change_status=change)

    async def AddTicketNote(
        self, request: ticketing_pb2.AddTicketNoteRequest, context: grpc.aio.ServicerContext
    ) -> ticketing_pb2.Ticket:
        return await self._on_ticket(
            request, add_note=commands_pb2.AddTicketNote(body=redact_card_numbers(note_text(request.body)))
        )
