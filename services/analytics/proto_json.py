"""An event's payload as proto3 JSON, at a fraction of json_format's cost.

The analytics sink stores every event's payload as JSON (journeys show it, statistics extract from it).
`json_format.MessageToJson` walks each message in pure Python and looks every field's type up again for
every value: half of the sink's time per event (py-spy on `make bench-sink`). Here each message type is
worked out once into a plan of converters, one per field, and an event costs one ListFields() (C) and one
json.dumps (C).

The answer is exactly MessageToJson(message, preserving_proto_field_name=True, indent=None) (a property
test compares them over every payload type, so a payload type added later is held to it too): a message
type with a field the plan does not cover (float, bytes) is rendered by json_format itself. The contracts
are proto3, so no message carries extensions.
"""

import json
import math
from collections.abc import Callable
from functools import cache
from typing import Any

from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

Convert = Callable[[Any], Any]
_INT64 = frozenset(
    {FieldDescriptor.CPPTYPE_INT64, FieldDescriptor.CPPTYPE_UINT64},
)
_AS_IS = frozenset(
    {FieldDescriptor.CPPTYPE_INT32, FieldDescriptor.CPPTYPE_UINT32, FieldDescriptor.CPPTYPE_BOOL}
)
# Well-known types json_format renders in a form of their own (a string for a Timestamp, say).
_WELL_KNOWN_PACKAGE = "google.protobuf."
# Those it renders as their own ToJsonString() says (json_format's _GenericMessageToJsonObject).
_SAID_BY_THEMSELVES = frozenset(
    {"google.protobuf.Timestamp", "google.protobuf.Duration", "google.protobuf.FieldMask"}
)


def to_json(message: Message) -> str:
    """The message as MessageToJson(message, preserving_proto_field_name=True, indent=None) has it."""
    return json.dumps(_renderer(message.DESCRIPTOR)(message))


def _as_json_object(message: Message) -> Any:
    return json_format.MessageToDict(message, preserving_proto_field_name=True)


def _said_by_itself(message: Any) -> str:
    return message.ToJsonString()


def _double(value: float) -> float | str:
    if math.isfinite(value):
        return value
    if math.isnan(value):
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"


def _str(value: Any) -> str:
    return str(value)


def _same(value: Any) -> Any:
    return value


def _enum(field: FieldDescriptor) -> Convert:
    assert field.enum_type is not None
    names = {value.number: value.name for value in field.enum_type.values}
    get = names.get
    return lambda number: get(number, number)  # an open enum's unknown value stays a number


def _converter(field: FieldDescriptor) -> Convert | None:
    """How one value of the field becomes JSON, or None when json_format must do it."""
    cpp_type = field.cpp_type
    nested = field.message_type
    if nested is not None:
        if nested.full_name in _SAID_BY_THEMSELVES:
            return _said_by_itself
        if nested.full_name.startswith(_WELL_KNOWN_PACKAGE):
            return _as_json_object
        # Its renderer is looked up when first used: a message type may hold itself.
        return lambda value: _renderer(nested)(value)
    if cpp_type == FieldDescriptor.CPPTYPE_ENUM:
        return _enum(field)
    if cpp_type == FieldDescriptor.CPPTYPE_STRING:
        return _same if field.type == FieldDescriptor.TYPE_STRING else None  # bytes: base64
    if cpp_type in _AS_IS:
        return _same
    if cpp_type in _INT64:
        return _str
    if cpp_type == FieldDescriptor.CPPTYPE_DOUBLE:
        return _double
    return None  # float: json_format's shortest float32 form


def _field_plan(field: FieldDescriptor) -> Convert | None:
    """How the field's whole value (one, a list or a map) becomes JSON, or None for json_format."""
    if field.message_type is not None and field.message_type.GetOptions().map_entry:
        convert_value = _converter(field.message_type.fields_by_name["value"])
        if convert_value is None:
            return None
        # json.dumps writes the keys as json_format does: numbers as decimals, booleans as true/false.
        return lambda entries: {key: convert_value(value) for key, value in entries.items()}
    convert = _converter(field)
    if convert is None:
        return None
    if field.is_repeated:
        return lambda values: [convert(value) for value in values]
    return convert


@cache
def _renderer(descriptor: Descriptor) -> Callable[[Message], Any]:
    if descriptor.full_name.startswith(_WELL_KNOWN_PACKAGE):
        return _as_json_object
    plans: dict[FieldDescriptor, Convert] = {}
    renderer: Callable[[Message], Any]

    def render(message: Message) -> dict[str, Any]:
        return {field.name: plans[field](value) for field, value in message.ListFields()}

    renderer = render
    for field in descriptor.fields:
        plan = _field_plan(field)
        if plan is None:
            renderer = _as_json_object
            break
        plans[field] = plan
    return renderer
