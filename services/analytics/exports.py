"""Exports (AN-6): a table written as CSV or Parquet from pages of rows, a page at a time, so that an
export of any size holds one page in memory, never the whole answer.

CSV is RFC 4180 with a header row: times in ISO 8601 UTC, an absent value empty, booleans true/false,
and text a spreadsheet would run as a formula (starting with = + - @) prefixed with an apostrophe.
Parquet gets a row group per page and its footer at the end; times are microseconds in UTC. Either way
the bytes come out in pieces of at most CHUNK_BYTES, each small enough for one gRPC message."""

import asyncio
import csv
import io
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

CHUNK_BYTES = 1 << 20
Row = Sequence[Any]
# The next page after a cursor ("" for the first), and the cursor each row carries on.
FetchPage = Callable[[str], Awaitable[Sequence[Row]]]

TEXT, INTEGER, NUMBER, FLAG = pa.string(), pa.int64(), pa.float64(), pa.bool_()
MOMENT = pa.timestamp("us", tz="UTC")


@dataclass(frozen=True)
class Table:
    """What an export holds: its columns (name and type) in row order, and which column is the cursor."""

    columns: tuple[tuple[str, pa.DataType], ...]
    cursor: str = ""

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.columns]

    def schema(self) -> pa.Schema:
        return pa.schema(list(self.columns))


EVENTS = Table(
    (
        ("event_id", TEXT),
        ("event_type", TEXT),
        ("event_version", INTEGER),
        ("occurred_at", MOMENT),
        ("aggregate_type", TEXT),
        ("aggregate_id", TEXT),
        ("aggregate_version", INTEGER),
        ("correlation_id", TEXT),
        ("causation_id", TEXT),
        ("customer_id", TEXT),
        ("actor_type", TEXT),
        ("actor_id", TEXT),
        ("queue_id", TEXT),
        ("agent_id", TEXT),
        ("contact_id", TEXT),
        ("payload_json", TEXT),
    ),
    cursor="event_id",
)
TICKETS = Table(
    (
        ("ticket_id", TEXT),
        ("opened_at", MOMENT),
        ("channel", TEXT),
        ("category", TEXT),
        ("agent_id", TEXT),
        ("group_id", TEXT),
        ("status", TEXT),
        ("first_replied_at", MOMENT),
        ("kind", TEXT),
        ("claim", TEXT),
        ("customer_id", TEXT),
        ("subject", TEXT),
        ("priority", TEXT),
        ("solved_at", MOMENT),
        ("escalations", INTEGER),
        ("sla_breaches", INTEGER),
        ("satisfaction_score", INTEGER),
    ),
    cursor="ticket_id",
)
CALL_STATISTICS = Table(
    (
        ("bucket_start", MOMENT),
        ("key", TEXT),
        ("offered", INTEGER),
        ("answered", INTEGER),
        ("abandoned", INTEGER),
        ("handled", INTEGER),
        ("service_level_percent", NUMBER),
        ("average_speed_of_answer_seconds", NUMBER),
        ("average_handle_time_seconds", NUMBER),
        ("held", INTEGER),
        ("average_hold_time_seconds", NUMBER),
    )
)
TICKET_STATISTICS = Table(
    (
        ("bucket_start", MOMENT),
        ("key", TEXT),
        ("created", INTEGER),
        ("solved", INTEGER),
        ("reopened", INTEGER),
        ("escalated", INTEGER),
        ("replied", INTEGER),
        ("sla_breached", INTEGER),
        ("average_first_response_seconds", NUMBER),
        ("average_resolution_seconds", NUMBER),
        ("rated", INTEGER),
        ("average_satisfaction_score", NUMBER),
        ("satisfaction_percent", NUMBER),
    )
)


async def pages(table: Table, fetch: FetchPage) -> AsyncIterator[Sequence[Row]]:
    """Every page, each fetched after the last row of the one before, until one comes back empty."""
    at = table.names.index(table.cursor)
    after = ""
    while rows := await fetch(after):
        yield rows
        after = rows[-1][at]


# A cell a spreadsheet would run as a formula (OWASP's CSV injection): text starting with one of these.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _csv_value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        # A customer's subject "=HYPERLINK(...)" stays text when an analyst opens the file.
        return "'" + value
    return value


class CsvWriter:
    def __init__(self, table: Table) -> None:
        self._buffer = io.StringIO()
        self._csv = csv.writer(self._buffer, lineterminator="\r\n")
        self._csv.writerow(table.names)

    def page(self, rows: Sequence[Row]) -> bytes:
        self._csv.writerows([_csv_value(value) for value in row] for row in rows)
        return self._take()

    def close(self) -> bytes:
        return self._take()

    def _take(self) -> bytes:
        text = self._buffer.getvalue()
        self._buffer.seek(0)
        self._buffer.truncate()
        return text.encode()


class _Drain(io.RawIOBase):
    """A file that keeps what was written until it is taken: Parquet's writer wants a file, and the
    export wants the bytes as each row group is done."""

    def __init__(self) -> None:
        self._written = bytearray()
        self._position = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        self._written += view
        self._position += len(view)
        return len(view)

    def tell(self) -> int:
        return self._position

    def take(self) -> bytes:
        taken = bytes(self._written)
        self._written.clear()
        return taken


class ParquetWriter:
    def __init__(self, table: Table) -> None:
        self._table = table
        self._drain = _Drain()
        self._parquet = pq.ParquetWriter(self._drain, table.schema(), compression="zstd")

    def page(self, rows: Sequence[Row]) -> bytes:
        columns = zip(*rows, strict=True)
        kinds = (kind for _, kind in self._table.columns)
        arrays = [pa.array(values, type=kind) for values, kind in zip(columns, kinds, strict=True)]
        self._parquet.write_table(pa.Table.from_arrays(arrays, schema=self._table.schema()))
        return self._drain.take()

    def close(self) -> bytes:
        self._parquet.close()
        return self._drain.take()


Writer = CsvWriter | ParquetWriter


def chunks(data: bytes) -> Iterator[bytes]:
    """`data` in pieces of at most CHUNK_BYTES (none for no data)."""
    for start in range(0, len(data), CHUNK_BYTES):
        yield data[start : start + CHUNK_BYTES]


async def encoded(table: Table, parquet: bool, rows: AsyncIterator[Sequence[Row]]) -> AsyncIterator[bytes]:
    """The file of `table` with every page of `rows`, in pieces; each page is encoded off the event loop."""
    writer: Writer = ParquetWriter(table) if parquet else CsvWriter(table)
    async for page in rows:
        for piece in chunks(await asyncio.to_thread(writer.page, page)):
            yield piece
    for piece in chunks(await asyncio.to_thread(writer.close)):
        yield piece


async def one_page(rows: Sequence[Row]) -> AsyncIterator[Sequence[Row]]:
    """A table small enough to come whole (a statistics table) as the one page of an export."""
    if rows:
        yield rows
