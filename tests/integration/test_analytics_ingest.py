"""The sink has ClickHouse make each row from the record's bytes (ingest); the rows must be exactly those
rows.row_of makes in Python. Random events of every payload type go into one chDB store both ways, and
the two tables are compared column by column."""

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cc.common.v1 import event_pb2, types_pb2
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from services.analytics import ingest
from services.analytics.rows import row_of
from services.analytics.store import AnalyticsStore

PAYLOADS = [field for field in event_pb2.Event.DESCRIPTOR.oneofs_by_name["payload"].fields]
_TEXTS = ["", "member", "상담 대기", "it's", "a\\b"]


def _moment(rng: random.Random) -> Timestamp:
    seconds = rng.choice([0, 1, 1_700_000_000, -62_135_596_800, 253_402_300_799, rng.randrange(2**31)])
    return Timestamp(seconds=seconds, nanos=rng.choice([0, 999_999_999, rng.randrange(10**9)]))


def _fill(rng: random.Random, message: Message) -> None:
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
            setattr(message, field.name, rng.choice([*known, 4242]))
        elif field.type == FieldDescriptor.TYPE_STRING:
            setattr(message, field.name, rng.choice(_TEXTS))
        elif field.type == FieldDescriptor.TYPE_BOOL:
            setattr(message, field.name, rng.random() < 0.5)


def _events(rng: random.Random) -> Iterator[event_pb2.Event]:
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
            _fill(rng, getattr(event, payload.name))
            getattr(event, payload.name).SetInParent()
        yield event


async def _table(store: AnalyticsStore) -> list[tuple[Any, ...]]:
    result = await store._run(
        lambda client: client.query(
            # Moments as the ticks stored: one past year 2299 would not come back as a datetime.
            "SELECT * EXCEPT (inserted_at, occurred_at, enqueued_at), toUnixTimestamp64Micro(occurred_at),"
            " toUnixTimestamp64Micro(enqueued_at) FROM cc.events ORDER BY event_id"
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
    events = list(_events(random.Random(7)))
    by_rows, by_records = await _both_ways(tmp_path, [event.SerializeToString() for event in events])
    assert len(by_rows) == len(events)
    assert any(row[12] for row in by_rows)  # the flattened payload columns were filled at all
    assert any(row[-1] is not None for row in by_rows)
    in_table_order = sorted(events, key=lambda event: event.event_id)
    for event, python_row, clickhouse_row in zip(in_table_order, by_rows, by_records, strict=True):
        assert clickhouse_row[:-2] == python_row[:-2]
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


def _ticks(moment: Timestamp) -> int:
    return moment.seconds * 1_000_000 + moment.nanos // 1000


def _enqueued_ticks(event: event_pb2.Event) -> int | None:
    case = event.WhichOneof("payload")
    payload = getattr(event, case) if case else None
    if payload is None or "enqueued_at" not in payload.DESCRIPTOR.fields_by_name:
        return None
    return _ticks(payload.enqueued_at) if payload.HasField("enqueued_at") else None
