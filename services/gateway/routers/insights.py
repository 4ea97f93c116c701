"""Customer journeys (AN-1), call, queue and ticket statistics (AN-2, AN-3) from ClickHouse, and live queue
metrics from the stream worker (RTM-1, RTM-5)."""

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Annotated, Literal

from cc.analytics.v1 import analytics_pb2
from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse
from google.protobuf.message import Message

from services.common.envelope import timestamp
from services.common.errors import NotFound
from services.gateway.deps import AuthenticatedCaller, Clients, LiveMetrics
from services.gateway.errors import ERROR_RESPONSES
from services.gateway.models import (
    CallStatistics,
    Journey,
    PathId,
    QueueMetrics,
    QueueStatistics,
    TenantMetrics,
    TicketStatistics,
)

router = APIRouter(tags=["insights"], responses=ERROR_RESPONSES)


def period(request: Message, from_time: datetime | None, to_time: datetime | None) -> None:
    """A statistics request's period; a time without a zone is UTC."""
    for field, moment in (("from_time", from_time), ("to_time", to_time)):
        if moment is not None:
            getattr(request, field).CopyFrom(
                timestamp(moment if moment.tzinfo else moment.replace(tzinfo=UTC))
            )


STREAM_INTERVAL_SECONDS = 1.0
# The period and the buckets of a statistics table.
From = Annotated[datetime | None, Query(alias="from", description="Start (inclusive); none: all")]
To = Annotated[datetime | None, Query(alias="to", description="End (exclusive); none: now")]
Bucket = Annotated[Literal["hour", "day", "week", "month"] | None, Query(description="None: one row per key")]
TimeZone = Annotated[
    str, Query(max_length=64, pattern=r"^[A-Za-z0-9_+\-/]+$", description="Where buckets are cut (IANA)")
]
Threshold = Annotated[int, Query(ge=1, le=3600, description="Service level threshold, seconds")]


JourneyLimit = Annotated[int, Query(ge=1, le=10_000, description="At most this many events")]


@router.get("/v1/customers/{customer_id}/journey", summary="Every event of one customer, in time order")
async def journey(
    customer_id: PathId, who: AuthenticatedCaller, services: Clients, limit: JourneyLimit = 1000
) -> Journey:
    request = analytics_pb2.GetCustomerJourneyRequest(customer_id=customer_id, limit=limit)
    return Journey.of(await services.analytics.GetCustomerJourney(request, metadata=who.metadata))


@router.get(
    "/v1/contacts/{contact_id}/journey",
    summary="One contact's call and routing events and its tickets' events, in time order",
)
async def contact_journey(
    contact_id: PathId, who: AuthenticatedCaller, services: Clients, limit: JourneyLimit = 1000
) -> Journey:
    request = analytics_pb2.GetContactJourneyRequest(contact_id=contact_id, limit=limit)
    return Journey.of(await services.analytics.GetContactJourney(request, metadata=who.metadata))


@router.get(
    "/v1/tickets/{ticket_id}/journey",
    summary="One ticket's events and its contact's call and routing events, in time order",
)
async def ticket_journey(
    ticket_id: PathId, who: AuthenticatedCaller, services: Clients, limit: JourneyLimit = 1000
) -> Journey:
    request = analytics_pb2.GetTicketJourneyRequest(ticket_id=ticket_id, limit=limit)
    return Journey.of(await services.analytics.GetTicketJourney(request, metadata=who.metadata))


@router.get("/v1/statistics/queues", summary="Per-queue call statistics from ClickHouse, over any period")
async def queue_statistics(
    who: AuthenticatedCaller,
    services: Clients,
    from_time: From = None,
    to_time: To = None,
    threshold: Threshold = 20,
) -> QueueStatistics:
    request = analytics_pb2.GetQueueStatisticsRequest(service_level_threshold_seconds=threshold)
    period(request, from_time, to_time)
    return QueueStatistics.of(await services.analytics.GetQueueStatistics(request, metadata=who.metadata))


def ticket_statistics_request(
    from_time: From = None,
    to_time: To = None,
    bucket: Bucket = None,
    by: Annotated[
        Literal["channel", "category", "agent", "group", "status", "kind", "claim"] | None,
        Query(description="The ticket's as it is now; none: all tickets as one"),
    ] = None,
    time_zone: TimeZone = "UTC",
) -> analytics_pb2.GetTicketStatisticsRequest:
    """The ticket statistics table asked for, from the query (shared by the table and its export)."""
    request = analytics_pb2.GetTicketStatisticsRequest(bucket=bucket or "", by=by or "", time_zone=time_zone)
    period(request, from_time, to_time)
    return request


def call_statistics_request(
    from_time: From = None,
    to_time: To = None,
    bucket: Bucket = None,
    by: Annotated[
        Literal["queue", "agent", "site", "line", "direction"] | None,
        Query(
            description="site: the agent's at its latest login; line: the call's; direction: inbound or "
            "outbound; none: all as one"
        ),
    ] = None,
    time_zone: TimeZone = "UTC",
    threshold: Threshold = 20,
) -> analytics_pb2.GetCallStatisticsRequest:
    """The call statistics table asked for, from the query (shared by the table and its export)."""
    request = analytics_pb2.GetCallStatisticsRequest(
        bucket=bucket or "", by=by or "", time_zone=time_zone, service_level_threshold_seconds=threshold
    )
    period(request, from_time, to_time)
    return request


TicketStatisticsAsked = Annotated[
    analytics_pb2.GetTicketStatisticsRequest, Depends(ticket_statistics_request)
]
CallStatisticsAsked = Annotated[analytics_pb2.GetCallStatisticsRequest, Depends(call_statistics_request)]


@router.get(
    "/v1/statistics/tickets",
    summary="The ticket statistics table by channel, category, agent, group or status",
)
async def ticket_statistics(
    who: AuthenticatedCaller, services: Clients, request: TicketStatisticsAsked
) -> TicketStatistics:
    return TicketStatistics.of(await services.analytics.GetTicketStatistics(request, metadata=who.metadata))


@router.get("/v1/statistics/calls", summary="Call statistics by queue, agent or site, per period")
async def call_statistics(
    who: AuthenticatedCaller, services: Clients, request: CallStatisticsAsked
) -> CallStatistics:
    return CallStatistics.of(await services.analytics.GetCallStatistics(request, metadata=who.metadata))


@router.get("/v1/queues/{queue_id}/metrics", summary="Live metrics of a queue (refreshed every second)")
async def queue_metrics(queue_id: PathId, who: AuthenticatedCaller, live: LiveMetrics) -> QueueMetrics:
    metrics = live.get(who.tenant_id, queue_id)
    if metrics is None:
        raise NotFound("queue-not-found", f"no live metrics for queue {queue_id}")
    return QueueMetrics.of(metrics)


@router.get("/v1/metrics", summary="Live metrics of every queue of the tenant (a wallboard's first paint)")
async def tenant_metrics(who: AuthenticatedCaller, live: LiveMetrics) -> TenantMetrics:
    return TenantMetrics(queues=[QueueMetrics.of(m) for m in live.of_tenant(who.tenant_id)])


@router.get(
    "/v1/metrics/stream",
    summary="Live metrics of every queue of the tenant as server-sent events, once a second",
)
async def tenant_metrics_stream(
    who: AuthenticatedCaller,
    live: LiveMetrics,
    count: Annotated[int, Query(ge=0, le=86_400)] = 0,
) -> StreamingResponse:
    """One stream for a whole wallboard (a browser allows about six connections to a site). `count` > 0
    ends it after that many updates."""

    def update() -> str | None:
        body = TenantMetrics(queues=[QueueMetrics.of(m) for m in live.of_tenant(who.tenant_id)])
        return f"event: tenant-metrics\ndata: {body.model_dump_json()}\n\n"

    return _every_second(update, count)


@router.get(
    "/v1/queues/{queue_id}/metrics/stream", summary="Live metrics as server-sent events, once a second"
)
async def queue_metrics_stream(
    queue_id: PathId,
    who: AuthenticatedCaller,
    live: LiveMetrics,
    count: Annotated[int, Query(ge=0, le=86_400)] = 0,
) -> StreamingResponse:
    """`count` > 0 ends the stream after that many updates (handy for scripts and tests)."""

    def update() -> str | None:
        metrics = live.get(who.tenant_id, queue_id)
        if metrics is None:
            return None
        return f"event: queue-metrics\ndata: {QueueMetrics.of(metrics).model_dump_json()}\n\n"

    return _every_second(update, count)


def _every_second(update: Callable[[], str | None], count: int) -> StreamingResponse:
    """Server-sent events: `update()` once a second (None: nothing to send yet), `count` of them (0: for
    as long as the client listens)."""

    async def updates() -> AsyncIterator[str]:
        sent = 0
        while count <= 0 or sent < count:
            event = update()
            if event is not None:
                yield event
                sent += 1
            await asyncio.sleep(STREAM_INTERVAL_SECONDS)

    return StreamingResponse(updates(), media_type="text/event-stream")
