"""The routing worker's part of a call's trace. `repartition` forwards each event with the trace context
its source record carried (`telemetry.trace_headers`); `route` folds it in a span of that trace
(`routing`), and each decision the fold makes is a span of its own whose context the decision's record
carries on (`deciding`), to telephony, which rings the agent, and to the analytics sink. A decision made
on a timer's tick (a widened target) starts a trace of its own.

No Faust here, so it is tested without a broker; with tracing off nothing is started or read."""

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager

from cc.common.v1 import event_pb2
from opentelemetry import trace

from services.common import telemetry
from services.routing.matching import Decision

_tracer = telemetry.tracer(__name__)


def routing(message: telemetry.Record, event: event_pb2.Event, group: str) -> AbstractContextManager[object]:
    """The span of folding `event`, which `message` brought, into its tenant's board."""
    return telemetry.consuming(
        _tracer, f"route {event.event_type}", message, group, **{"cc.tenant_id": event.tenant_id}
    )


@contextmanager
def deciding(decision: Decision) -> Iterator[list[tuple[str, bytes]]]:
    """The span of one routing decision, current for the block; gives the headers its record carries."""
    if not telemetry.tracing():
        yield []
        return
    routed = decision.routed
    attributes = {
        "cc.contact_id": decision.contact.contact_id,
        "cc.agent_id": routed.agent_id,
        "cc.decision_id": routed.decision_id,
        "cc.queue_id": decision.contact.queue_id,
    }
    with _tracer.start_as_current_span(
        "routing decision", kind=trace.SpanKind.PRODUCER, attributes=attributes
    ):
        yield telemetry.inject_headers()
