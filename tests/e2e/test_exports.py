"""Exports over REST (AN-6): a supervisor's tickets and a caller's call, downloaded by an analyst as CSV
and Parquet files streamed from ClickHouse through the analytics service and the gateway; an agent's
key may not export, and a bad statistics time zone is a 422 before any byte of a file."""

import csv
import io
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pyarrow.parquet as pq
import pytest

from services.platform import Platform
from tests.e2e.support import until


@pytest.fixture
async def clients(platform: Platform) -> AsyncIterator[dict[str, httpx.AsyncClient]]:
    base = f"http://127.0.0.1:{platform.settings.gateway_port}"
    async with (
        httpx.AsyncClient(base_url=base, headers={"X-API-Key": "e2e-exports-supervisor"}, timeout=30) as boss,
        httpx.AsyncClient(base_url=base, headers={"X-API-Key": "e2e-exports-analyst"}, timeout=30) as analyst,
        httpx.AsyncClient(base_url=base, headers={"X-API-Key": "e2e-exports-kim"}, timeout=30) as kim,
    ):
        yield {"supervisor": boss, "analyst": analyst, "kim": kim}


async def test_an_analyst_downloads_tickets_events_and_statistics_as_csv_and_parquet(
    clients: dict[str, httpx.AsyncClient],
) -> None:
    supervisor, analyst = clients["supervisor"], clients["analyst"]
    opened = []
    for n in range(3):
        ticket = {
            "subject": f"Order {n}",
            "channel": "email",
            "customer_id": "cu-exports",
            "priority": "high",
        }
        response = await supervisor.post("/v1/tickets", json=ticket)
        assert response.status_code == 201, response.text
        opened.append(response.json()["ticket_id"])
    # The journey shows when the sink has stored the tickets; the export reads the same store. A ticket
    # has more events than its opening (its number, for one), so count the openings, not the events.
    await until(
        analyst,
        "/v1/customers/cu-exports/journey",
        lambda b: (
            {e["aggregate_id"] for e in b["events"] if e["event_type"] == "ticketing.ticket.opened"}
            == set(opened)
        ),
        "the tickets never landed",
    )

    download = await analyst.get("/v1/exports/tickets", params={"format": "csv"})
    assert download.status_code == 200, download.text
    assert download.headers["content-type"].startswith("text/csv")
    assert download.headers["content-disposition"] == 'attachment; filename="tickets.csv"'
    rows = list(csv.DictReader(io.StringIO(download.text)))
    assert sorted(row["ticket_id"] for row in rows) == sorted(opened)
    assert {(row["subject"][:6], row["priority"], row["customer_id"]) for row in rows} == {
        ("Order ", "TICKET_PRIORITY_HIGH", "cu-exports")
    }

    an_hour_ago = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    events = await analyst.get("/v1/exports/events", params={"format": "parquet", "from": an_hour_ago})
    assert events.status_code == 200, events.text
    assert events.headers["content-type"] == "application/vnd.apache.parquet"
    table = pq.read_table(io.BytesIO(events.content))
    opened_events = [r for r in table.to_pylist() if r["event_type"] == "ticketing.ticket.opened"]
    assert sorted(r["aggregate_id"] for r in opened_events) == sorted(opened)
    assert table.column("event_id").to_pylist() == sorted(table.column("event_id").to_pylist())
    nothing_yet = await analyst.get("/v1/exports/events", params={"to": "2000-01-01T00:00:00Z"})
    assert nothing_yet.text.strip() == ",".join(pq.read_schema(io.BytesIO(events.content)).names)

    statistics = await analyst.get("/v1/exports/statistics/tickets", params={"by": "status", "format": "csv"})
    assert statistics.status_code == 200, statistics.text
    [header, *counts] = list(csv.reader(io.StringIO(statistics.text)))
    assert header[:3] == ["bucket_start", "key", "created"]
    assert counts == [["", "new", "3", *counts[0][3:]]] and counts[0][3:8] == ["0"] * 5

    bad_zone = await analyst.get("/v1/exports/statistics/calls", params={"time_zone": "Mars/Olympus"})
    assert (bad_zone.status_code, bad_zone.json()["error_id"]) == (422, "invalid-argument")
    refused = await clients["kim"].get("/v1/exports/events")
    assert (refused.status_code, refused.json()["error_id"]) == (403, "role-not-permitted")
