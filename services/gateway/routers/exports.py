"""Exports (AN-6): events, tickets and the statistics tables over a period as CSV or Parquet files,
streamed from the analytics service as it reads them a page at a time, never held whole here."""

from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

from cc.analytics.v1 import analytics_pb2
from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from services.gateway.deps import AuthenticatedCaller, Clients
from services.gateway.errors import ERROR_RESPONSES
from services.gateway.routers.insights import CallStatisticsAsked, From, TicketStatisticsAsked, To, period

router = APIRouter(prefix="/v1/exports", tags=["exports"], responses=ERROR_RESPONSES)

Format = Annotated[Literal["csv", "parquet"], Query(description="CSV (with a header row) or Apache Parquet")]
_FORMATS = {"csv": analytics_pb2.EXPORT_FORMAT_CSV, "parquet": analytics_pb2.EXPORT_FORMAT_PARQUET}
_MEDIA_TYPES = {"csv": "text/csv; charset=utf-8", "parquet": "application/vnd.apache.parquet"}
_FILE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The file, streamed",
        "content": {"text/csv": {}, "application/vnd.apache.parquet": {}},
    }
}


async def _download(chunks: Any, name: str, file_format: str) -> StreamingResponse:
    """The export as a file download. Its first chunk is awaited here, so that a refused export (a bad
    time zone, a role that may not export) is an error response, not a broken download. A failure
    after that can only cut the download short (the status line is sent), and a client that goes away
    cancels the stream, so the analytics service stops reading pages for nobody."""
    stream: AsyncIterator[analytics_pb2.ExportChunk] = chunks.__aiter__()
    try:
        first = await anext(stream, None)
    except BaseException:
        chunks.cancel()
        raise

    async def body() -> AsyncIterator[bytes]:
        try:
            if first is not None:
                yield first.data
            async for chunk in stream:
                yield chunk.data
        finally:
            chunks.cancel()

    disposition = f'attachment; filename="{name}.{file_format}"'
    return StreamingResponse(
        body(), media_type=_MEDIA_TYPES[file_format], headers={"Content-Disposition": disposition}
    )


@router.get(
    "/events",
    summary="Every event of the tenant over a period, by event id, with its payload as JSON",
    response_class=StreamingResponse,
    responses=_FILE,
)
async def export_events(
    who: AuthenticatedCaller,
    services: Clients,
    from_time: From = None,
    to_time: To = None,
    format: Format = "csv",
) -> StreamingResponse:
    request = analytics_pb2.ExportEventsRequest(format=_FORMATS[format])
    period(request, from_time, to_time)
    return await _download(services.analytics.ExportEvents(request, metadata=who.metadata), "events", format)


@router.get(
    "/tickets",
    summary="One row per ticket opened in the period, with its fields as they are now",
    response_class=StreamingResponse,
    responses=_FILE,
)
async def export_tickets(
    who: AuthenticatedCaller,
    services: Clients,
    from_time: From = None,
    to_time: To = None,
    format: Format = "csv",
) -> StreamingResponse:
    request = analytics_pb2.ExportTicketsRequest(format=_FORMATS[format])
    period(request, from_time, to_time)
    return await _download(
        services.analytics.ExportTickets(request, metadata=who.metadata), "tickets", format
    )


@router.get(
    "/statistics/calls",
    summary="The call statistics table (as GET /v1/statistics/calls) as a file",
    response_class=StreamingResponse,
    responses=_FILE,
)
async def export_call_statistics(
    who: AuthenticatedCaller, services: Clients, statistics: CallStatisticsAsked, format: Format = "csv"
) -> StreamingResponse:
    request = analytics_pb2.ExportCallStatisticsRequest(statistics=statistics, format=_FORMATS[format])
    chunks = services.analytics.ExportCallStatistics(request, metadata=who.metadata)
    return await _download(chunks, "call-statistics", format)


@router.get(
    "/statistics/tickets",
    summary="The ticket statistics table (as GET /v1/statistics/tickets) as a file",
    response_class=StreamingResponse,
    responses=_FILE,
)
async def export_ticket_statistics(
    who: AuthenticatedCaller, services: Clients, statistics: TicketStatisticsAsked, format: Format = "csv"
) -> StreamingResponse:
    request = analytics_pb2.ExportTicketStatisticsRequest(statistics=statistics, format=_FORMATS[format])
    chunks = services.analytics.ExportTicketStatistics(request, metadata=who.metadata)
    return await _download(chunks, "ticket-statistics", format)
