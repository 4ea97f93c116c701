"""An event envelope as a row of cc.events: the envelope's fields, the payload as proto3 JSON and the
payload fields the statistics group and join on, flattened into their own columns."""

from datetime import datetime
from typing import NamedTuple

from cc.common.v1 import event_pb2, types_pb2
from google.protobuf import json_format
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from services.common.envelope import to_datetime

# Flattened text columns: filled from a payload field of the same name (string or enum), else "".
_TEXT_FIELDS = ("queue_id", "agent_id", "contact_id", "reason", "state", "previous_state")
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


def _text(payload: Message, name: str) -> str:
    field = payload.DESCRIPTOR.fields_by_name.get(name)
    if field is None or field.is_repeated:
        return ""
    value = getattr(payload, name)
    if field.enum_type is not None:
        known = field.enum_type.values_by_number.get(value)
        return known.name if known is not None else str(value)
    return value if isinstance(value, str) else ""


def _flag(payload: Message, name: str) -> bool:
    value = getattr(payload, name, False) if name in payload.DESCRIPTOR.fields_by_name else False
    return value if isinstance(value, bool) else False


def _moment(payload: Message, name: str) -> datetime | None:
    field = payload.DESCRIPTOR.fields_by_name.get(name)
    if field is None or field.message_type is not Timestamp.DESCRIPTOR or not payload.HasField(name):
        return None
    return to_datetime(getattr(payload, name))


def row_of(event: event_pb2.Event, topic: str, partition: int, offset: int) -> EventRow:
    payload = _payload(event)
    texts = {name: _text(payload, name) if payload is not None else "" for name in _TEXT_FIELDS}
    return EventRow(
        event_id=event.event_id,
        event_type=event.event_type,
        # A negative int32 would make the whole batch fail to insert into UInt32; clamp instead.
        event_version=min(max(event.event_version, 0), _UINT32_MAX),
        tenant_id=event.tenant_id,
        aggregate_type=event.aggregate_type,
        aggregate_id=event.aggregate_id,
        aggregate_version=event.aggregate_version,
        occurred_at=to_datetime(event.occurred_at),
        correlation_id=event.correlation_id,
        causation_id=event.causation_id,
        customer_id=event.customer_id,
        actor_type=actor_type_name(event.actor.type),
        actor_id=event.actor.id,
        payload_json=(
            json_format.MessageToJson(payload, preserving_proto_field_name=True, indent=None)
            if payload is not None
            else "{}"
        ),
        queue_id=texts["queue_id"],
        agent_id=texts["agent_id"],
        contact_id=texts["contact_id"],
        reason=texts["reason"],
        abandoned=_flag(payload, "abandoned") if payload is not None else False,
        enqueued_at=_moment(payload, "enqueued_at") if payload is not None else None,
        state=texts["state"],
        previous_state=texts["previous_state"],
        source_topic=topic,
        source_partition=partition,
        source_offset=offset,
    )
