"""An event envelope as a row of cc.events: the envelope's fields, the payload's bytes and the payload
fields the statistics group, join and count on, flattened into their own columns; and the payload's JSON
as a reader is shown it."""

from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any, NamedTuple

from cc.common.v1 import event_pb2, types_pb2
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from services.analytics import proto_json
from services.analytics.schema import PAYLOAD_FIELDS
from services.common.envelope import to_datetime

# Flattened text columns: filled from a payload field of the same name (string or enum), else "".
TEXT_FIELDS = ("queue_id", "agent_id", "contact_id", "reason", "state", "previous_state")
_UINT32_MAX = 2**32 - 1


class EventRow(NamedTuple):
    """One row to insert, in the order of schema.COLUMNS (inserted_at is left to its default)."""

    event_id: str
    event_type: str
    event_version: int
    tenant_id: str
    aggregate_type: str
    aggregate_id: str
    aggregate_version: int
    occurred_at: datetime
    correlation_id: str
    causation_id: str
    customer_id: str
    actor_type: str
    actor_id: str
    payload_json: str
    queue_id: str
    agent_id: str
    contact_id: str
    reason: str
    abandoned: bool
    enqueued_at: datetime | None
    state: str
    previous_state: str
    source_topic: str
    source_partition: int
    source_offset: int
    payload_case: str
    payload: bytes
    # PAYLOAD_FIELDS, in order (payload_<name>).
    payload_callback_attempt: int | None
    payload_consulted: bool | None
    payload_hold_seconds: float | None
    payload_site_id: str | None
    payload_line_id: str | None
    payload_call_id: str | None
    payload_customer_id: str | None
    payload_channel: str | None
    payload_category: str | None
    payload_kind: str | None
    payload_claim: str | None
    payload_subject: str | None
    payload_priority: str | None
    payload_status: str | None
    payload_from_status: str | None
    payload_to_status: str | None
    payload_assignee_agent_id: str | None
    payload_to_agent_id: str | None
    payload_group_id: str | None
    payload_to_group_id: str | None
    payload_automatic: bool | None
    payload_score: int | None


assert not {name for name, _ in PAYLOAD_FIELDS} & {*TEXT_FIELDS, "abandoned", "enqueued_at"}, (
    "one column a field"
)
assert EventRow._fields[-len(PAYLOAD_FIELDS) :] == tuple(f"payload_{name}" for name, _ in PAYLOAD_FIELDS)
_NO_PAYLOAD_FIELDS: tuple[None, ...] = (None,) * len(PAYLOAD_FIELDS)
# The protobuf field types that fill a column of each kind (an enum's by its value names).
FITTING_TYPES = {
    "String": frozenset({FieldDescriptor.TYPE_STRING, FieldDescriptor.TYPE_ENUM}),
    "Int64": frozenset({FieldDescriptor.TYPE_INT32, FieldDescriptor.TYPE_INT64, FieldDescriptor.TYPE_UINT32}),
    "Bool": frozenset({FieldDescriptor.TYPE_BOOL}),
    "Float64": frozenset({FieldDescriptor.TYPE_DOUBLE}),
}


def payload_fields(descriptor: Descriptor) -> list[tuple[int, FieldDescriptor]]:
    """The payload type's fields that fill PAYLOAD_FIELDS columns, with each column's index."""
    found = []
    for index, (name, kind) in enumerate(PAYLOAD_FIELDS):
        field = descriptor.fields_by_name.get(name)
        if field is not None and not field.is_repeated and field.type in FITTING_TYPES[kind]:
            found.append((index, field))
    return found


def actor_type_name(actor_type: int) -> str:
    """ACTOR_TYPE_AGENT -> "agent": short enough to read in a journey (a number when it is newer than us)."""
    known = types_pb2.ActorType.DESCRIPTOR.values_by_number.get(actor_type)
    return known.name.removeprefix("ACTOR_TYPE_").lower() if known is not None else str(actor_type)


@dataclass(frozen=True)
class _Flattening:
    """Where one payload type keeps the flattened columns: worked out once per type, not per event."""

    # Per TEXT_FIELDS name: None (no such single field), or the enum's value names (None for a string).
    texts: tuple[tuple[str, dict[int, str] | None] | None, ...]
    abandoned: bool
    enqueued_at: bool
    # Per PAYLOAD_FIELDS column this payload fills: its index and how a value is stored.
    payload_fields: dict[FieldDescriptor, tuple[int, dict[int, str] | None]]

    def payload_values(self, payload: Message) -> tuple[Any, ...]:
        """The PAYLOAD_FIELDS columns: a value for each field the payload carries (ListFields: set, or not
        at its default), NULL for the others."""
        if not self.payload_fields:
            return _NO_PAYLOAD_FIELDS
        values: list[object] = list(_NO_PAYLOAD_FIELDS)
        for field, value in payload.ListFields():
            plan = self.payload_fields.get(field)
            if plan is not None:
                index, enum_names = plan
                values[index] = enum_names.get(value, str(value)) if enum_names is not None else value
        return tuple(values)

    def text_values(self, payload: Message) -> list[str]:
        values = []
        for name, plan in zip(TEXT_FIELDS, self.texts, strict=True):
            if plan is None:
                values.append("")
                continue
            value = getattr(payload, name)
            enum_names = plan[1]
            if enum_names is not None:
                values.append(enum_names.get(value, str(value)))
            else:
                values.append(value if isinstance(value, str) else "")
        return values


@cache
def flattening(descriptor: Descriptor) -> _Flattening:
    def text(name: str) -> tuple[str, dict[int, str] | None] | None:
        field = descriptor.fields_by_name.get(name)
        if field is None or field.is_repeated:
            return None
        if field.enum_type is not None:
            return name, enum_names(field)
        return (name, None) if field.type == FieldDescriptor.TYPE_STRING else None

    abandoned = descriptor.fields_by_name.get("abandoned")
    enqueued_at = descriptor.fields_by_name.get("enqueued_at")
    return _Flattening(
        texts=tuple(text(name) for name in TEXT_FIELDS),
        abandoned=abandoned is not None and abandoned.type == FieldDescriptor.TYPE_BOOL,
        enqueued_at=enqueued_at is not None and enqueued_at.message_type is Timestamp.DESCRIPTOR,
        payload_fields={
            field: (index, enum_names(field) if field.enum_type is not None else None)
            for index, field in payload_fields(descriptor)
        },
    )


def enum_names(field: FieldDescriptor) -> dict[int, str]:
    """An enum field's value names by number."""
    assert field.enum_type is not None
    return {value.number: value.name for value in field.enum_type.values}


def row_of(event: event_pb2.Event, topic: str, partition: int, offset: int) -> EventRow:
    case: str | None = event.WhichOneof("payload")
    fields: tuple[Any, ...]
    if case is None:  # a payload type newer than this build: the envelope is still worth storing
        texts, abandoned, enqueued_at = [""] * len(TEXT_FIELDS), False, None
        case, payload_bytes, fields = "", b"", _NO_PAYLOAD_FIELDS
    else:
        payload = getattr(event, case)
        plan = flattening(payload.DESCRIPTOR)
        texts = plan.text_values(payload)
        abandoned = plan.abandoned and payload.abandoned
        enqueued_at = (
            to_datetime(payload.enqueued_at) if plan.enqueued_at and payload.HasField("enqueued_at") else None
        )
        payload_bytes, fields = payload.SerializeToString(), plan.payload_values(payload)
    queue_id, agent_id, contact_id, reason, state, previous_state = texts
    # Positional, in EventRow's order: keywords cost a backlog a few microseconds an event.
    return EventRow(
        event.event_id,
        event.event_type,
        # A negative int32 would make the whole batch fail to insert into UInt32; clamp instead.
        min(max(event.event_version, 0), _UINT32_MAX),
        event.tenant_id,
        event.aggregate_type,
        event.aggregate_id,
        event.aggregate_version,
        to_datetime(event.occurred_at),
        event.correlation_id,
        event.causation_id,
        event.customer_id,
        actor_type_name(event.actor.type),
        event.actor.id,
        "",
        queue_id,
        agent_id,
        contact_id,
        reason,
        abandoned,
        enqueued_at,
        state,
        previous_state,
        topic,
        partition,
        offset,
        case,
        payload_bytes,
        *fields,
    )


def payload_json(case: str, payload: bytes, stored_json: str) -> str:
    """A stored payload as proto3 JSON: rendered from its bytes, or as it was stored before the bytes were
    (and "{}" for a payload of a type this build does not know)."""
    message_type = _payload_types().get(case)
    if message_type is None:
        return stored_json or "{}"
    return proto_json.to_json(message_type.FromString(payload))


@cache
def _payload_types() -> dict[str, type[Message]]:
    event = event_pb2.Event()
    return {field.name: type(getattr(event, field.name)) for field in _PAYLOAD_ONEOF.fields}


_PAYLOAD_ONEOF = event_pb2.Event.DESCRIPTOR.oneofs_by_name["payload"]
