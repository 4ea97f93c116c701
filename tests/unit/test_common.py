"""Pure infrastructure: event naming and envelopes, the error catalogue's mappings, trace propagation."""

from datetime import UTC, datetime

import grpc
import pytest
from cc.common.v1 import types_pb2
from cc.routing.v1 import events_pb2 as routing_events
from cc.telephony.v1 import events_pb2 as call_events
from cc.ticketing.v1 import events_pb2 as ticket_events
from opentelemetry import trace

from services.common import telemetry
from services.common.envelope import aggregate_key, build_event, derived_id, event_type_of, payload_of
from services.common.errors import (
    FieldViolation,
    IllegalTransition,
    InvalidArgument,
    NotFound,
    PlatformError,
    Unavailable,
    VersionConflict,
    http_status_for,
    text_problem,
)


@pytest.mark.parametrize(
    ("context", "aggregate", "payload", "expected"),
    [
        ("telephony", "call", call_events.CallOffered(), "telephony.call.offered"),
        ("telephony", "call", call_events.IvrMenuEntered(), "telephony.call.ivr_menu_entered"),
        ("telephony", "call", call_events.CallRingNoAnswer(), "telephony.call.ring_no_answer"),
        ("telephony", "call", call_events.CallerBlocked(), "telephony.call.caller_blocked"),
        ("telephony", "call", call_events.CallerFlagged(), "telephony.call.caller_flagged"),
        ("telephony", "line", call_events.FlowPublished(), "telephony.line.flow_published"),
        ("telephony", "listed-number", call_events.NumberListed(), "telephony.listed-number.number_listed"),
        ("routing", "agent", routing_events.AgentStateChanged(), "routing.agent.state_changed"),
        ("routing", "contact", routing_events.ContactRouted(), "routing.contact.routed"),
        ("ticketing", "ticket", ticket_events.TicketNoteAdded(), "ticketing.ticket.note_added"),
    ],
)
def test_event_types_are_context_aggregate_past_verb(
    context: str, aggregate: str, payload: object, expected: str
) -> None:
    assert event_type_of(context, aggregate, payload) == expected  # type: ignore[arg-type]


def test_build_event_fills_the_envelope_and_the_typed_payload() -> None:
    moment = datetime(2026, 1, 2, 3, 4, 5, 600_000, tzinfo=UTC)
    event = build_event(
        call_events.CallQueued(queue_id="member"),
        context="telephony",
        aggregate_type="call",
        aggregate_id="c1",
        aggregate_version=4,
        tenant_id="acme",
        occurred_at=moment,
        correlation_id="c1",
        causation_id="cmd-1",
        customer_id="cust-1",
        actor=types_pb2.Actor(type=types_pb2.ACTOR_TYPE_CUSTOMER),
    )
    assert (event.event_type, event.tenant_id, event.aggregate_version, event.causation_id) == (
        "telephony.call.queued",
        "acme",
        4,
        "cmd-1",
    )
    assert event.occurred_at.ToDatetime(tzinfo=UTC) == moment
    assert event.event_id[14] == "7"  # UUIDv7
    assert payload_of(event) == call_events.CallQueued(queue_id="member")


def test_only_payloads_of_the_envelope_can_be_events() -> None:
    with pytest.raises(TypeError, match="not an event payload"):
        build_event(
            types_pb2.Actor(),
            context="x",
            aggregate_type="y",
            aggregate_id="z",
            aggregate_version=1,
            tenant_id="t",
            occurred_at=datetime.now(UTC),
            correlation_id="",
            causation_id="",
            customer_id="",
            actor=types_pb2.Actor(),
        )


def test_derived_ids_are_stable_and_distinct() -> None:
    assert derived_id("ticket", "acme", "call-1") == derived_id("ticket", "acme", "call-1")
    assert derived_id("ticket", "acme", "call-1") != derived_id("ticket", "globex", "call-1")


def test_the_tenant_is_part_of_every_aggregate_key() -> None:
    assert aggregate_key("acme", "agent-1") != aggregate_key("globex", "agent-1")


@pytest.mark.parametrize(
    ("error", "code", "http"),
    [
        (
            InvalidArgument("invalid-argument", "bad", [FieldViolation("ani", "required")]),
            grpc.StatusCode.INVALID_ARGUMENT,
            422,
        ),
        (NotFound("call-not-found", "no call"), grpc.StatusCode.NOT_FOUND, 404),
        (IllegalTransition("call-not-queued", "no"), grpc.StatusCode.FAILED_PRECONDITION, 409),
        (VersionConflict("version-conflict", "moved on"), grpc.StatusCode.ABORTED, 409),
        (Unavailable("event-store-unavailable", "down"), grpc.StatusCode.UNAVAILABLE, 503),
    ],
)
def test_errors_cross_the_replies_topic_and_map_to_grpc_and_http(
    error: PlatformError, code: grpc.StatusCode, http: int
) -> None:
    back = PlatformError.from_proto(error.to_proto())
    assert type(back) is type(error)
    assert (back.error_id, back.message, back.field_violations) == (
        error.error_id,
        error.message,
        error.field_violations,
    )
    assert (back.grpc_code, back.http_status, http_status_for(code)) == (code, http, http)


def test_trace_context_survives_kafka_headers_and_grpc_metadata_without_recording_spans() -> None:
    telemetry.configure("test")  # no exporter configured: spans are not recorded
    trace_id = 0x4BF92F3577B34DA6A3CE929D0E0E4736
    arrived = [("traceparent", f"00-{trace_id:032x}-00f067aa0ba902b7-01".encode())]
    tracer = telemetry.tracer("test")
    with tracer.start_as_current_span("decide", context=telemetry.extract_context(arrived)):
        headers = telemetry.inject_headers()
        metadata = dict(telemetry.inject_metadata())
    for context in (telemetry.extract_context(headers), telemetry.extract_metadata(metadata)):
        assert trace.get_current_span(context).get_span_context().trace_id == trace_id


@pytest.mark.parametrize(
    ("value", "multiline", "problem"),
    [
        ("kim", False, None),
        ("  kim ", False, None),
        ("", False, "is required"),
        ("   ", False, "is required"),
        ("\x1c", False, "must not contain control characters"),
        ("a\nb", False, "must not contain control characters"),
        ("line one\n\tline two", True, None),
        ("\n\t ", True, "is required"),
        ("bell\x07", True, "must not contain control characters"),
    ],
)
def test_one_text_rule_for_every_required_field(value: str, multiline: bool, problem: str | None) -> None:
    assert text_problem(value, multiline=multiline) == problem


def test_the_gateway_patterns_state_the_same_text_rule() -> None:
    from pydantic import TypeAdapter, ValidationError

    from services.gateway.models import MultilineText, Text

    samples = ["kim", " kim ", "\x1c", "   ", "kim\n", "\x85x", "a\nb", "\n\t", "note\r\nmore", "bell\x07"]
    for multiline, adapter in ((False, TypeAdapter(Text)), (True, TypeAdapter(MultilineText))):
        for value in samples:
            try:
                adapter.validate_python(value)
                accepted = True
            except ValidationError:
                accepted = False
            assert accepted == (text_problem(value, multiline=multiline) is None), (value, multiline)


def test_an_idempotency_key_is_scoped_to_tenant_aggregate_and_action() -> None:
    from cc.telephony.v1 import commands_pb2

    from services.common.command_bus import command_meta, idempotency

    def command_id(tenant: str, call_id: str, key: str, **action: object) -> str:
        command = commands_pb2.CallCommand(
            meta=command_meta(tenant_id=tenant, aggregate_id=call_id), **action
        )
        idempotency(command, "call", key)
        return command.meta.command_id

    digits = {"send_digits": commands_pb2.SendDigits(digits="1")}
    offer = {"offer_call": commands_pb2.OfferCall(ani="+82", dnis="1588")}
    first = command_id("acme", "call-1", "carrier-uuid", **digits)
    assert command_id("acme", "call-1", "carrier-uuid", **digits) == first  # a retry is the same command
    assert command_id("acme", "call-1", "carrier-uuid", **offer) != first  # the same key on another action
    assert command_id("acme", "call-2", "carrier-uuid", **digits) != first  # ... on another call
    assert command_id("globex", "call-1", "carrier-uuid", **digits) != first  # ... of another tenant
    assert command_id("acme", "call-1", "", **digits) != command_id("acme", "call-1", "", **digits)  # no key


def test_optional_text_may_be_empty_but_never_holds_control_characters() -> None:
    from pydantic import TypeAdapter, ValidationError

    from services.common.errors import optional_text
    from services.gateway.models import OptionalText

    adapter = TypeAdapter(OptionalText)
    for value in ("", "lunch", "점심 휴식"):
        assert optional_text(value, "reason", "the reason") == value
        assert adapter.validate_python(value) == value
    for value in ("lunch\n", "\x1b[31m"):
        with pytest.raises(InvalidArgument) as refused:
            optional_text(value, "reason", "the reason")
        assert refused.value.field_violations[0].field == "reason"
        with pytest.raises(ValidationError):
            adapter.validate_python(value)


async def test_a_command_that_names_no_aggregate_is_refused_before_it_is_sent() -> None:
    from cc.ticketing.v1 import commands_pb2

    from services.common.command_bus import CommandBus
    from services.common.topics import REPLY_TEMPLATES

    bus = CommandBus("127.0.0.1:1", None, "test", 1.0)  # type: ignore[arg-type]  # never reaches a producer
    nameless = commands_pb2.ReplyTemplateCommand(meta=types_pb2.CommandMeta(tenant_id="t"))
    with pytest.raises(InvalidArgument, match="names no reply-template"):
        await bus.send(REPLY_TEMPLATES, nameless)


async def test_a_write_whose_version_the_read_model_has_not_seen_yet_is_unavailable_not_missing() -> None:
    """The command wrote version 3; a read model still reconnecting must not answer 404 for it."""
    from cc.telephony.v1 import commands_pb2

    from services.common.errors import Unavailable
    from services.common.projection import Projection
    from services.common.queries import execute
    from services.telephony.app import LINE_SPEC

    class Written:
        async def send(self, topics: object, command: object) -> types_pb2.CommandReply:
            return types_pb2.CommandReply(aggregate_id="shop", aggregate_version=3)

    behind: Projection[object, object] = Projection(LINE_SPEC, "127.0.0.1:1")  # type: ignore[arg-type]
    define = commands_pb2.LineCommand(meta=types_pb2.CommandMeta(tenant_id="t", aggregate_id="shop"))
    with pytest.raises(Unavailable) as refused:
        await execute(Written(), behind, define, "", wait_seconds=0.05)  # type: ignore[arg-type]
    assert refused.value.error_id == "read-model-behind"


def test_a_service_collects_young_garbage_every_20000_allocations_not_700() -> None:
    import gc

    from services.common.runtime import YOUNG_COLLECTION_OBJECTS, collect_young_garbage_less_often

    before = gc.get_threshold()
    try:
        collect_young_garbage_less_often()
        assert (
            gc.get_threshold() == (YOUNG_COLLECTION_OBJECTS, 50, 100) and YOUNG_COLLECTION_OBJECTS == 20_000
        )
    finally:
        gc.set_threshold(*before)
