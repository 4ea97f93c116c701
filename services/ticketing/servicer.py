"""TicketingService: creates, edits, assignments, transitions and notes as ticket commands; reads and
searches from the tickets read model. The customer RPCs are in customer_servicer."""

import secrets
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime

import grpc
from cc.common.v1 import types_pb2
from cc.ticketing.v1 import commands_pb2, ticketing_pb2, ticketing_pb2_grpc
from cc.ticketing.v1 import events_pb2 as ticket_events
from google.protobuf.message import Message

from services.common.aggregate import Versioned
from services.common.command_bus import CommandBus, command_meta
from services.common.envelope import derived_id, given_moment, new_id, timestamp
from services.common.errors import (
    FieldViolation,
    IllegalTransition,
    InvalidArgument,
    NotFound,
    optional_text,
    require,
)
from services.common.grpc_server import current_credential, current_tenant
from services.common.pci import redact_card_numbers
from services.common.projection import Index, Projection
from services.common.queries import execute, expected_version, lookup
from services.ticketing import sla, templates
from services.ticketing.customer_servicer import CustomerRpcs, Customers
from services.ticketing.customers import CustomerState
from services.ticketing.domain import (
    CLOSED,
    Author,
    TicketState,
    clean_category,
    clean_kind,
    clean_tags,
    note_text,
    refused,
)
from services.ticketing.group_servicer import GroupRpcs
from services.ticketing.groups import Groups
from services.ticketing.lines import LineDirectory
from services.ticketing.search import SLA_STATES, TicketFilter, page_of
from services.ticketing.sla import SlaClock
from services.ticketing.template_servicer import TemplateRpcs, Templates


def _actor(author: Author) -> types_pb2.Actor:
    return types_pb2.Actor(type=author.type, id=author.id)


def ticket_view(entry: Versioned[TicketState], clocks: Sequence[SlaClock] = ()) -> ticketing_pb2.Ticket:
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
                author=_actor(n.author),
                added_at=timestamp(n.added_at),
            )
            for n in ticket.notes
        ],
        description=ticket.description,
        priority=ticket.priority,
        tags=ticket.tags,
        category=ticket.category,
        group_id=ticket.group_id,
        custom_fields=dict(ticket.custom_fields),
        status_changes=[
            ticketing_pb2.TicketStatusChange(
                from_status=c.from_status,
                to_status=c.to_status,
                reason=c.reason,
                actor=_actor(c.by),
                changed_at=timestamp(c.changed_at),
            )
            for c in ticket.status_changes
        ],
        replies=[
            ticketing_pb2.TicketReply(
                reply_id=r.reply_id,
                body=r.body,
                author=_actor(r.author),
                sent_at=timestamp(r.sent_at),
                template_id=r.template_id,
                automatic=r.automatic,
            )
            for r in ticket.replies
        ],
        tier=ticket.tier,
        line_id=ticket.line_id,
        escalations=[
            ticketing_pb2.TicketEscalation(
                returned=e.returned,
                from_tier=e.from_tier,
                to_tier=e.to_tier,
                from_group_id=e.from_group_id,
                to_group_id=e.to_group_id,
                from_agent_id=e.from_agent_id,
                to_agent_id=e.to_agent_id,
                reason=e.reason,
                actor=_actor(e.by),
                at=timestamp(e.at),
            )
            for e in ticket.escalations
        ],
    )
    for clock in clocks:
        shown = view.sla.add(
            metric=clock.metric,
            target_seconds=clock.target_seconds,
            elapsed_seconds=clock.elapsed_seconds,
            state=clock.state,
        )
        if clock.due_at is not None:
            shown.due_at.CopyFrom(timestamp(clock.due_at))
    if ticket.first_replied_at is not None:
        view.first_replied_at.CopyFrom(timestamp(ticket.first_replied_at))
    if ticket.voicemail is not None:
        view.voicemail.CopyFrom(ticket.voicemail.message())
    view.survey_token, view.kind, view.claim = ticket.survey_token, ticket.kind, ticket.claim
    view.linked_ticket_ids.extend(ticket.links)
    view.merged_ticket_ids.extend(ticket.merged_ticket_ids)
    view.merged_into_ticket_id = ticket.merged_into
    view.number = ticket.number
    # The answer to the latest solve's survey only: after a reopen and a new solve, the new survey is
    # unanswered (the earlier answer still counts in the statistics, where it was given).
    if ticket.satisfaction is not None and ticket.satisfaction.survey_token == ticket.survey_token:
        answer = ticket.satisfaction
        view.satisfaction.CopyFrom(
            ticketing_pb2.TicketSatisfaction(
                score=answer.score,
                comment=answer.comment,
                rated_at=timestamp(answer.rated_at),
                actor=_actor(answer.by),
            )
        )
    return view


TicketWrite = (
    ticketing_pb2.TransitionTicketRequest
    | ticketing_pb2.AddTicketNoteRequest
    | ticketing_pb2.EditTicketRequest
    | ticketing_pb2.AssignTicketRequest
    | ticketing_pb2.AddTicketReplyRequest
    | ticketing_pb2.EscalateTicketRequest
    | ticketing_pb2.ReturnTicketRequest
    | ticketing_pb2.RateTicketRequest
    | ticketing_pb2.LinkTicketsRequest
    | ticketing_pb2.MergeTicketRequest
)


# A card number read out and typed into any of a ticket's free text is masked before a command holds
# it (SEC-1); a tag that was one is then no tag, and refused.
def _masked_all(texts: Iterable[str]) -> list[str]:
    return [redact_card_numbers(text) for text in texts]


def _masked_values(fields: Mapping[str, str]) -> dict[str, str]:
    return {key: redact_card_numbers(value) for key, value in fields.items()}


def _bound(request: ticketing_pb2.ListTicketsRequest, field: str) -> datetime | None:
    """A time bound the client set, or None; one no datetime can hold is refused, never ignored."""
    if not request.HasField(field):  # type: ignore[arg-type]
        return None
    moment = given_moment(getattr(request, field))
    if moment is None:
        raise InvalidArgument(
            "invalid-argument", f"{field} is out of range", [FieldViolation(field, "a real moment")]
        )
    return moment


def ticket_filter(request: ticketing_pb2.ListTicketsRequest) -> TicketFilter:
    return TicketFilter(
        customer_id=request.customer_id,
        statuses=frozenset(request.statuses),
        assignee_agent_id=request.assignee_agent_id,
        group_id=request.group_id,
        category=clean_category(request.category),
        tags=frozenset(clean_tags(request.tags)),
        opened_from=_bound(request, "opened_from"),
        opened_before=_bound(request, "opened_before"),
        sla_states=_sla_states(request.sla_states),
        kind=clean_kind(request.kind) if request.kind else "",
        number=request.number,
    )


def _sla_states(states: Iterable[str]) -> frozenset[str]:
    unknown = set(states) - SLA_STATES
    if unknown:
        raise InvalidArgument(
            "invalid-argument",
            f"{sorted(unknown)[0][:20]!r} is not an SLA clock state",
            [FieldViolation("sla_states", "running, paused, met or breached")],
        )
    return frozenset(states)


class TicketingServicer(CustomerRpcs, TemplateRpcs, GroupRpcs, ticketing_pb2_grpc.TicketingServiceServicer):
    def __init__(
        self,
        bus: CommandBus,
        tickets: Projection[TicketState, commands_pb2.TicketCommand],
        customers: Customers,
        by_identifier: Index[CustomerState],
        lines: LineDirectory,
        templates: Templates,
        groups: Groups,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        CustomerRpcs.__init__(self, bus, customers, by_identifier)
        TemplateRpcs.__init__(self, bus, templates)
        GroupRpcs.__init__(self, bus, groups)
        self._tickets = tickets
        self._lines = lines
        self._clock = clock

    def _clock_states(self, tenant_id: str, now: datetime) -> Callable[[TicketState], frozenset[str]]:
        """The states of a ticket's SLA clocks as of `now`, on its line's targets and calendar."""

        def states(ticket: TicketState) -> frozenset[str]:
            terms = self._lines.sla_terms(tenant_id, ticket.line_id)
            if terms is None:
                return frozenset()
            return frozenset(clock.state for clock in sla.clocks(ticket, terms, now))

        return states

    def _view(self, entry: Versioned[TicketState]) -> ticketing_pb2.Ticket:
        """The ticket with its SLA clocks as of now, on its line's targets and calendar."""
        terms = self._lines.sla_terms(entry.tenant_id, entry.state.line_id)
        return ticket_view(entry, sla.clocks(entry.state, terms, self._clock()) if terms else ())

    async def _on_ticket(self, request: TicketWrite, **action: Message) -> ticketing_pb2.Ticket:
        """One command on a ticket, with the request's idempotency key and expected version."""
        meta = command_meta(
            tenant_id=current_tenant(),
            aggregate_id=require(request.ticket_id, "ticket_id", "the ticket"),
            expected_version=expected_version(request),
            actor=current_credential().actor(),
        )
        command = commands_pb2.TicketCommand(meta=meta, **action)  # type: ignore[arg-type]
        return self._view(await execute(self._bus, self._tickets, command, request.request_id))

    async def GetTicket(
        self, request: ticketing_pb2.GetTicketRequest, context: grpc.aio.ServicerContext
    ) -> ticketing_pb2.Ticket:
        ticket_id = require(request.ticket_id, "ticket_id", "the ticket")
        return self._view(await lookup(self._tickets, current_tenant(), ticket_id, request.min_version))

    async def ListTickets(
        self, request: ticketing_pb2.ListTicketsRequest, context: grpc.aio.ServicerContext
    ) -> ticketing_pb2.ListTicketsResponse:
        found = page_of(
            self._tickets.of_tenant(current_tenant()),
            ticket_filter(request),
            request.sort,
            request.page_size,
            request.page_token,
            self._clock_states(current_tenant(), self._clock()),
        )
        return ticketing_pb2.ListTicketsResponse(
            tickets=[self._view(e) for e in found.tickets], next_page_token=found.next_page_token
        )

    async def CreateTicket(
        self, request: ticketing_pb2.CreateTicketRequest, context: grpc.aio.ServicerContext
    ) -> ticketing_pb2.Ticket:
        tenant_id = current_tenant()
        # The same request_id names the same ticket, so a retried create answers with the first one.
        ticket_id = (
            derived_id("ticket", tenant_id, "request", request.request_id) if request.request_id else new_id()
        )
        meta = command_meta(tenant_id=tenant_id, aggregate_id=ticket_id, actor=current_credential().actor())
        opening = commands_pb2.OpenTicket(
            subject=redact_card_numbers(require(request.subject, "subject", "the subject")),
            description=redact_card_numbers(
                optional_text(request.description, "description", "the description", multiline=True)
            ),
            channel=request.channel,
            customer_id=request.customer_id,
            queue_id=optional_text(request.queue_id, "queue_id", "the queue"),
            priority=request.priority,
            tags=_masked_all(request.tags),
            category=redact_card_numbers(request.category),
            group_id=optional_text(request.group_id, "group_id", "the group"),
            assignee_agent_id=optional_text(request.assignee_agent_id, "assignee_agent_id", "the agent"),
            custom_fields=_masked_values(request.custom_fields),
            line_id=request.line_id,
            kind=request.kind,
            claim=request.claim,
        )
        command = commands_pb2.TicketCommand(meta=meta, open_ticket=opening)
        return self._view(await execute(self._bus, self._tickets, command, request.request_id))

    async def EditTicket(
        self, request: ticketing_pb2.EditTicketRequest, context: grpc.aio.ServicerContext
    ) -> ticketing_pb2.Ticket:
        edit = commands_pb2.EditTicket(
            priority=request.priority,
            set_custom_fields=_masked_values(request.set_custom_fields),
            unset_custom_fields=request.unset_custom_fields,
        )
        if request.HasField("subject"):
            edit.subject = redact_card_numbers(request.subject)
        if request.HasField("tags"):
            edit.tags.values.extend(_masked_all(request.tags.values))
            edit.tags.SetInParent()
        if request.HasField("category"):
            edit.category = redact_card_numbers(request.category)
        if request.HasField("kind"):
            edit.kind = request.kind
        if request.HasField("claim"):
            edit.claim = request.claim
        return await self._on_ticket(request, edit=edit)

    async def AssignTicket(
        self, request: ticketing_pb2.AssignTicketRequest, context: grpc.aio.ServicerContext
    ) -> ticketing_pb2.Ticket:
        assign = commands_pb2.AssignTicket(
            agent_id=optional_text(request.agent_id, "agent_id", "the agent"),
            group_id=optional_text(request.group_id, "group_id", "the group"),
        )
        return await self._on_ticket(request, assign=assign)

    async def TransitionTicket(
        self, request: ticketing_pb2.TransitionTicketRequest, context: grpc.aio.ServicerContext
    ) -> ticketing_pb2.Ticket:
        # a card number read out and typed in is masked before it is kept (SEC-1)
        reason = redact_card_numbers(optional_text(request.reason, "reason", "the reason"))
        change = commands_pb2.ChangeTicketStatus(to_status=request.to_status, reason=reason)
        if request.to_status == ticket_events.TICKET_STATUS_SOLVED:
            # Random, so that no one can work a survey's token out from what the events show.
            change.survey_token = secrets.token_urlsafe(18)
        return await self._on_ticket(request, change_status=change)

    async def AddTicketNote(
        self, request: ticketing_pb2.AddTicketNoteRequest, context: grpc.aio.ServicerContext
    ) -> ticketing_pb2.Ticket:
        return await self._on_ticket(
            request, add_note=commands_pb2.AddTicketNote(body=redact_card_numbers(note_text(request.body)))
        )

    async def AddTicketReply(
        self, request: ticketing_pb2.AddTicketReplyRequest, context: grpc.aio.ServicerContext
    ) -> ticketing_pb2.Ticket:
        if not request.template_id:
            body = redact_card_numbers(note_text(request.body, "reply"))
            return await self._on_ticket(request, add_reply=commands_pb2.AddTicketReply(body=body))
        if request.body:
            raise refused("body", "either a reply's text or a template_id, not both")
        tenant_id, credential = current_tenant(), current_credential()
        template = self.live_template(tenant_id, request.template_id)
        ticket = self._tickets.get(tenant_id, request.ticket_id)
        customer = self._customers.get(tenant_id, ticket.state.customer_id) if ticket else None
        name = customer.state.name if customer else ""
        reply = templates.reply_from(template, name, credential.agent_id or credential.actor().id)
        return await self._on_ticket(request, add_reply=reply)

    async def EscalateTicket(
        self, request: ticketing_pb2.EscalateTicketRequest, context: grpc.aio.ServicerContext
    ) -> ticketing_pb2.Ticket:
        escalate = commands_pb2.EscalateTicket(
            to_tier=request.to_tier,
            group_id=optional_text(request.group_id, "group_id", "the group"),
            agent_id=optional_text(request.assignee_agent_id, "assignee_agent_id", "the agent"),
            reason=redact_card_numbers(optional_text(request.reason, "reason", "the reason")),
        )
        return await self._on_ticket(request, escalate=escalate)

    async def ReturnTicket(
        self, request: ticketing_pb2.ReturnTicketRequest, context: grpc.aio.ServicerContext
    ) -> ticketing_pb2.Ticket:
        reason = redact_card_numbers(optional_text(request.reason, "reason", "the reason"))
        return await self._on_ticket(request, return_ticket=commands_pb2.ReturnTicket(reason=reason))

    async def RateTicket(
        self, request: ticketing_pb2.RateTicketRequest, context: grpc.aio.ServicerContext
    ) -> ticketing_pb2.Ticket:
        rate = commands_pb2.RateTicket(
            survey_token=require(request.survey_token, "survey_token", "the survey's token"),
            score=request.score,
            comment=redact_card_numbers(
                optional_text(request.comment, "comment", "the comment", multiline=True)
            ),
        )
        return await self._on_ticket(request, rate=rate)

    def _other(self, ticket_id: str, field: str) -> Versioned[TicketState]:
        """The other ticket of a link or a merge, in the caller's tenant: a relation to a ticket that does
        not exist would dangle on one side."""
        other = require(ticket_id, field, "the other ticket")
        found = self._tickets.get(current_tenant(), other)
        if found is None:
            raise NotFound(
                "ticket-not-found",
                f"ticket {other} does not exist",
                [FieldViolation(field, "no such ticket")],
            )
        return found

    async def LinkTickets(
        self, request: ticketing_pb2.LinkTicketsRequest, context: grpc.aio.ServicerContext
    ) -> ticketing_pb2.Ticket:
        other = self._other(request.other_ticket_id, "other_ticket_id").aggregate_id
        return await self._on_ticket(request, link=commands_pb2.LinkTicket(ticket_id=other))

    async def UnlinkTickets(
        self, request: ticketing_pb2.LinkTicketsRequest, context: grpc.aio.ServicerContext
    ) -> ticketing_pb2.Ticket:
        other = require(request.other_ticket_id, "other_ticket_id", "the other ticket")
        return await self._on_ticket(request, unlink=commands_pb2.UnlinkTicket(ticket_id=other))

    async def MergeTicket(
        self, request: ticketing_pb2.MergeTicketRequest, context: grpc.aio.ServicerContext
    ) -> ticketing_pb2.Ticket:
        into = self._other(request.into_ticket_id, "into_ticket_id")
        if into.state.status == CLOSED:
            raise IllegalTransition(
                "ticket-closed", f"ticket {into.aggregate_id} is closed: merge into an open one"
            )
        reason = redact_card_numbers(optional_text(request.reason, "reason", "the reason"))
        merge = commands_pb2.MergeTicket(into_ticket_id=into.aggregate_id, reason=reason)
        return await self._on_ticket(request, merge=merge)
