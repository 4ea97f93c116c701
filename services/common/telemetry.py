"""OpenTelemetry: one tracer provider and one meter provider per process, installed only when something
takes what they record; trace context carried in gRPC metadata and Kafka headers, so that one call is one
trace from the REST request that offered it through every process that reacts to it.

Turned on by the SDK's standard variables: OTEL_TRACES_EXPORTER and OTEL_METRICS_EXPORTER (`otlp`,
`console` or both, comma-separated; unset or `none` is off), OTEL_EXPORTER_OTLP_ENDPOINT (the collector,
http://otel-collector:4317 on Kubernetes) and the SDK's own tuning (OTEL_BSP_SCHEDULE_DELAY,
OTEL_METRIC_EXPORT_INTERVAL, ...), which its exporters and processors read themselves.

Off, the API's no-op providers stay. Recording spans for nobody cost about 7% of a service's CPU under
load, so nothing is recorded; the RPC path still carries on the context it is handed (a no-op span is
its parent's context), and the Kafka consumers that only trace (`consuming`) skip even reading it."""

import os
from collections.abc import Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Protocol

from opentelemetry import context as otel_context
from opentelemetry import metrics, propagate, trace
from opentelemetry.context import Context
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    ConsoleMetricExporter,
    MetricExporter,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter

Headers = Mapping[str, bytes] | Iterable[tuple[str, bytes]] | None
OFF = ("", "none")
_NOTHING: AbstractContextManager[object] = nullcontext()  # reusable: it keeps no state


class _Switches:
    """Whether this process records spans and metrics (set once, by `configure`)."""

    tracing = False
    metering = False


_on = _Switches()


def configure(service_name: str) -> None:
    """Install the SDK providers the environment asks for, their resource naming the service."""
    resource = Resource.create({"service.name": service_name})
    span_exporters = [_span_exporter(name) for name in _exporters("OTEL_TRACES_EXPORTER")]
    if span_exporters:
        provider = TracerProvider(resource=resource)
        for exporter in span_exporters:
            provider.add_span_processor(BatchSpanProcessor(exporter))
        trace.set_tracer_provider(provider)
        _on.tracing = True
    metric_exporters = [_metric_exporter(name) for name in _exporters("OTEL_METRICS_EXPORTER")]
    if metric_exporters:
        readers = [PeriodicExportingMetricReader(exporter) for exporter in metric_exporters]
        metrics.set_meter_provider(MeterProvider(resource=resource, metric_readers=readers))
        _on.metering = True


def _exporters(variable: str) -> list[str]:
    return [name for name in os.environ.get(variable, "").replace(" ", "").split(",") if name not in OFF]


def _span_exporter(name: str) -> SpanExporter:
    if name == "console":
        return ConsoleSpanExporter()
    if name == "otlp":  # imported here: a process that exports nothing never loads it
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter()
    raise ValueError(f"OTEL_TRACES_EXPORTER: {name!r} is not one of otlp, console, none")


def _metric_exporter(name: str) -> MetricExporter:
    if name == "console":
        return ConsoleMetricExporter()
    if name == "otlp":
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter

        return OTLPMetricExporter()
    raise ValueError(f"OTEL_METRICS_EXPORTER: {name!r} is not one of otlp, console, none")


def tracing() -> bool:
    """Spans are recorded and exported."""
    return _on.tracing


def metering() -> bool:
    """Metrics are recorded and exported."""
    return _on.metering


def tracer(name: str) -> trace.Tracer:
    return trace.get_tracer(name)


def meter(name: str) -> metrics.Meter:
    return metrics.get_meter(name)


def inject_headers() -> list[tuple[str, bytes]]:
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return [(key, value.encode()) for key, value in carrier.items()]


def extract_context(headers: Headers) -> Context:
    carrier = {key: value.decode(errors="replace") for key, value in _pairs(headers)}
    return propagate.extract(carrier)


def inject_metadata() -> list[tuple[str, str]]:
    """The current trace context as gRPC request metadata."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return list(carrier.items())


def extract_metadata(metadata: dict[str, str]) -> Context:
    return propagate.extract(metadata)


def _pairs(headers: Headers) -> Iterable[tuple[str, bytes]]:
    return headers.items() if isinstance(headers, Mapping) else headers or ()


def trace_headers(headers: Headers) -> list[tuple[str, bytes]]:
    """The trace context a record carries, as its headers, for a record forwarded as it came (the
    routing worker's re-keying); none when tracing is off."""
    if not _on.tracing:
        return []
    fields = propagate.get_global_textmap().fields
    return [(key, value) for key, value in _pairs(headers) if key in fields]


class Record(Protocol):
    """A consumed Kafka record, as aiokafka and Faust both hand it over."""

    @property
    def topic(self) -> str: ...

    @property
    def partition(self) -> int: ...

    @property
    def offset(self) -> int: ...

    @property
    def headers(self) -> Headers: ...


def start_consuming(
    tracer: trace.Tracer, name: str, record: Record, group: str, **attributes: str
) -> trace.Span:
    """A consumer span for one record's work, a child of the context the record carries (started, not
    current: a batch ends its records' spans together)."""
    return tracer.start_span(
        name,
        context=extract_context(record.headers),
        kind=trace.SpanKind.CONSUMER,
        attributes={
            "messaging.system": "kafka",
            "messaging.operation.type": "process",
            "messaging.destination.name": record.topic,
            "messaging.destination.partition.id": str(record.partition),
            "messaging.kafka.offset": record.offset,
            "messaging.consumer.group.name": group,
            **attributes,
        },
    )


def consuming(
    tracer: trace.Tracer, name: str, record: Record, group: str, **attributes: str
) -> AbstractContextManager[object]:
    """`start_consuming`'s span, current for the block, so what the block sends carries it on; nothing
    at all (not even reading the record's headers) when tracing is off."""
    if not _on.tracing:
        return _NOTHING
    return trace.use_span(start_consuming(tracer, name, record, group, **attributes), end_on_exit=True)


def carried() -> Context | None:
    """The current context, for work done later on behalf of this one (see `attached`); None when
    tracing is off."""
    return otel_context.get_current() if _on.tracing else None


def attached(context: Context | None) -> AbstractContextManager[object]:
    """Make `context` current for the block (what it sends carries that trace); nothing when None."""
    return _NOTHING if context is None else _attached(context)


@contextmanager
def _attached(context: Context) -> Iterator[None]:
    token = otel_context.attach(context)
    try:
        yield
    finally:
        otel_context.detach(token)
