"""An event envelope as a row of cc.events: the envelope's fields, the payload as proto3 JSON and the
payload fields the statistics group and join on, flattened into their own columns."""

from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import NamedTuple

from cc.common.v1 import event_pb2, types_pb2
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from services.analytics import proto_json
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


def actor_type_name(actor_type: int) -> str:
    """ACTOR_TYPE_AGENT -> "agent": short enough to read in a journey (a number when it is newer than us)."""
    known = types_pb2.ActorType.DESCRIPTOR.values_by_number.get(actor_type)
    return known.name.removeprefix("ACTOR_TYPE_").lower() if known is not None else str(actor_type)


def _payload(event: event_pb2.Event) -> Message | None:
    """The payload, or None when the producer used a payload type this build does not know yet: the
    envelope is still worth storing, so such an event is kept with an empty payload."""
    field = event.WhichOneof("payload")
    return getattr(event, field) if field else None


@dataclass(frozen=True)
class _Flattening:
    """Where one payload type keeps the flattened columns: worked out once per type, not per event."""

    # Per TEXT_FIELDS name: None (no such single field), or the enum's value names (None for a string).
    texts: tuple[tuple[str, dict[int, str] | None] | None, ...]
    abandoned: bool
    enqueued_at: bool

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
            return name, {value.number: value.name for value in field.enum_type.values}
        return (name, None) if field.type == FieldDescriptor.TYPE_STRING else None

    abandoned = descriptor.fields_by_name.get("abandoned")
    enqueued_at = descriptor.fields_by_name.get("enqueued_at")
    return _Flattening(
        texts=tuple(text(name) for name in TEXT_FIELDS),
        abandoned=abandoned is not None and abandoned.type == FieldDescriptor.TYPE_BOOL,
        enqueued_at=enqueued_at is not None and enqueued_at.message_type is Timestamp.DESCRIPTOR,
    )


def row_of(event: event_pb2.Event, topic: str, partition: int, offset: int) -> EventRow:
    payload = _payload(event)
    if payload is None:
        texts, abandoned, enqueued_at, payload_json = [""] * len(TEXT_FIELDS), False, None, "{}"
    else:
        plan = flattening(payload.DESCRIPTOR)
        texts = plan.text_values(payload)
        abandoned = plan.abandoned and payload.abandoned  # type: ignore[attr-defined]
        enqueued_at = (
            to_datetime(payload.enqueued_at)  # type: ignore[attr-defined]
            if plan.enqueued_at and payload.HasField("enqueued_at")
            else None
        )
        payload_json = proto_json.to_json(payload)
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
        payload_json,
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
    )
