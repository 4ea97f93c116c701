"""The sink's payload JSON is exactly json_format's, for every payload type an event can carry, with any
content: set and unset fields, unknown enum numbers, non-finite doubles, nested messages, lists and maps."""

import math

import pytest
from cc.common.v1 import event_pb2
from cc.telephony.v1 import events_pb2 as call_events
from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp
from hypothesis import given, settings
from hypothesis import strategies as st

from services.analytics import proto_json

PAYLOADS = [field.message_type for field in event_pb2.Event.DESCRIPTOR.oneofs_by_name["payload"].fields]
_INT_RANGES = {
    FieldDescriptor.CPPTYPE_INT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.CPPTYPE_UINT32: (0, 2**32 - 1),
    FieldDescriptor.CPPTYPE_INT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.CPPTYPE_UINT64: (0, 2**64 - 1),
}


def _value(data: st.DataObject, field: FieldDescriptor, message: Message, depth: int) -> object:
    cpp = field.cpp_type
    if cpp in _INT_RANGES:
        low, high = _INT_RANGES[cpp]
        return data.draw(st.integers(low, high))
    if cpp == FieldDescriptor.CPPTYPE_BOOL:
        return data.draw(st.booleans())
    if cpp == FieldDescriptor.CPPTYPE_DOUBLE:
        return data.draw(st.floats(allow_nan=True, allow_infinity=True))
    if cpp == FieldDescriptor.CPPTYPE_FLOAT:
        return data.draw(st.floats(width=32, allow_nan=False))
    if cpp == FieldDescriptor.CPPTYPE_ENUM:
        known = [value.number for value in field.enum_type.values]
        unknown = st.nothing() if field.enum_type.is_closed else st.integers(0, 10_000)
        return data.draw(st.sampled_from(known) | unknown)
    if field.type == FieldDescriptor.TYPE_BYTES:
        return data.draw(st.binary(max_size=8))
    return data.draw(st.text(max_size=8))  # any Unicode: json.dumps escapes it as json_format does


def _fill(data: st.DataObject, message: Message, depth: int) -> None:
    for field in message.DESCRIPTOR.fields:
        if not data.draw(st.booleans(), label=field.name):
            continue
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            key_field, value_field = (field.message_type.fields_by_name[n] for n in ("key", "value"))
            entries = getattr(message, field.name)
            for _ in range(data.draw(st.integers(0, 2))):
                key = _value(data, key_field, message, depth)
                if value_field.message_type is not None:
                    _fill_nested(data, entries[key], depth)
                else:
                    entries[key] = _value(data, value_field, message, depth)
        elif field.message_type is not None:
            if depth >= 3:
                continue
            if field.is_repeated:
                for _ in range(data.draw(st.integers(0, 2))):
                    _fill_nested(data, getattr(message, field.name).add(), depth)
            else:
                _fill_nested(data, getattr(message, field.name), depth)
                getattr(message, field.name).SetInParent()
        elif field.is_repeated:
            getattr(message, field.name).extend(
                _value(data, field, message, depth) for _ in range(data.draw(st.integers(0, 2)))
            )
        else:
            setattr(message, field.name, _value(data, field, message, depth))


def _fill_nested(data: st.DataObject, message: Message, depth: int) -> None:
    name = message.DESCRIPTOR.full_name
    if name == "google.protobuf.Timestamp":
        message.seconds = data.draw(st.integers(-62135596800, 253402300799))  # type: ignore[attr-defined]
        message.nanos = data.draw(st.integers(0, 999_999_999))  # type: ignore[attr-defined]
    elif name == "google.protobuf.Duration":
        message.seconds = data.draw(st.integers(0, 315_576_000_000))  # type: ignore[attr-defined]
        message.nanos = data.draw(st.integers(0, 999_999_999))  # type: ignore[attr-defined]
    elif name.startswith("google.protobuf."):
        message.SetInParent()  # any other well-known type, empty
    else:
        _fill(data, message, depth + 1)


def _expected(message: Message) -> str:
    return json_format.MessageToJson(message, preserving_proto_field_name=True, indent=None)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(PAYLOADS), st.data())
def test_every_payload_type_renders_as_json_format_renders_it(
    descriptor: Descriptor, data: st.DataObject
) -> None:
    message = (
        event_pb2.Event()
        .__getattribute__(
            next(f.name for f in event_pb2.Event.DESCRIPTOR.fields if f.message_type is descriptor)
        )
        .__class__()
    )
    _fill(data, message, 0)
    assert proto_json.to_json(message) == _expected(message)


def test_non_finite_doubles_and_unknown_enums_are_named_as_json_format_names_them() -> None:
    ended = call_events.CallEnded(reason=9999, hold_seconds=math.inf)  # type: ignore[arg-type]
    assert proto_json.to_json(ended) == _expected(ended)
    assert '"reason": 9999' in proto_json.to_json(ended)
    assert '"hold_seconds": "Infinity"' in proto_json.to_json(ended)
    ended.hold_seconds = math.nan
    assert '"hold_seconds": "NaN"' in proto_json.to_json(ended)


def test_call_events_are_rendered_without_json_format(monkeypatch: pytest.MonkeyPatch) -> None:
    """The sink's common payloads take the planned path, not json_format's (the slow one it replaces)."""
    queued = call_events.CallQueued(queue_id="member", reason="menu-choice", enqueued_at=Timestamp(seconds=1))
    ended = call_events.CallEnded(reason=call_events.END_REASON_NORMAL_CLEARING, hold_seconds=1.5)
    expected = [_expected(queued), _expected(ended)]
    for slow in ("MessageToJson", "MessageToDict"):
        monkeypatch.setattr(json_format, slow, lambda *_a, **_k: pytest.fail("json_format used"))
    assert [proto_json.to_json(queued), proto_json.to_json(ended)] == expected


T = descriptor_pb2.FieldDescriptorProto
# Message types no payload has yet: name -> fields (name, type, or a map's key and value types).
PROBES: dict[str, list[tuple[str, int | tuple[int, int]]]] = {
    "Ratio": [("ratio", T.TYPE_FLOAT)],  # json_format's shortest float32 form: left to it
    "Blob": [("blob", T.TYPE_BYTES)],  # base64: left to it
    "Maps": [("by_flag", (T.TYPE_BOOL, T.TYPE_INT64)), ("by_number", (T.TYPE_INT64, T.TYPE_STRING))],
    "RatioMap": [("by_name", (T.TYPE_STRING, T.TYPE_FLOAT))],
}


def _probe_types() -> list[type[Message]]:
    file = descriptor_pb2.FileDescriptorProto(name="probe_json.proto", package="probe", syntax="proto3")
    for name, fields in PROBES.items():
        message = file.message_type.add(name=name)
        for number, (field, kind) in enumerate(fields, 1):
            if isinstance(kind, int):
                message.field.add(name=field, number=number, type=kind, label=T.LABEL_OPTIONAL)
                continue
            entry = message.nested_type.add(name=f"{field.title().replace('_', '')}Entry")
            entry.options.map_entry = True
            entry.field.add(name="key", number=1, type=kind[0], label=T.LABEL_OPTIONAL)
            entry.field.add(name="value", number=2, type=kind[1], label=T.LABEL_OPTIONAL)
            message.field.add(
                name=field,
                number=number,
                type=T.TYPE_MESSAGE,
                label=T.LABEL_REPEATED,
                type_name=f".probe.{name}.{entry.name}",
            )
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return [message_factory.GetMessageClass(pool.FindMessageTypeByName(f"probe.{name}")) for name in PROBES]


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(_probe_types()), st.data())
def test_floats_bytes_and_maps_render_as_json_format_renders_them(
    message_type: type[Message], data: st.DataObject
) -> None:
    message = message_type()
    _fill(data, message, 0)
    assert proto_json.to_json(message) == _expected(message)
