"""The call aggregate (TEL-1): decide and evolve, pure. A call is offered, walks its line's IVR flow,
waits in a queue, rings an agent (again after a ring-no-answer), is answered and ends; a caller who
hangs up after joining a queue and before an answer has abandoned. The agent on the call may hold it,
and transfer it (blind) to a queue, another agent or an outside number (TEL-1).

A caller waiting in a queue may accept a callback (TEL-5): it keeps their place (or waits out of the
queue for a reserved time slot, status callback-pending), the agent routing chooses answers it, the
outbound leg is placed, and the carrier reports its outcome; a failed attempt waits out of the queue for
the retry delay and goes back to its place, until the last attempt ends the call.

The offer records the line of business its DNIS reaches and the version of the line's flow; the call
walks that version to its end (TEL-3), reading the flow and the line's hours through the rules'
`LineDirectory`."""

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from cc.common.v1 import event_pb2
from cc.telephony.v1 import commands_pb2, events_pb2, telephony_pb2
from cc.telephony.v1.telephony_pb2 import CallStatus
from google.protobuf.message import Message

from services.common import numbers
from services.common.aggregate import evolved
from services.common.envelope import derived_id, given_moment, timestamp, to_datetime
from services.common.errors import (
    FieldViolation,
    IllegalTransition,
    InvalidArgument,
    NotFound,
    optional_text,
    require,
    text_problem,
)
from services.common.pci import holds_card_number
from services.telephony import caller_list, consult, flows, outbound, recording
from services.telephony.caller_list import CallerList, NoListedNumbers
from services.telephony.lines import DEFAULT_FLOW, LineDirectory, LineState, NoLines
from services.telephony.recording import Recording

Consult = events_pb2.ConsultAction
# How far ahead a callback's time slot may be reserved (TEL-5).
CALLBACK_SLOT_LEAD = timedelta(minutes=1)
CALLBACK_SLOT_HORIZON = timedelta(days=14)
_DIGITS = re.compile(r"[0-9*#]{1,32}")
# A call's priority (RT-4): 0 for none.
MAX_PRIORITY = flows.MAX_PRIORITY
# How far past a voicemail node's max_seconds a carrier's recording may run (it rounds up).
VOICEMAIL_GRACE_SECONDS = 5


@dataclass(frozen=True)
class TelephonyRules:
    lines: LineDirectory = field(default_factory=NoLines)
    callers: CallerList = field(default_factory=NoListedNumbers)
    ring_timeout_seconds: int = 15
    # A callback's outbound leg is tried this many times in all, this long apart (TEL-5).
    callback_attempts: int = 3
    callback_retry_seconds: int = 60
    # Whether calls are recorded (TEL-7): on in every deployment unless CC_RECORD_CALLS says otherwise.
    record_calls: bool = False
    # The least priority a VIP customer's call waits with (RT-4).
    vip_priority: int = 5
    # An outbound call the carrier has not reported within this long ends unanswered (TEL-8).
    dial_timeout_seconds: int = 60


@dataclass(frozen=True)
class CallState:
    call_id: str
    ani: str
    dnis: str
    customer_id: str
    offered_at: datetime
    status: "CallStatus.ValueType" = telephony_pb2.CALL_STATUS_IN_IVR
    line_id: str = ""
    flow_version: int = 0
    # The flow node the call waits on in the IVR, and the play number of its prompt (1 = first).
    node_id: str = ""
    ivr_attempt: int = 0
    # Each entry; a masked one as one * per digit.
    ivr_digits: tuple[str, ...] = ()
    # What the flow's set-attribute and collect nodes set.
    attributes: dict[str, str] = field(default_factory=dict)
    # Why the caller's number is flagged on the caller list (TEL-9), for the agent.
    caller_flag: str = ""
    # At a voicemail node: its max_seconds (0 elsewhere), and whether the recording came (TEL-6).
    voicemail_seconds: int = 0
    voicemail_left: bool = False
    # On hold since then (TEL-1); the seconds of the holds that ended.
    held_since: datetime | None = None
    hold_seconds: float = 0.0
    # How many times an agent transferred it (TEL-1).
    transfers: int = 0
    # A callback (TEL-5): the number to call; the attempts placed; while pending, when it is due back in
    # its queue and the event that set that (its timer's cause); whether an attempt is being dialled,
    # and whether the caller answered one.
    callback_number: str = ""
    callback_attempts: int = 0
    callback_due: datetime | None = None
    callback_due_event_id: str = ""
    callback_dialing: bool = False
    callback_connected: bool = False
    # Its recording's segments (TEL-7).
    recording: Recording = field(default_factory=Recording)
    # The carrier's own id of the call, and what the caller was told since their last entry (TEL-10).
    carrier_ref: str = ""
    heard: tuple[str, ...] = ()
    # The outside number or the other agent the agent consults (TEL-1), and whether the three are in a
    # conference.
    consult_number: str = ""
    conference: bool = False
    consult_agent_id: str = ""
    # Whether routing put the consulted agent on the call (only then is it conferenced or handed the call),
    # and how many consultations the call has had (routing's answers name theirs).
    consult_joined: bool = False
    consult_round: int = 0
    # The outside number it was transferred to, by its agent or its flow (TEL-1, TEL-3).
    transferred_to: str = ""
    # The callback attempt whose leg the carrier placed (its carrier_ref is the call's); 0 for none.
    leg_attempt: int = 0
    # An outbound call (TEL-8): `dnis` is the customer's number, `ani` the line's number shown.
    outbound: bool = False
    # The campaign whose contact it is (TEL-8): its answer, or its end unanswered, is the contact's outcome.
    campaign_id: str = ""

    def hold_seconds_at(self, now: datetime) -> float:
        """All the time on hold until `now`, the hold in progress included."""
        open_hold = (now - self.held_since).total_seconds() if self.held_since is not None else 0.0
        return self.hold_seconds + open_hold

    queue_id: str = ""
    required_skill: str = ""
    priority: int = 0
    enqueued_at: datetime | None = None
    ringing_agent_id: str = ""
    # How long the agent's phone rings before RONA (a length, not a time: see services.common.deadlines).
    ring_timeout: timedelta | None = None
    # The CallRinging event: the RONA timer's command id derives from it, the same on every instance.
    ring_event_id: str = ""
    agent_id: str = ""
    answered_at: datetime | None = None
    ended_at: datetime | None = None
    ended_by: "events_pb2.Party.ValueType" = events_pb2.PARTY_UNSPECIFIED
    end_reason: "events_pb2.EndReason.ValueType" = events_pb2.END_REASON_UNSPECIFIED


def customer_for_ani(tenant_id: str, ani: str) -> str:
    """The identity of a caller with no customer profile (CH-2): one per number within a tenant. A caller
    whose number a profile has is that customer (the servicer resolves it before the offer)."""
    return derived_id("customer", tenant_id, "tel", ani)


def customer_of(state: CallState | None, command: commands_pb2.CallCommand) -> str:
    if state is not None:
        return state.customer_id
    if command.HasField("place_outbound_call"):
        place = command.place_outbound_call
        return place.customer_id or customer_for_ani(command.meta.tenant_id, numbers.canonical(place.number))
    offer = command.offer_call
    return offer.customer_id or customer_for_ani(command.meta.tenant_id, offer.ani)


def _existing(state: CallState | None, call_id: str) -> CallState:
    if state is None:
        raise NotFound("call-not-found", f"call {call_id} does not exist")
    if state.status == telephony_pb2.CALL_STATUS_ENDED:
        raise IllegalTransition("call-already-ended", f"call {call_id} has already ended")
    return state


def _with_hold(decided: list[Message], call: CallState, now: datetime) -> None:
    """Every end of a call carries its time on hold in all, however it ends (the agent hanging up, a
    transfer out, abandoned after a transfer, a callback failed or cancelled): the queue statistics
    read it there. The one place it is set, so no way of ending can forget it."""
    for event in decided:
        if isinstance(event, events_pb2.CallEnded) and not event.hold_seconds:
            event.hold_seconds = call.hold_seconds_at(now)


def _with_campaign(decided: list[Message], call: CallState) -> None:
    """A campaign's call being dialled tells its campaign how the attempt went: its answer, or its end
    unanswered, carries the campaign (the campaign's policy reads no other event of the call)."""
    if not call.campaign_id or call.status != outbound.DIALING:
        return
    for event in decided:
        if isinstance(event, events_pb2.OutboundCallConnected | events_pb2.CallEnded):
            event.campaign_id = call.campaign_id


def _illegal(state: CallState, error_id: str, wanted: str) -> IllegalTransition:
    status = CallStatus.Name(state.status).removeprefix("CALL_STATUS_").lower()
    return IllegalTransition(error_id, f"call {state.call_id} is {status}, not {wanted}")


def decide(
    state: CallState | None, command: commands_pb2.CallCommand, now: datetime, rules: TelephonyRules
) -> list[Message]:
    """What the command decides, with the recording's segments around it (TEL-7): paused while the
    caller is at a masked node, ended with the call."""
    decided = _decide(state, command, now, rules)
    if state is not None:
        _with_hold(decided, state, now)
        _with_campaign(decided, state)
    if not rules.record_calls and (state is None or not state.recording.segment):
        return decided  # a recording begun before recording was turned off still ends with its call
    tenant_id = command.meta.tenant_id
    if state is None:
        first = decided[0]
        assert isinstance(first, events_pb2.CallOffered | events_pb2.OutboundCallPlaced)
        version = first.flow_version if isinstance(first, events_pb2.CallOffered) else 0
        flow = _flow_of(tenant_id, first.line_id, version, rules)
        at_masked, so_far = False, Recording()
    else:
        flow = _flow_of(tenant_id, state.line_id, state.flow_version, rules)
        at_masked, so_far = _at_masked_node(state, tenant_id, rules), state.recording

    def masked(node_id: str) -> bool:
        node = flow.nodes.get(node_id)
        return node is not None and node.masked

    return recording.recorded(command.meta.aggregate_id, so_far, at_masked, decided, masked, now)


def _decide(
    state: CallState | None, command: commands_pb2.CallCommand, now: datetime, rules: TelephonyRules
) -> list[Message]:
    call_id = command.meta.aggregate_id
    match command.WhichOneof("command"):
        case "offer_call":
            return _offer(state, command.offer_call, command.meta.tenant_id, now, rules)
        case "place_outbound_call":
            if state is not None:
                raise IllegalTransition("call-already-placed", f"call {state.call_id} was already placed")
            placed = outbound.placed(
                command.place_outbound_call, command.meta.tenant_id, now, rules.lines, rules.callers
            )
            placed.dial_timeout_seconds = rules.dial_timeout_seconds
            return [placed]
        case "send_digits":
            return _digits(_existing(state, call_id), command.send_digits, command.meta.tenant_id, now, rules)
        case "ring_agent":
            call = _existing(state, call_id)
            if call.status != telephony_pb2.CALL_STATUS_QUEUED:
                raise _illegal(call, "call-not-queued", "queued")
            agent_id = require(command.ring_agent.agent_id, "agent_id", "the agent to ring")
            return [
                events_pb2.CallRinging(
                    agent_id=agent_id,
                    decision_id=command.ring_agent.decision_id,
                    ring_timeout_seconds=rules.ring_timeout_seconds,
                    queue_id=call.queue_id,
                )
            ]
        case "expire_ring":
            call = _ringing(_existing(state, call_id), command.expire_ring.agent_id)
            return [
                events_pb2.CallRingNoAnswer(agent_id=call.ringing_agent_id, queue_id=call.queue_id),
                _queued(
                    call.queue_id,
                    call.required_skill,
                    call.priority,
                    call.enqueued_at or now,
                    "ring-no-answer",
                ),
            ]
        case "answer_call":
            agent_id = require(command.answer_call.agent_id, "agent_id", "the answering agent")
            call = _ringing(_existing(state, call_id), agent_id)
            answered = events_pb2.CallAnswered(
                agent_id=agent_id,
                queue_id=call.queue_id,
                enqueued_at=timestamp(call.enqueued_at or now),
                line_id=call.line_id,
                taken_over=call.answered_at is not None,
            )
            if not call.callback_number or call.callback_connected:  # the caller is on the line
                return [answered]
            attempt = call.callback_attempts + 1
            answered.callback_attempt = attempt
            return [
                answered,
                events_pb2.CallbackDialing(agent_id=agent_id, number=call.callback_number, attempt=attempt),
            ]
        case "hang_up_call":
            call = _existing(state, call_id)
            if call.status == outbound.DIALING:
                return [outbound.given_up(call.agent_id, _party(command.hang_up_call.party))]
            if command.hang_up_call.party == events_pb2.PARTY_AGENT and call.callback_dialing:
                # the agent gives up on the attempt before the caller answers: it failed
                gave_up = commands_pb2.ReportCallbackOutcome(outcome=events_pb2.CALLBACK_OUTCOME_FAILED)
                return _callback_outcome(call, gave_up, now, rules)
            if command.hang_up_call.party == events_pb2.PARTY_AGENT and call.conference:
                return _consult_transfer(call, now)  # the agent leaves the other two talking
            if command.hang_up_call.party == events_pb2.PARTY_AGENT:
                consult.refused_while_consulting(call)
            return [*consult.ended_with_call(call), _hang_up(call, command.hang_up_call.party)]
        case "hold_call":
            call = _with_caller(_existing(state, call_id), command.hold_call.agent_id)
            consult.refused_while_consulting(call)
            if call.held_since is not None:
                raise _illegal(call, "call-on-hold", "off hold")
            return [events_pb2.CallHeld(agent_id=call.agent_id)]
        case "resume_call":
            call = consult.refused_while_consulting(
                _with_agent(_existing(state, call_id), command.resume_call.agent_id)
            )
            if call.held_since is None:
                raise _illegal(call, "call-not-on-hold", "on hold")
            held = (now - call.held_since).total_seconds()
            return [events_pb2.CallResumed(agent_id=call.agent_id, held_seconds=held)]
        case "reject_call":
            agent_id = require(command.reject_call.agent_id, "agent_id", "the rejecting agent")
            call = _ringing(_existing(state, call_id), agent_id)
            return [
                events_pb2.CallRejected(agent_id=agent_id, queue_id=call.queue_id),
                _queued(
                    call.queue_id, call.required_skill, call.priority, call.enqueued_at or now, "rejected"
                ),
            ]
        case "transfer_call":
            transfer = command.transfer_call
            call = consult.refused_while_consulting(
                _with_caller(_existing(state, call_id), transfer.agent_id)
            )
            return _transfer(call, transfer, now)
        case "consult_call":
            call = _with_caller(_existing(state, call_id), command.consult_call.agent_id)
            if call.carrier_ref:
                raise IllegalTransition(
                    "consult-not-supported-by-carrier",
                    f"call {call_id} is carried by an adapter that cannot place the consultation's leg",
                )
            asked = command.consult_call
            return consult.started(call, asked.number, asked.consulted_agent_id)
        case "consult_joined":
            joined = command.consult_joined
            return consult.agent_joined(_existing(state, call_id), joined.agent_id, joined.round)
        case "consult_declined":
            declined = command.consult_declined
            return consult.agent_declined(_existing(state, call_id), declined.agent_id, declined.round, now)
        case "finish_consult":
            return _finish_consult(_existing(state, call_id), command.finish_consult, now)
        case "request_callback":
            call = _existing(state, call_id)
            line = rules.lines.line(command.meta.tenant_id, call.line_id) if call.line_id else None
            return _request_callback(call, command.request_callback, now, line)
        case "release_callback":
            return [_release_callback(_existing(state, call_id))]
        case "cancel_callback":
            return [_cancel_callback(_existing(state, call_id))]
        case "pause_recording":
            call = _with_agent(_existing(state, call_id), command.pause_recording.agent_id)
            if not call.recording.segment:
                paused = "recording-paused" if call.recording.paused else "recording-off"
                raise IllegalTransition(paused, f"call {call_id} is not being recorded")
            return [recording.pause(call_id, call.recording, now)]
        case "resume_recording":
            call = _with_agent(_existing(state, call_id), command.resume_recording.agent_id)
            if call.recording.paused != recording.AGENT:
                raise IllegalTransition(
                    "recording-not-paused", f"the agent has not paused the recording of call {call_id}"
                )
            return [recording.resume(call_id, call.recording)]
        case "report_callback_outcome":
            call, report = _existing(state, call_id), command.report_callback_outcome
            optional_text(report.carrier_ref, "carrier_ref", "the carrier's id of the leg")
            if call.status == outbound.DIALING:
                return outbound.reported(call.agent_id, call.line_id, report)
            return _callback_outcome(call, report, now, rules)
        case "leave_voicemail":
            if state is None:
                raise NotFound("call-not-found", f"call {call_id} does not exist")
            return _voicemail(state, command.leave_voicemail)
        case _:
            raise InvalidArgument("unknown-command", "the call command names no known action")


def _offer(
    state: CallState | None,
    offer: commands_pb2.OfferCall,
    tenant_id: str,
    now: datetime,
    rules: TelephonyRules,
) -> list[Message]:
    if state is not None:
        raise IllegalTransition("call-already-offered", f"call {state.call_id} was already offered")
    violations = [
        FieldViolation(name, f"{what} {problem}")
        for name, value, what in (
            ("ani", offer.ani, "the caller's number (ANI)"),
            ("dnis", offer.dnis, "the dialled service number (DNIS)"),
        )
        if (problem := text_problem(value)) is not None
    ]
    if violations:
        raise InvalidArgument("invalid-argument", "ani and dnis are required", violations)
    optional_text(offer.customer_id, "customer_id", "the customer id")
    optional_text(offer.carrier_ref, "carrier_ref", "the carrier's id of the call")
    if not 0 <= offer.priority <= MAX_PRIORITY:
        raise InvalidArgument(
            "invalid-argument", "priority is 0 to 10", [FieldViolation("priority", "0 (none) to 10")]
        )
    line = rules.lines.line_for(tenant_id, offer.dnis)
    version = line.flow_version if line else 0
    flow = line.flow(version) if line else DEFAULT_FLOW
    priority = max(offer.priority, rules.vip_priority) if offer.customer_vip else offer.priority
    caller = _caller(line, priority, now, offer.ani)
    offered = events_pb2.CallOffered(
        ani=offer.ani,
        dnis=offer.dnis,
        priority=priority,
        line_id=line.line_id if line else "",
        flow_version=version,
        carrier_ref=offer.carrier_ref,
    )
    screening = caller_list.screened(rules.callers.entry(tenant_id, numbers.canonical(offer.ani)), now)
    if any(isinstance(said, events_pb2.CallerBlocked) for said in screening):
        blocked = events_pb2.END_REASON_CALLER_BLOCKED
        ended = events_pb2.CallEnded(ended_by=events_pb2.PARTY_SYSTEM, reason=blocked)
        return [offered, *screening, ended]
    return [offered, *screening, *flows.enter(flow, flow.start, caller)]


def _always(moment: datetime) -> bool:
    return True


def _walked(call: CallState, tenant_id: str, rules: TelephonyRules) -> tuple[flows.Flow, LineState | None]:
    """The flow the call walks (the version its offer recorded), and its line (None: the default)."""
    line = rules.lines.line(tenant_id, call.line_id) if call.line_id else None
    return (line.flow(call.flow_version) if line else DEFAULT_FLOW), line


def _flow_of(tenant_id: str, line_id: str, version: int, rules: TelephonyRules) -> flows.Flow:
    line = rules.lines.line(tenant_id, line_id) if line_id else None
    return line.flow(version) if line else DEFAULT_FLOW


def _caller(line: LineState | None, priority: int, now: datetime, number: str) -> flows.Caller:
    return flows.Caller(priority, line.is_open if line else _always, now, number)


def digits_to_send(
    call: CallState | None, digits: str, tenant_id: str, rules: TelephonyRules
) -> commands_pb2.SendDigits:
    """What a SendDigits command carries: the digits, or only how many and whether they pass Luhn at a
    masked collect node and for any entry holding a card number (13 to 19 digits passing Luhn, also
    with "#", an expiry or a CVV after it) wherever it is entered, so that a card number never reaches
    the command log (SEC-1), even when this instance's view of the call lags behind a move to a masked
    node."""
    if not digits or (not holds_card_number(digits) and not _at_masked_node(call, tenant_id, rules)):
        return commands_pb2.SendDigits(digits=digits)  # decide checks them, after the call's state
    _check_digits(digits)
    entry = flows.Entry.of(digits)
    return commands_pb2.SendDigits(
        masked=commands_pb2.MaskedDigits(digit_count=entry.count, luhn_valid=entry.luhn_valid)
    )


def _at_masked_node(call: CallState | None, tenant_id: str, rules: TelephonyRules) -> bool:
    if call is None or call.status != telephony_pb2.CALL_STATUS_IN_IVR:
        return False
    if call.recording.paused == recording.PCI:  # also when its flow version is no longer kept
        return True
    flow, _ = _walked(call, tenant_id, rules)
    node = flow.nodes.get(call.node_id)
    return node is not None and node.masked


def _check_digits(digits: str) -> None:
    if not _DIGITS.fullmatch(digits):
        raise InvalidArgument(
            "invalid-argument",
            "digits must be 1 to 32 of 0-9, * and #",
            [FieldViolation("digits", "1 to 32 of 0-9, * and #")],
        )


def _digits(
    call: CallState, sent: commands_pb2.SendDigits, tenant_id: str, now: datetime, rules: TelephonyRules
) -> list[Message]:
    if call.status != telephony_pb2.CALL_STATUS_IN_IVR:
        raise _illegal(call, "call-not-in-ivr", "in the IVR")
    flow, line = _walked(call, tenant_id, rules)
    caller = _caller(line, call.priority, now, call.ani)
    node = flow.nodes.get(call.node_id)
    if node is None or not flows.NODE_TYPES[node.kind].waits:
        # its version is no longer kept, and the current one waits elsewhere: start that one over
        return flows.enter(flow, flow.start, caller)
    if node.kind == "voicemail":
        raise _illegal(call, "call-at-voicemail", "waiting for digits (it is recording a voicemail)")
    if sent.HasField("masked"):
        entry = flows.Entry("", sent.masked.digit_count, sent.masked.luhn_valid)
    elif not sent.digits:  # nothing before the carrier's timeout: a miss, as an unknown entry is
        entry = flows.Entry("", 0, False)
    else:
        _check_digits(sent.digits)
        entry = flows.Entry.of(sent.digits)
    return flows.respond(flow, call.node_id, call.ivr_attempt, entry, caller)


def _voicemail(call: CallState, left: commands_pb2.LeaveVoicemail) -> list[Message]:
    """The carrier recorded the caller's message at a voicemail node (TEL-6): the call ends, and the
    event carries what ticketing needs to open the ticket. Carriers often report the caller's hang-up
    before the recording: a call that ended at the voicemail node still takes its one recording."""
    at_voicemail = call.voicemail_seconds > 0 and not call.voicemail_left
    hung_up_there = call.end_reason == events_pb2.END_REASON_CALLER_LEFT_IVR
    at_the_node = call.status in (telephony_pb2.CALL_STATUS_IN_IVR, telephony_pb2.CALL_STATUS_ENDED)
    if not at_voicemail or not at_the_node:
        raise _illegal(call, "call-not-at-voicemail", "at a voicemail node")
    if call.status == telephony_pb2.CALL_STATUS_ENDED and not hung_up_there:
        raise IllegalTransition("call-already-ended", f"call {call.call_id} has already ended")
    left_ref = require(left.recording_ref, "recording_ref", "the carrier's reference to the recording")
    # a carrier may round the length up past the node's limit
    longest = call.voicemail_seconds + VOICEMAIL_GRACE_SECONDS
    if not 1 <= left.duration_seconds <= longest:
        raise InvalidArgument(
            "invalid-argument",
            f"duration_seconds is 1 to {longest}",
            [
                FieldViolation(
                    "duration_seconds", f"1 to the node's max_seconds and {VOICEMAIL_GRACE_SECONDS} s"
                )
            ],
        )
    left_event = events_pb2.VoicemailLeft(
        node_id=call.node_id,
        recording_ref=left_ref,
        duration_seconds=left.duration_seconds,
        caller_number=call.ani,
        line_id=call.line_id,
        dnis=call.dnis,
    )
    if call.status == telephony_pb2.CALL_STATUS_ENDED:
        return [left_event]
    return [
        left_event,
        events_pb2.CallEnded(ended_by=events_pb2.PARTY_CALLER, reason=events_pb2.END_REASON_VOICEMAIL_LEFT),
    ]


def _transfer(call: CallState, transfer: commands_pb2.TransferCall, now: datetime) -> list[Message]:
    """A blind transfer (TEL-1): the agent leaves the call, which waits anew in the queue it goes to
    (a transfer is an offer there, with no place kept), or for the agent it goes to, or ends here as the
    carrier connects the caller to the outside number. A caller on hold is taken off it."""
    to = require(transfer.to, "to", "the queue, agent or number to transfer to")
    if (problem := text_problem(to)) is not None:
        raise InvalidArgument("invalid-argument", f"to {problem}", [FieldViolation("to", problem)])
    talk_seconds = (now - call.answered_at).total_seconds() if call.answered_at else 0.0
    transferred = events_pb2.CallTransferred(
        agent_id=call.agent_id,
        queue_id=call.queue_id,
        target=transfer.target,
        to=to,
        talk_seconds=talk_seconds,
        hold_seconds=call.hold_seconds_at(now),
    )
    match transfer.target:
        case events_pb2.TRANSFER_TARGET_QUEUE:
            return [transferred, _queued(to, to, call.priority, now, TRANSFERRED)]
        case events_pb2.TRANSFER_TARGET_AGENT:
            if to == call.agent_id:
                raise InvalidArgument(
                    "invalid-argument",
                    "an agent cannot transfer a call to itself",
                    [FieldViolation("to", "another agent than the one on the call")],
                )
            waiting = _queued(call.queue_id, call.required_skill, call.priority, now, TRANSFERRED)
            waiting.agent_id = to
            return [transferred, waiting]
        case events_pb2.TRANSFER_TARGET_NUMBER:
            if not numbers.NUMBER.fullmatch(numbers.canonical(to)):
                raise InvalidArgument(
                    "invalid-argument",
                    "to is not a phone number",
                    [FieldViolation("to", numbers.NUMBER_RULE)],
                )
            ended = events_pb2.CallEnded(
                ended_by=events_pb2.PARTY_AGENT,
                reason=events_pb2.END_REASON_TRANSFERRED_OUT,
                queue_id=call.queue_id,
                agent_id=call.agent_id,
            )
            return [transferred, ended]
    raise InvalidArgument(
        "invalid-argument",
        "target is queue, agent or number",
        [FieldViolation("target", "queue, agent or number")],
    )


def _finish_consult(call: CallState, finish: commands_pb2.FinishConsult, now: datetime) -> list[Message]:
    if call.consult_agent_id and finish.agent_id == call.consult_agent_id:
        # the consulted agent leaves of its own accord: whatever it asks, it is the party leaving
        if finish.action not in (Consult.CONSULT_ACTION_CANCEL, Consult.CONSULT_ACTION_PARTY_LEFT):
            raise IllegalTransition(
                "consulted-agent-leaves-only",
                f"agent {finish.agent_id} is consulted on call {call.call_id}: it may leave, not "
                "conference or transfer",
            )
        return consult.dropped(call, consult.PARTY_LEFT, now)
    call = consult.consulting(_with_agent(call, finish.agent_id))
    match finish.action:
        case Consult.CONSULT_ACTION_CANCEL:
            return consult.dropped(call, consult.CANCELLED, now)
        case Consult.CONSULT_ACTION_PARTY_LEFT:
            return consult.dropped(call, consult.PARTY_LEFT, now)
        case Consult.CONSULT_ACTION_CONFERENCE:
            return consult.joined(call, now)
        case Consult.CONSULT_ACTION_TRANSFER:
            return _consult_transfer(call, now)
    raise InvalidArgument(
        "invalid-argument",
        "action is cancel, conference, transfer or party-left",
        [FieldViolation("action", "cancel, conference, transfer or party-left")],
    )


def _consult_transfer(call: CallState, now: datetime) -> list[Message]:
    """The agent leaves the caller with the consulted party: a transfer to that number, consulted; or
    to the consulted agent, who has been on the call since the consultation began and takes it over
    at once (its answer is no queue's: `CallAnswered.consulted`), with the caller off hold."""
    consult.handed_over(call)
    if not call.consult_agent_id:
        to_number = commands_pb2.TransferCall(
            agent_id=call.agent_id, target=events_pb2.TRANSFER_TARGET_NUMBER, to=call.consult_number
        )
        transferred, *ended = _transfer(call, to_number, now)
        assert isinstance(transferred, events_pb2.CallTransferred)
        transferred.consulted = True
        return [transferred, *ended]
    talk_seconds = (now - call.answered_at).total_seconds() if call.answered_at else 0.0
    to_agent = events_pb2.CallTransferred(
        agent_id=call.agent_id,
        queue_id=call.queue_id,
        target=events_pb2.TRANSFER_TARGET_AGENT,
        to=call.consult_agent_id,
        talk_seconds=talk_seconds,
        hold_seconds=call.hold_seconds_at(now),
        consulted=True,
    )
    taken_over = events_pb2.CallAnswered(
        agent_id=call.consult_agent_id,
        queue_id=call.queue_id,
        enqueued_at=timestamp(call.enqueued_at or now),
        line_id=call.line_id,
        taken_over=True,
        consulted=True,
    )
    return [to_agent, taken_over]


# CallQueued.reason of a call an agent transferred (TEL-1).
TRANSFERRED = "transferred"
# CallQueued.reason of a callback back in its queue: at its reserved slot, or for its next attempt.
CALLBACK_SLOT, CALLBACK_RETRY = "callback-slot", "callback-retry"


def _request_callback(
    call: CallState, request: commands_pb2.RequestCallback, now: datetime, line: LineState | None
) -> list[Message]:
    """The caller accepts a callback while waiting (TEL-5): it keeps their place, or with a time slot
    leaves the queue until then, a slot within the hours of the call's line. Their number unless they
    gave another."""
    if call.status != telephony_pb2.CALL_STATUS_QUEUED:
        raise _illegal(call, "call-not-queued", "waiting in a queue")
    if call.callback_number:
        raise IllegalTransition("callback-already-requested", f"call {call.call_id} is a callback already")
    number = request.number or call.ani
    if not numbers.NUMBER.fullmatch(numbers.canonical(number)):
        raise InvalidArgument(
            "invalid-argument",
            "number is not a phone number",
            [FieldViolation("number", numbers.NUMBER_RULE)],
        )
    requested = events_pb2.CallbackRequested(
        number=number, queue_id=call.queue_id, enqueued_at=timestamp(call.enqueued_at or now)
    )
    if request.HasField("at"):
        slot = given_moment(request.at)
        if slot is None or not now + CALLBACK_SLOT_LEAD <= slot <= now + CALLBACK_SLOT_HORIZON:
            raise InvalidArgument(
                "invalid-argument",
                "at is a time slot from 1 minute to 14 days ahead",
                [FieldViolation("at", "from 1 minute to 14 days ahead")],
            )
        if line is not None and not line.is_open(slot):
            raise IllegalTransition(
                "slot-outside-hours",
                f"line {line.line_id} is closed at {slot.isoformat()}: pick a slot in its hours",
            )
        requested.at.CopyFrom(request.at)
    return [requested]


def _release_callback(call: CallState) -> events_pb2.CallQueued:
    """The callback timer: a reserved slot has come (its wait in the queue starts now), or the next
    attempt is due (it goes back to the place it kept)."""
    if call.status != telephony_pb2.CALL_STATUS_CALLBACK_PENDING or call.callback_due is None:
        raise _illegal(call, "callback-not-pending", "a callback waiting out of its queue")
    if call.callback_attempts == 0:
        return _queued(call.queue_id, call.required_skill, call.priority, call.callback_due, CALLBACK_SLOT)
    return _queued(
        call.queue_id, call.required_skill, call.priority, call.enqueued_at or call.offered_at, CALLBACK_RETRY
    )


def _cancel_callback(call: CallState) -> events_pb2.CallEnded:
    """A supervisor or an integration ends a callback whose caller is not on the line: waiting in its
    queue, ringing an agent (who is no longer reserved for it) or out of the queue."""
    waiting = (
        telephony_pb2.CALL_STATUS_QUEUED,
        telephony_pb2.CALL_STATUS_RINGING,
        telephony_pb2.CALL_STATUS_CALLBACK_PENDING,
    )
    if not call.callback_number or call.status not in waiting:
        raise _illegal(call, "callback-not-cancellable", "a callback waiting for an agent")
    return events_pb2.CallEnded(
        ended_by=events_pb2.PARTY_SYSTEM,
        reason=events_pb2.END_REASON_CALLBACK_CANCELLED,
        queue_id=call.queue_id,
    )


def _callback_outcome(
    call: CallState, report: commands_pb2.ReportCallbackOutcome, now: datetime, rules: TelephonyRules
) -> list[Message]:
    """The carrier's word on the outbound leg the agent's answer placed: connected, or a failed attempt
    that the agent leaves (another waits out of the queue for the retry delay, after the last the call
    ends)."""
    if call.status != telephony_pb2.CALL_STATUS_CONNECTED or not call.callback_dialing:
        raise _illegal(call, "callback-not-dialing", "dialling a callback")
    outcome = report.outcome
    if outcome == events_pb2.CALLBACK_OUTCOME_RINGING:
        return [outbound.leg_ringing(report, call.callback_attempts)]
    if outcome == events_pb2.CALLBACK_OUTCOME_CONNECTED:
        return [
            events_pb2.CallbackConnected(
                agent_id=call.agent_id, attempt=call.callback_attempts, carrier_ref=report.carrier_ref
            )
        ]
    if outcome not in (
        events_pb2.CALLBACK_OUTCOME_NO_ANSWER,
        events_pb2.CALLBACK_OUTCOME_BUSY,
        events_pb2.CALLBACK_OUTCOME_FAILED,
    ):
        raise InvalidArgument(
            "invalid-argument",
            "outcome is connected, no-answer, busy or failed",
            [FieldViolation("outcome", "connected, no-answer, busy or failed")],
        )
    failed = events_pb2.CallbackAttemptFailed(
        agent_id=call.agent_id,
        outcome=outcome,
        attempt=call.callback_attempts,
        queue_id=call.queue_id,
        talk_seconds=(now - call.answered_at).total_seconds() if call.answered_at else 0.0,
    )
    if call.callback_attempts < rules.callback_attempts:
        failed.retry_at.CopyFrom(timestamp(now + timedelta(seconds=rules.callback_retry_seconds)))
        return [failed]
    ended = events_pb2.CallEnded(
        ended_by=events_pb2.PARTY_SYSTEM,
        reason=events_pb2.END_REASON_CALLBACK_FAILED,
        queue_id=call.queue_id,
        agent_id=call.agent_id,
    )
    return [failed, ended]


def _queued(
    queue_id: str, skill: str, priority: int, enqueued_at: datetime, reason: str
) -> events_pb2.CallQueued:
    return events_pb2.CallQueued(
        queue_id=queue_id,
        required_skill=skill,
        priority=priority,
        enqueued_at=timestamp(enqueued_at),
        reason=reason,
    )


def _ringing(call: CallState, agent_id: str) -> CallState:
    if call.status != telephony_pb2.CALL_STATUS_RINGING or call.ringing_agent_id != agent_id:
        raise _illegal(call, "call-not-ringing-agent", f"ringing agent {agent_id}")
    return call


def _with_agent(call: CallState, agent_id: str) -> CallState:
    """The call, connected to `agent_id`: only the agent on the call holds or resumes it."""
    require(agent_id, "agent_id", "the agent on the call")
    if call.status != telephony_pb2.CALL_STATUS_CONNECTED or call.agent_id != agent_id:
        raise _illegal(call, "call-not-with-agent", f"connected to agent {agent_id}")
    return call


def _with_caller(call: CallState, agent_id: str) -> CallState:
    """`_with_agent`, with the caller on the line: not while a callback's outbound leg is dialled."""
    _with_agent(call, agent_id)
    if call.callback_dialing:
        raise IllegalTransition(
            "callback-dialing",
            f"call {call.call_id} is dialling the caller back: the caller is not on the line",
        )
    return call


def _party(party: "events_pb2.Party.ValueType") -> "events_pb2.Party.ValueType":
    if party not in (events_pb2.PARTY_CALLER, events_pb2.PARTY_AGENT):
        raise InvalidArgument(
            "invalid-argument", "party must be caller or agent", [FieldViolation("party", "caller or agent")]
        )
    return party


def _hang_up(call: CallState, party: "events_pb2.Party.ValueType") -> events_pb2.CallEnded:
    _party(party)
    if party == events_pb2.PARTY_CALLER and call.callback_number and not call.callback_connected:
        raise IllegalTransition(
            "callback-requested",
            f"call {call.call_id} is a callback: it ends with the outcome of its attempts",
        )
    ended = events_pb2.CallEnded(ended_by=party, queue_id=call.queue_id)
    if call.status == telephony_pb2.CALL_STATUS_CONNECTED:
        ended.reason = events_pb2.END_REASON_NORMAL_CLEARING
        ended.agent_id = call.agent_id
        return ended
    if party == events_pb2.PARTY_AGENT:
        raise _illegal(call, "call-not-connected", "connected to an agent")
    if call.status == telephony_pb2.CALL_STATUS_IN_IVR:
        ended.reason = events_pb2.END_REASON_CALLER_LEFT_IVR
        return ended
    ended.reason = events_pb2.END_REASON_ABANDONED_IN_QUEUE
    ended.abandoned = True
    ended.agent_id = call.ringing_agent_id
    return ended


def evolve(state: CallState | None, event: event_pb2.Event) -> CallState:
    at = to_datetime(event.occurred_at)
    match event.WhichOneof("payload"):
        case "call_offered":
            offered = event.call_offered
            return CallState(
                event.aggregate_id,
                offered.ani,
                offered.dnis,
                event.customer_id,
                offered_at=at,
                priority=offered.priority,
                line_id=offered.line_id,
                flow_version=offered.flow_version,
                carrier_ref=offered.carrier_ref,
            )
        case "outbound_call_placed":
            placed = event.outbound_call_placed
            return CallState(
                event.aggregate_id,
                ani=placed.caller_id,
                dnis=placed.number,
                customer_id=event.customer_id,
                offered_at=at,
                status=outbound.DIALING,
                line_id=placed.line_id,
                agent_id=placed.agent_id,
                outbound=True,
                campaign_id=placed.campaign_id,
                # the carrier's dialling is timed as a ringing phone is (see telephony.consumers.CallTimer)
                ring_timeout=timedelta(seconds=placed.dial_timeout_seconds)
                if placed.dial_timeout_seconds
                else None,
                ring_event_id=event.event_id,
            )
    assert state is not None, f"{event.event_type} before call_offered"
    match event.WhichOneof("payload"):
        case "ivr_menu_entered":
            entered = event.ivr_menu_entered
            return evolved(
                state,
                node_id=entered.menu_id,
                ivr_attempt=entered.attempt,
                heard=(*state.heard, entered.prompt),
            )
        case "ivr_announcement_played":
            return evolved(state, heard=(*state.heard, event.ivr_announcement_played.announcement))
        case "voicemail_offered":
            prompting = event.voicemail_offered
            return evolved(
                state,
                node_id=prompting.node_id,
                ivr_attempt=1,
                voicemail_seconds=prompting.max_seconds,
                heard=(*state.heard, prompting.prompt),
            )
        case "voicemail_left":
            return evolved(state, voicemail_left=True)
        case "caller_flagged":
            return evolved(state, caller_flag=event.caller_flagged.reason)
        case "call_priority_set":
            return evolved(state, priority=event.call_priority_set.priority)
        case "call_attribute_set":
            attribute = event.call_attribute_set
            return evolved(state, attributes={**state.attributes, attribute.name: attribute.value})
        case "ivr_digits_received":
            # what follows is told anew; the entry of nothing (a carrier's timeout) shows as ""
            return evolved(state, ivr_digits=(*state.ivr_digits, event.ivr_digits_received.digits), heard=())
        case "call_queued":
            queued = event.call_queued
            return evolved(
                state,
                status=telephony_pb2.CALL_STATUS_QUEUED,
                queue_id=queued.queue_id,
                required_skill=queued.required_skill,
                priority=queued.priority,
                enqueued_at=to_datetime(queued.enqueued_at),
                ringing_agent_id="",
                ring_timeout=None,
                ring_event_id="",
                callback_due=None,
                callback_due_event_id="",
            )
        case "call_ringing":
            ringing = event.call_ringing
            return evolved(
                state,
                status=telephony_pb2.CALL_STATUS_RINGING,
                ringing_agent_id=ringing.agent_id,
                ring_timeout=timedelta(seconds=ringing.ring_timeout_seconds),
                ring_event_id=event.event_id,
                heard=(),  # told before it waited; nothing of it is said again
            )
        case "call_ring_no_answer" | "call_rejected":
            return evolved(state, ringing_agent_id="", ring_timeout=None, ring_event_id="")
        case "call_held":
            return evolved(state, held_since=at)
        case "recording_segment_started":
            started = event.recording_segment_started
            return evolved(state, recording=recording.evolved(state.recording, started, at))
        case "recording_segment_ended":
            ended_segment = event.recording_segment_ended
            return evolved(state, recording=recording.evolved(state.recording, ended_segment, at))
        case "callback_requested":
            requested = event.callback_requested
            if not requested.HasField("at"):
                return evolved(state, callback_number=requested.number)
            return evolved(
                state,
                callback_number=requested.number,
                status=telephony_pb2.CALL_STATUS_CALLBACK_PENDING,
                callback_due=to_datetime(requested.at),
                callback_due_event_id=event.event_id,
            )
        case "callback_dialing":
            return evolved(state, callback_attempts=event.callback_dialing.attempt, callback_dialing=True)
        case "callback_connected":
            leg = event.callback_connected.carrier_ref or state.carrier_ref
            return evolved(state, callback_dialing=False, callback_connected=True, carrier_ref=leg)
        case "callback_attempt_failed":
            failed = event.callback_attempt_failed
            if not failed.HasField("retry_at"):
                return evolved(state, callback_dialing=False)  # the CallEnded that follows ends it
            return evolved(
                state,
                status=telephony_pb2.CALL_STATUS_CALLBACK_PENDING,
                agent_id="",
                callback_dialing=False,
                held_since=None,
                hold_seconds=state.hold_seconds_at(at),
                callback_due=to_datetime(failed.retry_at),
                callback_due_event_id=event.event_id,
            )
        case "call_consult_started":
            begun = event.call_consult_started
            return evolved(
                state,
                consult_number=begun.number,
                consult_agent_id=begun.consulted_agent_id,
                consult_joined=False,
                consult_round=begun.round or state.consult_round + 1,
                conference=False,
            )
        case "call_consult_joined":
            return evolved(state, consult_joined=True)
        case "call_consult_ended":
            return evolved(
                state, consult_number="", consult_agent_id="", consult_joined=False, conference=False
            )
        case "call_conferenced":
            return evolved(state, conference=True)
        case "call_transferred":
            transferred = event.call_transferred
            return evolved(
                state,
                consult_number="",
                consult_agent_id="",
                consult_joined=False,
                conference=False,
                # to a number, the call ends here with its agent; else the agent has left it
                agent_id=state.agent_id if transferred.target == events_pb2.TRANSFER_TARGET_NUMBER else "",
                callback_dialing=False,
                held_since=None,
                hold_seconds=event.call_transferred.hold_seconds,
                transfers=state.transfers + 1,
                transferred_to=transferred.to
                if transferred.target == events_pb2.TRANSFER_TARGET_NUMBER
                else state.transferred_to,
            )
        case "ivr_transferred":
            return evolved(state, transferred_to=event.ivr_transferred.to)
        case "outbound_leg_ringing":
            placed_leg = event.outbound_leg_ringing
            return evolved(state, carrier_ref=placed_leg.carrier_ref, leg_attempt=placed_leg.attempt)
        case "call_resumed":
            held = event.call_resumed.held_seconds
            return evolved(state, held_since=None, hold_seconds=state.hold_seconds + held)
        case "outbound_call_connected":
            return evolved(
                state,
                carrier_ref=event.outbound_call_connected.carrier_ref or state.carrier_ref,
                status=telephony_pb2.CALL_STATUS_CONNECTED,
                answered_at=at,
                ring_timeout=None,
                ring_event_id="",
            )
        case "call_answered":
            return evolved(
                state,
                status=telephony_pb2.CALL_STATUS_CONNECTED,
                agent_id=event.call_answered.agent_id,
                ringing_agent_id="",
                ring_timeout=None,
                ring_event_id="",
                answered_at=at,
            )
        case "call_ended":
            ended = event.call_ended
            return evolved(
                state,
                status=telephony_pb2.CALL_STATUS_ENDED,
                ended_at=at,
                consult_number="",
                consult_agent_id="",
                consult_joined=False,
                conference=False,
                ended_by=ended.ended_by,
                end_reason=ended.reason,
                ringing_agent_id="",
                ring_timeout=None,
                ring_event_id="",
                held_since=None,
                hold_seconds=ended.hold_seconds or state.hold_seconds,
                recording=Recording(segments=state.recording.segments),  # over: not paused any more
            )
    return state  # events of later versions that this code does not know change nothing
