"""Exports (AN-6) as files: CSV and Parquet written a page at a time, read back whole by the tools an
analyst would use (the csv module, pyarrow), and the cursor that walks the pages."""

import csv
import io
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime

import pyarrow.parquet as pq
import pytest

from services.analytics import exports
from services.analytics.exports import Row

MOMENT = datetime(2026, 3, 1, 9, 30, 15, 250000, tzinfo=UTC)
STATISTICS = [
    (MOMENT, "general", 10, 8, 2, 7, 87.5, 4.25, None, 1, 30.0),
    (None, "payment, cards", 0, 0, 0, 0, None, None, None, 0, None),
]


async def _file(table: exports.Table, parquet: bool, pages: list[Sequence[Row]]) -> bytes:
    async def each() -> AsyncIterator[Sequence[Row]]:
        for page in pages:
            yield page

    return b"".join([piece async for piece in exports.encoded(table, parquet, each())])


async def test_csv_has_a_header_and_writes_times_in_utc_absent_values_empty_and_quotes_commas() -> None:
    data = await _file(exports.CALL_STATISTICS, False, [STATISTICS[:1], STATISTICS[1:]])
    rows = list(csv.reader(io.StringIO(data.decode())))
    assert rows[0] == exports.CALL_STATISTICS.names
    assert rows[1] == [
        "2026-03-01T09:30:15.250000Z",
        "general",
        "10",
        "8",
        "2",
        "7",
        "87.5",
        "4.25",
        "",
        "1",
        "30.0",
    ]
    assert rows[2][:2] == ["", "payment, cards"]
    assert data.count(b"\r\n") == 3


async def test_an_empty_export_is_a_file_with_its_columns_and_no_rows() -> None:
    assert (await _file(exports.TICKETS, False, [])).decode().strip() == ",".join(exports.TICKETS.names)
    empty = pq.read_table(io.BytesIO(await _file(exports.TICKETS, True, [])))
    assert (empty.num_rows, empty.schema.names) == (0, exports.TICKETS.names)


async def test_parquet_is_one_file_with_a_row_group_per_page_and_typed_columns() -> None:
    pages = [STATISTICS[:1], STATISTICS[1:], STATISTICS]
    data = await _file(exports.CALL_STATISTICS, True, pages)
    parquet = pq.ParquetFile(io.BytesIO(data))
    assert parquet.metadata.num_row_groups == 3
    table = parquet.read()
    assert table.schema == exports.CALL_STATISTICS.schema()
    assert table.to_pylist()[0] == dict(zip(exports.CALL_STATISTICS.names, STATISTICS[0], strict=True))
    assert table.column("key").to_pylist() == ["general", "payment, cards", "general", "payment, cards"]


async def test_pages_are_fetched_after_the_cursor_of_the_last_row_until_one_is_empty() -> None:
    events = [(f"e{n}", *([""] * 15)) for n in range(5)]
    asked: list[str] = []

    async def fetch(after: str) -> Sequence[Row]:
        asked.append(after)
        later = [event for event in events if event[0] > after]
        return later[:2]

    got = [page async for page in exports.pages(exports.EVENTS, fetch)]
    assert [[row[0] for row in page] for page in got] == [["e0", "e1"], ["e2", "e3"], ["e4"]]
    assert asked == ["", "e1", "e3", "e4"]


@pytest.mark.parametrize(
    "size", [0, 1, exports.CHUNK_BYTES, exports.CHUNK_BYTES + 1, 3 * exports.CHUNK_BYTES]
)
def test_chunks_are_at_most_a_mebibyte_and_together_the_whole(size: int) -> None:
    data = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    pieces = list(exports.chunks(data))
    assert b"".join(pieces) == data
    assert all(0 < len(piece) <= exports.CHUNK_BYTES for piece in pieces)
    assert len(pieces) == -(-size // exports.CHUNK_BYTES)


async def test_csv_keeps_a_cell_that_looks_like_a_formula_as_text() -> None:
    row = (MOMENT, '=HYPERLINK("http://evil.example")', -3, 0, 0, 0, None, None, None, 0, None)
    data = await _file(exports.CALL_STATISTICS, False, [[row]])
    cells = list(csv.reader(io.StringIO(data.decode())))[1]
    assert cells[1] == '\'=HYPERLINK("http://evil.example")' and cells[2] == "-3"  # numbers stay numbers
