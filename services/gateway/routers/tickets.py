"""Tickets on any channel (TKT-1 to TKT-5): create, edit, assign, search, move through new -> open ->
pending / on-hold -> solved -> closed, escalate between tiers and back, reply to the customer and add
internal notes."""

from datetime import datetime
from typing import Annotated, Literal

from cc.ticketing.v1 import events_pb2 as ticket_events
from cc.ticketing.v1 import ticketing_pb2
from fastapi import APIRouter, Query

from services.gateway.deps import AuthenticatedCaller, Clients, IdempotencyKey
from services.gateway.errors import ERROR_RESPONSES
from services.gateway.models import (
    TICKET_CHANNELS,
    TICKET_PRIORITIES,
    TICKET_STATUSES,
    AssignTicketBody,
    Category,
    CreateTicketBody,
    EditTicketBody,
    EscalateTicketBody,
    LinkTicketBody,
    MergeTicketBody,
    NoteBody,
    OptionalText,
    PathId,
    RateTicketBody,
    ReplyBody,
    ReturnTicketBody,
    Tag,
    TemplatedReply,
    Ticket,
    TicketKind,
    TicketList,
    TicketStatusWord,
    TransitionBody,
    TypedReply,
    given_timestamp,
)

router = APIRouter(prefix="/v1/tickets", tags=["tickets"], responses=ERROR_RESPONSES)
SORTS = {
    "-opened": ticketing_pb2.TICKET_SORT_OPENED_DESC,
    "opened": ticketing_pb2.TICKET_SORT_OPENED_ASC,
    "-updated": ticketing_pb2.TICKET_SORT_UPDATED_DESC,
    "updated": ticketing_pb2.TICKET_SORT_UPDATED_ASC,
    "priority": ticketing_pb2.TICKET_SORT_PRIORITY,
}
SortWord = Annotated[
    str,
    Query(
        pattern="^(-opened|opened|-updated|updated|priority)$",
        description="-opened (newest first, the default), opened, -updated, updated, or priority (most "
        "urgent first, then oldest).",
    ),
]


@router.post("", status_code=201, summary="Create a ticket on any channel; new, or open with an assignee")
async def create_ticket(
    body: CreateTicketBody, who: AuthenticatedCaller, services: Clients, idempotency_key: IdempotencyKey = ""
) -> Ticket:
    request = ticketing_pb2.CreateTicketRequest(
        subject=body.subject,
        description=body.description,
        channel=TICKET_CHANNELS[body.channel],  # type: ignore[arg-type]
        customer_id=body.customer_id,
        priority=TICKET_PRIORITIES[body.priority],
        tags=body.tags,
        category=body.category,
        group_id=body.group_id,
        assignee_agent_id=body.assignee_agent_id,
        queue_id=body.queue_id,
        custom_fields=body.fields,
        request_id=idempotency_key,
        line_id=body.line_id,
        kind=body.kind,
        claim=body.claim or "",
    )
    return Ticket.of(await services.ticketing.CreateTicket(request, metadata=who.metadata))


@router.get("/{ticket_id}", summary="One ticket with its notes and status changes")
async def get_ticket(ticket_id: PathId, who: AuthenticatedCaller, services: Clients) -> Ticket:
    request = ticketing_pb2.GetTicketRequest(ticket_id=ticket_id)
    return Ticket.of(await services.ticketing.GetTicket(request, metadata=who.metadata))


@router.get("", summary="Search tickets: every filter given must match; pages follow next_cursor")
async def list_tickets(
    who: AuthenticatedCaller,
    services: Clients,
    customer_id: OptionalText = "",
    status: Annotated[list[TicketStatusWord], Query(max_length=6)] = [],  # noqa: B006 (FastAPI copies it)
    assignee: OptionalText = "",
    group: OptionalText = "",
    category: Annotated[Category, Query(description="This category or any under it.")] = "",
    tag: Annotated[list[Tag], Query(max_length=20, description="Tickets with every tag given.")] = [],  # noqa: B006
    opened_from: Annotated[datetime | None, Query(description="Opened at or after")] = None,
    opened_before: Annotated[datetime | None, Query(description="Opened before")] = None,
    sla: Annotated[
        list[Literal["running", "paused", "met", "breached"]],
        Query(max_length=4, description="Tickets with an SLA clock in any of these states now."),
    ] = [],  # noqa: B006 (FastAPI copies it)
    kind: Annotated[TicketKind | None, Query(description="Requests or complaints only.")] = None,
    number: Annotated[int, Query(ge=0, le=2**53, description="The ticket of this number; 0: any.")] = 0,
    sort: SortWord = "-opened",
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str, Query(max_length=1000, pattern=r"^[A-Za-z0-9_\-]*$")] = "",
) -> TicketList:
    request = ticketing_pb2.ListTicketsRequest(
        customer_id=customer_id,
        statuses=[TICKET_STATUSES[word] for word in status],
        assignee_agent_id=assignee,
        group_id=group,
        category=category,
        tags=tag,
        sla_states=sla,
        kind=kind or "",
        number=number,
        sort=SORTS[sort],
        page_size=limit,
        page_token=cursor,
    )
    if opened_from is not None:
        request.opened_from.CopyFrom(given_timestamp(opened_from, "opened_from"))
    if opened_before is not None:
        request.opened_before.CopyFrom(given_timestamp(opened_before, "opened_before"))
    response = await services.ticketing.ListTickets(request, metadata=who.metadata)
    return TicketList(tickets=[Ticket.of(t) for t in response.tickets], next_cursor=response.next_page_token)


@router.patch(
    "/{ticket_id}", summary="Change some of a ticket's fields; an edit that changes nothing gets 422"
)
async def edit_ticket(
    ticket_id: PathId,
    body: EditTicketBody,
    who: AuthenticatedCaller,
    services: Clients,
    idempotency_key: IdempotencyKey = "",
) -> Ticket:
    request = ticketing_pb2.EditTicketRequest(
        ticket_id=ticket_id,
        priority=TICKET_PRIORITIES[body.priority]
        if body.priority
        else ticket_events.TICKET_PRIORITY_UNSPECIFIED,
        set_custom_fields={key: value for key, value in body.fields.items() if value is not None},
        unset_custom_fields=[key for key, value in body.fields.items() if value is None],
        request_id=idempotency_key,
        expected_version=body.expected_version,
    )
    if body.subject is not None:
        request.subject = body.subject
    if body.tags is not None:
        request.tags.values.extend(body.tags)
        request.tags.SetInParent()
    if body.category is not None:
        request.category = body.category
    if body.kind is not None:
        request.kind = body.kind
    if body.claim is not None:
        request.claim = body.claim
    return Ticket.of(await services.ticketing.EditTicket(request, metadata=who.metadata))


@router.put("/{ticket_id}/assignment", summary="Give the ticket to an agent and a group; a new ticket opens")
async def assign_ticket(
    ticket_id: PathId,
    body: AssignTicketBody,
    who: AuthenticatedCaller,
    services: Clients,
    idempotency_key: IdempotencyKey = "",
) -> Ticket:
    request = ticketing_pb2.AssignTicketRequest(
        ticket_id=ticket_id,
        agent_id=body.agent_id,
        group_id=body.group_id,
        request_id=idempotency_key,
        expected_version=body.expected_version,
    )
    return Ticket.of(await services.ticketing.AssignTicket(request, metadata=who.metadata))


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
        to_status=TICKET_STATUSES[body.to],
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


@router.post("/{ticket_id}/replies", status_code=201, summary="Reply to the customer (public, unlike notes)")
async def add_reply(
    ticket_id: PathId,
    body: ReplyBody,
    who: AuthenticatedCaller,
    services: Clients,
    idempotency_key: IdempotencyKey = "",
) -> Ticket:
    request = ticketing_pb2.AddTicketReplyRequest(
        ticket_id=ticket_id,
        body=body.body if isinstance(body, TypedReply) else "",
        template_id=body.template_id if isinstance(body, TemplatedReply) else "",
        request_id=idempotency_key,
        expected_version=body.expected_version,
    )
    return Ticket.of(await services.ticketing.AddTicketReply(request, metadata=who.metadata))


@router.post("/{ticket_id}/escalate", summary="Send the ticket up a tier to another team, with why")
async def escalate(
    ticket_id: PathId,
    body: EscalateTicketBody,
    who: AuthenticatedCaller,
    services: Clients,
    idempotency_key: IdempotencyKey = "",
) -> Ticket:
    request = ticketing_pb2.EscalateTicketRequest(
        ticket_id=ticket_id,
        to_tier=body.to_tier,
        group_id=body.group_id,
        assignee_agent_id=body.assignee_agent_id,
        reason=body.reason,
        request_id=idempotency_key,
        expected_version=body.expected_version,
    )
    return Ticket.of(await services.ticketing.EscalateTicket(request, metadata=who.metadata))


@router.post(
    "/{ticket_id}/return", summary="Send the ticket back to the tier, group and agent that escalated it"
)
async def return_ticket(
    ticket_id: PathId,
    body: ReturnTicketBody,
    who: AuthenticatedCaller,
    services: Clients,
    idempotency_key: IdempotencyKey = "",
) -> Ticket:
    request = ticketing_pb2.ReturnTicketRequest(
        ticket_id=ticket_id,
        reason=body.reason,
        request_id=idempotency_key,
        expected_version=body.expected_version,
    )
    return Ticket.of(await services.ticketing.ReturnTicket(request, metadata=who.metadata))


@router.post(
    "/{ticket_id}/satisfaction",
    summary="Record the customer's answer to the latest solve's satisfaction survey (TKT-9)",
)
async def rate(
    ticket_id: PathId,
    body: RateTicketBody,
    who: AuthenticatedCaller,
    services: Clients,
    idempotency_key: IdempotencyKey = "",
) -> Ticket:
    request = ticketing_pb2.RateTicketRequest(
        ticket_id=ticket_id,
        survey_token=body.survey_token,
        score=body.score,
        comment=body.comment,
        request_id=idempotency_key,
        expected_version=body.expected_version,
    )
    return Ticket.of(await services.ticketing.RateTicket(request, metadata=who.metadata))


@router.post("/{ticket_id}/links", summary="Link another ticket of the same journey (shown on both)")
async def link_tickets(
    ticket_id: PathId,
    body: LinkTicketBody,
    who: AuthenticatedCaller,
    services: Clients,
    idempotency_key: IdempotencyKey = "",
) -> Ticket:
    request = ticketing_pb2.LinkTicketsRequest(
        ticket_id=ticket_id,
        other_ticket_id=body.ticket_id,
        request_id=idempotency_key,
        expected_version=body.expected_version,
    )
    return Ticket.of(await services.ticketing.LinkTickets(request, metadata=who.metadata))


@router.delete("/{ticket_id}/links/{other_ticket_id}", summary="Unlink two tickets (on both)")
async def unlink_tickets(
    ticket_id: PathId,
    other_ticket_id: PathId,
    who: AuthenticatedCaller,
    services: Clients,
    idempotency_key: IdempotencyKey = "",
) -> Ticket:
    request = ticketing_pb2.LinkTicketsRequest(
        ticket_id=ticket_id, other_ticket_id=other_ticket_id, request_id=idempotency_key
    )
    return Ticket.of(await services.ticketing.UnlinkTickets(request, metadata=who.metadata))


@router.post("/{ticket_id}/merge", summary="Merge this duplicate into another ticket, closing it")
async def merge_ticket(
    ticket_id: PathId,
    body: MergeTicketBody,
    who: AuthenticatedCaller,
    services: Clients,
    idempotency_key: IdempotencyKey = "",
) -> Ticket:
    request = ticketing_pb2.MergeTicketRequest(
        ticket_id=ticket_id,
        into_ticket_id=body.into_ticket_id,
        reason=body.reason,
        request_id=idempotency_key,
        expected_version=body.expected_version,
    )
    return Ticket.of(await services.ticketing.MergeTicket(request, metadata=who.metadata))
