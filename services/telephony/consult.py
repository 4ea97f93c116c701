"""Consultation and conference (TEL-1): the agent on a call consults a party with the caller on hold:
an outside number (an expert, a partner, an interpreter) or another agent (a supervisor, a specialist),
then drops the party and is back with the caller, joins the three of them in a conference, or leaves
the caller with the party: a consult transfer. To a number it ends the call here as a blind transfer
to that number does; to an agent, that agent, on the call since the consultation began, takes it over
(`domain._consult_transfer`). A consulted agent may leave the consultation itself.

While a consultation is in progress the agent cannot hold, resume or blind-transfer the call (the
caller is on hold already, and the party would be left hanging), nor hang up on it: that would drop
the caller unawares. In a conference, the agent hanging up leaves the other two talking: the call is
transferred to the party. The caller hanging up ends the call, consultation and all. Pure: no I/O."""

from datetime import datetime
from typing import TYPE_CHECKING

from cc.telephony.v1 import events_pb2
from google.protobuf.message import Message

from services.common import numbers
from services.common.errors import FieldViolation, IllegalTransition, InvalidArgument, text_problem

if TYPE_CHECKING:
    from services.telephony.domain import CallState

# CallConsultEnded.reason
CANCELLED = "cancelled"
PARTY_LEFT = "party-left"
CALL_ENDED = "call-ended"
DECLINED = "declined"


def started(call: "CallState", number: str, agent_id: str) -> list[Message]:
    """The agent on the call (checked by the caller) consults `number` or the agent `agent_id` (whose
    being free the caller checks: telephony does not follow agents); the caller goes on hold."""
    if consulting_party(call):
        raise IllegalTransition(
            "call-consulting", f"call {call.call_id} is consulting {consulting_party(call)}"
        )
    if bool(number) == bool(agent_id):
        raise InvalidArgument(
            "invalid-argument",
            "a consultation is with a number or an agent",
            [FieldViolation("number", "the outside number, or empty when consulted_agent_id names an agent")],
        )
    if agent_id:
        if (problem := text_problem(agent_id)) is not None or agent_id == call.agent_id:
            why = problem or "must be another agent than the one on the call"
            raise InvalidArgument(
                "invalid-argument",
                f"consulted_agent_id {why}",
                [FieldViolation("consulted_agent_id", f"the agent to consult {why}")],
            )
    elif not numbers.NUMBER.fullmatch(numbers.canonical(number)):
        raise InvalidArgument(
            "invalid-argument",
            "number is not a phone number",
            [FieldViolation("number", numbers.NUMBER_RULE)],
        )
    held = [] if call.held_since is not None else [events_pb2.CallHeld(agent_id=call.agent_id)]
    begun = events_pb2.CallConsultStarted(
        agent_id=call.agent_id, number=number, consulted_agent_id=agent_id, round=call.consult_round + 1
    )
    return [*held, begun]


def consulting_party(call: "CallState") -> str:
    """Who the call's agent consults: the number, the agent, or "" with no consultation in progress."""
    return call.consult_number or (f"agent {call.consult_agent_id}" if call.consult_agent_id else "")


def consulting(call: "CallState") -> "CallState":
    """The call, with a consultation in progress."""
    if not consulting_party(call):
        raise IllegalTransition("call-not-consulting", f"call {call.call_id} has no consultation in progress")
    return call


def refused_while_consulting(call: "CallState") -> "CallState":
    """The call, unless a consultation is in progress (hold, resume, blind transfer, the agent's hang-up)."""
    if party := consulting_party(call):
        raise IllegalTransition(
            "call-consulting",
            f"call {call.call_id} is consulting {party}: cancel, conference or transfer first",
        )
    return call


def dropped(call: "CallState", reason: str, now: datetime) -> list[Message]:
    """The party is off the call (`reason`: cancelled, party-left); the caller is back with the agent,
    off hold, even from a hold the agent began before consulting."""
    return [_ended(call, reason), *_off_hold(call, now)]


def ended_with_call(call: "CallState") -> list[Message]:
    """The caller hung up: a consultation or conference in progress ends with the call (an adapter drops
    the party's leg on it; a consulted agent wraps up)."""
    return [_ended(call, CALL_ENDED)] if consulting_party(call) else []


def _ended(call: "CallState", reason: str) -> events_pb2.CallConsultEnded:
    return events_pb2.CallConsultEnded(
        agent_id=call.agent_id,
        number=call.consult_number,
        reason=reason,
        consulted_agent_id=call.consult_agent_id,
    )


def agent_joined(call: "CallState", agent_id: str, round_: int) -> list[Message]:
    """Routing put the consulted agent on the call."""
    _consulted_agent(call, agent_id, round_)
    if call.consult_joined:
        raise IllegalTransition("consult-joined", f"agent {agent_id} is on call {call.call_id} already")
    return [events_pb2.CallConsultJoined(agent_id=call.agent_id, consulted_agent_id=agent_id)]


def agent_declined(call: "CallState", agent_id: str, round_: int, now: datetime) -> list[Message]:
    """Routing found the consulted agent not free (another call took it first): the caller is back."""
    _consulted_agent(call, agent_id, round_)
    if call.consult_joined:
        raise IllegalTransition("consult-joined", f"agent {agent_id} is on call {call.call_id} already")
    return dropped(call, DECLINED, now)


def _consulted_agent(call: "CallState", agent_id: str, round_: int) -> None:
    """Routing's answer is for this consultation: its agent, and its round (not an earlier one's, read
    late, with the same agent consulted again since)."""
    if not call.consult_agent_id or call.consult_agent_id != agent_id or round_ != call.consult_round:
        raise IllegalTransition(
            "consult-not-with-agent",
            f"call {call.call_id} is not consulting {agent_id} in consultation {round_}",
        )


def handed_over(call: "CallState") -> "CallState":
    """The call, if its party may join it or take it: a number, or an agent that has joined."""
    if call.consult_agent_id and not call.consult_joined:
        raise IllegalTransition(
            "consulted-agent-not-joined",
            f"agent {call.consult_agent_id} has not joined call {call.call_id} yet",
        )
    return call


def joined(call: "CallState", now: datetime) -> list[Message]:
    """The party joins the agent and the caller: a three-party conference."""
    if call.conference:
        raise IllegalTransition("call-in-conference", f"call {call.call_id} is a conference already")
    handed_over(call)
    conferenced = events_pb2.CallConferenced(
        agent_id=call.agent_id, number=call.consult_number, consulted_agent_id=call.consult_agent_id
    )
    return [conferenced, *_off_hold(call, now)]


def _off_hold(call: "CallState", now: datetime) -> list[Message]:
    if call.held_since is None:
        return []
    held = (now - call.held_since).total_seconds()
    return [events_pb2.CallResumed(agent_id=call.agent_id, held_seconds=held)]
