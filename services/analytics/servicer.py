"""AnalyticsService: the customer journey, call, queue and ticket statistics, answered from ClickHouse.
Thin: checks the request, asks the store for the caller's tenant and maps rows to messages."""

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import astuple
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import grpc
from cc.analytics.v1 import analytics_pb2, analytics_pb2_grpc
from google.protobuf.timestamp_pb2 import Timestamp

from services.analytics import exports
from services.analytics.exports import Row
from services.analytics.queries import BUCKETS, CALL_KEYS, TICKET_KEYS
from services.analytics.store import AnalyticsStore, CallStats, JourneyEntry, QueueStats, TicketStats
from services.common.envelope import timestamp, to_datetime
from services.common.errors import FieldViolation, InvalidArgument, NotFound, require
from services.common.grpc_server import current_tenant

DEFAULT_JOURNEY_LIMIT = 1000
MAX_JOURNEY_LIMIT = 10_000
DEFAULT_THRESHOLD_SECONDS = 20
# Rows an export reads at a time: a few MiB of events at most in memory.
EXPORT_PAGE_ROWS = 5000
# The store's page of an export: tenant, period, the cursor to read after, and the page's size.
ReadPage = Callable[[str, datetime | None, datetime | None, str, int], Awaitable[Sequence[Row]]]


def journey_event(entry: JourneyEntry) -> analytics_pb2.JourneyEvent:
    return analytics_pb2.JourneyEvent(
        event_id=entry.event_id,
        event_type=entry.event_type,
        occurred_at=timestamp(entry.occurred_at),
        aggregate_type=entry.aggregate_type,
        aggregate_id=entry.aggregate_id,
        aggregate_version=entry.aggregate_version,
        correlation_id=entry.correlation_id,
        actor=f"{entry.actor_type}:{entry.actor_id}" if entry.actor_id else entry.actor_type,
        payload_json=entry.payload_json,
    )


def _journey(customer_id: str, entries: list[JourneyEntry]) -> analytics_pb2.CustomerJourney:
    return analytics_pb2.CustomerJourney(
        customer_id=customer_id, events=[journey_event(entry) for entry in entries]
    )


def statistics_row(stats: QueueStats) -> analytics_pb2.QueueStatisticsRow:
    row = analytics_pb2.QueueStatisticsRow(
        queue_id=stats.queue_id,
        offered=stats.offered,
        answered=stats.answered,
        abandoned=stats.abandoned,
        held=stats.held,
    )
    # Optional fields stay absent when there was nothing to measure, rather than reading as 0.
    if stats.service_level_percent is not None:
        row.service_level_percent = stats.service_level_percent
    if stats.average_speed_of_answer_seconds is not None:
        row.average_speed_of_answer_seconds = stats.average_speed_of_answer_seconds
    if stats.average_handle_time_seconds is not None:
        row.average_handle_time_seconds = stats.average_handle_time_seconds
    if stats.average_hold_time_seconds is not None:
        row.average_hold_time_seconds = stats.average_hold_time_seconds
    return row


# The range ClickHouse's DateTime64 holds.
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(2299, 12, 31, tzinfo=UTC)


def ticket_row(stats: TicketStats) -> analytics_pb2.TicketStatisticsRow:
    row = analytics_pb2.TicketStatisticsRow(
        key=stats.key,
        created=stats.created,
        solved=stats.solved,
        reopened=stats.reopened,
        escalated=stats.escalated,
        replied=stats.replied,
        sla_breached=stats.sla_breached,
        average_first_response_seconds=stats.average_first_response_seconds,
        average_resolution_seconds=stats.average_resolution_seconds,
        rated=stats.rated,
        average_satisfaction_score=stats.average_satisfaction_score,
        satisfaction_percent=stats.satisfaction_percent,
    )
    if stats.bucket_start is not None:
        row.bucket_start.CopyFrom(timestamp(stats.bucket_start))
    return row


def call_row(stats: CallStats) -> analytics_pb2.CallStatisticsRow:
    row = analytics_pb2.CallStatisticsRow(
        key=stats.key,
        offered=stats.offered,
        answered=stats.answered,
        abandoned=stats.abandoned,
        handled=stats.handled,
        service_level_percent=stats.service_level_percent,
        average_speed_of_answer_seconds=stats.average_speed_of_answer_seconds,
        average_handle_time_seconds=stats.average_handle_time_seconds,
        held=stats.held,
        average_hold_time_seconds=stats.average_hold_time_seconds,
    )
    if stats.bucket_start is not None:
        row.bucket_start.CopyFrom(timestamp(stats.bucket_start))
    return row


PeriodRequest = (
    analytics_pb2.GetQueueStatisticsRequest
    | analytics_pb2.GetTicketStatisticsRequest
    | analytics_pb2.GetCallStatisticsRequest
    | analytics_pb2.ExportEventsRequest
    | analytics_pb2.ExportTicketsRequest
)
ExportRequest = (
    analytics_pb2.ExportEventsRequest
    | analytics_pb2.ExportTicketsRequest
    | analytics_pb2.ExportCallStatisticsRequest
    | analytics_pb2.ExportTicketStatisticsRequest
)


def _table(
    request: analytics_pb2.GetTicketStatisticsRequest | analytics_pb2.GetCallStatisticsRequest,
    keys: Mapping[str, str],
) -> str:
    """The time zone of a statistics table's request, once its bucket and key are known ones."""
    if request.bucket not in BUCKETS:
        raise _invalid("bucket", "hour, day, week, month, or empty for the whole period")
    if request.by not in keys:
        raise _invalid("by", f"{', '.join(key for key in keys if key)}, or empty for all as one")
    time_zone = request.time_zone or "UTC"
    try:
        ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise _invalid("time_zone", "an IANA time zone such as Asia/Seoul") from None
    return time_zone


def _threshold(
    request: analytics_pb2.GetQueueStatisticsRequest | analytics_pb2.GetCallStatisticsRequest,
) -> int:
    threshold = request.service_level_threshold_seconds or DEFAULT_THRESHOLD_SECONDS
    if threshold < 0:
        raise _invalid("service_level_threshold_seconds", "must not be negative")
    return threshold


def _period(request: PeriodRequest) -> tuple[datetime | None, datetime | None]:
    """The period a statistics or export request asks about; an unset bound is open."""
    from_time = _clamped(request.from_time, "from_time") if request.HasField("from_time") else None
    to_time = _clamped(request.to_time, "to_time") if request.HasField("to_time") else None
    return from_time, to_time


def _empty(from_time: datetime | None, to_time: datetime | None) -> bool:
    """An empty or backwards period holds no event: it is answered with no rows, not refused."""
    return from_time is not None and to_time is not None and from_time >= to_time


def _parquet(request: ExportRequest) -> bool:
    """Whether the export is Parquet (else CSV, also when unset)."""
    if request.format not in analytics_pb2.ExportFormat.values():
        raise _invalid("format", "EXPORT_FORMAT_CSV or EXPORT_FORMAT_PARQUET")
    return request.format == analytics_pb2.EXPORT_FORMAT_PARQUET


async def _chunks(
    table: exports.Table, parquet: bool, pages: AsyncIterator[Sequence[Row]]
) -> AsyncIterator[analytics_pb2.ExportChunk]:
    async for piece in exports.encoded(table, parquet, pages):
        yield analytics_pb2.ExportChunk(data=piece)


def _clamped(moment: Timestamp, field: str) -> datetime:
    """The moment within what ClickHouse holds; a Timestamp outside protobuf's own range (year 1 to
    9999, nanos 0 to 999,999,999) is the caller's error."""
    try:
        return min(max(to_datetime(moment), EARLIEST), LATEST)
    except (ValueError, OverflowError):
        raise _invalid(field, "is not a valid timestamp") from None


def _invalid(field: str, description: str) -> InvalidArgument:
    violation = FieldViolation(field, description)
    return InvalidArgument("invalid-argument", f"{field} {description}", [violation])


def journey_limit(requested: int) -> int:
    """0 means the default; above the maximum is lowered to it (AIP-158 page sizes); negative is an error."""
    if requested < 0:
        raise _invalid("limit", "must not be negative")
    return min(requested or DEFAULT_JOURNEY_LIMIT, MAX_JOURNEY_LIMIT)


class AnalyticsServicer(analytics_pb2_grpc.AnalyticsServiceServicer):
    def __init__(self, store: AnalyticsStore) -> None:
        self._store = store

    async def GetCustomerJourney(
        self, request: analytics_pb2.GetCustomerJourneyRequest, context: grpc.aio.ServicerContext
    ) -> analytics_pb2.CustomerJourney:
        customer_id = require(request.customer_id, "customer_id", "the customer")
        entries = await self._store.journey(current_tenant(), customer_id, journey_limit(request.limit))
        return _journey(customer_id, entries)

    async def GetContactJourney(
        self, request: analytics_pb2.GetContactJourneyRequest, context: grpc.aio.ServicerContext
    ) -> analytics_pb2.CustomerJourney:
        contact_id = require(request.contact_id, "contact_id", "the contact")
        found = await self._store.contact_journey(current_tenant(), contact_id, journey_limit(request.limit))
        if found is None:
            raise NotFound("contact-not-found", f"no journey holds contact {contact_id}")
        return _journey(*found)

    async def GetTicketJourney(
        self, request: analytics_pb2.GetTicketJourneyRequest, context: grpc.aio.ServicerContext
    ) -> analytics_pb2.CustomerJourney:
        ticket_id = require(request.ticket_id, "ticket_id", "the ticket")
        found = await self._store.ticket_journey(current_tenant(), ticket_id, journey_limit(request.limit))
        if found is None:
            raise NotFound("ticket-not-found", f"no journey holds ticket {ticket_id} (has it a customer?)")
        return _journey(*found)

    async def GetTicketStatistics(
        self, request: analytics_pb2.GetTicketStatisticsRequest, context: grpc.aio.ServicerContext
    ) -> analytics_pb2.TicketStatistics:
        time_zone, stats = await self._ticket_statistics(request)
        answer = analytics_pb2.TicketStatistics(bucket=request.bucket, by=request.by, time_zone=time_zone)
        answer.rows.extend(ticket_row(s) for s in stats)
        return answer

    async def GetCallStatistics(
        self, request: analytics_pb2.GetCallStatisticsRequest, context: grpc.aio.ServicerContext
    ) -> analytics_pb2.CallStatistics:
        time_zone, threshold, stats = await self._call_statistics(request)
        answer = analytics_pb2.CallStatistics(bucket=request.bucket, by=request.by, time_zone=time_zone)
        answer.service_level_threshold_seconds = threshold
        answer.rows.extend(call_row(s) for s in stats)
        return answer

    async def ExportEvents(
        self, request: analytics_pb2.ExportEventsRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[analytics_pb2.ExportChunk]:
        async for chunk in self._paged(request, exports.EVENTS, self._store.export_events):
            yield chunk

    async def ExportTickets(
        self, request: analytics_pb2.ExportTicketsRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[analytics_pb2.ExportChunk]:
        async for chunk in self._paged(request, exports.TICKETS, self._store.export_tickets):
            yield chunk

    async def _paged(
        self,
        request: analytics_pb2.ExportEventsRequest | analytics_pb2.ExportTicketsRequest,
        table: exports.Table,
        read: ReadPage,
    ) -> AsyncIterator[analytics_pb2.ExportChunk]:
        """An export of the rows `read` gives a page at a time, after each page's last cursor."""
        tenant_id, parquet, (from_time, to_time) = current_tenant(), _parquet(request), _period(request)

        async def page(after: str) -> Sequence[Row]:
            if _empty(from_time, to_time):
                return []
            return await read(tenant_id, from_time, to_time, after, EXPORT_PAGE_ROWS)

        async for chunk in _chunks(table, parquet, exports.pages(table, page)):
            yield chunk

    async def ExportCallStatistics(
        self, request: analytics_pb2.ExportCallStatisticsRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[analytics_pb2.ExportChunk]:
        parquet = _parquet(request)
        _, _, stats = await self._call_statistics(request.statistics)
        rows = [astuple(s) for s in stats]
        async for chunk in _chunks(exports.CALL_STATISTICS, parquet, exports.one_page(rows)):
            yield chunk

    async def ExportTicketStatistics(
        self, request: analytics_pb2.ExportTicketStatisticsRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[analytics_pb2.ExportChunk]:
        parquet = _parquet(request)
        _, stats = await self._ticket_statistics(request.statistics)
        rows = [astuple(s) for s in stats]
        async for chunk in _chunks(exports.TICKET_STATISTICS, parquet, exports.one_page(rows)):
            yield chunk

    async def _ticket_statistics(
        self, request: analytics_pb2.GetTicketStatisticsRequest
    ) -> tuple[str, list[TicketStats]]:
        """The time zone and rows of a ticket statistics table."""
        time_zone = _table(request, TICKET_KEYS)
        from_time, to_time = _period(request)
        if _empty(from_time, to_time):
            return time_zone, []
        stats = await self._store.ticket_statistics(
            current_tenant(), from_time, to_time, request.bucket, request.by, time_zone
        )
        return time_zone, stats

    async def _call_statistics(
        self, request: analytics_pb2.GetCallStatisticsRequest
    ) -> tuple[str, int, list[CallStats]]:
        """The time zone, service level threshold and rows of a call statistics table."""
        time_zone, threshold = _table(request, CALL_KEYS), _threshold(request)
        from_time, to_time = _period(request)
        if _empty(from_time, to_time):
            return time_zone, threshold, []
        stats = await self._store.call_statistics(
            current_tenant(), from_time, to_time, threshold, request.bucket, request.by, time_zone
        )
        return time_zone, threshold, stats

    async def GetQueueStatistics(
        self, request: analytics_pb2.GetQueueStatisticsRequest, context: grpc.aio.ServicerContext
    ) -> analytics_pb2.QueueStatistics:
        threshold = _threshold(request)
        # A bound beyond what ClickHouse's DateTime64 holds cuts off no event: clamp it. An empty or
        # backwards period holds no event: it is answered with no rows, not refused.
        from_time, to_time = _period(request)
        if _empty(from_time, to_time):
            return analytics_pb2.QueueStatistics(service_level_threshold_seconds=threshold)
        stats = await self._store.queue_statistics(current_tenant(), from_time, to_time, threshold)
        return analytics_pb2.QueueStatistics(
            service_level_threshold_seconds=threshold, queues=[statistics_row(s) for s in stats]
        )
