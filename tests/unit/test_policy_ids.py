"""Each policy's command id derives from what it reacts to, so a redelivered or re-sent event acts
once: one ring per routing decision, one ticket per answered call, one wrap-up per ended call."""

from cc.common.v1 import event_pb2
from cc.routing.v1 import events_pb2 as routing_events
from cc.telephony.v1 import events_pb2 as call_events

from services.routing.consumers import agent_commands_for_call
from services.telephony.consumers import ring_for_decision
from services.ticketing.consumers import voice_tickets


def decision(event_id: str, decision_id: str) -> event_pb2.Event:
    routed = routing_events.ContactRouted(contact_id="call-1", agent_id="kim", decision_id=decision_id)
    return event_pb2.Event(event_id=event_id, tenant_id="acme", contact_routed=routed)


def ring_id(event: event_pb2.Event) -> str:
    [(_, command)] = ring_for_decision(event)
    return command.meta.command_id


def test_one_ring_per_decision_however_often_and_under_whatever_event_id_it_is_sent() -> None:
    assert ring_id(decision("event-1", "decision-1")) == ring_id(decision("event-2", "decision-1"))
    assert ring_id(decision("event-1", "decision-1")) != ring_id(decision("event-1", "decision-2"))


def call_event(event_id: str, call_id: str, **payload: object) -> event_pb2.Event:
    return event_pb2.Event(event_id=event_id, tenant_id="acme", aggregate_id=call_id, **payload)  # type: ignore[arg-type]


def test_one_ticket_per_answered_call_and_one_wrap_up_per_ended_call_when_redelivered() -> None:
    kim = call_events.CallAnswered(agent_id="kim", queue_id="member")
    answered = call_event("answered-1", "call-1", call_answered=kim)
    [(_, ticket)], [(_, again)] = voice_tickets(answered), voice_tickets(answered)
    assert ticket.meta.command_id == again.meta.command_id != ""
    assert ticket.meta.aggregate_id == again.meta.aggregate_id  # one ticket per call
    [(_, other)] = voice_tickets(call_event("answered-2", "call-2", call_answered=kim))
    assert other.meta.aggregate_id != ticket.meta.aggregate_id
    assert other.meta.command_id != ticket.meta.command_id

    ended = call_event("ended-1", "call-1", call_ended=call_events.CallEnded(agent_id="kim"))
    [(_, wrap_up)], [(_, redelivered)] = agent_commands_for_call(ended), agent_commands_for_call(ended)
    assert wrap_up.meta.command_id == redelivered.meta.command_id
    assert wrap_up.WhichOneof("command") == "start_wrap_up"


def test_a_rejected_call_makes_its_agent_not_ready_as_rejected_once() -> None:
    rejected = call_event("rejected-1", "call-1", call_rejected=call_events.CallRejected(agent_id="kim"))
    [(_, command)], [(_, again)] = agent_commands_for_call(rejected), agent_commands_for_call(rejected)

    assert command.meta.command_id == again.meta.command_id
    assert command.meta.aggregate_id == "kim"
    assert command.mark_ring_no_answer.reason == "rejected"
    assert command.mark_ring_no_answer.contact_id == "call-1"
