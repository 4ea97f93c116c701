"""One server span per REST request, as plain ASGI middleware: the gRPC calls a route makes carry the
span's context on (`Caller.metadata`), so a trace starts at the integrator's request. The span is named
after the route it matched (`POST /v1/calls/{call_id}/answer`), as OpenTelemetry's HTTP conventions
have it, so that one route's spans share a name whatever ids they name. With metrics exported, each
request is also counted and timed per route and status (services/common/request_metrics.py).

Plain ASGI rather than `@app.middleware("http")`: Starlette runs that kind of middleware in a task group
with memory streams around every request, which cost the gateway more CPU than the span."""

import time

from opentelemetry import trace
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.common.request_metrics import RequestMetrics


class TraceRequests:
    def __init__(self, app: ASGIApp, tracer: trace.Tracer, metrics: RequestMetrics | None = None) -> None:
        self.app = app
        self.tracer = tracer
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        with self.tracer.start_as_current_span(
            f"{method} {scope['path']}", kind=trace.SpanKind.SERVER
        ) as span:
            if self.metrics is None:
                await self.app(scope, receive, send)
            else:
                await self._measured(self.metrics, scope, receive, send)
            if span.is_recording() and (route := _route(scope)):
                span.update_name(f"{method} {route}")
                span.set_attribute("http.route", route)

    async def _measured(self, metrics: RequestMetrics, scope: Scope, receive: Receive, send: Send) -> None:
        status = 500  # what the client gets when the app fails before it answers

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        started = time.perf_counter()
        try:
            await self.app(scope, receive, sending)
        finally:
            attributes = {
                "http.request.method": scope["method"],
                "http.route": _route(scope),
                "http.response.status_code": status,
            }
            metrics.record(attributes, time.perf_counter() - started, status >= 500)


def _route(scope: Scope) -> str:
    """The path template of the route the request matched; empty when it matched none (a 404)."""
    return str(getattr(scope.get("route"), "path", ""))
