"""The gateway's request span: one server span per HTTP request, named after its route and current while
the route runs (so the gRPC metadata it sends carries the request's trace), and none for a lifespan or
other ASGI scope; with metrics, each request counted and timed per route and status."""

from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from services.common import telemetry
from services.common.request_metrics import RequestMetrics
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
    # One name for the route, whatever call it names (OpenTelemetry's HTTP span names).
    assert [(span.name, span.kind) for span in finished] == [
        ("POST /v1/calls/{call_id}/answer", trace.SpanKind.SERVER),
        ("POST /v1/calls/{call_id}/answer", trace.SpanKind.SERVER),
    ]
    assert finished[0].attributes == {"http.route": "/v1/calls/{call_id}/answer"}
    # What the route sent on names the request's span: its trace and its span id.
    for span, traceparent in zip(finished, carried, strict=True):
        context = span.get_span_context()
        assert traceparent.startswith(f"00-{context.trace_id:032x}-{context.span_id:016x}-")


async def _failing(request: Request) -> JSONResponse:
    raise RuntimeError("a bug")


def test_each_request_is_counted_and_timed_per_route_and_status() -> None:
    reader = InMemoryMetricReader()
    metrics = RequestMetrics(
        MeterProvider(metric_readers=[reader]).get_meter("test"), "http", "http.duration"
    )
    app = Starlette(
        routes=[
            Route("/v1/calls/{call_id}/answer", _route, methods=["POST"]),
            Route("/v1/bug", _failing, methods=["GET"]),
        ]
    )
    app.add_middleware(TraceRequests, tracer=trace.NoOpTracer(), metrics=metrics)

    with TestClient(app, raise_server_exceptions=False) as client:
        for n in range(3):
            client.post(f"/v1/calls/c-{n}/answer")
        assert client.get("/v1/bug").status_code == 500
        assert client.get("/nowhere").status_code == 404

    points = _points(reader)
    answer = ("POST", "/v1/calls/{call_id}/answer", 200)
    assert points["http.server.requests"] == {answer: 3, ("GET", "/v1/bug", 500): 1, ("GET", "", 404): 1}
    assert points["http.server.errors"] == {("GET", "/v1/bug", 500): 1}  # the server's fault only
    assert points["http.duration"][answer] == 3  # three durations recorded


def _points(reader: InMemoryMetricReader) -> dict[str, dict[tuple[Any, ...], Any]]:
    """metric name -> (method, route, status) -> a counter's value or a histogram's count."""
    found: dict[str, dict[tuple[Any, ...], Any]] = {}
    data = reader.get_metrics_data()
    assert data is not None
    for metric in data.resource_metrics[0].scope_metrics[0].metrics:
        for point in metric.data.data_points:
            where = tuple(point.attributes[key] for key in ("http.request.method", "http.route"))
            where += (point.attributes["http.response.status_code"],)
            found.setdefault(metric.name, {})[where] = getattr(point, "value", getattr(point, "count", None))
    return found
