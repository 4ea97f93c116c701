"""Agent states that follow contacts: answered -> on contact; ended, transferred or a failed callback
attempt -> wrap-up; ring-no-answer (or a contact's offer timing out) -> not ready (RT-1); the wrap-up
timer that makes the agent ready again; and for contacts of other channels (RT-7), the offer of each
routing decision and its timeout."""

from collections.abc import Sequence

from cc.common.v1 import event_pb2
from cc.routing.v1 import commands_pb2
from cc.telephony.v1.events_pb2 import TRANSFER_TARGET_NUMBER

from services.common.aggregate import AggregateCommand, Versioned
from services.common.command_bus import caused_by
from services.common.deadlines import Deadline, Deadlines
from services.common.envelope import derived_id
from services.common.topics import AGENTS, CONTACTS, AggregateTopics
from services.routing.capacity import VOICE
from services.routing.contacts import OFFER_TIMEOUT, OFFERED, ContactState
from services.routing.domain import DECLINED, RING_NO_ANSWER, WRAP_UP, AgentStatus


def agent_commands_for_call(event: event_pb2.Event) -> Sequence[tuple[AggregateTopics, AggregateCommand]]:
    """telephony.call.events.v1 -> the agent command it implies, if any."""
    payload = event.WhichOneof("payload")
    if payload == "call_answered" and event.call_answered.consulted:
        return []  # the consulted agent takes the call over: on it since the consultation began
    if payload == "call_consult_started" and event.call_consult_started.consulted_agent_id:
        # the consulted agent is on the call from the consultation on (TEL-1)
        begun = event.call_consult_started
        agent_id, action = begun.consulted_agent_id, "join_consultation"
        joining = commands_pb2.JoinConsultation(contact_id=event.aggregate_id, round=begun.round)
        body: dict[str, object] = {"join_consultation": joining}
    elif payload == "call_consult_ended" and event.call_consult_ended.consulted_agent_id:
        # after a decline too: the agent may have joined since (a later round's join), and a wrap-up of
        # an agent not on this call is refused harmlessly
        agent_id, action = event.call_consult_ended.consulted_agent_id, "start_wrap_up"
        body = {"start_wrap_up": commands_pb2.StartWrapUp(contact_id=event.aggregate_id)}
    elif payload in ("call_answered", "outbound_call_placed"):
        # an outbound call's agent is on it from its placement (TEL-8)
        agent_id, action = getattr(event, payload).agent_id, "start_contact"
        body = {"start_contact": commands_pb2.StartContact(contact_id=event.aggregate_id)}
    elif payload == "call_ended" and event.call_ended.agent_id and not event.call_ended.abandoned:
        agent_id, action = event.call_ended.agent_id, "start_wrap_up"
        body = {"start_wrap_up": commands_pb2.StartWrapUp(contact_id=event.aggregate_id)}
    elif payload == "call_transferred" and event.call_transferred.target != TRANSFER_TARGET_NUMBER:
        # the agent left the call (a transfer to a number ends it: its CallEnded starts the wrap-up)
        agent_id, action = event.call_transferred.agent_id, "start_wrap_up"
        body = {"start_wrap_up": commands_pb2.StartWrapUp(contact_id=event.aggregate_id)}
    elif payload == "callback_attempt_failed" and event.callback_attempt_failed.HasField("retry_at"):
        # the agent left a callback whose next attempt waits (after the last, its CallEnded does this)
        agent_id, action = event.callback_attempt_failed.agent_id, "start_wrap_up"
        body = {"start_wrap_up": commands_pb2.StartWrapUp(contact_id=event.aggregate_id)}
    elif payload == "call_ring_no_answer":
        agent_id, action = event.call_ring_no_answer.agent_id, "mark_ring_no_answer"
        body = {"mark_ring_no_answer": commands_pb2.MarkRingNoAnswer(contact_id=event.aggregate_id)}
    elif payload == "call_rejected":
        agent_id, action = event.call_rejected.agent_id, "mark_ring_no_answer"
        rejected = commands_pb2.MarkRingNoAnswer(contact_id=event.aggregate_id, reason="rejected")
        body = {"mark_ring_no_answer": rejected}
    else:
        return []
    meta = caused_by(event.event_id, action, event.tenant_id, agent_id, event.correlation_id)
    return [(AGENTS, commands_pb2.AgentCommand(meta=meta, **body))]  # type: ignore[arg-type]


def agent_commands_for_contact(event: event_pb2.Event) -> Sequence[tuple[AggregateTopics, AggregateCommand]]:
    """routing.contact.events.v1 -> the agent goes not ready when it declined a contact or let its offer
    time out, as after a call that rang unanswered (see `board._declined`)."""
    if event.WhichOneof("payload") != "contact_declined":
        return []
    declined = event.contact_declined
    reason = RING_NO_ANSWER if declined.reason == OFFER_TIMEOUT else DECLINED
    meta = caused_by(
        event.event_id, "mark_ring_no_answer", event.tenant_id, declined.agent_id, event.correlation_id
    )
    missed = commands_pb2.MarkRingNoAnswer(contact_id=event.aggregate_id, reason=reason)
    return [(AGENTS, commands_pb2.AgentCommand(meta=meta, mark_ring_no_answer=missed))]


def offer_for_decision(event: event_pb2.Event) -> Sequence[tuple[AggregateTopics, AggregateCommand]]:
    """routing.decisions.v1 -> OfferToAgent on a routed contact of a channel other than voice (a call's
    decision rings a phone: telephony's policy)."""
    if event.WhichOneof("payload") != "contact_routed" or event.contact_routed.channel in ("", VOICE):
        return []
    routed = event.contact_routed
    meta = caused_by(
        event.event_id, "offer-to-agent", event.tenant_id, routed.contact_id, event.correlation_id
    )
    # One offer per decision, however often the decision is (re-)sent.
    meta.command_id = derived_id("command", "offer-to-agent", routed.decision_id)
    offer = commands_pb2.OfferToAgent(agent_id=routed.agent_id, decision_id=routed.decision_id)
    return [(CONTACTS, commands_pb2.ContactCommand(meta=meta, offer_to_agent=offer))]


class OfferTimer:
    """Observes the contacts read model: an offered contact has a deadline its offer timeout after the
    offer, when routing declines it for the agent; a contact in any other state has none."""

    def __init__(self, deadlines: Deadlines) -> None:
        self._deadlines = deadlines

    def __call__(self, entry: Versioned[ContactState]) -> None:
        contact = entry.state
        key = (entry.tenant_id, entry.aggregate_id)
        if contact.status != OFFERED or contact.offer_timeout is None:
            self._deadlines.cancel(key)
            return

        def decline() -> commands_pb2.ContactCommand:
            meta = caused_by(
                contact.offer_event_id, OFFER_TIMEOUT, entry.tenant_id, contact.contact_id, contact.contact_id
            )
            return commands_pb2.ContactCommand(
                meta=meta,
                decline=commands_pb2.DeclineContact(agent_id=contact.agent_id, reason=OFFER_TIMEOUT),
            )

        self._deadlines.set(key, Deadline(contact.offer_event_id, contact.offer_timeout, CONTACTS, decline))


class WrapUpTimer:
    """Observes the agents read model: an agent wrapping up has a deadline its wrap-up time after the
    event that began it; an agent in any other state has none. A function of the agent's state, so an
    agent loaded from a snapshot gets the same deadline, and the same command id, as one followed event
    by event."""

    def __init__(self, deadlines: Deadlines) -> None:
        self._deadlines = deadlines

    def __call__(self, entry: Versioned[AgentStatus]) -> None:
        agent = entry.state
        key = (entry.tenant_id, entry.aggregate_id)
        if agent.state != WRAP_UP or agent.wrap_up_for is None:
            self._deadlines.cancel(key)
            return

        def end_wrap_up() -> commands_pb2.AgentCommand:
            meta = caused_by(
                agent.wrap_up_event_id, "end-wrap-up", entry.tenant_id, agent.agent_id, agent.contact_id
            )
            return commands_pb2.AgentCommand(
                meta=meta, end_wrap_up=commands_pb2.EndWrapUp(contact_id=agent.contact_id)
            )

        self._deadlines.set(key, Deadline(agent.wrap_up_event_id, agent.wrap_up_for, AGENTS, end_wrap_up))
