"""The customer half of TicketingService (CH-2): registering and changing profiles as customer commands,
reading one, and finding customers by any identifier from the customers read model."""

from collections.abc import Iterable

import grpc
from cc.ticketing.v1 import commands_pb2, events_pb2, ticketing_pb2

from services.common.access import Role
from services.common.aggregate import Versioned
from services.common.command_bus import CommandBus, command_meta, created_id
from services.common.envelope import timestamp
from services.common.errors import IllegalTransition, PermissionDenied, require
from services.common.grpc_server import current_credential, current_tenant
from services.common.pci import redact_card_numbers
from services.common.projection import Index, Projection
from services.common.queries import execute, expected_version, lookup
from services.ticketing.customers import (
    KIND_NAMES,
    CustomerState,
    Identifier,
    canonical_identifier,
    clean_identifiers,
    identifier_key,
)
from services.ticketing.domain import refused

Customers = Projection[CustomerState, commands_pb2.CustomerCommand]


def customer_view(entry: Versioned[CustomerState]) -> ticketing_pb2.Customer:
    customer = entry.state
    return ticketing_pb2.Customer(
        customer_id=customer.customer_id,
        profile=customer.profile(),
        registered_at=timestamp(customer.registered_at),
        updated_at=timestamp(customer.updated_at),
        version=entry.version,
    )


def most_recent_first(found: Iterable[Versioned[CustomerState]]) -> list[Versioned[CustomerState]]:
    """The order every lookup by identifier answers in: the profile updated last first, then by id."""
    by_id = sorted(found, key=lambda entry: entry.aggregate_id)
    return sorted(by_id, key=lambda entry: entry.state.updated_at, reverse=True)


def _no_vip_from_an_agent(sets_vip: bool) -> None:
    """A VIP's calls jump the queue (RT-4): agents take details down, but supervisors grant that."""
    if sets_vip and current_credential().role == Role.AGENT:
        raise PermissionDenied("vip-by-supervisor", "an agent's key may not make a customer a VIP or not")


class CustomerRpcs:
    """Mixed into the servicer: the customer RPCs over the customers read model and its identifier index."""

    def __init__(self, bus: CommandBus, customers: Customers, by_identifier: Index[CustomerState]) -> None:
        self._bus = bus
        self._customers = customers
        self._by_identifier = by_identifier

    def _not_held_by_another(
        self, tenant_id: str, customer_id: str, identifiers: Iterable[Identifier]
    ) -> None:
        """An identifier names one customer: one held by another profile is refused here, at the edge,
        against the read model (two registrations racing in the same instant could both pass; a lookup
        then answers both, most recent first)."""
        for kind, value in identifiers:
            key = identifier_key(kind, value)
            others = [
                e.aggregate_id
                for e in self._by_identifier.find(tenant_id, key)
                if e.aggregate_id != customer_id
            ]
            if others:
                raise IllegalTransition("identifier-taken", f"{key} belongs to customer {others[0]}")

    async def _on_customer(
        self, customer_id: str, request_id: str, version: int | None, **action: object
    ) -> ticketing_pb2.Customer:
        meta = command_meta(
            tenant_id=current_tenant(),
            aggregate_id=customer_id,
            correlation_id=customer_id,
            expected_version=version,
            actor=current_credential().actor(),
        )
        command = commands_pb2.CustomerCommand(meta=meta, **action)  # type: ignore[arg-type]
        return customer_view(await execute(self._bus, self._customers, command, request_id))

    async def RegisterCustomer(
        self, request: ticketing_pb2.RegisterCustomerRequest, context: grpc.aio.ServicerContext
    ) -> ticketing_pb2.Customer:
        _no_vip_from_an_agent(request.vip)
        tenant_id = current_tenant()
        # The same request_id names the same customer, so a retried registration answers with the first.
        customer_id = created_id("customer", tenant_id, request.request_id)
        self._not_held_by_another(
            tenant_id, customer_id, clean_identifiers(request.identifiers, "identifiers")
        )
        # A card number read out and typed into a name or an attribute is masked before a command holds it.
        profile = events_pb2.CustomerProfile(
            name=redact_card_numbers(request.name),
            identifiers=request.identifiers,
            vip=request.vip,
            tier=request.tier,
            attributes={key: redact_card_numbers(value) for key, value in request.attributes.items()},
        )
        return await self._on_customer(customer_id, request.request_id, None, register=profile)

    async def ChangeCustomer(
        self, request: ticketing_pb2.ChangeCustomerRequest, context: grpc.aio.ServicerContext
    ) -> ticketing_pb2.Customer:
        customer_id = require(request.customer_id, "customer_id", "the customer")
        _no_vip_from_an_agent(request.HasField("vip"))
        if request.replace_identifiers:
            identifiers = clean_identifiers(request.identifiers, "identifiers")
            self._not_held_by_another(current_tenant(), customer_id, identifiers)
        change = commands_pb2.ChangeCustomer(
            replace_identifiers=request.replace_identifiers,
            identifiers=request.identifiers,
            set_attributes={k: redact_card_numbers(v) for k, v in request.set_attributes.items()},
            removed_attributes=request.removed_attributes,
        )
        if request.HasField("name"):
            change.name = redact_card_numbers(request.name)
        if request.HasField("vip"):
            change.vip = request.vip
        if request.HasField("tier"):
            change.tier = request.tier
        return await self._on_customer(
            customer_id, request.request_id, expected_version(request), change=change
        )

    async def GetCustomer(
        self, request: ticketing_pb2.GetCustomerRequest, context: grpc.aio.ServicerContext
    ) -> ticketing_pb2.Customer:
        customer_id = require(request.customer_id, "customer_id", "the customer")
        return customer_view(
            await lookup(self._customers, current_tenant(), customer_id, request.min_version)
        )

    async def ListCustomers(
        self, request: ticketing_pb2.ListCustomersRequest, context: grpc.aio.ServicerContext
    ) -> ticketing_pb2.ListCustomersResponse:
        if request.kind not in KIND_NAMES:
            raise refused("kind", "the identifier's kind: phone, email or member")
        kind, value = canonical_identifier(request.kind, request.value, "value")
        found = self._by_identifier.find(current_tenant(), identifier_key(kind, value))
        return ticketing_pb2.ListCustomersResponse(
            customers=[customer_view(e) for e in most_recent_first(found)]
        )
