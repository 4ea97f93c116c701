"""RED metrics (rate, errors, duration) of the requests a process serves: per gRPC method in the
services' interceptor (services/common/grpc_server.py), per REST route in the gateway
(services/gateway/tracing.py). Names and attributes follow OpenTelemetry's RPC and HTTP conventions;
the durations are in seconds, in buckets from 1 ms to 10 s (a command answers in a few ms, a query of
the journey in tens, and a command waits at most CC_COMMAND_TIMEOUT_SECONDS for its outcome).

Both wrap a request in a measurement only when metrics are exported (telemetry.metering()), so with
metrics off a request costs nothing more than before."""

from collections.abc import Mapping

from opentelemetry import metrics

from services.common import telemetry

Attributes = Mapping[str, str | int]
DURATION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class RequestMetrics:
    """Requests served, those that failed for the server's fault, and how long each took."""

    def __init__(self, meter: metrics.Meter, kind: str, duration: str) -> None:
        self._requests = meter.create_counter(
            f"{kind}.server.requests", unit="{request}", description="Requests served."
        )
        self._errors = meter.create_counter(
            f"{kind}.server.errors",
            unit="{request}",
            description="Requests that failed for the server's fault (gRPC INTERNAL, UNAVAILABLE, ...; 5xx).",
        )
        self._duration = meter.create_histogram(
            duration,
            unit="s",
            description="How long a request took to answer.",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
        )

    def record(self, attributes: Attributes, seconds: float, failed: bool) -> None:
        self._requests.add(1, attributes)
        if failed:
            self._errors.add(1, attributes)
        self._duration.record(seconds, attributes)


def exported(kind: str, duration: str) -> RequestMetrics | None:
    """The metrics of the requests this process serves when metrics are exported; else None, and the
    requests are not measured at all."""
    return RequestMetrics(telemetry.meter(__name__), kind, duration) if telemetry.metering() else None
