"""One server span per REST request, as plain ASGI middleware: the gRPC calls a route makes carry the
span's context on (`Caller.metadata`), so a trace starts at the integrator's request.

Plain ASGI rather than `@app.middleware("http")`: Starlette runs that kind of middleware in a task group
with memory streams around every request, which cost the gateway more CPU than the span."""

from opentelemetry import trace
from starlette.types import ASGIApp, Receive, Scope, Send


class TraceRequests:
    def __init__(self, app: ASGIApp, tracer: trace.Tracer) -> None:
        self.app = app
        self.tracer = tracer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        name = f"{scope['method']} {scope['path']}"
        with self.tracer.start_as_current_span(name, kind=trace.SpanKind.SERVER):
            await self.app(scope, receive, send)
