"""The analytics store: one clickhouse-connect client on cc.events, shared by the sink and the queries.

The DSN picks the engine and nothing else changes: `chdb:///path` runs ClickHouse in this process
(chDB), `http://host:8123` talks to a server. chDB offers only a synchronous client and is not safe for
concurrent use, so every call runs in a worker thread (the event loop keeps serving) and one lock
serialises them. The lock is taken inside the worker thread: a caller cancelled while its query runs
cannot let the next query start before the first one has finished.
"""

import asyncio
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import clickhouse_connect
from clickhouse_connect.driver.client import Client

from services.analytics import ingest, queries, schema
from services.analytics.rows import EventRow, payload_json
from services.common.errors import Unavailable

log = logging.getLogger(__name__)
T = TypeVar("T")
# DateTime64 holds 1900..2299: an unset bound of the statistics range becomes the edge of that range.
BEGINNING = datetime(1970, 1, 1, tzinfo=UTC)
END_OF_TIME = datetime(2299, 12, 31, tzinfo=UTC)
CHDB = "chdb://"


@dataclass(frozen=True)
class JourneyEntry:
    event_id: str
    event_type: str
    occurred_at: datetime
    aggregate_type: str
    aggregate_id: str
    aggregate_version: int
    correlation_id: str
    actor_type: str
    actor_id: str
    payload_json: str


@dataclass(frozen=True)
class QueueStats:
    queue_id: str
    offered: int
    answered: int
    abandoned: int
    service_level_percent: float | None
    average_speed_of_answer_seconds: float | None
    average_handle_time_seconds: float | None
    held: int = 0
    average_hold_time_seconds: float | None = None


@dataclass(frozen=True)
class CallStats:
    # None without buckets.
    bucket_start: datetime | None
    key: str
    offered: int
    answered: int
    abandoned: int
    handled: int
    service_level_percent: float | None
    average_speed_of_answer_seconds: float | None
    average_handle_time_seconds: float | None
    held: int
    average_hold_time_seconds: float | None


@dataclass(frozen=True)
class TicketStats:
    # None without buckets.
    bucket_start: datetime | None
    key: str
    created: int
    solved: int
    reopened: int
    escalated: int
    replied: int
    sla_breached: int
    average_first_response_seconds: float | None
    average_resolution_seconds: float | None
    rated: int = 0
    average_satisfaction_score: float | None = None
    satisfaction_percent: float | None = None


class AnalyticsStore:
    def __init__(self, dsn: str, cluster: str = "") -> None:
        self._dsn = dsn
        self._cluster = cluster
        self._client: Client | None = None
        self._lock = threading.Lock()
        self._schema_file: Path | None = None  # the sink's insert schema, where chDB reads it

    async def open(self) -> None:
        """Connect and apply the schema (idempotent), so the sink and the queries find cc.events."""
        self._client = await asyncio.to_thread(self._connect)
        migrations = (*schema.MIGRATIONS, *schema.JOURNEY_MIGRATIONS, *ingest.migrations())
        for statement in schema.clustered(migrations, self._cluster):
            await self._command(statement)
        if self._dsn.startswith(CHDB):
            chdb_path = Path(self._dsn.removeprefix(CHDB).split("?")[0])
            self._schema_file = await asyncio.to_thread(ingest.write_schema, chdb_path / "format_schemas")
        if not await self._run(lambda client: client.command(schema.JOURNEY_BACKFILLED)):
            # Again after a start that stopped half way: the copies it makes are collapsed like any other.
            for statement in schema.clustered(
                (schema.JOURNEY_BACKFILL, schema.JOURNEY_BACKFILL_DONE), self._cluster
            ):
                await self._command(statement)
        log.info("analytics store open on %s", self._dsn.split("@")[-1])

    def _connect(self) -> Client:
        with self._lock:
            # tz_mode="aware": DateTime64(6, 'UTC') columns come back as UTC-aware datetimes on both engines.
            return clickhouse_connect.get_client(dsn=self._dsn, tz_mode="aware")

    async def close(self) -> None:
        """Release the engine: chDB keeps a path open (and refuses any other) until its client closes."""
        client, self._client = self._client, None
        if client is not None:
            await asyncio.to_thread(self._locked, client.close)

    def _locked(self, work: Callable[[], T]) -> T:
        with self._lock:
            return work()

    async def _run(self, work: Callable[[Client], T]) -> T:
        client = self._client
        if client is None:
            raise Unavailable("analytics-not-ready", "the analytics store is not open yet")
        return await asyncio.to_thread(self._locked, lambda: work(client))

    async def _command(self, sql: str) -> None:
        await self._run(lambda client: client.command(sql))

    async def insert_events(self, rows: Sequence[EventRow]) -> None:
        """One insert per batch: ClickHouse wants few large inserts, not one per event."""
        if not rows:
            return
        columns = EventRow._fields
        settings = self._on_shards()
        await self._run(
            lambda client: client.insert(schema.EVENTS_TABLE, rows, column_names=columns, settings=settings)
        )

    def _across_shards(self) -> dict[str, str]:
        """On a cluster, an IN or a JOIN over a Distributed table inside a query of another (a contact's
        journey, the tickets export, the statistics' joins) is computed once and sent to every shard
        (GLOBAL): ClickHouse refuses it otherwise with two shards or more, and a ticket's events may sit
        on shards other than its opening's, so a per-shard (local) answer would miss them."""
        return {"distributed_product_mode": "global"} if self._cluster else {}

    def _on_shards(self) -> dict[str, str]:
        """On a cluster, an insert is answered once its rows are on their shards, not queued on this
        server for later: the sink commits its offsets on that answer, and a server lost with its queue
        would lose them."""
        return {"insert_distributed_sync": "1"} if self._cluster else {}

    async def insert_records(self, records: bytes) -> None:
        """One insert of records as `ingest.wrapped` made them: ClickHouse makes their rows."""
        if not records:
            return
        settings = {**ingest.settings(self._schema_file), **self._on_shards()}
        await self._run(
            lambda client: client.raw_insert(
                ingest.table(), insert_block=records, fmt="Protobuf", settings=settings
            )
        )

    async def journey(self, tenant_id: str, customer_id: str, limit: int) -> list[JourneyEntry]:
        return await self._journey(queries.JOURNEY, tenant_id, customer_id, limit)

    async def contact_journey(
        self, tenant_id: str, contact_id: str, limit: int
    ) -> tuple[str, list[JourneyEntry]] | None:
        """The contact's customer and the contact's journey; None for a contact no journey holds."""
        found = await self._query(queries.CONTACT_OWNER, {"tenant_id": tenant_id, "contact_id": contact_id})
        if not found:
            return None
        customer_id = found[0][0]
        entries = await self._journey(
            queries.CONTACT_JOURNEY, tenant_id, customer_id, limit, contact_id=contact_id
        )
        return customer_id, entries

    async def ticket_journey(
        self, tenant_id: str, ticket_id: str, limit: int
    ) -> tuple[str, list[JourneyEntry]] | None:
        """The ticket's customer and the ticket's journey; None for a ticket no journey holds (one
        without a customer)."""
        found = await self._query(queries.TICKET_OWNER, {"tenant_id": tenant_id, "ticket_id": ticket_id})
        if not found:
            return None
        customer_id, contact_id = found[0]
        entries = await self._journey(
            queries.TICKET_JOURNEY, tenant_id, customer_id, limit, ticket_id=ticket_id, contact_id=contact_id
        )
        return customer_id, entries

    async def export_events(
        self, tenant_id: str, from_time: datetime | None, to_time: datetime | None, after: str, page: int
    ) -> Sequence[Sequence[Any]]:
        """A page of the events in the period after event id `after`, in exports.EVENTS' columns."""
        rows = await self._query(queries.EVENTS_EXPORT, _page(tenant_id, from_time, to_time, after, page))
        return [_rendered(row) for row in rows]

    async def export_tickets(
        self, tenant_id: str, from_time: datetime | None, to_time: datetime | None, after: str, page: int
    ) -> Sequence[Sequence[Any]]:
        """A page of the tickets opened in the period after ticket id `after`, in exports.TICKETS' columns."""
        return await self._query(queries.TICKETS_EXPORT, _page(tenant_id, from_time, to_time, after, page))

    async def _journey(
        self, sql: str, tenant_id: str, customer_id: str, limit: int, **narrower: str
    ) -> list[JourneyEntry]:
        parameters = {"tenant_id": tenant_id, "customer_id": customer_id, "limit": limit, **narrower}
        return [JourneyEntry(*_rendered(row)) for row in await self._query(sql, parameters)]

    async def queue_statistics(
        self, tenant_id: str, from_time: datetime | None, to_time: datetime | None, threshold_seconds: int
    ) -> list[QueueStats]:
        """The call statistics by queue over the whole period: one definition for both (AN-5)."""
        calls = await self.call_statistics(
            tenant_id, from_time, to_time, threshold_seconds, "", "queue", "UTC"
        )
        return [
            QueueStats(
                queue_id=row.key,
                offered=row.offered,
                answered=row.answered,
                abandoned=row.abandoned,
                service_level_percent=row.service_level_percent,
                average_speed_of_answer_seconds=row.average_speed_of_answer_seconds,
                average_handle_time_seconds=row.average_handle_time_seconds,
                held=row.held,
                average_hold_time_seconds=row.average_hold_time_seconds,
            )
            for row in calls
            if row.key  # outbound calls (TEL-8), in no queue
        ]

    async def call_statistics(
        self,
        tenant_id: str,
        from_time: datetime | None,
        to_time: datetime | None,
        threshold_seconds: int,
        bucket: str,
        by: str,
        time_zone: str,
    ) -> list[CallStats]:
        """`bucket` and `by` must be keys of queries.BUCKETS and CALL_KEYS (the servicer checks)."""
        rows = await self._query(
            queries.call_statistics_sql(bucket, by),
            {
                "tenant_id": tenant_id,
                "from_time": from_time or BEGINNING,
                "to_time": to_time or END_OF_TIME,
                "threshold_seconds": threshold_seconds,
                "time_zone": time_zone,
            },
        )
        # Removed and removed in time (counts[3:5]) only make the service level.
        return [
            CallStats(datetime.fromtimestamp(start, UTC) if bucket else None, key, *counts[:3], *counts[5:])
            for start, key, *counts in rows
        ]

    async def ticket_statistics(
        self,
        tenant_id: str,
        from_time: datetime | None,
        to_time: datetime | None,
        bucket: str,
        by: str,
        time_zone: str,
    ) -> list[TicketStats]:
        """`bucket` and `by` must be keys of queries.BUCKETS and TICKET_KEYS (the servicer checks)."""
        rows = await self._query(
            queries.ticket_statistics_sql(bucket, by),
            {
                "tenant_id": tenant_id,
                "from_time": from_time or BEGINNING,
                "to_time": to_time or END_OF_TIME,
                "time_zone": time_zone,
            },
        )
        return [
            TicketStats(datetime.fromtimestamp(start, UTC) if bucket else None, *rest)
            for start, *rest in rows
        ]

    async def _query(self, sql: str, parameters: dict[str, Any]) -> Sequence[Sequence[Any]]:
        settings = {**queries.QUERY_SETTINGS, **self._across_shards()}
        result = await self._run(
            lambda client: client.query(sql, parameters=parameters, settings=settings, column_formats=_BYTES)
        )
        return result.result_rows


# A payload's protobuf bytes come back as bytes, not decoded as text.
_BYTES: dict[str, str | dict[str, str]] = {"payload": "bytes"}


def _rendered(row: Sequence[Any]) -> list[Any]:
    """A row ending in the stored payload (its JSON, case and bytes) as one ending in the payload's JSON."""
    *columns, stored_json, case, payload = row
    return [*columns, payload_json(case, payload, stored_json)]


def _page(
    tenant_id: str, from_time: datetime | None, to_time: datetime | None, after: str, page: int
) -> dict[str, Any]:
    return {
        "tenant_id": tenant_id,
        "from_time": from_time or BEGINNING,
        "to_time": to_time or END_OF_TIME,
        "after": after,
        "page": page,
    }
