"""Customers (CH-2): profiles with identifiers (phone numbers, email addresses, member numbers), found
by any of them. A call's customer is its caller's profile, found by the ANI, and the agent's screen pop
(TEL-2) shows it with the customer's latest tickets and the line's page for the caller."""

import asyncio
from typing import Annotated
from urllib.parse import quote

import grpc
from cc.telephony.v1 import telephony_pb2
from cc.ticketing.v1 import ticketing_pb2
from fastapi import APIRouter, Query

from services.gateway.customer_models import (
    IDENTIFIER_KINDS,
    ChangeCustomerBody,
    Customer,
    CustomerList,
    IdentifierKindWord,
    IdentifierValue,
    RegisterCustomerBody,
    ScreenPop,
)
from services.gateway.deps import AuthenticatedCaller, Clients, IdempotencyKey
from services.gateway.errors import ERROR_RESPONSES
from services.gateway.models import Call, PathId, Ticket

router = APIRouter(prefix="/v1/customers", tags=["customers"], responses=ERROR_RESPONSES)
screen_pop_router = APIRouter(tags=["customers"], responses=ERROR_RESPONSES)
# The tickets a screen pop shows: the customer's latest, open or not.
SCREEN_POP_TICKETS = 10


@router.post("", status_code=201, summary="Register a customer; an identifier another customer has gets 409")
async def register_customer(
    body: RegisterCustomerBody,
    who: AuthenticatedCaller,
    services: Clients,
    idempotency_key: IdempotencyKey = "",
) -> Customer:
    request = ticketing_pb2.RegisterCustomerRequest(
        name=body.name,
        identifiers=[identifier.message() for identifier in body.identifiers],
        vip=body.vip,
        tier=body.tier,
        attributes=body.attributes,
        request_id=idempotency_key,
    )
    return Customer.of(await services.ticketing.RegisterCustomer(request, metadata=who.metadata))


@router.get("", summary="Find customers by one identifier, the most recently updated first")
async def find_customers(
    kind: Annotated[IdentifierKindWord, Query(description="phone, email or member.")],
    value: Annotated[IdentifierValue, Query(examples=["+821012345678"])],
    who: AuthenticatedCaller,
    services: Clients,
) -> CustomerList:
    request = ticketing_pb2.ListCustomersRequest(kind=IDENTIFIER_KINDS[kind], value=value)
    response = await services.ticketing.ListCustomers(request, metadata=who.metadata)
    return CustomerList(customers=[Customer.of(c) for c in response.customers])


@router.get("/{customer_id}", summary="One customer's profile")
async def get_customer(customer_id: PathId, who: AuthenticatedCaller, services: Clients) -> Customer:
    request = ticketing_pb2.GetCustomerRequest(customer_id=customer_id)
    return Customer.of(await services.ticketing.GetCustomer(request, metadata=who.metadata))


@router.patch("/{customer_id}", summary="Change some of a profile; a change that changes nothing gets 422")
async def change_customer(
    customer_id: PathId,
    body: ChangeCustomerBody,
    who: AuthenticatedCaller,
    services: Clients,
    idempotency_key: IdempotencyKey = "",
) -> Customer:
    request = ticketing_pb2.ChangeCustomerRequest(
        customer_id=customer_id,
        replace_identifiers=body.identifiers is not None,
        identifiers=[identifier.message() for identifier in body.identifiers or []],
        set_attributes={key: value for key, value in body.attributes.items() if value is not None},
        removed_attributes=[key for key, value in body.attributes.items() if value is None],
        request_id=idempotency_key,
        expected_version=body.expected_version,
    )
    if body.name is not None:
        request.name = body.name
    if body.vip is not None:
        request.vip = body.vip
    if body.tier is not None:
        request.tier = body.tier
    return Customer.of(await services.ticketing.ChangeCustomer(request, metadata=who.metadata))


@screen_pop_router.get(
    "/v1/calls/{call_id}/screen-pop",
    summary="What the agent sees as the call is offered: the caller's profile and latest tickets",
)
async def screen_pop(call_id: PathId, who: AuthenticatedCaller, services: Clients) -> ScreenPop:
    call = await services.telephony.GetCall(
        telephony_pb2.GetCallRequest(call_id=call_id), metadata=who.metadata
    )

    async def profile() -> Customer | None:
        try:
            request = ticketing_pb2.GetCustomerRequest(customer_id=call.customer_id)
            return Customer.of(await services.ticketing.GetCustomer(request, metadata=who.metadata))
        except grpc.aio.AioRpcError as error:
            if error.code() == grpc.StatusCode.NOT_FOUND:
                return None  # a caller with no profile yet: the desk offers to register one
            raise

    latest = ticketing_pb2.ListTicketsRequest(
        customer_id=call.customer_id,
        sort=ticketing_pb2.TICKET_SORT_UPDATED_DESC,
        page_size=SCREEN_POP_TICKETS,
    )

    async def integration_url() -> str | None:
        if not call.line_id:
            return None
        asked = telephony_pb2.GetLineRequest(line_id=call.line_id)
        template = (await services.telephony.GetLine(asked, metadata=who.metadata)).settings.screen_pop_url
        return template.replace("[TEL]", quote(call.ani, safe="")) if template else None

    customer, tickets, url = await asyncio.gather(
        profile(), services.ticketing.ListTickets(latest, metadata=who.metadata), integration_url()
    )
    return ScreenPop(
        call=Call.of(call),
        customer=customer,
        tickets=[Ticket.of(t) for t in tickets.tickets],
        integration_url=url,
    )
