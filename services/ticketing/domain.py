"""The ticket aggregate (TKT-1, TKT-2, TKT-3, TKT-5): decide and evolve, pure.

Tiers (TKT-4): a ticket starts at tier 1; escalating sends it up to another team with a reason, and
returning sends it back to the tier, group and agent that escalated it. Replies (TKT-5) are public,
to the customer; notes stay internal.

Lifecycle: a ticket starts new (nobody has taken it) or open (it names an assignee). Open, pending
(waiting on the customer) and on hold (waiting on a third party) move freely among themselves and on to
solved; a solved ticket can be reopened or closed; closed is final and takes no more notes, edits or
assignments. Nothing goes back to new. Assigning an agent to a new ticket opens it. Every change is an
event whose actor is the credential that asked for it.
"""

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cc.common.v1 import event_pb2, types_pb2
from cc.ticketing.v1 import commands_pb2, events_pb2
from google.protobuf.message import Message

from services.common import categories
from services.common.aggregate import evolved
from services.common.envelope import derived_id, to_datetime
from services.common.errors import (
    FieldViolation,
    IllegalTransition,
    InvalidArgument,
    NotFound,
    optional_text,
    require,
)
from services.common.pci import shows_card_number
from services.ticketing import rendering, sla
from services.ticketing.sla import SlaTerms

Status = events_pb2.TicketStatus
NEW = Status.TICKET_STATUS_NEW
OPEN = Status.TICKET_STATUS_OPEN
PENDING = Status.TICKET_STATUS_PENDING
ON_HOLD = Status.TICKET_STATUS_ON_HOLD
SOLVED = Status.TICKET_STATUS_SOLVED
CLOSED = Status.TICKET_STATUS_CLOSED
TRANSITIONS: dict[int, frozenset[int]] = {
    NEW: frozenset({OPEN, PENDING, ON_HOLD, SOLVED}),
    OPEN: frozenset({PENDING, ON_HOLD, SOLVED}),
    PENDING: frozenset({OPEN, ON_HOLD, SOLVED}),
    ON_HOLD: frozenset({OPEN, PENDING, SOLVED}),
    SOLVED: frozenset({OPEN, CLOSED}),
    CLOSED: frozenset(),
}
Priority = events_pb2.TicketPriority
NORMAL = Priority.TICKET_PRIORITY_NORMAL
MAX_NOTE_LENGTH = 10_000
# First line, second line, specialists (the seed's 1차/2차 상담 and one more).
FIRST_TIER, MAX_TIER = 1, 3
MAX_DESCRIPTION_LENGTH = 10_000
MAX_TAGS = 20
MAX_CUSTOM_FIELDS = 50
MAX_FIELD_VALUE_LENGTH = 1_000
# Tags are words an agent types and filters by: lower case, no spaces (Zendesk's rule too).
TAG = re.compile(r"[a-z0-9][a-z0-9_\-]{0,49}")
# Custom field keys are identifiers an integration names its fields by.
FIELD_KEY = re.compile(r"[a-z][a-z0-9_]{0,49}")
# What a ticket is (TKT-11): a request (asking for something) or a complaint, which may state the
# claim the customer makes (the seed's 클레임: a free return, an exchange, a refund...).
REQUEST, COMPLAINT = "request", "complaint"
KINDS = (REQUEST, COMPLAINT)
CLAIMS = ("refund", "exchange", "return", "repair", "compensation", "apology", "other")


def note_text(body: str, what: str = "note") -> str:
    """A note's or a reply's text, refused when empty, not text, or too long (the servicer checks it
    before it masks card numbers in it, so masking never works on more than a note's worth)."""
    require(body, "body", f"the {what}'s text", multiline=True)
    if len(body) > MAX_NOTE_LENGTH:
        raise InvalidArgument(
            "invalid-argument",
            f"the {what} is too long",
            [FieldViolation("body", f"at most {MAX_NOTE_LENGTH} characters")],
        )
    return body


@dataclass(frozen=True)
class Author:
    """Who wrote a note: the event's actor, as plain data so the ticket's state can be snapshotted."""

    type: "types_pb2.ActorType.ValueType"
    id: str


@dataclass(frozen=True)
class Voicemail:
    """What a voicemail ticket keeps of it: the carrier's recording and who called which line."""

    recording_ref: str
    duration_seconds: int
    caller_number: str
    line_id: str
    dnis: str

    def message(self) -> events_pb2.Voicemail:
        return events_pb2.Voicemail(
            recording_ref=self.recording_ref,
            duration_seconds=self.duration_seconds,
            caller_number=self.caller_number,
            line_id=self.line_id,
            dnis=self.dnis,
        )


@dataclass(frozen=True)
class Note:
    note_id: str
    body: str
    author: Author
    added_at: datetime


@dataclass(frozen=True)
class Reply:
    reply_id: str
    body: str
    author: Author
    sent_at: datetime
    # The reply template it was written from (TKT-7), and whether it went by itself (TKT-8).
    template_id: str = ""
    automatic: bool = False


@dataclass(frozen=True)
class Escalation:
    """One hop between tiers: up, or back (`returned`) to where the last escalation came from."""

    returned: bool
    from_tier: int
    to_tier: int
    from_group_id: str
    to_group_id: str
    from_agent_id: str
    to_agent_id: str
    reason: str
    by: Author
    at: datetime


@dataclass(frozen=True)
class Satisfaction:
    """The customer's answer to a solve's survey (TKT-9)."""

    score: int
    comment: str
    survey_token: str
    by: Author
    rated_at: datetime


@dataclass(frozen=True)
class StatusChange:
    from_status: "events_pb2.TicketStatus.ValueType"
    to_status: "events_pb2.TicketStatus.ValueType"
    reason: str
    by: Author
    changed_at: datetime


@dataclass(frozen=True)
class TicketState:
    ticket_id: str
    subject: str
    channel: "types_pb2.Channel.ValueType"
    customer_id: str
    queue_id: str
    assignee_agent_id: str
    call_id: str
    status: "events_pb2.TicketStatus.ValueType"
    opened_at: datetime
    updated_at: datetime
    notes: tuple[Note, ...] = ()
    # The voicemail a ticket was opened from (TEL-6).
    voicemail: Voicemail | None = None
    description: str = ""
    priority: "events_pb2.TicketPriority.ValueType" = NORMAL
    tags: tuple[str, ...] = ()
    category: str = ""
    group_id: str = ""
    # Sorted by key, so that two states with the same fields are equal.
    custom_fields: tuple[tuple[str, str], ...] = ()
    status_changes: tuple[StatusChange, ...] = ()
    replies: tuple[Reply, ...] = ()
    first_replied_at: datetime | None = None
    tier: int = FIRST_TIER
    escalations: tuple[Escalation, ...] = ()
    # The line of business whose calendar and SLA targets its clocks run on (TKT-6).
    line_id: str = ""
    # The SLA metrics whose breach is recorded, each once.
    sla_breaches: tuple[str, ...] = ()
    # The latest solve's survey token (TKT-9), and the customer's answer to its survey, if any yet.
    survey_token: str = ""
    satisfaction: Satisfaction | None = None
    kind: str = REQUEST
    claim: str = ""
    # Tickets of one journey (TKT-12): linked ones (sorted), duplicates merged into this one (in the
    # order merged), and the ticket this one was merged into.
    links: tuple[str, ...] = ()
    merged_ticket_ids: tuple[str, ...] = ()
    merged_into: str = ""
    # Its number in the tenant (TKT-1), issued a moment after it opened; 0 until then.
    number: int = 0

    def open_escalations(self) -> list[Escalation]:
        """The escalations not yet returned, the latest last: a return goes back to the last one's origin."""
        stack: list[Escalation] = []
        for hop in self.escalations:
            if hop.returned:
                stack.pop()
            else:
                stack.append(hop)
        return stack


def status_name(status: int) -> str:
    return Status.Name(status).removeprefix("TICKET_STATUS_").lower()  # type: ignore[arg-type]


def ticket_for_call(tenant_id: str, call_id: str) -> str:
    """One ticket per answered call, with an id derived from the call so a replay opens no second one."""
    return derived_id("ticket", tenant_id, "call", call_id)


def customer_of(state: TicketState | None, command: commands_pb2.TicketCommand) -> str:
    return state.customer_id if state is not None else command.open_ticket.customer_id


def refused(field: str, problem: str) -> InvalidArgument:
    return InvalidArgument("invalid-argument", f"{field} {problem}", [FieldViolation(field, problem)])


def clean_tags(tags: Sequence[str], field: str = "tags") -> tuple[str, ...]:
    """Tags in lower case, each once, sorted; refused when one is not a word or there are too many."""
    cleaned = sorted({tag.strip().lower() for tag in tags})
    if len(cleaned) > MAX_TAGS:
        raise refused(field, f"at most {MAX_TAGS} tags")
    for tag in cleaned:
        if not TAG.fullmatch(tag):
            raise refused(field, f"{tag[:60]!r} is not a tag: letters, digits, - and _, at most 50")
    return tuple(cleaned)


def clean_kind(kind: str, field: str = "kind") -> str:
    """request (also for empty) or complaint."""
    if kind and kind not in KINDS:
        raise refused(field, "request or complaint")
    return kind or REQUEST


def complaint(kind: str, claim: str) -> tuple[str, str]:
    """A ticket's kind and claim, checked together: only a complaint states a claim."""
    if claim and claim not in CLAIMS:
        raise refused("claim", ", ".join(CLAIMS))
    if claim and kind != COMPLAINT:
        raise refused("claim", "only a complaint states a claim")
    return kind, claim


def clean_category(category: str, field: str = "category") -> str:
    """A category path like "billing/refund": levels of plain text joined by "/", none empty."""
    if not category:
        return ""
    optional_text(category, field, "the category")
    if (fault := categories.problem(category)) is not None:
        raise refused(field, fault)
    return categories.canonical(category)


def _in_line_tree(category: str, line_id: str, tenant_id: str, rules: "TicketRules") -> None:
    """A line with a category tree takes only its categories; a line without one, or no line, any."""
    tree = rules.categories(tenant_id, line_id) if category and line_id else None
    if tree is not None and category not in tree:
        raise refused("category", f"{category[:100]!r} is not one of line {line_id}'s ticket categories")


def clean_field_values(fields: Mapping[str, str], field: str) -> dict[str, str]:
    for key, value in fields.items():
        if not FIELD_KEY.fullmatch(key):
            raise refused(field, f"{key[:60]!r} is not a field name: a-z, digits and _, at most 50")
        if shows_card_number(key):  # values are masked at the edge; a name is refused (SEC-1)
            raise refused(field, "a field name must not hold a card number")
        optional_text(value, field, f"the value of {key}")
        if len(value) > MAX_FIELD_VALUE_LENGTH:
            raise refused(field, f"the value of {key} is longer than {MAX_FIELD_VALUE_LENGTH} characters")
    return dict(fields)


def _priority(priority: int, field: str = "priority") -> "events_pb2.TicketPriority.ValueType":
    if priority not in Priority.values():
        raise refused(field, "low, normal, high or urgent")
    return priority or NORMAL  # type: ignore[return-value]


def _open(ticket_id: str, opening: commands_pb2.OpenTicket) -> events_pb2.TicketOpened:
    require(opening.subject, "subject", "the subject")
    require(opening.customer_id, "customer_id", "the requester")
    if opening.channel == types_pb2.CHANNEL_UNSPECIFIED:
        raise refused("channel", "the channel the ticket came in on")
    if opening.channel not in types_pb2.Channel.values():
        raise refused("channel", "not a known channel")
    description = optional_text(opening.description, "description", "the description", multiline=True)
    if len(description) > MAX_DESCRIPTION_LENGTH:
        raise refused("description", f"at most {MAX_DESCRIPTION_LENGTH} characters")
    fields = clean_field_values(opening.custom_fields, "custom_fields")
    if len(fields) > MAX_CUSTOM_FIELDS:
        raise refused("custom_fields", f"at most {MAX_CUSTOM_FIELDS} fields")
    kind, claim = complaint(clean_kind(opening.kind), opening.claim)
    return events_pb2.TicketOpened(
        kind=kind,
        claim=claim,
        subject=opening.subject,
        channel=opening.channel,
        customer_id=opening.customer_id,
        queue_id=opening.queue_id,
        assignee_agent_id=opening.assignee_agent_id,
        call_id=opening.call_id,
        status=OPEN if opening.assignee_agent_id else NEW,
        voicemail=opening.voicemail if opening.HasField("voicemail") else None,
        description=description,
        priority=_priority(opening.priority),
        tags=clean_tags(opening.tags),
        category=clean_category(opening.category),
        group_id=opening.group_id,
        custom_fields=fields,
        line_id=optional_text(opening.line_id, "line_id", "the line of business"),
    )


def _change_status(
    state: TicketState, change: commands_pb2.ChangeTicketStatus, command_id: str
) -> list[Message]:
    wanted = change.to_status
    if wanted not in TRANSITIONS:
        raise refused("to_status", "new, open, pending, on_hold, solved or closed")
    if wanted not in TRANSITIONS[state.status]:
        raise IllegalTransition(
            "illegal-ticket-transition",
            f"ticket {state.ticket_id} cannot go from {status_name(state.status)} to {status_name(wanted)}",
        )
    reason = optional_text(change.reason, "reason", "the reason")
    changed = events_pb2.TicketStatusChanged(from_status=state.status, to_status=wanted, reason=reason)
    if wanted == SOLVED:
        # Each solve gets a survey of its own: a random token the edge mints (a retried solve is the
        # same command, decided once), or one derived from the command for a solve sent without one.
        changed.survey_token = change.survey_token or derived_id("survey", command_id)
    return [changed]


MIN_SCORE, MAX_SCORE = 1, 5
MAX_COMMENT_LENGTH = 1_000


def _link(state: TicketState, link: commands_pb2.LinkTicket) -> events_pb2.TicketLinked:
    other = require(link.ticket_id, "ticket_id", "the ticket to link")
    if other == state.ticket_id:
        raise refused("ticket_id", "a ticket does not link to itself")
    if other in state.links:
        raise IllegalTransition("already-linked", f"ticket {state.ticket_id} is already linked to {other}")
    return events_pb2.TicketLinked(ticket_id=other, mirrored=link.mirrored)


def _unlink(state: TicketState, unlink: commands_pb2.UnlinkTicket) -> events_pb2.TicketUnlinked:
    if unlink.ticket_id not in state.links:
        raise IllegalTransition("not-linked", f"ticket {state.ticket_id} is not linked to {unlink.ticket_id}")
    return events_pb2.TicketUnlinked(ticket_id=unlink.ticket_id, mirrored=unlink.mirrored)


def _merge(state: TicketState, merge: commands_pb2.MergeTicket) -> list[Message]:
    """A duplicate merged into another ticket is closed, whatever its status: the other one goes on."""
    into = require(merge.into_ticket_id, "into_ticket_id", "the ticket to merge into")
    if into == state.ticket_id:
        raise refused("into_ticket_id", "a ticket is not merged into itself")
    reason = optional_text(merge.reason, "reason", "the reason")
    return [
        events_pb2.TicketMerged(into_ticket_id=into, reason=reason),
        events_pb2.TicketStatusChanged(
            from_status=state.status, to_status=CLOSED, reason=f"merged into {into}"
        ),
    ]


def _absorb(state: TicketState, absorb: commands_pb2.AbsorbTicket) -> events_pb2.TicketAbsorbed:
    if absorb.ticket_id in state.merged_ticket_ids:
        raise IllegalTransition(
            "already-merged", f"{absorb.ticket_id} is merged into {state.ticket_id} already"
        )
    return events_pb2.TicketAbsorbed(ticket_id=absorb.ticket_id)


def _rate(state: TicketState, rate: commands_pb2.RateTicket) -> events_pb2.TicketRated:
    """The survey's answer, for the latest solve's survey only and once: an old survey's link or a
    second answer would count one solve twice."""
    if not state.survey_token:
        raise IllegalTransition("no-survey", f"ticket {state.ticket_id} has not been solved yet")
    if rate.survey_token != state.survey_token:
        raise IllegalTransition(
            "survey-token-mismatch", "the survey token is not the ticket's latest solve's"
        )
    if state.satisfaction is not None and state.satisfaction.survey_token == rate.survey_token:
        raise IllegalTransition("already-rated", f"ticket {state.ticket_id}'s survey is answered")
    if not MIN_SCORE <= rate.score <= MAX_SCORE:
        raise refused("score", f"{MIN_SCORE} (very unhappy) to {MAX_SCORE} (very happy)")
    comment = optional_text(rate.comment, "comment", "the comment", multiline=True)
    if len(comment) > MAX_COMMENT_LENGTH:
        raise refused("comment", f"at most {MAX_COMMENT_LENGTH} characters")
    return events_pb2.TicketRated(score=rate.score, comment=comment, survey_token=rate.survey_token)


def _edit(state: TicketState, edit: commands_pb2.EditTicket) -> events_pb2.TicketFieldsChanged:
    """The fields that differ from the ticket's, each with its new value; an edit changing nothing is
    refused, so that every event records a change."""
    changed = events_pb2.TicketFieldsChanged()
    if edit.HasField("subject") and edit.subject != state.subject:
        changed.subject = require(edit.subject, "subject", "the subject")
    if edit.priority and _priority(edit.priority) != state.priority:
        changed.priority = edit.priority
    if edit.HasField("tags") and (tags := clean_tags(edit.tags.values)) != state.tags:
        changed.tags.values.extend(tags)
    if edit.HasField("category") and (category := clean_category(edit.category)) != state.category:
        changed.category = category
    # A ticket turned into a request loses its claim; a complaint keeps its claim unless given one.
    kind = clean_kind(edit.kind) if edit.HasField("kind") else state.kind
    claim = edit.claim if edit.HasField("claim") else (state.claim if kind == COMPLAINT else "")
    kind, claim = complaint(kind, claim)
    if kind != state.kind:
        changed.kind = kind
    if claim != state.claim:
        changed.claim = claim
    current = dict(state.custom_fields)
    setting = clean_field_values(edit.set_custom_fields, "set_custom_fields")
    unsetting = set(edit.unset_custom_fields) & current.keys()
    if setting.keys() & set(edit.unset_custom_fields):
        raise refused("unset_custom_fields", "a field is both set and unset")
    for key, value in sorted(setting.items()):
        if current.get(key) != value:
            changed.set_custom_fields[key] = value
    changed.unset_custom_fields.extend(sorted(unsetting))
    if len(current.keys() - unsetting | setting.keys()) > MAX_CUSTOM_FIELDS:
        raise refused("set_custom_fields", f"a ticket has at most {MAX_CUSTOM_FIELDS} fields")
    if changed.ByteSize() == 0:
        raise InvalidArgument("nothing-to-change", f"ticket {state.ticket_id} already has these values")
    return changed


def _assign(state: TicketState, assign: commands_pb2.AssignTicket) -> list[Message]:
    if (assign.agent_id, assign.group_id) == (state.assignee_agent_id, state.group_id):
        raise InvalidArgument("nothing-to-change", f"ticket {state.ticket_id} is already assigned so")
    events: list[Message] = [
        events_pb2.TicketAssigned(
            from_agent_id=state.assignee_agent_id,
            to_agent_id=assign.agent_id,
            from_group_id=state.group_id,
            to_group_id=assign.group_id,
        )
    ]
    if state.status == NEW and assign.agent_id:
        events.append(events_pb2.TicketStatusChanged(from_status=NEW, to_status=OPEN, reason="assigned"))
    return events


def _escalate(state: TicketState, escalate: commands_pb2.EscalateTicket) -> list[Message]:
    if state.status == SOLVED:
        raise IllegalTransition("ticket-solved", f"ticket {state.ticket_id} is solved: reopen it first")
    to_tier = escalate.to_tier or state.tier + 1
    if not state.tier < to_tier <= MAX_TIER:
        raise refused("to_tier", f"above the ticket's tier {state.tier}, at most {MAX_TIER}")
    events: list[Message] = [
        events_pb2.TicketEscalated(
            from_tier=state.tier,
            to_tier=to_tier,
            from_group_id=state.group_id,
            to_group_id=escalate.group_id,
            from_agent_id=state.assignee_agent_id,
            to_agent_id=escalate.agent_id,
            reason=require(escalate.reason, "reason", "why it goes up a tier"),
        )
    ]
    if state.status == NEW and escalate.agent_id:
        events.append(events_pb2.TicketStatusChanged(from_status=NEW, to_status=OPEN, reason="assigned"))
    return events


def _return(state: TicketState, back: commands_pb2.ReturnTicket) -> list[Message]:
    if state.status == SOLVED:
        raise IllegalTransition("ticket-solved", f"ticket {state.ticket_id} is solved: reopen it first")
    escalated = state.open_escalations()
    if not escalated:
        raise IllegalTransition(
            "ticket-not-escalated", f"ticket {state.ticket_id} has no escalation to return"
        )
    origin = escalated[-1]
    return [
        events_pb2.TicketReturned(
            from_tier=state.tier,
            to_tier=origin.from_tier,
            from_group_id=state.group_id,
            to_group_id=origin.from_group_id,
            from_agent_id=state.assignee_agent_id,
            to_agent_id=origin.from_agent_id,
            reason=require(back.reason, "reason", "why it goes back"),
        )
    ]


def _no_terms(tenant_id: str, line_id: str) -> SlaTerms | None:
    return None


def _no_tree(tenant_id: str, line_id: str) -> frozenset[str] | None:
    return None


def _no_template(tenant_id: str, moment: str, line_id: str) -> tuple[str, str] | None:
    return None


@dataclass(frozen=True)
class TicketRules:
    # The SLA terms of a tenant's line of business (its targets and calendar), None for none.
    sla_terms: Callable[[str, str], SlaTerms | None] = _no_terms
    # The automatic message template (id, text) of a tenant for a moment and a line, None for none.
    automatic_template: Callable[[str, str, str], tuple[str, str] | None] = _no_template
    # The category tree of a tenant's line of business (every path and its ancestors), None for none.
    categories: Callable[[str, str], frozenset[str] | None] = _no_tree


def _first_response_stopped(state: TicketState) -> bool:
    """An agent has replied, or the ticket was solved once: its first-response clock is over."""
    return state.first_replied_at is not None or any(c.to_status == SOLVED for c in state.status_changes)


def ticket_variables(state: TicketState) -> dict[str, str]:
    """What a reply template's {{ticket.*}} variables say of this ticket."""
    return {
        "ticket.id": state.ticket_id,
        "ticket.subject": state.subject,
        "ticket.category": state.category,
        "ticket.status": status_name(state.status),
        "ticket.survey_token": state.survey_token,
    }


def _reply(state: TicketState, reply: commands_pb2.AddTicketReply, reply_id: str) -> events_pb2.TicketReplied:
    """A reply typed out, or rendered from a template with the ticket's variables and the ones given
    (the customer's name, the agent), so the event keeps the text the customer received."""
    if reply.template_body and reply.body:
        raise refused("body", "either a reply's text or a template, not both")
    body = (
        rendering.render(reply.template_body, dict(reply.variables) | ticket_variables(state))
        if reply.template_body
        else reply.body
    )
    return events_pb2.TicketReplied(
        reply_id=reply_id,
        body=note_text(body, "reply"),
        template_id=reply.template_id,
        automatic=reply.automatic,
    )


def decide(
    state: TicketState | None,
    command: commands_pb2.TicketCommand,
    now: datetime,
    rules: TicketRules = TicketRules(),
) -> list[Message]:
    ticket_id = command.meta.aggregate_id
    action = command.WhichOneof("command")
    if action == "open_ticket":
        if state is not None:
            raise IllegalTransition("ticket-already-open", f"ticket {ticket_id} already exists")
        opened = _open(ticket_id, command.open_ticket)
        _in_line_tree(opened.category, opened.line_id, command.meta.tenant_id, rules)
        return [opened]
    if state is None:
        raise NotFound("ticket-not-found", f"ticket {ticket_id} does not exist")
    terms = rules.sla_terms(command.meta.tenant_id, state.line_id) if state.line_id else None
    # A solve, and a merge's close, stop the clocks: each records the breach of a clock past its target.
    stopping = [sla.RESOLUTION] + ([] if _first_response_stopped(state) else [sla.FIRST_RESPONSE])
    if action == "change_status":
        changed = _change_status(state, command.change_status, command.meta.command_id)
        if command.change_status.to_status != SOLVED:
            return changed
        return changed + sla.breaches_on_stop(state, stopping, terms, now)
    # A customer may answer the survey after the ticket is closed, and a closed ticket is still linked
    # to the tickets of its journey, lists the duplicates merged into it and takes its number.
    match action:
        case "rate":
            return [_rate(state, command.rate)]
        case "link":
            return [_link(state, command.link)]
        case "unlink":
            return [_unlink(state, command.unlink)]
        case "absorb":
            return [_absorb(state, command.absorb)]
        case "number":
            if state.number:
                raise IllegalTransition("already-numbered", f"ticket {ticket_id} is number {state.number}")
            return [events_pb2.TicketNumbered(number=command.number.number)]
    if state.status == CLOSED:
        raise IllegalTransition("ticket-closed", f"ticket {ticket_id} is closed")
    match action:
        case "add_note":
            body = note_text(command.add_note.body)
            return [
                events_pb2.TicketNoteAdded(note_id=derived_id("note", command.meta.command_id), body=body)
            ]
        case "edit":
            edited = _edit(state, command.edit)
            if edited.HasField("category"):
                _in_line_tree(edited.category, state.line_id, command.meta.tenant_id, rules)
            return [edited]
        case "assign":
            return _assign(state, command.assign)
        case "add_reply":
            replied = _reply(state, command.add_reply, derived_id("reply", command.meta.command_id))
            if replied.automatic or _first_response_stopped(state):
                return [replied]
            return [replied, *sla.breaches_on_stop(state, [sla.FIRST_RESPONSE], terms, now)]
        case "merge":
            return _merge(state, command.merge) + sla.breaches_on_stop(state, stopping, terms, now)
        case "escalate":
            return _escalate(state, command.escalate)
        case "return_ticket":
            return _return(state, command.return_ticket)
        case "send_automatic_message":
            sent = command.send_automatic_message
            found = rules.automatic_template(command.meta.tenant_id, sent.moment, state.line_id)
            if found is None:
                raise NotFound(
                    "no-automatic-message", f"no {sent.moment[:20]} message for ticket {ticket_id}"
                )
            template_id, body = found
            automatic = commands_pb2.AddTicketReply(
                template_id=template_id,
                template_body=body,
                variables={"customer.name": sent.customer_name},
                automatic=True,
            )
            return [_reply(state, automatic, derived_id("reply", command.meta.command_id))]
        case "record_sla_breach":
            return sla.record_breach(state, command.record_sla_breach.metric, terms, now)
    raise InvalidArgument("unknown-command", "the ticket command names no known action")


def _voicemail(left: events_pb2.Voicemail) -> Voicemail:
    return Voicemail(left.recording_ref, left.duration_seconds, left.caller_number, left.line_id, left.dnis)


def _fields_changed(state: TicketState, changed: events_pb2.TicketFieldsChanged) -> dict[str, Any]:
    fields = dict(state.custom_fields) | dict(changed.set_custom_fields)
    for key in changed.unset_custom_fields:
        fields.pop(key, None)
    return {
        "subject": changed.subject if changed.HasField("subject") else state.subject,
        "priority": changed.priority or state.priority,
        "tags": tuple(changed.tags.values) if changed.HasField("tags") else state.tags,
        "category": changed.category if changed.HasField("category") else state.category,
        "custom_fields": tuple(sorted(fields.items())),
        "kind": changed.kind if changed.HasField("kind") else state.kind,
        "claim": changed.claim if changed.HasField("claim") else state.claim,
    }


def evolve(state: TicketState | None, event: event_pb2.Event) -> TicketState:
    at = to_datetime(event.occurred_at)
    match event.WhichOneof("payload"):
        case "ticket_opened":
            opened = event.ticket_opened
            return TicketState(
                ticket_id=event.aggregate_id,
                subject=opened.subject,
                channel=opened.channel,
                customer_id=opened.customer_id,
                queue_id=opened.queue_id,
                assignee_agent_id=opened.assignee_agent_id,
                call_id=opened.call_id,
                status=opened.status,
                opened_at=at,
                updated_at=at,
                voicemail=_voicemail(opened.voicemail) if opened.HasField("voicemail") else None,
                description=opened.description,
                priority=opened.priority or NORMAL,
                tags=tuple(opened.tags),
                category=opened.category,
                group_id=opened.group_id,
                custom_fields=tuple(sorted(opened.custom_fields.items())),
                line_id=opened.line_id,
                kind=opened.kind or REQUEST,
                claim=opened.claim,
            )
    assert state is not None, f"{event.event_type} before ticket_opened"
    by = Author(event.actor.type, event.actor.id)
    match event.WhichOneof("payload"):
        case "ticket_status_changed":
            changed = event.ticket_status_changed
            change = StatusChange(changed.from_status, changed.to_status, changed.reason, by, at)
            return evolved(
                state,
                status=changed.to_status,
                status_changes=(*state.status_changes, change),
                survey_token=changed.survey_token or state.survey_token,
                updated_at=at,
            )
        case "ticket_linked":
            return evolved(
                state, links=tuple(sorted({*state.links, event.ticket_linked.ticket_id})), updated_at=at
            )
        case "ticket_unlinked":
            links = tuple(link for link in state.links if link != event.ticket_unlinked.ticket_id)
            return evolved(state, links=links, updated_at=at)
        case "ticket_merged":
            return evolved(state, merged_into=event.ticket_merged.into_ticket_id, updated_at=at)
        case "ticket_absorbed":
            merged = (*state.merged_ticket_ids, event.ticket_absorbed.ticket_id)
            return evolved(state, merged_ticket_ids=merged, updated_at=at)
        case "ticket_numbered":
            return evolved(state, number=event.ticket_numbered.number)
        case "ticket_rated":
            rated = event.ticket_rated
            answer = Satisfaction(rated.score, rated.comment, rated.survey_token, by, at)
            return evolved(state, satisfaction=answer, updated_at=at)
        case "ticket_note_added":
            added = event.ticket_note_added
            note = Note(added.note_id, added.body, by, at)
            return evolved(state, notes=(*state.notes, note), updated_at=at)
        case "ticket_fields_changed":
            return evolved(state, **_fields_changed(state, event.ticket_fields_changed), updated_at=at)
        case "ticket_sla_breached":
            return evolved(state, sla_breaches=(*state.sla_breaches, event.ticket_sla_breached.metric))
        case "ticket_replied":
            replied = event.ticket_replied
            reply = Reply(replied.reply_id, replied.body, by, at, replied.template_id, replied.automatic)
            return evolved(
                state,
                replies=(*state.replies, reply),
                # an automatic acknowledgement is not an answer: the first response is an agent's
                first_replied_at=state.first_replied_at or (None if replied.automatic else at),
                updated_at=at,
            )
        case "ticket_escalated" | "ticket_returned" as hop:
            moved = getattr(event, hop)
            escalation = Escalation(
                hop == "ticket_returned",
                moved.from_tier,
                moved.to_tier,
                moved.from_group_id,
                moved.to_group_id,
                moved.from_agent_id,
                moved.to_agent_id,
                moved.reason,
                by,
                at,
            )
            return evolved(
                state,
                tier=moved.to_tier,
                group_id=moved.to_group_id,
                assignee_agent_id=moved.to_agent_id,
                escalations=(*state.escalations, escalation),
                updated_at=at,
            )
        case "ticket_assigned":
            assigned = event.ticket_assigned
            return evolved(
                state, assignee_agent_id=assigned.to_agent_id, group_id=assigned.to_group_id, updated_at=at
            )
    return state
