"""What telephony does on its own: ring the agent routing chose, and give up ringing after the ring
timeout (RONA, RT-1)."""

from collections.abc import Sequence
from datetime import timedelta

from cc.common.v1 import event_pb2
from cc.telephony.v1 import commands_pb2

from services.common.aggregate import AggregateCommand, Versioned
from services.common.command_bus import caused_by
from services.common.deadlines import Deadline, Deadlines
from services.common.envelope import derived_id, to_datetime
from services.common.topics import CALLS, AggregateTopics
from services.telephony.domain import CallState


def ring_for_decision(event: event_pb2.Event) -> Sequence[tuple[AggregateTopics, AggregateCommand]]:
    """routing.decisions.v1 -> RingAgent on the routed call."""
    if event.WhichOneof("payload") != "contact_routed":
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
    """Observes the calls read model: CallRinging sets the RONA deadline; any other call event clears it."""

    def __init__(self, deadlines: Deadlines) -> None:
        self._deadlines = deadlines

    def __call__(self, event: event_pb2.Event, entry: Versioned[CallState]) -> None:
        key = (event.tenant_id, event.aggregate_id)
        if event.WhichOneof("payload") != "call_ringing":
            self._deadlines.cancel(key)
            return
        ringing = event.call_ringing

        def expire() -> commands_pb2.CallCommand:
            meta = caused_by(
                event.event_id, "expire-ring", event.tenant_id, event.aggregate_id, event.correlation_id
            )
            return commands_pb2.CallCommand(
                meta=meta, expire_ring=commands_pb2.ExpireRing(agent_id=ringing.agent_id)
            )

        due = to_datetime(event.occurred_at) + timedelta(seconds=ringing.ring_timeout_seconds)
        self._deadlines.set(key, Deadline(due, CALLS, expire))
