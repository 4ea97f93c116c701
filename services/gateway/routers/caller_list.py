"""The caller list (TEL-9): supervisors, admins and integrations block numbers or flag them to agents,
with a reason and an optional expiry; every call's offer checks its ANI against it."""

from cc.telephony.v1 import events_pb2, telephony_pb2
from fastapi import APIRouter

from services.gateway.deps import AuthenticatedCaller, Clients, IdempotencyKey
from services.gateway.errors import ERROR_RESPONSES
from services.gateway.models import CallerListBody, CallerListEntry, PhoneNumber, given_timestamp

router = APIRouter(prefix="/v1/caller-list", tags=["caller list"], responses=ERROR_RESPONSES)
ACTIONS = {
    "block": events_pb2.LISTED_ACTION_BLOCK,
    "flag": events_pb2.LISTED_ACTION_FLAG,
    "do-not-call": events_pb2.LISTED_ACTION_DO_NOT_CALL,
}


@router.put("/{number}", summary="Block a number or flag it to agents, or replace its entry")
async def put_entry(
    number: PhoneNumber,
    body: CallerListBody,
    who: AuthenticatedCaller,
    services: Clients,
    idempotency_key: IdempotencyKey = "",
) -> CallerListEntry:
    request = telephony_pb2.PutCallerListEntryRequest(
        number=number,
        action=ACTIONS[body.action],
        reason=body.reason,
        request_id=idempotency_key,
        expected_version=body.expected_version,
    )
    if body.expires_at is not None:
        request.expires_at.CopyFrom(given_timestamp(body.expires_at, "expires_at"))
    return CallerListEntry.of(await services.telephony.PutCallerListEntry(request, metadata=who.metadata))


@router.delete("/{number}", summary="Take a number off the caller list; 409 number-not-listed")
async def remove_entry(
    number: PhoneNumber, who: AuthenticatedCaller, services: Clients, idempotency_key: IdempotencyKey = ""
) -> CallerListEntry:
    request = telephony_pb2.RemoveCallerListEntryRequest(number=number, request_id=idempotency_key)
    return CallerListEntry.of(await services.telephony.RemoveCallerListEntry(request, metadata=who.metadata))


@router.get("", summary="The numbers on the tenant's caller list")
async def list_entries(who: AuthenticatedCaller, services: Clients) -> list[CallerListEntry]:
    request = telephony_pb2.ListCallerListEntriesRequest()
    response = await services.telephony.ListCallerListEntries(request, metadata=who.metadata)
    return [CallerListEntry.of(entry) for entry in response.entries]


@router.get("/{number}", summary="One number's caller list entry (listed false once removed)")
async def get_entry(number: PhoneNumber, who: AuthenticatedCaller, services: Clients) -> CallerListEntry:
    request = telephony_pb2.GetCallerListEntryRequest(number=number)
    return CallerListEntry.of(await services.telephony.GetCallerListEntry(request, metadata=who.metadata))
