"""Tickets: read, move through open -> pending -> solved -> closed, and add notes (TKT-2, TKT-5)."""

from cc.ticketing.v1 import events_pb2, ticketing_pb2
from fastapi import APIRouter

from services.gateway.deps import AuthenticatedCaller, Clients, IdempotencyKey
from services.gateway.errors import ERROR_RESPONSES
from services.gateway.models import NoteBody, PathId, QueryId, Ticket, TicketList, TransitionBody

router = APIRouter(prefix="/v1/tickets", tags=["tickets"], responses=ERROR_RESPONSES)
STATUSES = {
    "open": events_pb2.TICKET_STATUS_OPEN,
    "pending": events_pb2.TICKET_STATUS_PENDING,
    "solved": events_pb2.TICKET_STATUS_SOLVED,
    "closed": events_pb2.TICKET_STATUS_CLOSED,
}


@router.get("/{ticket_id}", summary="One ticket with its notes")
async def get_ticket(ticket_id: PathId, who: AuthenticatedCaller, services: Clients) -> Ticket:
    request = ticketing_pb2.GetTicketRequest(ticket_id=ticket_id)
    return Ticket.of(await services.ticketing.GetTicket(request, metadata=who.metadata))


@router.get("", summary="A customer's tickets, oldest first")
async def list_tickets(customer_id: QueryId, who: AuthenticatedCaller, services: Clients) -> TicketList:
    response = await services.ticketing.ListTickets(
        ticketing_pb2.ListTicketsRequest(customer_id=customer_id), metadata=who.metadata
    )
    return TicketList(tickets=[Ticket.of(t) for t in response.tickets])


@router.post("/{ticket_id}/transitions", summary="Move a ticket to another status; illegal moves get 409")
async def transition(
    ticket_id: PathId,
    body: TransitionBody,
    who: AuthenticatedCaller,
    services: Clients,
    idempotency_key: IdempotencyKey = "",
) -> Ticket:
    request = ticketing_pb2.TransitionTicketRequest(
        ticket_id=ticket_id,
        to_status=STATUSES[body.to],
        reason=body.reason,
        request_id=idempotency_key,
        expected_version=body.expected_version,
    )
    return Ticket.of(await services.ticketing.TransitionTicket(request, metadata=who.metadata))


@router.post("/{ticket_id}/notes", status_code=201, summary="Add an internal note")
async def add_note(
    ticket_id: PathId,
    body: NoteBody,
    who: AuthenticatedCaller,
    services: Clients,
    idempotency_key: IdempotencyKey = "",
) -> Ticket:
    request = ticketing_pb2.AddTicketNoteRequest(
        ticket_id=ticket_id,
        body=body.body,
        request_id=idempotency_key,
        expected_version=body.expected_version,
    )
    return Ticket.of(await services.ticketing.AddTicketNote(request, metadata=who.metadata))
