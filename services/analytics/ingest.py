"""The sink's way into cc.events: ClickHouse makes each row from the Kafka record's own bytes.

Making a row in Python cost the sink about 26 us an event, more than ClickHouse's whole insert of it
(`make bench-sink`). So the sink hands ClickHouse each record as it came, wrapped with what only the
consumer knows (where the record came from, which payload it is and that payload's bytes), in
ClickHouse's `Protobuf` input format; a Null-engine table takes them and a materialized view turns them
into rows of cc.events, in ClickHouse's own threads. The schema ClickHouse parses with is generated here
from the same descriptors as the Python code and names only the fields a row needs (a reader skips the
others), so it cannot drift from the contracts. A server is sent it with each insert
(`format_schema_source = 'string'`, ClickHouse 25.x and later); chDB reads it from a file the store
writes beside its data.

The rows are exactly those `rows.row_of` makes (an integration test inserts the same events both ways
and compares the tables). What stays in Python an event: reading the envelope (to refuse a record that
would fail the whole insert, and to find the payload) and the wrapping, one protobuf message made in C.
"""

import hashlib
from collections.abc import Iterable
from functools import cache
from pathlib import Path

from cc.common.v1 import event_pb2, types_pb2
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from services.analytics import schema
from services.analytics.rows import (
    FITTING_TYPES,
    TEXT_FIELDS,
    actor_type_name,
    enum_names,
    flattening,
    payload_fields,
)
from services.common.envelope import check_moment

MESSAGE = "IngestRecord"
# The envelope's own columns, read as they are (the others are computed below).
_ENVELOPE_TEXTS = (
    "event_id",
    "event_type",
    "tenant_id",
    "aggregate_type",
    "aggregate_id",
    "correlation_id",
    "causation_id",
    "customer_id",
)
_ENVELOPE_FIELDS = (*_ENVELOPE_TEXTS, "event_version", "aggregate_version")
_PROTO_TYPES = {
    FieldDescriptor.TYPE_STRING: "string",
    FieldDescriptor.TYPE_BOOL: "bool",
    FieldDescriptor.TYPE_INT32: "int32",
    FieldDescriptor.TYPE_UINT32: "uint32",
    FieldDescriptor.TYPE_INT64: "int64",
    FieldDescriptor.TYPE_UINT64: "uint64",
    FieldDescriptor.TYPE_ENUM: "int32",  # an enum is an int32 on the wire; its names are mapped in SQL
    FieldDescriptor.TYPE_DOUBLE: "double",
}
_SQL_TYPES = {
    "string": "String",
    "bool": "Bool",
    "int32": "Int32",
    "uint32": "UInt32",
    "int64": "Int64",
    "uint64": "UInt64",
    "double": "Float64",
}


# IngestRecord's fields, in number order. The event is a message of the fields a row reads in the schema
# ClickHouse parses with (Envelope, below), and plain bytes to the Python that wraps it: the two are one
# encoding on the wire.
_RECORD_FIELDS = (
    ("source_topic", FieldDescriptor.TYPE_STRING),
    ("source_partition", FieldDescriptor.TYPE_UINT32),
    ("source_offset", FieldDescriptor.TYPE_INT64),
    ("payload", FieldDescriptor.TYPE_BYTES),
    ("enqueued_at_set", FieldDescriptor.TYPE_BOOL),
    ("event", FieldDescriptor.TYPE_BYTES),
    ("payload_case", FieldDescriptor.TYPE_STRING),
)
_RECORD_PROTO_TYPES = {
    FieldDescriptor.TYPE_STRING: "string",
    FieldDescriptor.TYPE_UINT32: "uint32",
    FieldDescriptor.TYPE_INT64: "int64",
    FieldDescriptor.TYPE_BYTES: "bytes",
    FieldDescriptor.TYPE_BOOL: "bool",
}


@cache
def _record_type() -> type[Message]:
    """IngestRecord as a Python message class (built at run time, in a pool of its own)."""
    file = descriptor_pb2.FileDescriptorProto(
        name="cc_analytics_ingest.proto", package="cc_ingest", syntax="proto3"
    )
    record = file.message_type.add(name=MESSAGE)
    for number, (name, kind) in enumerate(_RECORD_FIELDS, start=1):
        record.field.add(
            name=name, number=number, type=kind, label=descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL
        )
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName(f"cc_ingest.{MESSAGE}"))


def _varint(number: int) -> bytes:
    if number < 0x80:
        return _SMALL[number]
    out = bytearray()
    while number >= 0x80:
        out.append((number & 0x7F) | 0x80)
        number >>= 7
    out.append(number)
    return bytes(out)


_SMALL = [bytes((n,)) for n in range(0x80)]


def wrapped(value: bytes, topic: str, partition: int, offset: int) -> bytes:
    """One record, length-delimited, as the insert takes it (`wrap` of `readable`)."""
    return wrap(readable(value), topic, partition, offset)


def readable(value: bytes) -> event_pb2.Event:
    """A record's event; ValueError (or DecodeError) for a record no row can be made of, which the sink
    dead-letters, as it did when it made rows itself."""
    event = event_pb2.Event()
    event.ParseFromString(value)
    if not event.event_id or not event.tenant_id:
        raise ValueError("event without event_id or tenant_id")
    check_moment(event.occurred_at)
    return event


def wrap(event: event_pb2.Event, topic: str, partition: int, offset: int) -> bytes:
    """A readable event, length-delimited, as the insert takes it; ValueError for a payload's moment no
    column can hold."""
    # The event as parsed, not the bytes as they came: protobuf parsers accept encodings (a field twice, a
    # known field with another wire type, an int32 sent as 64 bits) that ClickHouse's reader refuses,
    # failing the whole insert, or reads otherwise. Written again, the bytes are plain, and mean what
    # Python understood.
    event.DiscardUnknownFields()
    record = _record_type()(
        source_topic=topic, source_partition=partition, source_offset=offset, event=event.SerializeToString()
    )
    case = event.WhichOneof("payload")
    if case is not None:  # else a payload type newer than this build: the envelope is still kept
        payload = getattr(event, case)
        record.payload_case = case  # type: ignore[attr-defined]
        record.payload = payload.SerializeToString()  # type: ignore[attr-defined]
        if flattening(payload.DESCRIPTOR).enqueued_at and payload.HasField("enqueued_at"):
            check_moment(payload.enqueued_at)
            record.enqueued_at_set = True  # type: ignore[attr-defined]
    body = record.SerializeToString()
    return _varint(len(body)) + body


# --- The schema ClickHouse parses with, the Null table it fills and the view that makes the rows ---


def _payloads() -> list[tuple[str, Descriptor]]:
    oneof = event_pb2.Event.DESCRIPTOR.oneofs_by_name["payload"]
    return [(field.name, field.message_type) for field in oneof.fields if field.message_type is not None]


def _flat_fields(descriptor: Descriptor) -> list[FieldDescriptor]:
    """The payload fields a row copies out into the flattened columns, as rows.flattening finds them."""
    plan = flattening(descriptor)
    fields = [
        descriptor.fields_by_name[name] for name, kept in zip(TEXT_FIELDS, plan.texts, strict=True) if kept
    ]
    if plan.abandoned:
        fields.append(descriptor.fields_by_name["abandoned"])
    if plan.enqueued_at:
        fields.append(descriptor.fields_by_name["enqueued_at"])
    return fields


def _read_fields(descriptor: Descriptor) -> list[FieldDescriptor]:
    """Every payload field a row reads: the flattened ones, then those of the payload columns."""
    return _flat_fields(descriptor) + [field for _, field in payload_fields(descriptor)]


def _field_line(field: FieldDescriptor, message_type: str | None = None) -> str:
    kind = message_type or _PROTO_TYPES[field.type]
    return f"  {kind} {field.name} = {field.number};"


@cache
def _schema() -> str:
    event = event_pb2.Event.DESCRIPTOR
    envelope = [event.fields_by_name[name] for name in _ENVELOPE_FIELDS]
    record = [
        f"  {'Envelope' if name == 'event' else _RECORD_PROTO_TYPES[kind]} {name} = {number};"
        for number, (name, kind) in enumerate(_RECORD_FIELDS, start=1)
    ]
    lines = [
        'syntax = "proto3";',
        f"message {MESSAGE} {{",
        *record,
        "}",
        "message Moment {",
        "  int64 seconds = 1;",
        "  int32 nanos = 2;",
        "}",
        "message Actor {",
        *(_field_line(field) for field in types_pb2.Actor.DESCRIPTOR.fields),
        "}",
        "message Envelope {",
        *(_field_line(field) for field in envelope),
        _field_line(event.fields_by_name["occurred_at"], "Moment"),
        _field_line(event.fields_by_name["actor"], "Actor"),
    ]
    payload_messages = []
    for case, descriptor in _payloads():
        fields = _read_fields(descriptor)
        if not fields:
            continue
        lines.append(_field_line(event.fields_by_name[case], f"P_{case}"))
        payload_messages += [f"message P_{case} {{"]
        payload_messages += [
            _field_line(field, "Moment" if field.message_type is Timestamp.DESCRIPTOR else None)
            for field in fields
        ]
        payload_messages.append("}")
    return "\n".join([*lines, "}", *payload_messages, ""])


def _input_columns() -> list[tuple[str, str]]:
    """The Null table's columns, named by their path in IngestRecord (ClickHouse matches them so)."""
    columns = [
        ("source_topic", "String"),
        ("source_partition", "UInt32"),
        ("source_offset", "Int64"),
        ("payload", "String"),
        ("enqueued_at_set", "Bool"),
        ("payload_case", "LowCardinality(String)"),
    ]
    event = event_pb2.Event.DESCRIPTOR
    for name in _ENVELOPE_FIELDS:
        columns.append((f"event.{name}", _SQL_TYPES[_PROTO_TYPES[event.fields_by_name[name].type]]))
    columns += [
        ("event.occurred_at.seconds", "Int64"),
        ("event.occurred_at.nanos", "Int32"),
        ("event.actor.type", "Int32"),
        ("event.actor.id", "String"),
    ]
    for case, descriptor in _payloads():
        for field in _flat_fields(descriptor):
            if field.message_type is Timestamp.DESCRIPTOR:
                columns += [
                    (f"event.{case}.{field.name}.seconds", "Int64"),
                    (f"event.{case}.{field.name}.nanos", "Int32"),
                ]
            else:
                columns.append((f"event.{case}.{field.name}", _SQL_TYPES[_PROTO_TYPES[field.type]]))
        # A payload column's field is read as Nullable: ClickHouse leaves a field that is not on the wire
        # NULL, which is exactly when its JSON leaves it out (see schema.PAYLOAD_FIELDS).
        columns += [
            (f"event.{case}.{field.name}", f"Nullable({_SQL_TYPES[_PROTO_TYPES[field.type]]})")
            for _, field in payload_fields(descriptor)
        ]
    return columns


def _quoted(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _names(numbers_to_names: Iterable[tuple[int, str]], column: str) -> str:
    """An enum column by its value names, an unknown number as itself (as rows.row_of has it)."""
    pairs = list(numbers_to_names)
    numbers = ", ".join(str(number) for number, _ in pairs)
    names = ", ".join(_quoted(name) for _, name in pairs)
    return f"transform({column}, [{numbers}]::Array(Int32), [{names}], toString({column}))"


def _moment(path: str) -> str:
    return f"fromUnixTimestamp64Micro(`{path}.seconds` * 1000000 + intDiv(`{path}.nanos`, 1000), 'UTC')"


def _by_payload(cases: list[tuple[str, str]], otherwise: str) -> str:
    """The value of whichever payload the event carries, `otherwise` when it has no such field."""
    if not cases:
        return otherwise
    arms = ", ".join(f"payload_case = {_quoted(case)}, {value}" for case, value in cases)
    return f"multiIf({arms}, {otherwise})"


def _select() -> str:
    actor_names = [
        (value.number, actor_type_name(value.number)) for value in types_pb2.ActorType.DESCRIPTOR.values
    ]
    texts: dict[str, list[tuple[str, str]]] = {name: [] for name in TEXT_FIELDS}
    abandoned: list[tuple[str, str]] = []
    enqueued: list[tuple[str, str]] = []
    for case, descriptor in _payloads():
        for field in _flat_fields(descriptor):
            path = f"event.{case}.{field.name}"
            if field.name == "abandoned" and field.type == FieldDescriptor.TYPE_BOOL:
                abandoned.append((case, f"`{path}`"))
            elif field.message_type is Timestamp.DESCRIPTOR:
                enqueued.append((case, f"if(enqueued_at_set, {_moment(path)}, NULL)"))
            elif field.enum_type is not None:
                texts[field.name].append((case, _names(enum_names(field).items(), f"`{path}`")))
            else:
                texts[field.name].append((case, f"`{path}`"))
    # Each payload column from whichever payload carries its field: the others' are NULL, as their
    # messages are not on the wire, so the first value that is not NULL is the one.
    carried: list[list[str]] = [[] for _ in schema.PAYLOAD_FIELDS]
    for case, descriptor in _payloads():
        for index, field in payload_fields(descriptor):
            path = f"`event.{case}.{field.name}`"
            if field.enum_type is not None:
                path = _names(enum_names(field).items(), path)
            elif field.type in FITTING_TYPES["Int64"]:
                path = f"toInt64({path})"
            carried[index].append(path)
    values = {
        **{name: f"`event.{name}`" for name in _ENVELOPE_TEXTS},
        "event_version": "toUInt32(least(greatest(`event.event_version`, 0), 4294967295))",
        "aggregate_version": "`event.aggregate_version`",
        "occurred_at": _moment("event.occurred_at"),
        "actor_type": _names(actor_names, "`event.actor.type`"),
        "actor_id": "`event.actor.id`",
        "payload_json": "''",
        "payload_case": "payload_case",
        "payload": "payload",
        **{
            f"payload_{name}": f"coalesce({', '.join(paths)})" if paths else f"CAST(NULL, 'Nullable({kind})')"
            for (name, kind), paths in zip(schema.PAYLOAD_FIELDS, carried, strict=True)
        },
        **{name: _by_payload(cases, "''") for name, cases in texts.items()},
        "abandoned": _by_payload(abandoned, "false"),
        "enqueued_at": _by_payload(enqueued, "NULL"),
        "source_topic": "source_topic",
        "source_partition": "source_partition",
        "source_offset": "source_offset",
    }
    columns = [name for name, _ in schema.COLUMNS if name != "inserted_at"]
    assert values.keys() == set(columns), "every column of cc.events is made, and nothing else"
    return "SELECT\n    " + ",\n    ".join(f"{values[name]} AS {name}" for name in columns)


def _version() -> str:
    """Tells this build's Null table and view from those of a build with other payloads."""
    return hashlib.sha256((_schema() + _select() + repr(_input_columns())).encode()).hexdigest()[:12]


@cache
def table() -> str:
    return f"{schema.DATABASE}.events_ingest_{_version()}"


def settings(schema_file: Path | None) -> dict[str, str]:
    """The insert's settings. A server is sent the schema itself; chDB reads it from `schema_file`
    (written by `write_schema`), as it would otherwise cache a sent schema under the process's working
    directory."""
    if schema_file is not None:
        return {"format_schema": f"{schema_file}:{MESSAGE}"}
    return {
        "format_schema_source": "string",
        "format_schema": _schema(),
        "format_schema_message_name": MESSAGE,
    }


def write_schema(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{table()}.proto"
    path.write_text(_schema())
    return path


@cache
def migrations() -> tuple[str, ...]:
    """The Null table and its view, per schema version: a build with other payloads makes its own pair,
    and an older pair is left unused (it stores nothing)."""
    input_columns = _input_columns()
    # ClickHouse matches a column to a field taking '.' and '_' alike: two such names would fail every insert.
    matched = {name.replace(".", "_").lower() for name, _ in input_columns}
    assert len(matched) == len(input_columns), "two columns of the Null table match one field"
    columns = ",\n    ".join(f"`{name}` {kind}" for name, kind in input_columns)
    return (
        f"CREATE TABLE IF NOT EXISTS {table()} (\n    {columns}\n) ENGINE = Null",
        f"CREATE MATERIALIZED VIEW IF NOT EXISTS {table()}_view TO {schema.EVENTS_TABLE} AS\n"
        f"{_select()}\nFROM {table()}",
    )
