"""The analytics sink's spans: one per event it stores ("store <event type>"), a child of the context the
event's record carries, so that a call's trace ends where each of its events reached ClickHouse.

A batch's spans start as its records are read and end together when its one insert has returned, or
failed (then each records the error): a span lasts from the sink taking its event to ClickHouse holding
it. With tracing off nothing is started, nor a record's headers read."""

from types import TracebackType

from aiokafka import ConsumerRecord
from cc.common.v1 import event_pb2
from opentelemetry import trace

from services.common import telemetry

_tracer = telemetry.tracer(__name__)


class StoredSpans:
    """The spans of one batch's events, ended on leaving the block."""

    def __init__(self, group: str) -> None:
        self._group = group
        self._open: list[trace.Span] = []

    def add(self, record: ConsumerRecord, event: event_pb2.Event) -> None:
        """A span for the event of `record`, which the batch's insert will store."""
        if not telemetry.tracing():
            return
        span = telemetry.start_consuming(
            _tracer,
            f"store {event.event_type}",
            record,
            self._group,
            **{
                "cc.tenant_id": event.tenant_id,
                "cc.aggregate_id": event.aggregate_id,
                "cc.event_id": event.event_id,
            },
        )
        self._open.append(span)

    def __enter__(self) -> "StoredSpans":
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        for span in self._open:
            if error is not None:
                span.record_exception(error)
                span.set_status(trace.StatusCode.ERROR, f"not stored: {error!r}")
            span.end()
        self._open = []
