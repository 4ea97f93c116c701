"""Outbound calls (TEL-8), pure: an agent places a call showing one of its line's numbers; the number's
do-not-call entry and the line's hours (the permitted calling hours) are checked first; the carrier's
outcome connects it or ends it; the agent is on the call from its placement and wraps it up after."""

from dataclasses import dataclass, field

import pytest
from cc.common.v1 import event_pb2
from cc.routing.v1 import commands_pb2 as agent_commands
from cc.telephony.v1 import commands_pb2, events_pb2
from cc.telephony.v1.telephony_pb2 import CallStatus
from google.protobuf.message import Message

from services.common.aggregate import Versioned
from services.common.calendar import BusinessCalendar
from services.common.deadlines import Deadlines
from services.common.errors import IllegalTransition, InvalidArgument, NotFound
from services.common.snapshots import StateCodec
from services.routing.consumers import agent_commands_for_call
from services.telephony import caller_list, domain
from services.telephony.caller_list import ListedNumber
from services.telephony.consumers import CallTimer
from services.telephony.lines import LineState
from services.ticketing.consumers import voice_tickets
from tests.unit.support import T0, TENANT, History, at, envelope, meta, refused, violated_fields

CUSTOMER = "821055550101"
# Open 09:00-18:00 UTC every day; T0 is 09:00.
DAYTIME = BusinessCalendar("UTC", {day: ((9 * 60, 18 * 60),) for day in range(7)})
LINE = LineState("sales", "Sales", ("15881234", "15885678"), DAYTIME, T0, T0)


@dataclass
class Directory:
    lines: dict[str, LineState] = field(default_factory=lambda: {LINE.line_id: LINE})
    listed: dict[str, ListedNumber] = field(default_factory=dict)

    def line_for(self, tenant_id: str, dnis: str) -> LineState | None:
        return next((line for line in self.lines.values() if dnis in line.numbers), None)

    def line(self, tenant_id: str, line_id: str) -> LineState | None:
        return self.lines.get(line_id)

    def entry(self, tenant_id: str, number: str) -> ListedNumber | None:
        return self.listed.get(number)


def history(directory: Directory | None = None, record_calls: bool = False) -> History:
    directory = directory or Directory()
    rules = domain.TelephonyRules(lines=directory, callers=directory, record_calls=record_calls)
    return History(domain.decide, domain.evolve, domain.customer_of, rules, "telephony", "call", "call-1")


def place(call: History, t: float = 0, **fields: str) -> list[Message]:
    asked = {"agent_id": "kim", "number": "+82 10-5555-0101", "line_id": "sales", **fields}
    command = commands_pb2.CallCommand(
        meta=meta("call-1"), place_outbound_call=commands_pb2.PlaceOutboundCall(**asked)
    )
    return call.handle(command, at(t))


def report(
    call: History, outcome: "events_pb2.CallbackOutcome.ValueType", t: float = 5, carrier_ref: str = ""
) -> list[Message]:
    reported = commands_pb2.ReportCallbackOutcome(outcome=outcome, carrier_ref=carrier_ref)
    command = commands_pb2.CallCommand(meta=meta("call-1"), report_callback_outcome=reported)
    return call.handle(command, at(t))


def hang_up(call: History, party: "events_pb2.Party.ValueType", t: float = 60) -> list[Message]:
    command = commands_pb2.CallCommand(meta=meta("call-1"), hang_up_call=commands_pb2.HangUpCall(party=party))
    return call.handle(command, at(t))


def test_an_agent_calls_a_customer_showing_the_line_s_first_number() -> None:
    call = history()

    assert place(call) == [
        events_pb2.OutboundCallPlaced(
            agent_id="kim", number=CUSTOMER, caller_id="15881234", line_id="sales", dial_timeout_seconds=60
        )
    ]
    state = call.state
    assert (state.status, state.outbound, state.agent_id) == (CallStatus.CALL_STATUS_DIALING, True, "kim")
    assert (state.ani, state.dnis, state.line_id) == ("15881234", CUSTOMER, "sales")
    # the customer is the number's (one per number without a profile), so the call is in their journey
    assert call.events[0].customer_id == domain.customer_for_ani(TENANT, CUSTOMER)


def test_the_agent_may_show_another_of_the_line_s_numbers_but_no_other() -> None:
    call = history()
    assert place(call, caller_id="1588-5678")[0].caller_id == "15885678"  # type: ignore[attr-defined]

    error = refused(lambda: place(history(), caller_id="15990000"), InvalidArgument, "invalid-argument")
    assert violated_fields(error) == ["caller_id"]


def test_a_line_number_written_with_a_plus_is_shown_as_written_however_it_is_chosen() -> None:
    written = LineState("intl", "International", ("+15551234567", "+15557654321"), DAYTIME, T0, T0)
    directory = Directory(lines={"intl": written})

    chosen = place(history(directory), line_id="intl", caller_id="1 555 765 4321")
    assert chosen[0].caller_id == "+15557654321"  # type: ignore[attr-defined]
    first = place(history(directory), line_id="intl")
    assert first[0].caller_id == "+15551234567"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("fields", "named"),
    [({"number": "anonymous"}, "number"), ({"agent_id": ""}, "agent_id"), ({"line_id": ""}, "line_id")],
)
def test_a_placement_missing_what_it_needs_is_refused_naming_the_field(
    fields: dict[str, str], named: str
) -> None:
    error = refused(lambda: place(history(), **fields), InvalidArgument, "invalid-argument")
    assert violated_fields(error) == [named]


def test_a_line_that_does_not_exist_calls_no_one() -> None:
    refused(lambda: place(history(), line_id="nowhere"), NotFound, "line-not-found")


def test_a_number_on_the_do_not_call_list_is_never_called_until_its_entry_expires() -> None:
    listed = ListedNumber(
        CUSTOMER, caller_list.DO_NOT_CALL, "asked not to be called", at(0), expires_at=at(60)
    )
    directory = Directory(listed={CUSTOMER: listed})

    error = refused(lambda: place(history(directory), t=30), IllegalTransition, "number-do-not-call")
    assert "asked not to be called" in error.message
    assert place(history(directory), t=60)  # expired: callable again


@pytest.mark.parametrize(("listed", "wanted"), [("do-not-call", "block"), ("flag", "do-not-call")])
def test_a_do_not_call_entry_is_never_swapped_for_another_action_in_one_step(
    listed: str, wanted: str
) -> None:
    """One entry per number: a block must not silently lift a do-not-call entry (nor the reverse)."""
    state = ListedNumber(CUSTOMER, listed, "why", at(0))
    action = {v: k for k, v in caller_list.ACTIONS.items()}[wanted]
    command = listed_command(action)
    refused(lambda: caller_list.decide(state, command, at(1)), IllegalTransition, "caller-list-action-change")
    expired = ListedNumber(CUSTOMER, listed, "why", at(0), expires_at=at(1))
    assert caller_list.decide(expired, command, at(2))  # an entry no longer in force is replaced


def listed_command(action: "events_pb2.ListedAction.ValueType") -> commands_pb2.ListedNumberCommand:
    listing = commands_pb2.ListNumber(action=action, reason="asked")
    return commands_pb2.ListedNumberCommand(meta=meta(CUSTOMER), list=listing)


@pytest.mark.parametrize("action", ["block", "flag"])
def test_a_blocked_or_flagged_number_may_still_be_called(action: str) -> None:
    directory = Directory(listed={CUSTOMER: ListedNumber(CUSTOMER, action, "why", at(0))})
    assert place(history(directory), t=1)


def test_a_do_not_call_entry_does_not_stop_the_number_calling_in() -> None:
    entry = ListedNumber(CUSTOMER, caller_list.DO_NOT_CALL, "asked not to be called", at(0))
    assert caller_list.screened(entry, at(1)) == []


@pytest.mark.parametrize("t", [-1, 9 * 3600])  # 08:59:59 and 18:00, outside the line's hours
def test_calls_are_placed_only_within_the_line_s_hours(t: float) -> None:
    refused(lambda: place(history(), t=t), IllegalTransition, "outside-calling-hours")


def test_a_connected_call_goes_on_as_any_connected_call_and_ends_with_the_agent_s_wrap_up() -> None:
    call = history()
    place(call)

    assert report(call, events_pb2.CALLBACK_OUTCOME_CONNECTED) == [
        events_pb2.OutboundCallConnected(agent_id="kim", line_id="sales")
    ]
    assert (call.state.status, call.state.answered_at) == (CallStatus.CALL_STATUS_CONNECTED, at(5))
    [ended] = hang_up(call, events_pb2.PARTY_AGENT)
    assert ended == events_pb2.CallEnded(
        ended_by=events_pb2.PARTY_AGENT,
        reason=events_pb2.END_REASON_NORMAL_CLEARING,
        agent_id="kim",
    )


def test_the_leg_the_carrier_placed_and_then_connected_is_the_calls_carrier_ref() -> None:
    call = history()
    place(call)
    refused(lambda: report(call, events_pb2.CALLBACK_OUTCOME_RINGING), InvalidArgument, "invalid-argument")
    assert report(call, events_pb2.CALLBACK_OUTCOME_RINGING, carrier_ref="CA-leg") == [
        events_pb2.OutboundLegRinging(carrier_ref="CA-leg", attempt=0)
    ]
    assert (call.state.carrier_ref, call.state.status) == (
        "CA-leg",
        CallStatus.CALL_STATUS_DIALING,
    )  # rings on

    [connected] = report(call, events_pb2.CALLBACK_OUTCOME_CONNECTED, carrier_ref="CA-leg")

    assert connected == events_pb2.OutboundCallConnected(
        agent_id="kim", line_id="sales", carrier_ref="CA-leg"
    )
    assert call.state.carrier_ref == "CA-leg"  # so the carrier is told when the agent hangs up
    garbled = history()
    place(garbled)
    with pytest.raises(InvalidArgument):
        report(garbled, events_pb2.CALLBACK_OUTCOME_CONNECTED, carrier_ref="CA\x00")


def test_an_outbound_call_is_recorded_from_the_answer_and_opens_a_voice_ticket_for_its_agent() -> None:
    call = history(record_calls=True)
    assert not any(isinstance(e, events_pb2.RecordingSegmentStarted) for e in place(call))  # nobody yet

    connected, started = report(call, events_pb2.CALLBACK_OUTCOME_CONNECTED)
    assert started == events_pb2.RecordingSegmentStarted(segment=1, recording_ref="call-1/recording/1")
    ended_segment, _ = hang_up(call, events_pb2.PARTY_AGENT)
    assert isinstance(ended_segment, events_pb2.RecordingSegmentEnded) and ended_segment.seconds == 55

    event = event_pb2.Event(
        event_id="e-1",
        tenant_id="acme",
        aggregate_id="call-1",
        customer_id="cu-1",
        outbound_call_connected=connected,
    )
    [(_, ticket)] = voice_tickets(event)
    opened = ticket.open_ticket
    assert [opened.assignee_agent_id, opened.line_id, opened.call_id, opened.customer_id] == [
        "kim", "sales", "call-1", "cu-1"
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("outcome", "reason"),
    [
        (events_pb2.CALLBACK_OUTCOME_NO_ANSWER, events_pb2.END_REASON_OUTBOUND_NO_ANSWER),
        (events_pb2.CALLBACK_OUTCOME_BUSY, events_pb2.END_REASON_OUTBOUND_BUSY),
        (events_pb2.CALLBACK_OUTCOME_FAILED, events_pb2.END_REASON_OUTBOUND_FAILED),
    ],
)
def test_a_leg_that_does_not_connect_ends_the_call_with_why(
    outcome: "events_pb2.CallbackOutcome.ValueType", reason: "events_pb2.EndReason.ValueType"
) -> None:
    call = history()
    place(call)

    assert report(call, outcome) == [
        events_pb2.CallEnded(ended_by=events_pb2.PARTY_SYSTEM, reason=reason, agent_id="kim")
    ]
    assert call.state.status == CallStatus.CALL_STATUS_ENDED


def test_a_call_the_carrier_never_reports_ends_unanswered_at_its_dial_timeout() -> None:
    monotonic = [0.0]
    deadlines = Deadlines(clock=lambda: monotonic[0])
    call = history_placed()
    CallTimer(deadlines)(Versioned(call.state, call.version, TENANT, "call-1"))
    monotonic[0] = 59.9
    assert deadlines.due() == []
    monotonic[0] = 60.0
    [deadline] = deadlines.due()
    command = deadline.command()
    assert command.meta.causation_id == call.events[0].event_id  # the same id on every instance
    assert call.handle(command, at(60)) == [
        events_pb2.CallEnded(
            ended_by=events_pb2.PARTY_SYSTEM, reason=events_pb2.END_REASON_OUTBOUND_NO_ANSWER, agent_id="kim"
        )
    ]
    connected = history_placed()
    CallTimer(deadlines)(Versioned(connected.state, connected.version, TENANT, "call-1"))
    report(connected, events_pb2.CALLBACK_OUTCOME_CONNECTED)
    CallTimer(deadlines)(Versioned(connected.state, connected.version, TENANT, "call-1"))
    monotonic[0] = 1_000.0
    assert deadlines.due() == []  # reported first: no timeout any more


def test_an_agent_who_gives_up_before_the_answer_ends_it_unanswered() -> None:
    call = history()
    place(call)

    assert hang_up(call, events_pb2.PARTY_AGENT, t=20) == [
        events_pb2.CallEnded(
            ended_by=events_pb2.PARTY_AGENT, reason=events_pb2.END_REASON_OUTBOUND_NO_ANSWER, agent_id="kim"
        )
    ]


def test_what_only_an_inbound_call_does_is_refused_on_an_outbound_one() -> None:
    call = history()
    place(call)
    answer = commands_pb2.CallCommand(
        meta=meta("call-1"), answer_call=commands_pb2.AnswerCall(agent_id="kim")
    )

    refused(lambda: call.handle(answer, at(1)), IllegalTransition, "call-not-ringing-agent")
    refused(lambda: place(call), IllegalTransition, "call-already-placed")
    report(call, events_pb2.CALLBACK_OUTCOME_CONNECTED)
    refused(
        lambda: report(call, events_pb2.CALLBACK_OUTCOME_CONNECTED), IllegalTransition, "callback-not-dialing"
    )
    error = refused(
        lambda: report(history_placed(), events_pb2.CALLBACK_OUTCOME_UNSPECIFIED),
        InvalidArgument,
        "invalid-argument",
    )
    assert violated_fields(error) == ["outcome"]


def history_placed() -> History:
    call = history()
    place(call)
    return call


def test_the_agent_is_on_the_call_from_its_placement_and_wraps_it_up_after_it_ends() -> None:
    def routed(payload: Message) -> list[agent_commands.AgentCommand]:
        event = envelope(
            payload, context="telephony", aggregate_type="call", aggregate_id="call-1", version=1, when=at(0)
        )
        return [command for _, command in agent_commands_for_call(event)]  # type: ignore[misc]

    placed = events_pb2.OutboundCallPlaced(
        agent_id="kim", number=CUSTOMER, caller_id="15881234", line_id="sales"
    )
    [started] = routed(placed)
    assert (started.meta.aggregate_id, started.start_contact.contact_id) == ("kim", "call-1")
    assert routed(events_pb2.OutboundCallConnected(agent_id="kim", line_id="sales")) == []
    busy = events_pb2.CallEnded(
        ended_by=events_pb2.PARTY_SYSTEM, reason=events_pb2.END_REASON_OUTBOUND_BUSY, agent_id="kim"
    )
    [wrap_up] = routed(busy)
    assert wrap_up.start_wrap_up.contact_id == "call-1"


def test_an_outbound_call_survives_its_snapshot_codec() -> None:
    call = history_placed()
    codec = StateCodec(domain.CallState)
    assert codec.decode(codec.encode(call.state)) == call.state
