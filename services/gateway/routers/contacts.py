"""Contacts in routing: every logged-in agent for one waiting contact, and why each can or cannot take
it (RT-8)."""

from cc.routing.v1 import routing_pb2
from fastapi import APIRouter

from services.gateway.deps import AuthenticatedCaller, Clients
from services.gateway.errors import ERROR_RESPONSES
from services.gateway.models import ContactCandidates, PathId

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
