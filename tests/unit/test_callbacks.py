"""Callbacks (TEL-5) in the call aggregate and its timer: a caller waiting in a queue accepts one and
keeps their place (or reserves a time slot and waits out of the queue); the agent's answer places the
outbound leg; the carrier's outcome connects it, or a failed attempt waits for the retry delay and goes
back to its place, until the last attempt ends the call."""

from datetime import timedelta

import pytest
from cc.telephony.v1 import commands_pb2, events_pb2
from cc.telephony.v1.telephony_pb2 import CallStatus
from google.protobuf.message import Message

from services.common.aggregate import Versioned
from services.common.deadlines import Deadlines
from services.common.envelope import timestamp
from services.common.errors import IllegalTransition, InvalidArgument
from services.telephony import domain
from services.telephony.consumers import CallTimer
from tests.unit.support import TENANT, at, refused, violated_fields
from tests.unit.test_call_domain import ANI, Call, queued
from tests.unit.test_flows import flow, node
from tests.unit.test_lines import Directory, Line

Party = events_pb2.Party
Outcome = events_pb2.CallbackOutcome


class CallbackCall(Call):
    def request(self, t: float = 8, number: str = "", slot: float | None = None) -> list[Message]:
        request = commands_pb2.RequestCallback(number=number)
        if slot is not None:
            request.at.CopyFrom(timestamp(at(slot)))
        return self.send(t, request_callback=request)

    def outcome(
        self, outcome: "events_pb2.CallbackOutcome.ValueType", t: float, carrier_ref: str = ""
    ) -> list[Message]:
        reported = commands_pb2.ReportCallbackOutcome(outcome=outcome, carrier_ref=carrier_ref)
        return self.send(t, report_callback_outcome=reported)

    def release(self, t: float) -> list[Message]:
        return self.send(t, release_callback=commands_pb2.ReleaseCallback())


def waiting() -> CallbackCall:
    """Queued in member at T0+5 (the default flow's first option)."""
    call = CallbackCall()
    call.offer()
    call.digits("1", t=5)
    return call


def test_a_callback_keeps_the_callers_place_and_the_answer_dials_the_caller() -> None:
    call = waiting()

    assert call.request(t=8) == [
        events_pb2.CallbackRequested(number=ANI, queue_id="member", enqueued_at=timestamp(at(5)))
    ]
    state = call.state
    assert (state.status, state.enqueued_at, state.callback_number) == (
        CallStatus.CALL_STATUS_QUEUED,
        at(5),
        ANI,
    )
    refused(lambda: call.request(t=9), IllegalTransition, "callback-already-requested")
    refused(lambda: call.hang_up(Party.PARTY_CALLER, t=9), IllegalTransition, "callback-requested")

    call.ring("agent-1", t=20)
    answered, dialing = call.answer("agent-1", t=22)
    assert answered == events_pb2.CallAnswered(
        agent_id="agent-1", queue_id="member", enqueued_at=timestamp(at(5)), callback_attempt=1
    )
    assert dialing == events_pb2.CallbackDialing(agent_id="agent-1", number=ANI, attempt=1)
    refused(lambda: call.hang_up(Party.PARTY_CALLER, t=23), IllegalTransition, "callback-requested")

    assert call.outcome(Outcome.CALLBACK_OUTCOME_RINGING, t=24, carrier_ref="CA-leg") == [
        events_pb2.OutboundLegRinging(carrier_ref="CA-leg", attempt=1)
    ]
    assert (call.state.leg_attempt, call.state.callback_dialing) == (1, True)
    assert call.outcome(Outcome.CALLBACK_OUTCOME_CONNECTED, t=30, carrier_ref="CA-leg") == [
        events_pb2.CallbackConnected(agent_id="agent-1", attempt=1, carrier_ref="CA-leg")
    ]
    assert call.state.carrier_ref == "CA-leg"  # the leg that connected, not the caller's first call
    refused(
        lambda: call.outcome(Outcome.CALLBACK_OUTCOME_CONNECTED, t=31),
        IllegalTransition,
        "callback-not-dialing",
    )
    (ended,) = call.hang_up(Party.PARTY_CALLER, t=90)  # the caller is on the line now
    assert isinstance(ended, events_pb2.CallEnded) and ended.reason == events_pb2.END_REASON_NORMAL_CLEARING


def test_a_failed_attempt_waits_the_retry_delay_then_goes_back_to_its_place_until_the_last() -> None:
    rules = domain.TelephonyRules(callback_attempts=2, callback_retry_seconds=60)
    call = CallbackCall(rules=rules)
    call.offer()
    call.digits("1", t=5)
    call.request(t=8, number="+82 2-555-0100")
    call.ring("agent-1", t=20)
    call.answer("agent-1", t=22)

    (failed,) = call.outcome(Outcome.CALLBACK_OUTCOME_NO_ANSWER, t=40)

    assert failed == events_pb2.CallbackAttemptFailed(
        agent_id="agent-1",
        outcome=Outcome.CALLBACK_OUTCOME_NO_ANSWER,
        attempt=1,
        queue_id="member",
        retry_at=timestamp(at(100)),
        talk_seconds=18.0,
    )
    state = call.state
    assert (state.status, state.agent_id, state.callback_due) == (
        CallStatus.CALL_STATUS_CALLBACK_PENDING,
        "",
        at(100),
    )
    refused(lambda: call.ring("agent-2", t=50), IllegalTransition, "call-not-queued")

    (back,) = call.release(t=100)
    assert back == events_pb2.CallQueued(
        queue_id="member", required_skill="member", enqueued_at=timestamp(at(5)), reason="callback-retry"
    )
    refused(lambda: call.release(t=101), IllegalTransition, "callback-not-pending")
    call.ring("agent-2", t=110)
    answered, dialing = call.answer("agent-2", t=111)
    assert isinstance(answered, events_pb2.CallAnswered) and answered.callback_attempt == 2
    assert answered.taken_over  # agent-2 takes it over from agent-1: the voice ticket follows
    assert dialing == events_pb2.CallbackDialing(agent_id="agent-2", number="+82 2-555-0100", attempt=2)

    last, ended = call.outcome(Outcome.CALLBACK_OUTCOME_BUSY, t=120)
    assert isinstance(last, events_pb2.CallbackAttemptFailed) and not last.HasField("retry_at")
    assert ended == events_pb2.CallEnded(
        ended_by=Party.PARTY_SYSTEM,
        reason=events_pb2.END_REASON_CALLBACK_FAILED,
        queue_id="member",
        agent_id="agent-2",
    )
    assert call.state.status == CallStatus.CALL_STATUS_ENDED


def test_a_callback_reserved_for_a_slot_waits_out_of_the_queue_and_its_wait_starts_then() -> None:
    call = waiting()

    (requested,) = call.request(t=8, slot=3600)

    assert isinstance(requested, events_pb2.CallbackRequested) and requested.at == timestamp(at(3600))
    assert (call.state.status, call.state.callback_due) == (CallStatus.CALL_STATUS_CALLBACK_PENDING, at(3600))
    assert call.release(t=3600) == [
        events_pb2.CallQueued(
            queue_id="member",
            required_skill="member",
            enqueued_at=timestamp(at(3600)),
            reason="callback-slot",
        )
    ]
    assert call.state.status == CallStatus.CALL_STATUS_QUEUED


@pytest.mark.parametrize(
    ("number", "slot", "field"),
    [
        ("not a number", None, "number"),
        ("", 8 + 30, "at"),  # sooner than a minute ahead
        ("", 8 + 15 * 86_400, "at"),  # past two weeks
    ],
)
def test_a_callback_needs_a_phone_number_and_a_slot_ahead(
    number: str, slot: float | None, field: str
) -> None:
    call = waiting()
    version = call.version

    error = refused(lambda: call.request(t=8, number=number, slot=slot), InvalidArgument, "invalid-argument")

    assert violated_fields(error) == [field]
    assert call.version == version


def test_only_a_waiting_caller_accepts_a_callback_and_only_a_dialled_one_has_an_outcome() -> None:
    in_ivr = CallbackCall()
    in_ivr.offer()
    refused(lambda: in_ivr.request(t=3), IllegalTransition, "call-not-queued")
    refused(
        lambda: waiting().outcome(Outcome.CALLBACK_OUTCOME_CONNECTED, t=9),
        IllegalTransition,
        "callback-not-dialing",
    )
    refused(lambda: waiting().release(t=9), IllegalTransition, "callback-not-pending")

    call = waiting()
    call.request(t=8)
    call.ring("agent-1", t=20)
    call.answer("agent-1", t=22)
    error = refused(
        lambda: call.outcome(Outcome.CALLBACK_OUTCOME_UNSPECIFIED, t=23), InvalidArgument, "invalid-argument"
    )
    assert violated_fields(error) == ["outcome"]
    # a call that is no callback rings, is answered and dials nobody
    plain = queued()
    plain.ring("agent-1", t=10)
    assert [type(p).__name__ for p in plain.answer("agent-1", t=12)] == ["CallAnswered"]


def test_the_call_timer_releases_a_pending_callback_when_it_is_due_and_rings_out_as_before() -> None:
    call = waiting()
    call.request(t=8, slot=3600)
    monotonic = [0.0]
    deadlines = Deadlines(clock=lambda: monotonic[0])
    timer = CallTimer(deadlines, clock=lambda: at(3000))  # ten minutes before the slot

    def observe() -> None:
        timer(Versioned(call.state, call.version, TENANT, "call-1"))

    observe()
    monotonic[0] = 599.9
    assert deadlines.due() == []
    monotonic[0] = 600.0
    (release,) = deadlines.due()
    command = release.command()
    assert command.WhichOneof("command") == "release_callback"
    # derived from the event that set it: one release however often (or on however many instances) it fires
    assert command.meta.command_id == release.command().meta.command_id

    observe()
    call.release(t=3600)
    observe()  # queued again: nothing is due any more
    monotonic[0] = 10_000.0
    assert deadlines.due() == []
    call.ring("agent-1", t=3610)
    observe()
    monotonic[0] = 20_000.0
    assert [d.command().WhichOneof("command") for d in deadlines.due()] == ["expire_ring"]


def test_a_callback_overdue_after_a_restart_is_released_at_once() -> None:
    call = waiting()
    call.request(t=8, slot=3600)
    deadlines = Deadlines(clock=lambda: 50.0)
    CallTimer(deadlines, clock=lambda: at(3600) + timedelta(hours=2))(
        Versioned(call.state, call.version, TENANT, "call-1")
    )
    assert [d.command().WhichOneof("command") for d in deadlines.due()] == ["release_callback"]


def test_after_hours_a_flow_s_callback_node_keeps_the_callers_place_for_the_morning() -> None:
    line = Line()
    line.define()  # Seoul office hours: closed at night
    line.publish(
        flow(
            node("hours", "check-hours", branches={"open": "sales", "closed": "later"}),
            node("later", "callback", queue_id="sales", announcement="We will call you back"),
            node("sales", "queue", queue_id="sales"),
        )
    )
    call = CallbackCall(rules=domain.TelephonyRules(lines=Directory({"shop": line})))

    *_, queued_event, requested = call.send(
        0, offer_call=commands_pb2.OfferCall(ani="+821012340000", dnis="15881234")
    )

    assert isinstance(queued_event, events_pb2.CallQueued) and queued_event.queue_id == "sales"
    assert requested == events_pb2.CallbackRequested(
        number="+821012340000", queue_id="sales", enqueued_at=queued_event.enqueued_at
    )
    assert (call.state.status, call.state.callback_number) == (CallStatus.CALL_STATUS_QUEUED, "+821012340000")
    refused(lambda: call.hang_up(Party.PARTY_CALLER, t=5), IllegalTransition, "callback-requested")


def dialled() -> CallbackCall:
    """A callback kept its place, rang agent-1 and she answered at T0+22: its first attempt is dialled."""
    call = waiting()
    call.request(t=8)
    call.ring("agent-1", t=20)
    call.answer("agent-1", t=22)
    return call


def test_while_dialling_the_agent_neither_holds_nor_transfers_and_a_hang_up_fails_the_attempt() -> None:
    call = dialled()
    refused(lambda: call.hold("agent-1", t=23), IllegalTransition, "callback-dialing")
    refused(
        lambda: call.transfer("billing", events_pb2.TRANSFER_TARGET_QUEUE, t=23),
        IllegalTransition,
        "callback-dialing",
    )

    (failed,) = call.hang_up(Party.PARTY_AGENT, t=30)

    assert isinstance(failed, events_pb2.CallbackAttemptFailed)
    assert (failed.outcome, failed.attempt) == (Outcome.CALLBACK_OUTCOME_FAILED, 1)
    assert call.state.status == CallStatus.CALL_STATUS_CALLBACK_PENDING


def test_a_connected_callback_transferred_on_is_answered_without_dialling_the_caller_again() -> None:
    call = dialled()
    call.outcome(Outcome.CALLBACK_OUTCOME_CONNECTED, t=25)
    call.hold("agent-1", t=26)
    call.transfer("billing", events_pb2.TRANSFER_TARGET_QUEUE, t=30)
    call.ring("agent-2", t=31)

    (answered,) = call.answer("agent-2", t=32)

    assert isinstance(answered, events_pb2.CallAnswered) and answered.callback_attempt == 0


def cancel(call: CallbackCall, t: float = 30) -> list[Message]:
    return call.send(t, cancel_callback=commands_pb2.CancelCallback())


def test_a_callback_not_yet_connected_can_be_cancelled_and_nothing_else_can() -> None:
    cancelled = events_pb2.CallEnded(
        ended_by=Party.PARTY_SYSTEM, reason=events_pb2.END_REASON_CALLBACK_CANCELLED, queue_id="member"
    )
    kept = waiting()
    kept.request(t=8)
    assert cancel(kept) == [cancelled]
    assert kept.state.status == CallStatus.CALL_STATUS_ENDED
    reserved = waiting()
    reserved.request(t=8, slot=3600)
    assert cancel(reserved) == [cancelled]
    ringing = waiting()
    ringing.request(t=8)
    ringing.ring("agent-1", t=20)
    assert cancel(ringing) == [cancelled]  # no agent named: the ringing one does not wrap up

    refused(lambda: cancel(waiting()), IllegalTransition, "callback-not-cancellable")
    refused(lambda: cancel(dialled()), IllegalTransition, "callback-not-cancellable")


def test_a_flow_s_callback_node_lets_a_caller_without_a_number_wait_on_the_line() -> None:
    line = Line()
    line.define()
    line.publish(flow(node("later", "callback", queue_id="sales")))
    call = CallbackCall(rules=domain.TelephonyRules(lines=Directory({"shop": line})))

    payloads = call.send(0, offer_call=commands_pb2.OfferCall(ani="anonymous", dnis="15881234"))

    assert isinstance(payloads[-1], events_pb2.CallQueued)
    assert call.state.callback_number == ""
