"""A call's trace across the Kafka hops, without a broker: what each consumer reads from a record's
headers and hands on. The routing worker forwards an event with its trace headers, folds it in a span of
that trace and sends each decision with its own span's context; a policy reacts in a span of the record's
trace and its commands carry that span; the analytics sink stores each event in a span of its own trace.
With tracing off, none of them reads a header or starts a span."""

import asyncio
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from cc.common.v1 import event_pb2
from cc.routing.v1 import events_pb2 as routing_events
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from services.analytics.stored_spans import StoredSpans
from services.common import policy, telemetry
from services.common.command_bus import CommandBus
from services.common.topics import AGENTS
from services.routing.board import WaitingContact
from services.routing.matching import Decision
from services.routing.stream.board_input import SOURCE_HEADER
from services.routing.stream.tracing import deciding, routing

TRACE_ID = 0x4BF92F3577B34DA6A3CE929D0E0E4736
PARENT_ID = 0x00F067AA0BA902B7
TRACEPARENT = (b"00-%032x-%016x-01") % (TRACE_ID, PARENT_ID)


class _WhileArmed(SimpleSpanProcessor):
    """Hands finished spans to the exporter only while a test of this module asks for them: the SDK's
    provider is global and set once, and other tests' spans are none of these tests' business."""

    armed = False

    def on_end(self, span: ReadableSpan) -> None:
        if self.armed:
            super().on_end(span)


_EXPORTER = InMemorySpanExporter()
_PROCESSOR = _WhileArmed(_EXPORTER)


@pytest.fixture
def spans(monkeypatch: pytest.MonkeyPatch) -> Iterator[InMemorySpanExporter]:
    """Tracing on, the spans finished meanwhile."""
    if not isinstance(trace.get_tracer_provider(), TracerProvider):
        provider = TracerProvider()
        provider.add_span_processor(_PROCESSOR)
        trace.set_tracer_provider(provider)
    monkeypatch.setattr(telemetry._on, "tracing", True)
    _EXPORTER.clear()
    _PROCESSOR.armed = True
    try:
        yield _EXPORTER
    finally:
        _PROCESSOR.armed = False


class Unreadable:
    """Headers that fail the test if anyone reads them."""

    def __iter__(self) -> Iterator[Any]:
        raise AssertionError("the headers were read with tracing off")

    def items(self) -> Iterator[Any]:
        raise AssertionError("the headers were read with tracing off")


def record(headers: Any, topic: str = "telephony.call.events.v1", offset: int = 7) -> Any:
    """A consumed record as aiokafka and Faust both hand it over."""
    return SimpleNamespace(topic=topic, partition=2, offset=offset, headers=headers, key=b"k", value=b"")


def event(event_type: str, aggregate_id: str = "call-1") -> event_pb2.Event:
    return event_pb2.Event(
        event_id=f"e-{event_type}", event_type=event_type, tenant_id="t", aggregate_id=aggregate_id
    )


def traceparent_of(headers: list[tuple[str, bytes]]) -> tuple[int, int]:
    """(trace id, span id) of the traceparent header among `headers`."""
    (value,) = [value for key, value in headers if key == "traceparent"]
    _, trace_id, span_id, _ = value.decode().split("-")
    return int(trace_id, 16), int(span_id, 16)


def decision() -> Decision:
    contact = WaitingContact("call-1", "member", "member", 0, 0.0, "cust-1", "call-1")
    return Decision(
        contact, routing_events.ContactRouted(contact_id="call-1", agent_id="kim", decision_id="d-1")
    )


def test_the_routing_worker_forwards_folds_and_decides_within_the_event_s_trace(
    spans: InMemorySpanExporter,
) -> None:
    arrived = [(SOURCE_HEADER, b"telephony.call.events.v1/2/7"), ("traceparent", TRACEPARENT)]
    # repartition: the forwarded record keeps the trace context, and only it, beside its own headers
    assert telemetry.trace_headers(arrived) == [("traceparent", TRACEPARENT)]
    assert telemetry.trace_headers(dict(arrived)) == [("traceparent", TRACEPARENT)]  # Faust's mapping form

    folded = record(arrived, "routing.board-input")
    with routing(folded, event("telephony.call.queued"), "routing-stream"), deciding(decision()) as headers:
        sent = traceparent_of(headers)

    decided, routed = spans.get_finished_spans()
    assert (routed.name, routed.kind) == ("route telephony.call.queued", trace.SpanKind.CONSUMER)
    assert routed.parent is not None and routed.parent.span_id == PARENT_ID
    assert routed.context.trace_id == TRACE_ID
    assert (
        routed.attributes is not None
        and routed.attributes["messaging.destination.name"] == "routing.board-input"
    )
    assert (decided.name, decided.kind) == ("routing decision", trace.SpanKind.PRODUCER)
    assert decided.parent is not None and decided.parent.span_id == routed.context.span_id
    assert decided.attributes is not None and decided.attributes["cc.agent_id"] == "kim"
    # the decision's record names the decision's span: telephony's ring is its child
    assert sent == (TRACE_ID, decided.context.span_id)


class Bus:
    """A command bus whose producer keeps the trace headers each command is sent with."""

    post_together = CommandBus.post_together  # the real one, over this bus's enqueue

    def __init__(self) -> None:
        self.sent: list[tuple[str, list[tuple[str, bytes]]]] = []

    async def enqueue(self, topics: object, command: Any) -> "asyncio.Future[None]":
        self.sent.append((command.meta.command_id, telemetry.inject_headers()))
        written: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        written.set_result(None)
        return written


async def test_a_policy_reacts_in_the_record_s_trace_and_its_commands_carry_the_reaction(
    spans: InMemorySpanExporter,
) -> None:
    bus = Bus()
    answered = event("telephony.call.answered")
    answered.call_answered.agent_id = "kim"

    def start_contact(received: event_pb2.Event) -> list[tuple[Any, Any]]:
        command = SimpleNamespace(
            meta=SimpleNamespace(command_id="start-contact", tenant_id="t", aggregate_id="kim")
        )
        return [(AGENTS, command)]

    reacting = policy.Policy(
        "routing.agent-follows-calls", ["telephony.call.events.v1"], start_contact, bus, bus, ""
    )  # type: ignore[arg-type]
    group = policy.PolicyGroup("routing.policies", [reacting], bus, "")  # type: ignore[arg-type]
    consumed = record([("traceparent", TRACEPARENT)])
    consumed.value = answered.SerializeToString()

    posts = await group._commands_for(consumed)
    await policy.post_in_turns(bus, posts)  # type: ignore[arg-type]

    (reaction,) = spans.get_finished_spans()
    assert reaction.name == "react to telephony.call.answered"
    assert reaction.parent is not None and reaction.parent.span_id == PARENT_ID
    assert (
        reaction.attributes is not None
        and reaction.attributes["messaging.consumer.group.name"] == "routing.policies"
    )
    ((command_id, headers),) = bus.sent
    assert (command_id, traceparent_of(headers)) == ("start-contact", (TRACE_ID, reaction.context.span_id))


def test_the_sink_stores_each_event_in_a_span_of_its_own_trace(spans: InMemorySpanExporter) -> None:
    other_trace, other_parent = 0x1234, 0x5678
    elsewhere = (b"00-%032x-%016x-01") % (other_trace, other_parent)
    with StoredSpans("analytics.sink") as stored:
        stored.add(record([("traceparent", TRACEPARENT)]), event("telephony.call.offered"))
        stored.add(record([("traceparent", elsewhere)], offset=8), event("routing.contact.routed"))
        stored.add(
            record([], offset=9), event("telephony.call.ended", "call-2")
        )  # no context: a trace of its own
        assert spans.get_finished_spans() == ()  # open until the batch's insert has returned

    offered, routed, ended = spans.get_finished_spans()
    assert offered.name == "store telephony.call.offered" and routed.name == "store routing.contact.routed"
    assert (offered.context.trace_id, offered.parent and offered.parent.span_id) == (TRACE_ID, PARENT_ID)
    assert (routed.context.trace_id, routed.parent and routed.parent.span_id) == (other_trace, other_parent)
    assert ended.parent is None
    assert offered.attributes is not None and offered.attributes["cc.aggregate_id"] == "call-1"
    assert offered.status.is_ok


def test_a_failed_insert_marks_its_events_spans(spans: InMemorySpanExporter) -> None:
    with pytest.raises(RuntimeError), StoredSpans("analytics.sink") as stored:
        stored.add(record([("traceparent", TRACEPARENT)]), event("telephony.call.offered"))
        raise RuntimeError("ClickHouse is away")
    (span,) = spans.get_finished_spans()
    assert span.status.status_code == trace.StatusCode.ERROR
    assert [e.name for e in span.events] == ["exception"]


async def test_with_tracing_off_no_consumer_reads_a_header_or_starts_a_span() -> None:
    assert not telemetry.tracing()
    unread = record(Unreadable())
    assert telemetry.trace_headers(Unreadable()) == []
    with routing(unread, event("telephony.call.queued"), "routing-stream"), deciding(decision()) as headers:
        assert headers == [] and not trace.get_current_span().get_span_context().is_valid
    with StoredSpans("analytics.sink") as stored:
        stored.add(unread, event("telephony.call.offered"))
    with telemetry.consuming(telemetry.tracer("test"), "react", unread, "group"):
        assert telemetry.carried() is None


def test_an_unknown_exporter_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "jaeger")
    with pytest.raises(ValueError, match="OTEL_TRACES_EXPORTER: 'jaeger'"):
        telemetry.configure("test")
    assert not telemetry.tracing()
