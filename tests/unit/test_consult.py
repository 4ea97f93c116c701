"""Consultation and conference on the call aggregate (TEL-1): the agent consults an outside number with
the caller on hold, then drops the party, joins the three of them, or leaves the caller with the party
(a consult transfer); what may and may not happen meanwhile."""

import pytest
from cc.telephony.v1 import commands_pb2, events_pb2
from cc.telephony.v1.telephony_pb2 import CallStatus
from google.protobuf.message import Message

from services.common.errors import IllegalTransition, InvalidArgument
from tests.unit.support import refused, violated_fields
from tests.unit.test_call_domain import Call, connected, queued

Action = events_pb2.ConsultAction
Party = events_pb2.Party
EXPERT = "+82 2-555-0100"


def consult(call: Call, number: str = EXPERT, t: float = 20, agent_id: str = "agent-1") -> list[Message]:
    return call.send(t, consult_call=commands_pb2.ConsultCall(agent_id=agent_id, number=number))


def finish(call: Call, action: "events_pb2.ConsultAction.ValueType", t: float = 30) -> list[Message]:
    return call.send(t, finish_consult=commands_pb2.FinishConsult(agent_id="agent-1", action=action))


def consulting() -> Call:
    """agent-1 answered at 14 and consults the expert from 20, the caller on hold."""
    call = connected()
    consult(call)
    return call


def test_consulting_puts_the_caller_on_hold() -> None:
    call = connected()

    payloads = consult(call)

    assert payloads == [
        events_pb2.CallHeld(agent_id="agent-1"),
        events_pb2.CallConsultStarted(agent_id="agent-1", number=EXPERT, round=1),
    ]
    assert (call.state.consult_number, call.state.held_since is not None) == (EXPERT, True)


def test_a_caller_on_hold_already_is_not_held_twice() -> None:
    call = connected()
    call.hold(t=16)

    assert consult(call) == [events_pb2.CallConsultStarted(agent_id="agent-1", number=EXPERT, round=1)]


def test_cancelling_brings_the_caller_back_after_the_time_on_hold() -> None:
    call = consulting()

    payloads = finish(call, Action.CONSULT_ACTION_CANCEL, t=32)

    assert payloads == [
        events_pb2.CallConsultEnded(agent_id="agent-1", number=EXPERT, reason="cancelled"),
        events_pb2.CallResumed(agent_id="agent-1", held_seconds=12.0),
    ]
    assert (call.state.consult_number, call.state.held_since, call.state.hold_seconds) == ("", None, 12.0)


def test_the_party_leaving_brings_the_caller_back_too() -> None:
    call = consulting()

    payloads = finish(call, Action.CONSULT_ACTION_PARTY_LEFT, t=29)

    assert payloads == [
        events_pb2.CallConsultEnded(agent_id="agent-1", number=EXPERT, reason="party-left"),
        events_pb2.CallResumed(agent_id="agent-1", held_seconds=9.0),
    ]
    assert call.state.consult_number == ""


def test_the_caller_back_means_off_any_hold_even_one_begun_before_consulting() -> None:
    call = connected()
    call.hold(t=16)
    consult(call)

    payloads = finish(call, Action.CONSULT_ACTION_CANCEL, t=30)

    assert payloads[-1] == events_pb2.CallResumed(agent_id="agent-1", held_seconds=14.0)


def test_cancelling_a_conference_drops_the_party() -> None:
    call = consulting()
    finish(call, Action.CONSULT_ACTION_CONFERENCE, t=26)

    payloads = finish(call, Action.CONSULT_ACTION_CANCEL, t=40)

    assert payloads == [events_pb2.CallConsultEnded(agent_id="agent-1", number=EXPERT, reason="cancelled")]
    assert (call.state.consult_number, call.state.conference) == ("", False)


def test_a_conference_joins_the_three_and_the_agent_leaving_it_transfers_the_call() -> None:
    call = consulting()

    joined = finish(call, Action.CONSULT_ACTION_CONFERENCE, t=26)
    assert joined == [
        events_pb2.CallConferenced(agent_id="agent-1", number=EXPERT),
        events_pb2.CallResumed(agent_id="agent-1", held_seconds=6.0),
    ]
    assert (call.state.conference, call.state.held_since) == (True, None)
    refused(lambda: finish(call, Action.CONSULT_ACTION_CONFERENCE), IllegalTransition, "call-in-conference")

    left = call.hang_up(Party.PARTY_AGENT, t=74)

    transferred, ended = left
    assert isinstance(transferred, events_pb2.CallTransferred)
    assert (transferred.target, transferred.to, transferred.consulted) == (
        events_pb2.TRANSFER_TARGET_NUMBER,
        EXPERT,
        True,
    )
    assert (transferred.talk_seconds, transferred.hold_seconds) == (60.0, 6.0)
    assert ended == events_pb2.CallEnded(
        ended_by=Party.PARTY_AGENT,
        reason=events_pb2.END_REASON_TRANSFERRED_OUT,
        queue_id="member",
        agent_id="agent-1",
        hold_seconds=6.0,
    )


def test_a_consult_transfer_leaves_the_caller_with_the_party_and_counts_the_hold() -> None:
    call = consulting()

    payloads = finish(call, Action.CONSULT_ACTION_TRANSFER, t=40)

    assert [type(p).__name__ for p in payloads] == ["CallTransferred", "CallEnded"]
    assert payloads[0].consulted  # type: ignore[attr-defined]
    assert payloads[1].hold_seconds == 20.0  # type: ignore[attr-defined]
    assert call.state.status == CallStatus.CALL_STATUS_ENDED
    assert (call.state.consult_number, call.state.conference) == ("", False)


@pytest.mark.parametrize(
    "command",
    [
        lambda call: call.hold(t=25),
        lambda call: call.send(25, resume_call=commands_pb2.ResumeCall(agent_id="agent-1")),
        lambda call: call.send(
            25,
            transfer_call=commands_pb2.TransferCall(
                agent_id="agent-1", target=events_pb2.TRANSFER_TARGET_QUEUE, to="payment"
            ),
        ),
        lambda call: consult(call, "+82 2-555-0199", t=25),
        lambda call: call.hang_up(Party.PARTY_AGENT, t=25),  # the caller would be dropped unawares
    ],
)
def test_while_consulting_the_agent_finishes_the_consultation_first(command: object) -> None:
    call = consulting()
    version = call.version

    refused(lambda: command(call), IllegalTransition, "call-consulting")  # type: ignore[operator]

    assert call.version == version


def test_the_caller_hanging_up_ends_the_call_consultation_and_all() -> None:
    call = consulting()

    consult_ended, ended = call.hang_up(Party.PARTY_CALLER, t=50)

    assert consult_ended == events_pb2.CallConsultEnded(
        agent_id="agent-1", number=EXPERT, reason="call-ended"
    )
    assert ended.reason == events_pb2.END_REASON_NORMAL_CLEARING  # type: ignore[attr-defined]
    assert ended.hold_seconds == 30.0  # type: ignore[attr-defined]
    assert call.state.consult_number == ""


def test_only_a_connected_call_is_consulted_on_and_not_one_the_carrier_cannot_place_a_leg_for() -> None:
    refused(lambda: consult(queued()), IllegalTransition, "call-not-with-agent")
    carried = Call()
    carried.send(0, offer_call=commands_pb2.OfferCall(ani="+821012345678", dnis="1588", carrier_ref="CA1"))
    carried.digits("1", t=5)
    carried.ring("agent-1", t=10)
    carried.answer("agent-1", t=14)
    refused(lambda: consult(carried), IllegalTransition, "consult-not-supported-by-carrier")


def test_only_the_agent_on_the_call_consults_and_only_a_number() -> None:
    call = connected()

    refused(lambda: consult(call, agent_id="agent-2"), IllegalTransition, "call-not-with-agent")
    error = refused(lambda: consult(call, number="the expert"), InvalidArgument, "invalid-argument")
    assert violated_fields(error) == ["number"]


def test_finishing_needs_a_consultation_and_an_action() -> None:
    call = connected()
    refused(lambda: finish(call, Action.CONSULT_ACTION_CANCEL), IllegalTransition, "call-not-consulting")

    call = consulting()
    error = refused(
        lambda: finish(call, Action.CONSULT_ACTION_UNSPECIFIED), InvalidArgument, "invalid-argument"
    )
    assert violated_fields(error) == ["action"]


# ---- consulting another agent --------------------------------------------------------------------


def consult_agent(call: Call, agent: str = "supervisor-1", t: float = 20) -> list[Message]:
    asked = commands_pb2.ConsultCall(agent_id="agent-1", consulted_agent_id=agent)
    return call.send(t, consult_call=asked)


def test_the_agent_consults_another_agent_who_may_leave_of_its_own_accord() -> None:
    call = connected()

    assert consult_agent(call) == [
        events_pb2.CallHeld(agent_id="agent-1"),
        events_pb2.CallConsultStarted(agent_id="agent-1", consulted_agent_id="supervisor-1", round=1),
    ]
    refused(lambda: consult(call, t=21), IllegalTransition, "call-consulting")
    transfer = commands_pb2.FinishConsult(agent_id="supervisor-1", action=Action.CONSULT_ACTION_TRANSFER)
    refused(lambda: call.send(22, finish_consult=transfer), IllegalTransition, "consulted-agent-leaves-only")

    left = commands_pb2.FinishConsult(agent_id="supervisor-1", action=Action.CONSULT_ACTION_CANCEL)
    assert call.send(26, finish_consult=left) == [
        events_pb2.CallConsultEnded(
            agent_id="agent-1", reason="party-left", consulted_agent_id="supervisor-1"
        ),
        events_pb2.CallResumed(agent_id="agent-1", held_seconds=6.0),
    ]
    assert (call.state.consult_agent_id, call.state.agent_id) == ("", "agent-1")


def joined(call: Call, agent: str = "supervisor-1", t: float = 21, round_: int = 1) -> list[Message]:
    return call.send(t, consult_joined=commands_pb2.ConsultJoined(agent_id=agent, round=round_))


def test_the_consulted_agent_is_conferenced_or_handed_the_call_only_once_routing_put_it_on() -> None:
    call = connected()
    consult_agent(call)

    for action in (Action.CONSULT_ACTION_TRANSFER, Action.CONSULT_ACTION_CONFERENCE):
        refused(lambda a=action: finish(call, a), IllegalTransition, "consulted-agent-not-joined")  # type: ignore[misc]
    refused(lambda: joined(call, agent="someone-else"), IllegalTransition, "consult-not-with-agent")
    assert joined(call) == [
        events_pb2.CallConsultJoined(agent_id="agent-1", consulted_agent_id="supervisor-1")
    ]
    refused(lambda: joined(call), IllegalTransition, "consult-joined")
    declined = commands_pb2.ConsultDeclined(agent_id="supervisor-1", reason="on-contact", round=1)
    refused(lambda: call.send(22, consult_declined=declined), IllegalTransition, "consult-joined")


def test_a_consulted_agent_that_was_not_free_ends_the_consultation() -> None:
    call = connected()
    consult_agent(call)

    declined = commands_pb2.ConsultDeclined(agent_id="supervisor-1", reason="on-contact", round=1)
    assert call.send(23, consult_declined=declined) == [
        events_pb2.CallConsultEnded(agent_id="agent-1", reason="declined", consulted_agent_id="supervisor-1"),
        events_pb2.CallResumed(agent_id="agent-1", held_seconds=3.0),
    ]
    assert (call.state.consult_agent_id, call.state.consult_joined) == ("", False)


def test_a_consult_transfer_to_an_agent_hands_it_the_call_without_a_queue() -> None:
    call = connected()
    consult_agent(call)
    joined(call)

    transferred, taken_over = finish(call, Action.CONSULT_ACTION_TRANSFER, t=40)

    assert transferred == events_pb2.CallTransferred(
        agent_id="agent-1",
        queue_id="member",
        target=events_pb2.TRANSFER_TARGET_AGENT,
        to="supervisor-1",
        talk_seconds=26.0,
        hold_seconds=20.0,
        consulted=True,
    )
    assert isinstance(taken_over, events_pb2.CallAnswered)
    assert (taken_over.agent_id, taken_over.taken_over, taken_over.consulted) == ("supervisor-1", True, True)
    assert (call.state.status, call.state.agent_id) == (CallStatus.CALL_STATUS_CONNECTED, "supervisor-1")
    assert (call.state.consult_agent_id, call.state.held_since) == ("", None)
    # the new agent on the call hangs up as any agent
    [ended] = [e for e in call.hang_up(Party.PARTY_AGENT, t=60) if isinstance(e, events_pb2.CallEnded)]
    assert ended.agent_id == "supervisor-1"


def test_in_a_conference_with_an_agent_the_consulting_agent_leaving_hands_over_the_call() -> None:
    call = connected()
    consult_agent(call)
    joined(call)
    conferenced, _resumed = finish(call, Action.CONSULT_ACTION_CONFERENCE, t=30)
    assert conferenced == events_pb2.CallConferenced(agent_id="agent-1", consulted_agent_id="supervisor-1")

    transferred, taken_over = call.hang_up(Party.PARTY_AGENT, t=45)

    assert isinstance(transferred, events_pb2.CallTransferred) and transferred.to == "supervisor-1"
    assert isinstance(taken_over, events_pb2.CallAnswered) and taken_over.agent_id == "supervisor-1"


def test_the_caller_hanging_up_ends_an_agent_s_consultation_too() -> None:
    call = connected()
    consult_agent(call)

    consult_ended, _ended = call.hang_up(Party.PARTY_CALLER, t=50)

    assert consult_ended == events_pb2.CallConsultEnded(
        agent_id="agent-1", reason="call-ended", consulted_agent_id="supervisor-1"
    )


def test_a_consultation_is_with_a_number_or_another_agent() -> None:
    call = connected()
    both = commands_pb2.ConsultCall(agent_id="agent-1", number=EXPERT, consulted_agent_id="supervisor-1")

    refused(lambda: call.send(20, consult_call=both), InvalidArgument, "invalid-argument")
    refused(
        lambda: call.send(20, consult_call=commands_pb2.ConsultCall(agent_id="agent-1")),
        InvalidArgument,
        "invalid-argument",
    )
    error = refused(lambda: consult_agent(call, agent="agent-1"), InvalidArgument, "invalid-argument")
    assert violated_fields(error) == ["consulted_agent_id"]


def test_routing_s_answer_to_an_earlier_consultation_is_not_taken_for_a_later_one() -> None:
    call = connected()
    consult_agent(call)
    finish(call, Action.CONSULT_ACTION_CANCEL, t=22)
    consult_agent(call, t=30)  # the same agent, consulted again: the second round
    late_decline = commands_pb2.ConsultDeclined(agent_id="supervisor-1", reason="on-contact", round=1)

    refused(lambda: joined(call, round_=1), IllegalTransition, "consult-not-with-agent")
    refused(lambda: call.send(31, consult_declined=late_decline), IllegalTransition, "consult-not-with-agent")
    assert joined(call, round_=2, t=32) == [
        events_pb2.CallConsultJoined(agent_id="agent-1", consulted_agent_id="supervisor-1")
    ]
