"""An event as a row of cc.events: the flattened columns the statistics group on, taken from whichever
payload has a field of that name (worked out once per payload type), and times to the microsecond."""

from datetime import UTC, datetime

import pytest
from cc.common.v1 import event_pb2, types_pb2
from cc.routing.v1 import events_pb2 as routing_events
from cc.telephony.v1 import events_pb2 as call_events
from cc.ticketing.v1 import events_pb2 as ticket_events
from google.protobuf.timestamp_pb2 import Timestamp

from services.analytics.rows import payload_json, row_of

AT = Timestamp(seconds=1_700_000_000, nanos=123_456_789)  # 2023-11-14T22:13:20.123456789Z
MOMENT = datetime(2023, 11, 14, 22, 13, 20, 123456, tzinfo=UTC)


def event(**payload: object) -> event_pb2.Event:
    return event_pb2.Event(event_id="e-1", tenant_id="acme", occurred_at=AT, **payload)  # type: ignore[arg-type]


def test_a_queued_call_gives_its_queue_and_when_it_was_queued() -> None:
    row = row_of(event(call_queued=call_events.CallQueued(queue_id="member", enqueued_at=AT)), "calls", 2, 7)
    assert (row.queue_id, row.enqueued_at, row.occurred_at) == ("member", MOMENT, MOMENT)
    assert (row.agent_id, row.state, row.abandoned) == ("", "", False)
    assert (row.source_topic, row.source_partition, row.source_offset) == ("calls", 2, 7)
    assert (row.payload_case, row.payload_json) == ("call_queued", "")
    assert payload_json(row.payload_case, row.payload, row.payload_json).startswith('{"queue_id": "member"')


def test_the_payload_columns_hold_what_the_payloads_json_has_and_null_for_what_it_leaves_out() -> None:
    opened = ticket_events.TicketOpened(channel=types_pb2.CHANNEL_EMAIL, category="refund", subject="")
    row = row_of(event(ticket_opened=opened), "tickets", 0, 0)
    assert (row.payload_channel, row.payload_category) == ("CHANNEL_EMAIL", "refund")
    assert (row.payload_subject, row.payload_status, row.payload_score) == (None, None, None)
    # An optional field set to its default is in the JSON, so it is in its column too.
    changed = ticket_events.TicketFieldsChanged(category="", priority=ticket_events.TICKET_PRIORITY_HIGH)
    row = row_of(event(ticket_fields_changed=changed), "tickets", 0, 1)
    assert (row.payload_category, row.payload_kind, row.payload_priority) == (
        "",
        None,
        "TICKET_PRIORITY_HIGH",
    )
    # A field of another kind than its column's fills nothing: a call's priority is a number.
    assert (
        row_of(event(call_queued=call_events.CallQueued(priority=5)), "calls", 0, 2).payload_priority is None
    )
    answered = call_events.CallAnswered(callback_attempt=2, consulted=True)
    row = row_of(event(call_answered=answered), "calls", 0, 3)
    assert (row.payload_callback_attempt, row.payload_consulted, row.payload_hold_seconds) == (2, True, None)


def test_a_stored_payload_renders_as_its_json_and_one_stored_as_json_as_it_was() -> None:
    ended = call_events.CallEnded(abandoned=True, hold_seconds=1.5)
    row = row_of(event(call_ended=ended), "calls", 0, 0)
    assert payload_json(row.payload_case, row.payload, "") == '{"abandoned": true, "hold_seconds": 1.5}'
    assert payload_json("", b"", '{"queue_id": "member"}') == '{"queue_id": "member"}'
    # A payload type a newer build stored (this one cannot read its bytes) shows as its JSON or as {}.
    assert payload_json("call_teleported", b"\x08\x01", "") == "{}"


def test_enums_are_stored_by_their_names_and_an_unknown_number_as_itself() -> None:
    changed = routing_events.AgentStateChanged(
        state=routing_events.AGENT_STATE_READY,
        previous_state=routing_events.AGENT_STATE_NOT_READY,
        reason="break",
    )
    row = row_of(event(agent_state_changed=changed), "agents", 0, 0)
    assert (row.state, row.previous_state, row.reason) == (
        "AGENT_STATE_READY",
        "AGENT_STATE_NOT_READY",
        "break",
    )
    newer = routing_events.AgentStateChanged(state=99)  # type: ignore[arg-type]
    assert row_of(event(agent_state_changed=newer), "agents", 0, 1).state == "99"


def test_an_abandoned_call_is_flagged_and_a_payload_without_the_field_is_not() -> None:
    ended = call_events.CallEnded(abandoned=True, queue_id="member")
    assert row_of(event(call_ended=ended), "calls", 0, 0).abandoned is True
    assert row_of(event(call_ended=call_events.CallEnded()), "calls", 0, 1).abandoned is False
    assert row_of(event(call_queued=call_events.CallQueued()), "calls", 0, 2).enqueued_at is None


def test_an_event_of_a_payload_type_this_build_does_not_know_keeps_its_envelope() -> None:
    row = row_of(event(), "calls", 0, 0)
    assert (row.event_id, row.payload_case, row.payload, row.queue_id, row.enqueued_at) == (
        "e-1",
        "",
        b"",
        "",
        None,
    )
    assert payload_json(row.payload_case, row.payload, row.payload_json) == "{}"


@pytest.mark.parametrize(
    ("seconds", "nanos"), [(-62_135_596_801, 0), (253_402_300_800, 0), (0, -1), (0, 1_000_000_000)]
)
def test_a_timestamp_out_of_its_range_makes_no_row(seconds: int, nanos: int) -> None:
    broken = event(call_queued=call_events.CallQueued(queue_id="member"))
    broken.occurred_at.seconds, broken.occurred_at.nanos = seconds, nanos
    with pytest.raises(ValueError, match="Timestamp is not valid"):
        row_of(broken, "calls", 0, 0)


def test_the_first_and_last_moments_a_timestamp_holds_make_rows() -> None:
    first, last = event(), event()
    first.occurred_at.seconds, last.occurred_at.seconds = -62_135_596_800, 253_402_300_799
    assert row_of(first, "calls", 0, 0).occurred_at == datetime(1, 1, 1, 0, 0, 0, 123456, tzinfo=UTC)
    assert row_of(last, "calls", 0, 1).occurred_at == datetime(9999, 12, 31, 23, 59, 59, 123456, tzinfo=UTC)
