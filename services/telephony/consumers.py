"""What telephony does on its own: ring the agent routing chose, and give up ringing after the ring
timeout (RONA, RT-1)."""

from collections.abc import Sequence

from cc.common.v1 import event_pb2
from cc.telephony.v1 import commands_pb2
from cc.telephony.v1.telephony_pb2 import CallStatus

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


class RingTimer:
    """Observes the calls read model: a ringing call has a RONA deadline its ring timeout after its
    CallRinging; a call in any other state has none. A function of the call's state, so a call loaded
    from a snapshot gets the same deadline, and the same command id, as one followed event by event."""

    def __init__(self, deadlines: Deadlines) -> None:
        self._deadlines = deadlines

    def __call__(self, entry: Versioned[CallState]) -> None:
        call = entry.state
        key = (entry.tenant_id, entry.aggregate_id)
        if call.status != CallStatus.CALL_STATUS_RINGING or call.ring_timeout is None:
            self._deadlines.cancel(key)
            return

        def expire() -> commands_pb2.CallCommand:
            meta = caused_by(call.ring_event_id, "expire-ring", entry.tenant_id, call.call_id, call.call_id)
            return commands_pb2.CallCommand(
                meta=meta, expire_ring=commands_pb2.ExpireRing(agent_id=call.ringing_agent_id)
            )

        self._deadlines.set(key, Deadline(call.ring_event_id, call.ring_timeout, CALLS, expire))
