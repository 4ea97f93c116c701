"""Contacts in routing: every logged-in agent for one waiting contact, and why each can or cannot take
it (RT-8); and contacts of channels other than voice (RT-7), which a chat, email or task adapter offers
to a queue and the agent routing offers them to accepts or declines, then closes."""

from cc.routing.v1 import routing_pb2
from fastapi import APIRouter

from services.gateway.deps import AuthenticatedCaller, Clients, IdempotencyKey
from services.gateway.errors import ERROR_RESPONSES
from services.gateway.models import (
    Contact,
    ContactAgentBody,
    ContactCandidates,
    DeclineContactBody,
    OfferContactBody,
    PathId,
)

router = APIRouter(prefix="/v1/contacts", tags=["contacts"], responses=ERROR_RESPONSES)


@router.get(
    "/{contact_id}/candidates",
    summary="Every logged-in agent for a contact in routing: the eligible ones in rank order, then the "
    "others with why they were skipped",
)
async def list_candidates(
    contact_id: PathId, who: AuthenticatedCaller, services: Clients
) -> ContactCandidates:
    request = routing_pb2.ListCandidatesRequest(contact_id=contact_id)
    return ContactCandidates.of(await services.routing.ListCandidates(request, metadata=who.metadata))


@router.post("", status_code=201, summary="Offer a chat, email or task to a queue of its channel")
async def offer_contact(
    body: OfferContactBody, who: AuthenticatedCaller, services: Clients, idempotency_key: IdempotencyKey = ""
) -> Contact:
    request = routing_pb2.OfferContactRequest(
        channel=body.channel,
        queue_id=body.queue_id,
        priority=body.priority,
        customer_id=body.customer_id,
        request_id=idempotency_key,
    )
    return Contact.of(await services.routing.OfferContact(request, metadata=who.metadata))


@router.get("/{contact_id}", summary="A contact of a channel other than voice, as it is now")
async def get_contact(contact_id: PathId, who: AuthenticatedCaller, services: Clients) -> Contact:
    request = routing_pb2.GetContactRequest(contact_id=contact_id)
    return Contact.of(await services.routing.GetContact(request, metadata=who.metadata))


@router.post("/{contact_id}/accept", summary="The agent it is offered to accepts it")
async def accept_contact(
    contact_id: PathId,
    body: ContactAgentBody,
    who: AuthenticatedCaller,
    services: Clients,
    idempotency_key: IdempotencyKey = "",
) -> Contact:
    request = routing_pb2.AcceptContactRequest(
        contact_id=contact_id, agent_id=body.agent_id, request_id=idempotency_key
    )
    return Contact.of(await services.routing.AcceptContact(request, metadata=who.metadata))


@router.post(
    "/{contact_id}/decline", summary="The agent it is offered to declines it; it goes back to its queue"
)
async def decline_contact(
    contact_id: PathId,
    body: DeclineContactBody,
    who: AuthenticatedCaller,
    services: Clients,
    idempotency_key: IdempotencyKey = "",
) -> Contact:
    request = routing_pb2.DeclineContactRequest(
        contact_id=contact_id, agent_id=body.agent_id, reason=body.reason, request_id=idempotency_key
    )
    return Contact.of(await services.routing.DeclineContact(request, metadata=who.metadata))


@router.post("/{contact_id}/close", summary="The contact is over: handled once accepted, abandoned before")
async def close_contact(
    contact_id: PathId, who: AuthenticatedCaller, services: Clients, idempotency_key: IdempotencyKey = ""
) -> Contact:
    request = routing_pb2.CloseContactRequest(contact_id=contact_id, request_id=idempotency_key)
    return Contact.of(await services.routing.CloseContact(request, metadata=who.metadata))
