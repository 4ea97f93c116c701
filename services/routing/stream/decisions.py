"""A routing decision as the record the worker writes to routing.decisions.v1. No Faust here, so it is
tested without a broker.

A decision can be written more than once: the worker sends it again when its agent's phone has not rung
(the first send may have been lost between saving the board and sending). Every copy has the same event
id, derived from the decision id, and the same time, when the decision was made, so ClickHouse keeps
one row for it and the journey shows one routing."""

from datetime import UTC, datetime

from cc.common.v1 import types_pb2
from cc.routing.v1 import events_pb2
from google.protobuf.message import Message

from services.common.envelope import build_event, derived_id
from services.routing.board import WaitingContact
from services.routing.matching import Decision, Expansion


def decision_record(tenant_id: str, decision: Decision, causation_id: str) -> tuple[bytes, bytes]:
    """The key and value of the decision's record."""
    contact = decision.contact
    event_id = derived_id("event", decision.routed.decision_id)
    return _contact_record(tenant_id, contact, decision.routed, contact.routed_at, event_id, causation_id)


def expansion_record(tenant_id: str, expansion: Expansion, at: float) -> tuple[bytes, bytes]:
    """The key and value of a widened target's record (RT-5), on the decisions topic with the contact's
    decisions, so the board view and the journey see it in order with them."""
    return _contact_record(
        tenant_id, expansion.contact, expansion.expanded, at, expansion_event_id(tenant_id, expansion)
    )


def expansion_event_id(tenant_id: str, expansion: Expansion) -> str:
    """The same for a widening sent again; its contact's wait (a callback back at its slot waits anew
    with the routings it had), its routings and the step tell it apart."""
    contact = expansion.contact
    return derived_id(
        "expanded",
        tenant_id,
        contact.contact_id,
        repr(contact.enqueued_at),
        str(contact.routings),
        str(expansion.expanded.step),
    )


def estimate_record(
    tenant_id: str, contact: WaitingContact, estimated: events_pb2.ContactWaitEstimated, at: float
) -> tuple[bytes, bytes]:
    """The key and value of a waiting contact's position and estimated wait (RT-10), on the decisions
    topic beside the contact's decisions."""
    event_id = derived_id("wait-estimated", tenant_id, contact.contact_id, f"{at:.6f}")
    return _contact_record(tenant_id, contact, estimated, at, event_id)


def _contact_record(
    tenant_id: str,
    contact: WaitingContact,
    payload: Message,
    at: float,
    event_id: str,
    causation_id: str = "",
) -> tuple[bytes, bytes]:
    """A routing event about a contact that routing itself caused (no command did); caused by the
    contact's own flow unless `causation_id` names the event."""
    event = build_event(
        payload,
        context="routing",
        aggregate_type="contact",
        aggregate_id=contact.contact_id,
        aggregate_version=contact.routings,
        tenant_id=tenant_id,
        occurred_at=datetime.fromtimestamp(at, UTC),
        correlation_id=contact.correlation_id,
        causation_id=causation_id or contact.correlation_id,
        customer_id=contact.customer_id,
        actor=types_pb2.Actor(type=types_pb2.ACTOR_TYPE_SYSTEM),
        event_id=event_id,
    )
    return f"{tenant_id}/{contact.contact_id}".encode(), event.SerializeToString()
