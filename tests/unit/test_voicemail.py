"""Voicemail becomes a ticket (TEL-6): a flow's voicemail node asks for a message and waits for the
carrier's recording; the recording ends the call; ticketing opens an unassigned voice ticket with the
recording, the caller and the line, once however often the event arrives."""

from datetime import timedelta

import pytest
from cc.common.v1 import event_pb2, types_pb2
from cc.telephony.v1 import commands_pb2, events_pb2
from cc.telephony.v1.telephony_pb2 import CallStatus
from cc.ticketing.v1 import commands_pb2 as ticket_commands
from google.protobuf.message import Message

from services.common.errors import IllegalTransition, InvalidArgument
from services.common.snapshots import StateCodec
from services.telephony import domain
from services.ticketing import domain as tickets
from services.ticketing.consumers import voice_tickets
from tests.unit.support import TENANT, History, at, envelope, meta, refused, violated_fields
from tests.unit.test_flows import faults, flow, node
from tests.unit.test_lines import Directory, Line

RECORDING = "https://carrier.example/recordings/RE123"
AFTER_HOURS = flow(
    node("hours", "check-hours", branches={"open": "sales", "closed": "vm"}),
    node("vm", "voicemail", prompt="Please leave a message after the tone", max_seconds=60),
    node("sales", "queue", queue_id="sales"),
)


class Call:
    def __init__(self) -> None:
        line = Line()
        line.define()  # Seoul office hours: closed at night
        line.publish(AFTER_HOURS)
        rules = domain.TelephonyRules(lines=Directory({"shop": line}))
        self.history = History(
            domain.decide, domain.evolve, domain.customer_of, rules, "telephony", "call", "c-1"
        )

    @property
    def state(self) -> domain.CallState:
        assert self.history.state is not None
        return self.history.state

    def send(self, t: float, **body: Message) -> list[Message]:
        command = commands_pb2.CallCommand(meta=meta("c-1"), **body)  # type: ignore[arg-type]
        return self.history.handle(command, NIGHT + timedelta(seconds=t))

    def offer(self) -> list[Message]:
        return self.send(0, offer_call=commands_pb2.OfferCall(ani="+821012340000", dnis="15881234"))

    def leave(self, recording: str = RECORDING, seconds: int = 42, t: float = 50) -> list[Message]:
        left = commands_pb2.LeaveVoicemail(recording_ref=recording, duration_seconds=seconds)
        return self.send(t, leave_voicemail=left)


NIGHT = at(0).replace(year=2026, month=11, day=25, hour=14)  # 23:00 in Seoul


def test_after_hours_the_flow_offers_voicemail_and_the_call_waits_for_the_recording() -> None:
    call = Call()

    *_, offered = call.offer()

    assert offered == events_pb2.VoicemailOffered(
        node_id="vm", prompt="Please leave a message after the tone", max_seconds=60
    )
    assert (call.state.status, call.state.node_id) == (CallStatus.CALL_STATUS_IN_IVR, "vm")


def test_the_recording_ends_the_call_with_what_ticketing_needs() -> None:
    call = Call()
    call.offer()

    left, ended = call.leave()

    assert left == events_pb2.VoicemailLeft(
        node_id="vm",
        recording_ref=RECORDING,
        duration_seconds=42,
        caller_number="+821012340000",
        line_id="shop",
        dnis="15881234",
    )
    assert ended == events_pb2.CallEnded(
        ended_by=events_pb2.PARTY_CALLER, reason=events_pb2.END_REASON_VOICEMAIL_LEFT
    )
    assert call.state.status == CallStatus.CALL_STATUS_ENDED


@pytest.mark.parametrize(
    ("recording", "seconds", "field"),
    [("", 10, "recording_ref"), (RECORDING, 0, "duration_seconds"), (RECORDING, 66, "duration_seconds")],
)
def test_a_recording_without_a_reference_or_outside_the_node_length_is_refused(
    recording: str, seconds: int, field: str
) -> None:
    call = Call()
    call.offer()

    assert violated_fields(
        refused(lambda: call.leave(recording, seconds), InvalidArgument, "invalid-argument")
    ) == [field]
    assert call.state.status == CallStatus.CALL_STATUS_IN_IVR


def test_digits_at_the_voicemail_node_and_a_recording_anywhere_else_are_refused() -> None:
    call = Call()
    call.offer()
    refused(
        lambda: call.send(5, send_digits=commands_pb2.SendDigits(digits="1")),
        IllegalTransition,
        "call-at-voicemail",
    )

    call.leave()
    refused(lambda: call.leave(t=60), IllegalTransition, "call-not-at-voicemail")  # one recording

    default_line = History(
        domain.decide, domain.evolve, domain.customer_of, domain.TelephonyRules(), "telephony", "call", "c-2"
    )
    offer = commands_pb2.OfferCall(ani="+821012340000", dnis="0000")
    default_line.handle(commands_pb2.CallCommand(meta=meta("c-2"), offer_call=offer), NIGHT)
    left = commands_pb2.LeaveVoicemail(recording_ref=RECORDING, duration_seconds=5)
    refused(
        lambda: default_line.handle(commands_pb2.CallCommand(meta=meta("c-2"), leave_voicemail=left), NIGHT),
        IllegalTransition,
        "call-not-at-voicemail",
    )


def test_a_recording_reported_after_the_caller_hung_up_still_becomes_the_voicemail() -> None:
    call = Call()
    call.offer()
    call.send(45, hang_up_call=commands_pb2.HangUpCall(party=events_pb2.PARTY_CALLER))

    (left,) = call.leave(seconds=63, t=47)  # 3 s over the node's 60: the carrier rounded up

    assert isinstance(left, events_pb2.VoicemailLeft) and left.duration_seconds == 63
    assert call.state.end_reason == events_pb2.END_REASON_CALLER_LEFT_IVR
    refused(lambda: call.leave(t=48), IllegalTransition, "call-not-at-voicemail")


def test_a_call_that_ended_elsewhere_takes_no_recording() -> None:
    call = Call()
    call.offer()
    call.leave()  # ended as voicemail-left
    blocked = History(
        domain.decide, domain.evolve, domain.customer_of, domain.TelephonyRules(), "telephony", "call", "c-3"
    )
    offer = commands_pb2.OfferCall(ani="+821012340000", dnis="0000")
    blocked.handle(commands_pb2.CallCommand(meta=meta("c-3"), offer_call=offer), NIGHT)
    blocked.handle(
        commands_pb2.CallCommand(
            meta=meta("c-3"), hang_up_call=commands_pb2.HangUpCall(party=events_pb2.PARTY_CALLER)
        ),
        NIGHT,
    )
    left = commands_pb2.LeaveVoicemail(recording_ref=RECORDING, duration_seconds=5)

    refused(
        lambda: blocked.handle(commands_pb2.CallCommand(meta=meta("c-3"), leave_voicemail=left), NIGHT),
        IllegalTransition,
        "call-not-at-voicemail",
    )


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        (node("vm", "voicemail"), "nodes[vm].parameters.prompt"),
        (node("vm", "voicemail", prompt="p", max_seconds=4), "nodes[vm].parameters.max_seconds"),
        (node("vm", "voicemail", "q", prompt="p"), "nodes[vm].next"),
    ],
)
def test_a_bad_voicemail_node_is_refused(bad: events_pb2.FlowNode, field: str) -> None:
    assert field in faults(flow(bad, node("q", "queue", queue_id="q")))


# ---- the ticket ------------------------------------------------------------------------------------


def left_event(event_id: str = "e-1") -> event_pb2.Event:
    left = events_pb2.VoicemailLeft(
        node_id="vm",
        recording_ref=RECORDING,
        duration_seconds=42,
        caller_number="+821012340000",
        line_id="shop",
        dnis="15881234",
    )
    return event_pb2.Event(
        event_id=event_id, tenant_id=TENANT, aggregate_id="c-1", customer_id="cu-1", voicemail_left=left
    )


def test_a_voicemail_opens_one_unassigned_voice_ticket_with_its_recording() -> None:
    [(_, command)] = voice_tickets(left_event("e-1"))
    [(_, again)] = voice_tickets(left_event("e-2"))  # re-sent under another event id: the same ticket

    opening = command.open_ticket
    assert isinstance(command, ticket_commands.TicketCommand)
    assert (opening.subject, opening.channel, opening.customer_id, opening.call_id) == (
        "Voicemail from +821012340000 on line shop",
        types_pb2.CHANNEL_VOICE,
        "cu-1",
        "c-1",
    )
    assert opening.assignee_agent_id == "" and opening.voicemail.recording_ref == RECORDING
    assert command.meta.aggregate_id == again.meta.aggregate_id == tickets.ticket_for_call(TENANT, "c-1")


def test_the_ticket_keeps_the_voicemail_through_its_snapshot() -> None:
    [(_, command)] = voice_tickets(left_event())
    [opened] = tickets.decide(None, command, at(0))
    ticket = tickets.evolve(
        None,
        envelope(
            opened, context="ticketing", aggregate_type="ticket", aggregate_id="t-1", version=1, when=at(0)
        ),
    )

    assert ticket.voicemail == tickets.Voicemail(RECORDING, 42, "+821012340000", "shop", "15881234")
    assert ticket.voicemail.message() == command.open_ticket.voicemail
    codec = StateCodec(tickets.TicketState)
    assert codec.decode(codec.encode(ticket)) == ticket
