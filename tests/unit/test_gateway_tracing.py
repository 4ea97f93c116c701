"""The gateway's request span: one server span per HTTP request, current while the route runs (so the
gRPC metadata it sends carries the request's trace), and none for a lifespan or other ASGI scope."""

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from services.common import telemetry
from services.gateway.tracing import TraceRequests


async def _route(request: Request) -> JSONResponse:
    return JSONResponse({"traceparent": dict(telemetry.inject_metadata()).get("traceparent", "")})


def test_each_request_is_one_server_span_that_the_route_carries_on() -> None:
    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    app = Starlette(routes=[Route("/v1/calls/{call_id}/answer", _route, methods=["POST"])])
    app.add_middleware(TraceRequests, tracer=provider.get_tracer("test"))

    with TestClient(app) as client:
        carried = [client.post(f"/v1/calls/c-{n}/answer").json()["traceparent"] for n in range(2)]

    finished = spans.get_finished_spans()
    assert [(span.name, span.kind) for span in finished] == [
        ("POST /v1/calls/c-0/answer", trace.SpanKind.SERVER),
        ("POST /v1/calls/c-1/answer", trace.SpanKind.SERVER),
    ]
    # What the route sent on names the request's span: its trace and its span id.
    for span, traceparent in zip(finished, carried, strict=True):
        context = span.get_span_context()
        assert traceparent.startswith(f"00-{context.trace_id:032x}-{context.span_id:016x}-")
