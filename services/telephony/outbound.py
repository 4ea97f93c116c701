"""Outbound calls (TEL-8), pure: an agent calls a customer (preview dialling), showing one of the numbers
of a line of business as the caller id. Every placement is checked first: the number must not be on
the tenant's do-not-call list (the caller list's `do-not-call` entries), and the line must be open (its
hours, holidays and special days, in its time zone, are the permitted calling hours). The carrier
reports the leg's outcome: connected (the agent and the customer talk, and the call goes on as any
connected call), or no answer, busy or failed, which end it. The agent is on the call from its
placement, so routing offers it nothing meanwhile (routing.agent-follows-calls)."""

from datetime import datetime

from cc.telephony.v1 import commands_pb2, events_pb2, telephony_pb2
from google.protobuf.message import Message

from services.common import numbers
from services.common.errors import FieldViolation, IllegalTransition, InvalidArgument, NotFound, require
from services.telephony.caller_list import DO_NOT_CALL, CallerList, ListedNumber
from services.telephony.lines import LineDirectory, LineState

DIALING = telephony_pb2.CALL_STATUS_DIALING
# What the carrier's word on a leg that did not connect ends the call with.
NOT_CONNECTED = {
    events_pb2.CALLBACK_OUTCOME_NO_ANSWER: events_pb2.END_REASON_OUTBOUND_NO_ANSWER,
    events_pb2.CALLBACK_OUTCOME_BUSY: events_pb2.END_REASON_OUTBOUND_BUSY,
    events_pb2.CALLBACK_OUTCOME_FAILED: events_pb2.END_REASON_OUTBOUND_FAILED,
}


def placed(
    place: commands_pb2.PlaceOutboundCall,
    tenant_id: str,
    now: datetime,
    lines: LineDirectory,
    callers: CallerList,
) -> events_pb2.OutboundCallPlaced:
    agent_id = require(place.agent_id, "agent_id", "the calling agent")
    number = numbers.canonical(place.number)
    if not numbers.NUMBER.fullmatch(number):
        raise InvalidArgument(
            "invalid-argument",
            "number is not a phone number",
            [FieldViolation("number", f"the customer's number: {numbers.NUMBER_RULE}")],
        )
    line_id = require(place.line_id, "line_id", "the line of business that calls")
    line = calling_line(lines, tenant_id, line_id)
    caller_id = caller_id_of(line, place.caller_id)
    listed = do_not_call(callers, tenant_id, number, now)
    if listed is not None:
        raise IllegalTransition("number-do-not-call", f"{number} is on the do-not-call list: {listed.reason}")
    if not line.is_open(now):
        raise IllegalTransition(
            "outside-calling-hours",
            f"line {line_id} is closed now: its hours are the permitted calling hours",
        )
    return events_pb2.OutboundCallPlaced(
        agent_id=agent_id, number=number, caller_id=caller_id, line_id=line_id, campaign_id=place.campaign_id
    )


def calling_line(lines: LineDirectory, tenant_id: str, line_id: str) -> LineState:
    line = lines.line(tenant_id, line_id)
    if line is None:
        raise NotFound("line-not-found", f"no line of business {line_id}")
    return line


def caller_id_of(line: LineState, wanted: str) -> str:
    """The line's number to show the customer: `wanted` as the line writes it (a leading + kept), matched
    by its digits, or the line's first for none."""
    chosen = numbers.canonical(wanted)
    caller_id = next((n for n in line.numbers if not chosen or numbers.canonical(n) == chosen), "")
    if not caller_id:
        shown = ", ".join(line.numbers) or "none"
        raise InvalidArgument(
            "invalid-argument",
            f"caller_id is not a number of line {line.line_id}",
            [FieldViolation("caller_id", f"one of the line's numbers ({shown}), or empty for its first")],
        )
    return caller_id


def do_not_call(callers: CallerList, tenant_id: str, number: str, now: datetime) -> ListedNumber | None:
    """The do-not-call entry in force for the number, if any."""
    listed = callers.entry(tenant_id, number)
    return listed if listed is not None and listed.action == DO_NOT_CALL and listed.applies(now) else None


def reported(agent_id: str, line_id: str, report: commands_pb2.ReportCallbackOutcome) -> list[Message]:
    """The carrier's word on the leg of an outbound call being dialled, with its id of the leg."""
    if report.outcome == events_pb2.CALLBACK_OUTCOME_RINGING:
        return [leg_ringing(report, 0)]
    if report.outcome == events_pb2.CALLBACK_OUTCOME_CONNECTED:
        return [
            events_pb2.OutboundCallConnected(
                agent_id=agent_id, line_id=line_id, carrier_ref=report.carrier_ref
            )
        ]
    reason = NOT_CONNECTED.get(report.outcome)
    if reason is None:
        raise InvalidArgument(
            "invalid-argument",
            "outcome is connected, no-answer, busy or failed",
            [FieldViolation("outcome", "connected, no-answer, busy or failed")],
        )
    return [events_pb2.CallEnded(ended_by=events_pb2.PARTY_SYSTEM, reason=reason, agent_id=agent_id)]


def leg_ringing(report: commands_pb2.ReportCallbackOutcome, attempt: int) -> events_pb2.OutboundLegRinging:
    """The carrier placed the leg of `attempt` (0: an outbound call's one leg) and names it."""
    carrier_ref = require(report.carrier_ref, "carrier_ref", "the carrier's id of the leg that rings")
    return events_pb2.OutboundLegRinging(carrier_ref=carrier_ref, attempt=attempt)


def given_up(agent_id: str, party: "events_pb2.Party.ValueType") -> events_pb2.CallEnded:
    """Hung up before the customer answered: the agent gave up on the call (or the carrier says the
    customer's side was released first)."""
    return events_pb2.CallEnded(
        ended_by=party, reason=events_pb2.END_REASON_OUTBOUND_NO_ANSWER, agent_id=agent_id
    )
