"""The sink has ClickHouse make each row from the record's bytes (ingest); the rows must be exactly those
rows.row_of makes in Python. Random events of every payload type go into one chDB store both ways, and
the two tables are compared column by column."""

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cc.common.v1 import event_pb2, types_pb2
from google.protobuf import json_format
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from services.analytics import ingest, schema
from services.analytics.rows import EventRow, payload_json, row_of
from services.analytics.store import AnalyticsStore

PAYLOADS = [field for field in event_pb2.Event.DESCRIPTOR.oneofs_by_name["payload"].fields]
_TEXTS = ["", "member", "상담 대기", "it's", "a\\b"]


def _moment(rng: random.Random) -> Timestamp:
    seconds = rng.choice([0, 1, 1_700_000_000, -62_135_596_800, 253_402_300_799, rng.randrange(2**31)])
    return Timestamp(seconds=seconds, nanos=rng.choice([0, 999_999_999, rng.randrange(10**9)]))


def _fill(rng: random.Random, message: Message, unknown_enums: bool = True) -> None:
    """Random values for the fields a row reads (and the others, to be skipped)."""
    for field in message.DESCRIPTOR.fields:
        if field.is_repeated or rng.random() < 0.3:
            continue
        if field.message_type is Timestamp.DESCRIPTOR:
            getattr(message, field.name).CopyFrom(_moment(rng))
        elif field.message_type is not None:
            getattr(message, field.name).SetInParent()
        elif field.enum_type is not None:
            known = [value.number for value in field.enum_type.values]
            setattr(message, field.name, rng.choice([*known, 4242] if unknown_enums else known))
        elif field.type == FieldDescriptor.TYPE_STRING:
            setattr(message, field.name, rng.choice(_TEXTS))
        elif field.type == FieldDescriptor.TYPE_BOOL:
            setattr(message, field.name, rng.random() < 0.5)
        elif field.type in (FieldDescriptor.TYPE_INT32, FieldDescriptor.TYPE_INT64):
            setattr(message, field.name, rng.choice([0, 1, -7, 2**31 - 1, -(2**31)]))
        elif field.type == FieldDescriptor.TYPE_UINT32:
            setattr(message, field.name, rng.choice([0, 1, 2**32 - 1]))
        elif field.type == FieldDescriptor.TYPE_DOUBLE:
            setattr(message, field.name, rng.choice([0.0, 1.5, -2.25, 1e-7, 12345.678]))


def _events(rng: random.Random, unknown_enums: bool = True) -> Iterator[event_pb2.Event]:
    for number in range(6 * len(PAYLOADS)):
        event = event_pb2.Event(
            event_id=f"e-{number}",
            event_type=f"type-{number % 7}",
            event_version=rng.choice([0, 1, 3, -1]),
            tenant_id=rng.choice(["acme", "globex"]),
            aggregate_type="call",
            aggregate_id=rng.choice(_TEXTS),
            aggregate_version=rng.choice([0, 1, 2**40, -5]),
            occurred_at=_moment(rng),
            correlation_id=rng.choice(_TEXTS),
            causation_id=rng.choice(_TEXTS),
            customer_id=rng.choice(_TEXTS),
            actor=types_pb2.Actor(type=rng.choice([0, 1, 2, 99]), id=rng.choice(_TEXTS)),  # type: ignore[arg-type]
        )
        payload = PAYLOADS[number % len(PAYLOADS)]
        if number >= len(PAYLOADS):  # the first round carries no payload at all
            _fill(rng, getattr(event, payload.name), unknown_enums)
            getattr(event, payload.name).SetInParent()
        yield event


async def _table(store: AnalyticsStore) -> list[tuple[Any, ...]]:
    result = await store._run(
        lambda client: client.query(
            # Moments as the ticks stored: one past year 2299 would not come back as a datetime.
            "SELECT * EXCEPT (inserted_at, occurred_at, enqueued_at), toUnixTimestamp64Micro(occurred_at),"
            " toUnixTimestamp64Micro(enqueued_at) FROM cc.events ORDER BY event_id",
            column_formats={"payload": "bytes"},
        )
    )
    return result.result_rows


async def _both_ways(where: Path, records: list[bytes]) -> tuple[list[tuple[Any, ...]], ...]:
    """cc.events after inserting the records as Python's rows, and after inserting them as the sink does."""
    tables = []
    for way in ("rows", "records"):
        store = AnalyticsStore(f"chdb://{where / way}")
        await store.open()
        try:
            if way == "rows":
                rows = [row_of(event_pb2.Event.FromString(r), "topic", 3, n) for n, r in enumerate(records)]
                await store.insert_events(rows)
            else:
                wrapped = (ingest.wrapped(record, "topic", 3, n) for n, record in enumerate(records))
                await store.insert_records(b"".join(wrapped))
            tables.append(await _table(store))
        finally:
            await store.close()
    return tuple(tables)


async def test_clickhouse_makes_of_each_record_the_row_python_makes_of_it(tmp_path: Path) -> None:
    events = list(_events(random.Random(3)))
    by_rows, by_records = await _both_ways(tmp_path, [event.SerializeToString() for event in events])
    assert len(by_rows) == len(events)
    columns = [
        name for name, _ in schema.COLUMNS if name not in ("inserted_at", "occurred_at", "enqueued_at")
    ]
    filled = {name for row in by_rows for name, value in zip(columns, row, strict=False) if value}
    assert {
        "queue_id",
        "state",
        "payload_case",
        "payload",
    } <= filled  # the flattened columns were filled at all
    assert {f"payload_{name}" for name, _ in schema.PAYLOAD_FIELDS} <= filled
    assert any(row[-1] is not None for row in by_rows)
    in_table_order = sorted(events, key=lambda event: event.event_id)
    for event, python_row, clickhouse_row in zip(in_table_order, by_rows, by_records, strict=True):
        assert dict(zip(columns, clickhouse_row[:-2], strict=True)) == dict(
            zip(columns, python_row[:-2], strict=True)
        )
        # The payload's JSON, rendered from the stored bytes, is the event's own.
        stored = dict(zip(columns, clickhouse_row, strict=False))
        assert payload_json(stored["payload_case"], stored["payload"], stored["payload_json"]) == _json_of(
            event
        )
        # The moments to the microsecond, compared with the event itself: clickhouse-connect turns a
        # datetime into ticks through a float, a second off near year 9999 (the rows' way is the wrong one).
        assert clickhouse_row[-2:] == (_ticks(event.occurred_at), _enqueued_ticks(event))


def _varint(number: int) -> bytes:
    out = bytearray()
    while number >= 0x80:
        out.append(number & 0x7F | 0x80)
        number >>= 7
    return bytes([*out, number])


def _field(number: int, wire_type: int, body: bytes) -> bytes:
    return _varint(number << 3 | wire_type) + body


def _text(number: int, text: str) -> bytes:
    return _field(number, 2, _varint(len(text.encode())) + text.encode())


async def test_encodings_a_parser_accepts_but_clickhouse_would_not_are_read_as_python_reads_them(
    tmp_path: Path,
) -> None:
    """A field twice (the last wins; messages merge), an int32 sent as a 64-bit varint, a known field with
    another wire type (kept aside as unknown): one such record must neither fail the batch's insert nor
    make another row than Python would."""
    queued = event_pb2.Event(event_id="x", tenant_id="acme", event_type="telephony.call.queued")
    queued.call_queued.queue_id = "q"
    base = queued.SerializeToString()

    def renamed(event_id: str) -> bytes:
        return base.replace(b"\n\x01x", b"\n\x01" + event_id.encode())

    agent = _text(6, "kim")  # CallQueued.agent_id
    records = [
        base + _text(1, "e-twice"),  # event_id again
        renamed("a") + _field(3, 0, _varint(2**40 + 7)),  # event_version (an int32) in 64 bits
        renamed("b") + _field(11, 0, b"\x05"),  # customer_id (a string) as a varint
        renamed("c") + _field(24, 2, _varint(len(agent)) + agent),  # call_queued again: merged
    ]
    by_rows, by_records = await _both_ways(tmp_path, records)
    assert [row[0] for row in by_rows] == ["a", "b", "c", "e-twice"]
    assert by_records == by_rows


async def test_rows_stored_with_their_payload_as_json_only_read_as_rows_stored_since(tmp_path: Path) -> None:
    """Rows stored before the payload columns (payload_json, no bytes) compute those columns from their
    JSON, and a reader renders their payload as it was stored: the statistics count them alike."""
    events = list(_events(random.Random(11), unknown_enums=False))  # JSON has an unknown enum as a number
    legacy = [name for name in EventRow._fields if not name.startswith("payload")]
    store = AnalyticsStore(f"chdb://{tmp_path}")
    await store.open()
    try:
        rows = [row_of(event, "topic", 3, n) for n, event in enumerate(events)]
        await store.insert_events(rows)
        old = [
            (*(getattr(row, name) for name in legacy), _json_of(event))
            for row, event in zip(rows, events, strict=True)
        ]
        await store._run(
            lambda client: client.insert(
                "cc.events",
                [(f"old-{row[0]}", *row[1:]) for row in old],
                column_names=[*legacy, "payload_json"],
            )
        )
        read = (
            "SELECT replaceOne(event_id, 'old-', ''), payload_json, payload_case, payload, "
            + ", ".join(f"payload_{name}" for name, _ in schema.PAYLOAD_FIELDS)
            + " FROM cc.events WHERE event_id LIKE {prefix:String} ORDER BY event_id"
        )
        since, before = [await _stored(store, read, prefix) for prefix in ("e-%", "old-%")]
    finally:
        await store.close()
    assert len(since) == len(before) == len(events)
    assert any(value is not None for row in since for value in row[4:])
    for new_row, old_row in zip(since, before, strict=True):
        assert new_row[4:] == old_row[4:]
        assert payload_json(*new_row[2:4], new_row[1]) == payload_json(*old_row[2:4], old_row[1])


async def _stored(store: AnalyticsStore, sql: str, prefix: str) -> list[tuple[Any, ...]]:
    result = await store._run(
        lambda client: client.query(sql, parameters={"prefix": prefix}, column_formats={"payload": "bytes"})
    )
    return result.result_rows


def _json_of(event: event_pb2.Event) -> str:
    case = event.WhichOneof("payload")
    if case is None:
        return "{}"
    return json_format.MessageToJson(getattr(event, case), preserving_proto_field_name=True, indent=None)


def _ticks(moment: Timestamp) -> int:
    return moment.seconds * 1_000_000 + moment.nanos // 1000


def _enqueued_ticks(event: event_pb2.Event) -> int | None:
    case = event.WhichOneof("payload")
    payload = getattr(event, case) if case else None
    if payload is None or "enqueued_at" not in payload.DESCRIPTOR.fields_by_name:
        return None
    return _ticks(payload.enqueued_at) if payload.HasField("enqueued_at") else None
