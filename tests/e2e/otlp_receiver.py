"""A real OTLP/gRPC receiver for the end-to-end session, standing where the collector stands on a cluster:
the platform's processes export their spans and metrics to it over the network (OTEL_TRACES_EXPORTER=otlp,
OTEL_EXPORTER_OTLP_ENDPOINT), and it keeps what they sent for the tests to read, as an in-memory exporter
would inside one process.

It serves on an event loop of its own, in a thread: the session's fixtures start the platform from
synchronous code (Platform.up runs a loop of its own meanwhile), and an export must be answered whatever
the tests' loop is doing, or the processes' exporters back off and hold their spans back."""

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import grpc
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource

Attributes = dict[str, Any]


@dataclass(frozen=True)
class ReceivedSpan:
    service: str  # the exporting process's service.name
    name: str
    trace_id: str
    span_id: str
    parent_id: str  # empty for a root span
    attributes: Attributes


@dataclass(frozen=True)
class ReceivedPoint:
    """One data point of a metric as last exported: a sum's or gauge's value, a histogram's count."""

    service: str
    metric: str
    attributes: Attributes
    value: float


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    return getattr(value, kind) if kind else None


def _attributes(pairs: Any) -> Attributes:
    return {pair.key: _value(pair.value) for pair in pairs}


def _service(resource: Resource) -> str:
    return str(_attributes(resource.attributes).get("service.name", ""))


class OtlpReceiver:
    """What the processes exported: every span, and the latest value of every metric's data point."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._spans: list[ReceivedSpan] = []
        self._points: dict[tuple[str, str, tuple[tuple[str, Any], ...]], ReceivedPoint] = {}
        self.endpoint = ""

    def take_spans(self, request: trace_service_pb2.ExportTraceServiceRequest) -> None:
        received = [
            ReceivedSpan(
                service=_service(resource_spans.resource),
                name=span.name,
                trace_id=span.trace_id.hex(),
                span_id=span.span_id.hex(),
                parent_id=span.parent_span_id.hex(),
                attributes=_attributes(span.attributes),
            )
            for resource_spans in request.resource_spans
            for scope_spans in resource_spans.scope_spans
            for span in scope_spans.spans
        ]
        with self._lock:
            self._spans.extend(received)

    def take_points(self, request: metrics_service_pb2.ExportMetricsServiceRequest) -> None:
        for resource_metrics in request.resource_metrics:
            service = _service(resource_metrics.resource)
            for scope_metrics in resource_metrics.scope_metrics:
                for metric in scope_metrics.metrics:
                    kind = metric.WhichOneof("data")
                    for point in getattr(metric, kind).data_points if kind else ():
                        attributes = _attributes(point.attributes)
                        value = (
                            point.count if kind == "histogram" else getattr(point, point.WhichOneof("value"))
                        )
                        key = (service, metric.name, tuple(sorted(attributes.items())))
                        with self._lock:
                            self._points[key] = ReceivedPoint(service, metric.name, attributes, value)

    def spans(self) -> list[ReceivedSpan]:
        with self._lock:
            return list(self._spans)

    def points(self, metric: str) -> list[ReceivedPoint]:
        with self._lock:
            return [point for point in self._points.values() if point.metric == metric]


class _Traces(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self, receiver: OtlpReceiver) -> None:
        self._receiver = receiver

    async def Export(
        self, request: trace_service_pb2.ExportTraceServiceRequest, context: grpc.aio.ServicerContext
    ) -> trace_service_pb2.ExportTraceServiceResponse:
        self._receiver.take_spans(request)
        return trace_service_pb2.ExportTraceServiceResponse()


class _Metrics(metrics_service_pb2_grpc.MetricsServiceServicer):
    def __init__(self, receiver: OtlpReceiver) -> None:
        self._receiver = receiver

    async def Export(
        self, request: metrics_service_pb2.ExportMetricsServiceRequest, context: grpc.aio.ServicerContext
    ) -> metrics_service_pb2.ExportMetricsServiceResponse:
        self._receiver.take_points(request)
        return metrics_service_pb2.ExportMetricsServiceResponse()


@contextmanager
def receiving() -> Iterator[OtlpReceiver]:
    """A receiver listening on 127.0.0.1 (its `endpoint`, as OTEL_EXPORTER_OTLP_ENDPOINT names it)."""
    receiver = OtlpReceiver()
    loop = asyncio.new_event_loop()
    server: list[grpc.aio.Server] = []
    started = threading.Event()

    async def serve() -> None:
        listening = grpc.aio.server()
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(_Traces(receiver), listening)
        metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(_Metrics(receiver), listening)
        port = listening.add_insecure_port("127.0.0.1:0")
        await listening.start()
        receiver.endpoint = f"http://127.0.0.1:{port}"
        server.append(listening)

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(serve())
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=run, name="otlp-receiver", daemon=True)
    thread.start()
    if not started.wait(timeout=30):
        raise RuntimeError("the OTLP receiver did not start")
    try:
        yield receiver
    finally:
        asyncio.run_coroutine_threadsafe(server[0].stop(grace=None), loop).result(timeout=30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=30)
        loop.close()
