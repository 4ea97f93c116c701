"""Recording in segments (TEL-7, SEC-1): a call is recorded from its offer to its end; while the caller is
at a masked collect node the recording is paused (the segment ends before the prompt, the next starts
once the entry is complete), so no segment holds a card number; the agent on the call pauses and
resumes it over the API."""

from cc.telephony.v1 import commands_pb2, events_pb2
from cc.telephony.v1.telephony_pb2 import CallStatus
from google.protobuf.message import Message

from services.common.errors import IllegalTransition
from services.telephony import domain
from services.telephony.recording import Recording, recording_ref
from tests.unit.support import at, refused
from tests.unit.test_call_domain import Call
from tests.unit.test_flows import flow, node
from tests.unit.test_lines import Directory, Line

Party = events_pb2.Party
PAYMENT = flow(
    node("hello", "play", "card", announcement="Payments"),
    node("card", "collect", "pay", prompt="Your card number", masked="true", min_digits=13, max_digits=19),
    node("pay", "queue", queue_id="payment"),
)
CARD = "4111111111111111"


def recorded_call(published: bool = True) -> Call:
    """A call to the payment line (at T0, when the line is open or not: its flow does not ask)."""
    line = Line()
    line.define()
    if published:
        line.publish(PAYMENT)
    call = Call(rules=domain.TelephonyRules(lines=Directory({"shop": line}), record_calls=True))
    return call


def offer(call: Call) -> list[Message]:
    return call.send(0, offer_call=commands_pb2.OfferCall(ani="+821012340000", dnis="15881234"))


def started(segment: int) -> events_pb2.RecordingSegmentStarted:
    return events_pb2.RecordingSegmentStarted(segment=segment, recording_ref=recording_ref("call-1", segment))


def test_the_recording_pauses_while_a_card_number_is_entered_and_goes_on_after_it() -> None:
    call = recorded_call()

    payloads = offer(call)

    kinds = [type(p).__name__ for p in payloads]
    assert kinds == [
        "CallOffered",
        "RecordingSegmentStarted",
        "IvrAnnouncementPlayed",
        "RecordingSegmentEnded",
        "IvrMenuEntered",
    ]
    assert payloads[1] == started(1)
    paused = payloads[3]
    assert isinstance(paused, events_pb2.RecordingSegmentEnded)
    assert (paused.segment, paused.reason, paused.seconds) == (1, "pci-pause", 0.0)
    assert call.state.recording == Recording(0, 1, None, "pci")

    wrong = call.digits("1234", t=10)  # too short: prompted again, still paused
    assert not any(isinstance(p, events_pb2.RecordingSegmentStarted) for p in wrong)
    entered = call.send(
        20,
        send_digits=commands_pb2.SendDigits(
            masked=commands_pb2.MaskedDigits(digit_count=16, luhn_valid=True)
        ),
    )
    kinds = [type(p).__name__ for p in entered]
    assert kinds == ["IvrDigitsReceived", "IvrDigitsCollected", "RecordingSegmentStarted", "CallQueued"]
    assert entered[2] == started(2)
    assert call.state.recording == Recording(2, 2, at(20), "")
    assert CARD not in str(entered)

    call.ring("agent-1", t=30)
    call.answer("agent-1", t=32)
    *_, ended_segment, ended = call.hang_up(Party.PARTY_CALLER, t=80)
    assert isinstance(ended, events_pb2.CallEnded)
    assert ended_segment == events_pb2.RecordingSegmentEnded(
        segment=2, recording_ref=recording_ref("call-1", 2), reason="call-ended", seconds=60.0
    )
    assert call.state.recording == Recording(0, 2, None, "")


def test_a_caller_hanging_up_at_the_masked_node_leaves_no_segment_open() -> None:
    call = recorded_call()
    offer(call)

    (ended,) = call.hang_up(Party.PARTY_CALLER, t=5)

    assert isinstance(ended, events_pb2.CallEnded)
    assert call.state.recording == Recording(0, 1, None, "")


def test_the_agent_pauses_and_resumes_the_recording() -> None:
    call = recorded_call(published=False)  # the default flow: nothing masked
    offer(call)
    call.digits("1", t=5)
    call.ring("agent-1", t=10)
    call.answer("agent-1", t=12)

    def pause(agent_id: str = "agent-1", t: float = 20) -> list[Message]:
        return call.send(t, pause_recording=commands_pb2.PauseRecording(agent_id=agent_id))

    def resume(agent_id: str = "agent-1", t: float = 30) -> list[Message]:
        return call.send(t, resume_recording=commands_pb2.ResumeRecording(agent_id=agent_id))

    refused(lambda: resume(), IllegalTransition, "recording-not-paused")
    refused(lambda: pause("agent-2"), IllegalTransition, "call-not-with-agent")
    assert pause() == [
        events_pb2.RecordingSegmentEnded(
            segment=1, recording_ref=recording_ref("call-1", 1), reason="agent-pause", seconds=20.0
        )
    ]
    refused(lambda: pause(t=21), IllegalTransition, "recording-paused")
    assert resume() == [started(2)]
    assert (call.state.recording.segment, call.state.recording.paused) == (2, "")

    pause(t=40)  # a call ended while paused has no segment to end
    (ended,) = call.hang_up(Party.PARTY_AGENT, t=50)
    assert isinstance(ended, events_pb2.CallEnded)
    assert call.state.status == CallStatus.CALL_STATUS_ENDED and call.state.recording.paused == ""


def test_a_blocked_callers_call_is_recorded_until_it_ends_and_nothing_is_recorded_when_it_is_off() -> None:
    call = recorded_call(published=False)
    line = Line()
    line.define()
    off = Call(rules=domain.TelephonyRules(lines=Directory({"shop": line})))

    assert [type(p).__name__ for p in offer(off)] == [
        "CallOffered",
        "IvrAnnouncementPlayed",
        "IvrMenuEntered",
    ]
    refused(
        lambda: off.send(1, pause_recording=commands_pb2.PauseRecording(agent_id="a")),
        IllegalTransition,
        "call-not-with-agent",
    )
    payloads = offer(call)
    assert [type(p).__name__ for p in payloads][:2] == ["CallOffered", "RecordingSegmentStarted"]


def test_an_agents_pause_ends_when_the_agent_transfers_the_call() -> None:
    call = recorded_call(published=False)
    offer(call)
    call.digits("1", t=5)
    call.ring("agent-1", t=10)
    call.answer("agent-1", t=12)
    call.send(20, pause_recording=commands_pb2.PauseRecording(agent_id="agent-1"))

    payloads = call.transfer("billing", events_pb2.TRANSFER_TARGET_QUEUE, t=30)

    assert [type(p).__name__ for p in payloads] == [
        "CallTransferred",
        "RecordingSegmentStarted",
        "CallQueued",
    ]
    assert (call.state.recording.segment, call.state.recording.paused) == (2, "")


def test_with_recording_off_nothing_is_paused_and_a_recording_begun_before_still_ends() -> None:
    line = Line()
    line.define()
    off = Call(rules=domain.TelephonyRules(lines=Directory({"shop": line})))
    offer(off)
    off.digits("1", t=5)
    off.ring("agent-1", t=10)
    off.answer("agent-1", t=12)
    refused(
        lambda: off.send(20, pause_recording=commands_pb2.PauseRecording(agent_id="agent-1")),
        IllegalTransition,
        "recording-off",
    )

    begun = recorded_call(published=False)
    offer(begun)
    begun.history.rules = domain.TelephonyRules(lines=begun.history.rules.lines)  # turned off since
    *_, end_of_segment, _ = begun.hang_up(Party.PARTY_CALLER, t=9)
    assert (
        isinstance(end_of_segment, events_pb2.RecordingSegmentEnded) and end_of_segment.reason == "call-ended"
    )


def test_a_card_number_keyed_with_a_terminator_or_an_expiry_never_reaches_the_command() -> None:
    for entry in ("4111111111111111#", "41111111111111112025", "*4111111111111111"):
        sent = domain.digits_to_send(None, entry, "tenant", domain.TelephonyRules())
        assert not sent.digits
        assert sent.HasField("masked") and sent.masked.digit_count == len(entry)
