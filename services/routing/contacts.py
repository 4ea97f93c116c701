"""The contact aggregate (RT-7): contacts of channels other than voice, which chat, email and task
adapters offer to routing before those channels have services of their own. Pure decide and evolve.

A contact is queued, offered to the agent routing chose (with a time to answer), accepted by that agent
or declined (back to its queue, in its place), and closed: handled once accepted, abandoned before. The
routing board folds these events as it folds a call's, and counts a held contact against the agent's
capacity for its channel (services.routing.capacity)."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from cc.common.v1 import event_pb2
from cc.routing.v1 import commands_pb2, events_pb2
from cc.routing.v1.routing_pb2 import ContactStatus
from google.protobuf.message import Message

from services.common.aggregate import evolved
from services.common.envelope import timestamp, to_datetime
from services.common.errors import (
    FieldViolation,
    IllegalTransition,
    InvalidArgument,
    NotFound,
    optional_text,
    require,
)
from services.routing.capacity import CHANNELS, VOICE

MAX_PRIORITY = 10
# Why routing declines a contact for its agent: the agent did not accept it in time.
OFFER_TIMEOUT = "offer-timeout"
QUEUED = ContactStatus.CONTACT_STATUS_QUEUED
OFFERED = ContactStatus.CONTACT_STATUS_OFFERED
ACCEPTED = ContactStatus.CONTACT_STATUS_ACCEPTED
CLOSED = ContactStatus.CONTACT_STATUS_CLOSED


@dataclass(frozen=True)
class ContactRules:
    # How long an agent has to accept an offered contact (the ring timeout of calls).
    offer_timeout_seconds: int = 15


@dataclass(frozen=True)
class ContactState:
    contact_id: str
    channel: str
    queue_id: str
    priority: int
    customer_id: str
    enqueued_at: datetime
    status: "ContactStatus.ValueType" = QUEUED
    agent_id: str = ""
    abandoned: bool = False
    # While offered: how long the agent has, and the event that offered it (the timeout's command id
    # derives from it, the same on every instance).
    offer_timeout: timedelta | None = None
    offer_event_id: str = ""


def customer_of(state: ContactState | None, command: commands_pb2.ContactCommand) -> str:
    return state.customer_id if state is not None else command.offer.customer_id


def decide(
    state: ContactState | None, command: commands_pb2.ContactCommand, now: datetime, rules: ContactRules
) -> list[Message]:
    contact_id = require(command.meta.aggregate_id, "contact_id", "the contact")
    action = command.WhichOneof("command")
    if action == "offer":
        if state is not None:
            raise IllegalTransition("contact-already-exists", f"contact {contact_id} exists already")
        return [_offer(command.offer, now)]
    if state is None:
        raise NotFound("contact-not-found", f"contact {contact_id} does not exist")
    if state.status == CLOSED:
        raise IllegalTransition("contact-closed", f"contact {contact_id} is closed")
    match action:
        case "offer_to_agent":
            if state.status != QUEUED:
                raise IllegalTransition("contact-not-queued", f"contact {contact_id} is not in its queue")
            wanted = command.offer_to_agent
            return [
                events_pb2.ContactOffered(
                    agent_id=wanted.agent_id,
                    decision_id=wanted.decision_id,
                    timeout_seconds=rules.offer_timeout_seconds,
                )
            ]
        case "accept":
            _expect_offered_to(state, command.accept.agent_id)
            return [
                events_pb2.ContactAccepted(
                    agent_id=state.agent_id, queue_id=state.queue_id, enqueued_at=timestamp(state.enqueued_at)
                )
            ]
        case "decline":
            _expect_offered_to(state, command.decline.agent_id)
            reason = optional_text(command.decline.reason, "reason", "why the agent declines it")
            return [
                events_pb2.ContactDeclined(agent_id=state.agent_id, reason=reason),
                _queued(state.channel, state.queue_id, state.priority, state.enqueued_at),
            ]
        case "close":
            abandoned = state.status != ACCEPTED
            # the agent it is offered to or was accepted by; none while it waits in its queue
            return [
                events_pb2.ContactClosed(
                    agent_id=state.agent_id, queue_id=state.queue_id, abandoned=abandoned
                )
            ]
    raise InvalidArgument("unknown-command", "the contact command names no known action")


def _offer(offer: commands_pb2.OfferContact, now: datetime) -> events_pb2.ContactQueued:
    violations = []
    if offer.channel == VOICE:
        violations.append(FieldViolation("channel", "a voice contact is a call: offer it to telephony"))
    elif offer.channel not in CHANNELS:
        violations.append(FieldViolation("channel", f"one of {', '.join(c for c in CHANNELS if c != VOICE)}"))
    if not 0 <= offer.priority <= MAX_PRIORITY:
        violations.append(FieldViolation("priority", f"0 to {MAX_PRIORITY}"))
    if violations:
        raise InvalidArgument("invalid-argument", "the contact cannot be offered", violations)
    queue_id = require(offer.queue_id, "queue_id", "the queue")
    optional_text(offer.customer_id, "customer_id", "the customer")
    return _queued(offer.channel, queue_id, offer.priority, now)


def _queued(channel: str, queue_id: str, priority: int, at: datetime) -> events_pb2.ContactQueued:
    return events_pb2.ContactQueued(
        channel=channel, queue_id=queue_id, priority=priority, enqueued_at=timestamp(at)
    )


def _expect_offered_to(state: ContactState, agent_id: str) -> None:
    if state.status != OFFERED or state.agent_id != agent_id:
        raise IllegalTransition(
            "contact-not-offered-to-agent", f"contact {state.contact_id} is not offered to {agent_id}"
        )


def evolve(state: ContactState | None, event: event_pb2.Event) -> ContactState:
    match event.WhichOneof("payload"):
        case "contact_queued":
            queued = event.contact_queued
            if state is not None:  # back in its queue after a decline, in its place
                return evolved(state, status=QUEUED, agent_id="", offer_timeout=None, offer_event_id="")
            return ContactState(
                contact_id=event.aggregate_id,
                channel=queued.channel,
                queue_id=queued.queue_id,
                priority=queued.priority,
                customer_id=event.customer_id,
                enqueued_at=to_datetime(queued.enqueued_at),
            )
    assert state is not None, f"{event.event_type} before contact_queued"
    match event.WhichOneof("payload"):
        case "contact_offered":
            offered = event.contact_offered
            return evolved(
                state,
                status=OFFERED,
                agent_id=offered.agent_id,
                offer_timeout=timedelta(seconds=offered.timeout_seconds),
                offer_event_id=event.event_id,
            )
        case "contact_accepted":
            return evolved(state, status=ACCEPTED, offer_timeout=None, offer_event_id="")
        case "contact_declined":
            return evolved(state, agent_id="", offer_timeout=None, offer_event_id="")
        case "contact_closed":
            return evolved(
                state,
                status=CLOSED,
                abandoned=event.contact_closed.abandoned,
                offer_timeout=None,
                offer_event_id="",
            )
    return state
