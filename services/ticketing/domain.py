"""The ticket aggregate (TKT-1, TKT-2, TKT-5): decide and evolve, pure.

Lifecycle: open -> pending -> solved -> closed. Pending goes back to open or on to solved; a solved
ticket can be reopened or closed; closed is final. Notes are internal agent notes; a closed ticket
takes no more notes.
"""

from dataclasses import dataclass
from datetime import datetime

from cc.common.v1 import event_pb2, types_pb2
from cc.ticketing.v1 import commands_pb2, events_pb2
from google.protobuf.message import Message

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

Status = events_pb2.TicketStatus
OPEN = Status.TICKET_STATUS_OPEN
PENDING = Status.TICKET_STATUS_PENDING
SOLVED = Status.TICKET_STATUS_SOLVED
CLOSED = Status.TICKET_STATUS_CLOSED
TRANSITIONS: dict[int, frozenset[int]] = {
    OPEN: frozenset({PENDING, SOLVED}),
    PENDING: frozenset({OPEN, SOLVED}),
    SOLVED: frozenset({OPEN, CLOSED}),
    CLOSED: frozenset(),
}
MAX_NOTE_LENGTH = 10_000


def note_text(body: str) -> str:
    """A note's text, refused when empty, not text, or too long (the servicer checks it before it
    masks card numbers in it, so masking never works on more than a note's worth)."""
    require(body, "body", "the note's text", multiline=True)
    if len(body) > MAX_NOTE_LENGTH:
        raise InvalidArgument(
            "invalid-argument",
            "the note is too long",
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


def status_name(status: int) -> str:
    return Status.Name(status).removeprefix("TICKET_STATUS_").lower()  # type: ignore[arg-type]


def ticket_for_call(tenant_id: str, call_id: str) -> str:
    """One ticket per answered call, with an id derived from the call so a replay opens no second one."""
    return derived_id("ticket", tenant_id, "call", call_id)


def customer_of(state: TicketState | None, command: commands_pb2.TicketCommand) -> str:
    return state.customer_id if state is not None else command.open_ticket.customer_id


def decide(state: TicketState | None, command: commands_pb2.TicketCommand, now: datetime) -> list[Message]:
    ticket_id = command.meta.aggregate_id
    action = command.WhichOneof("command")
    if action == "open_ticket":
        if state is not None:
            raise IllegalTransition("ticket-already-open", f"ticket {ticket_id} already exists")
        opening = command.open_ticket
        require(opening.customer_id, "customer_id", "the requester")
        return [
            events_pb2.TicketOpened(
                subject=opening.subject,
                channel=opening.channel,
                customer_id=opening.customer_id,
                queue_id=opening.queue_id,
                assignee_agent_id=opening.assignee_agent_id,
                call_id=opening.call_id,
                status=OPEN,
                voicemail=opening.voicemail if opening.HasField("voicemail") else None,
            )
        ]
    if state is None:
        raise NotFound("ticket-not-found", f"ticket {ticket_id} does not exist")
    match action:
        case "change_status":
            wanted = command.change_status.to_status
            if wanted not in TRANSITIONS:
                raise InvalidArgument(
                    "invalid-argument",
                    "to_status must be open, pending, solved or closed",
                    [FieldViolation("to_status", "open, pending, solved or closed")],
                )
            if wanted not in TRANSITIONS[state.status]:
                raise IllegalTransition(
                    "illegal-ticket-transition",
                    f"ticket {ticket_id} cannot go from {status_name(state.status)} to {status_name(wanted)}",
                )
            return [
                events_pb2.TicketStatusChanged(
                    from_status=state.status,
                    to_status=wanted,
                    reason=optional_text(command.change_status.reason, "reason", "the reason"),
                )
            ]
        case "add_note":
            body = note_text(command.add_note.body)
            if state.status == CLOSED:
                raise IllegalTransition("ticket-closed", f"ticket {ticket_id} is closed")
            return [
                events_pb2.TicketNoteAdded(note_id=derived_id("note", command.meta.command_id), body=body)
            ]
    raise InvalidArgument("unknown-command", "the ticket command names no known action")


def _voicemail(left: events_pb2.Voicemail) -> Voicemail:
    return Voicemail(left.recording_ref, left.duration_seconds, left.caller_number, left.line_id, left.dnis)


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
            )
    assert state is not None, f"{event.event_type} before ticket_opened"
    match event.WhichOneof("payload"):
        case "ticket_status_changed":
            return evolved(state, status=event.ticket_status_changed.to_status, updated_at=at)
        case "ticket_note_added":
            added = event.ticket_note_added
            note = Note(added.note_id, added.body, Author(event.actor.type, event.actor.id), at)
            return evolved(state, notes=(*state.notes, note), updated_at=at)
    return state
