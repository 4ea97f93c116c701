"""What telephony does on its own: ring the agent routing chose, give up ringing after the ring
timeout (RONA, RT-1), put a callback back in its queue when it is due (TEL-5), and hear whether a
consulted agent joined the call (TEL-1)."""

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

from cc.common.v1 import event_pb2
from cc.telephony.v1 import commands_pb2, events_pb2, telephony_pb2

from services.common.aggregate import AggregateCommand, Versioned
from services.common.command_bus import caused_by
from services.common.deadlines import Deadline, Deadlines
from services.common.envelope import derived_id
from services.common.topics import CALLS, AggregateTopics
from services.telephony.domain import CallState


def ring_for_decision(event: event_pb2.Event) -> Sequence[tuple[AggregateTopics, AggregateCommand]]:
    """routing.decisions.v1 -> RingAgent on the routed call (a contact of another channel is offered
    by routing itself)."""
    if event.WhichOneof("payload") != "contact_routed" or event.contact_routed.channel not in ("", "voice"):
        return []
    routed = event.contact_routed
    meta = caused_by(event.event_id, "ring-agent", event.tenant_id, routed.contact_id, event.correlation_id)
    # One ring per decision, however often the decision is (re-)sent.
    meta.command_id = derived_id("command", "ring-agent", routed.decision_id)
    command = commands_pb2.CallCommand(
        meta=meta, ring_agent=commands_pb2.RingAgent(agent_id=routed.agent_id, decision_id=routed.decision_id)
    )
    return [(CALLS, command)]


def consultation_answers(event: event_pb2.Event) -> Sequence[tuple[AggregateTopics, AggregateCommand]]:
    """routing.agent.events.v1 -> the consulted agent joined the call (TEL-1), or could not, which ends
    the consultation; each answer names the consultation's round."""
    match event.WhichOneof("payload"):
        case "agent_consult_joined":
            answer = event.agent_consult_joined
            joined = commands_pb2.ConsultJoined(agent_id=event.aggregate_id, round=answer.round)
            body: dict[str, object] = {"consult_joined": joined}
        case "agent_consult_declined":
            answer = event.agent_consult_declined  # type: ignore[assignment]
            declined = commands_pb2.ConsultDeclined(
                agent_id=event.aggregate_id, reason=event.agent_consult_declined.reason, round=answer.round
            )
            body = {"consult_declined": declined}
        case _:
            return []
    call_id = answer.contact_id
    meta = caused_by(event.event_id, "consult-answer", event.tenant_id, call_id, event.correlation_id)
    return [(CALLS, commands_pb2.CallCommand(meta=meta, **body))]  # type: ignore[arg-type]


class CallTimer:
    """Observes the calls read model: a ringing call has a RONA deadline its ring timeout after its
    CallRinging; an outbound call being dialled ends unanswered its dial timeout after its placement,
    unless the carrier reports it first (TEL-8); a callback waiting out of its queue (TEL-5) is released
    back into it when it is due; a call in any other state has none. A function of the call's state, so
    a call loaded from a snapshot gets the same deadline, and the same command id, as one followed event
    by event.

    A callback is due at a wall-clock time (its reserved slot, or its failed attempt's retry time): its
    deadline's length is the time from now to then, so after a restart it is still released on time."""

    def __init__(
        self, deadlines: Deadlines, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self._deadlines = deadlines
        self._clock = clock

    def __call__(self, entry: Versioned[CallState]) -> None:
        call = entry.state
        key = (entry.tenant_id, entry.aggregate_id)
        if call.status == telephony_pb2.CALL_STATUS_RINGING and call.ring_timeout is not None:

            def expire() -> commands_pb2.CallCommand:
                meta = caused_by(
                    call.ring_event_id, "expire-ring", entry.tenant_id, call.call_id, call.call_id
                )
                return commands_pb2.CallCommand(
                    meta=meta, expire_ring=commands_pb2.ExpireRing(agent_id=call.ringing_agent_id)
                )

            self._deadlines.set(key, Deadline(call.ring_event_id, call.ring_timeout, CALLS, expire))
        elif call.status == telephony_pb2.CALL_STATUS_DIALING and call.ring_timeout is not None:

            def unanswered() -> commands_pb2.CallCommand:
                meta = caused_by(
                    call.ring_event_id, "dial-timeout", entry.tenant_id, call.call_id, call.call_id
                )
                no_answer = commands_pb2.ReportCallbackOutcome(outcome=events_pb2.CALLBACK_OUTCOME_NO_ANSWER)
                return commands_pb2.CallCommand(meta=meta, report_callback_outcome=no_answer)

            self._deadlines.set(key, Deadline(call.ring_event_id, call.ring_timeout, CALLS, unanswered))
        elif call.status == telephony_pb2.CALL_STATUS_CALLBACK_PENDING and call.callback_due is not None:

            def release() -> commands_pb2.CallCommand:
                cause = call.callback_due_event_id
                meta = caused_by(cause, "release-callback", entry.tenant_id, call.call_id, call.call_id)
                return commands_pb2.CallCommand(meta=meta, release_callback=commands_pb2.ReleaseCallback())

            wait = max(call.callback_due - self._clock(), timedelta(0))
            self._deadlines.set(key, Deadline(call.callback_due_event_id, wait, CALLS, release))
        else:
            self._deadlines.cancel(key)
