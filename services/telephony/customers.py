"""Who is calling (CH-2, TEL-2): telephony's own copy of the customers ticketing keeps, found by the
caller's number. Every customer event carries the whole profile, so this copy takes the latest and
needs none of ticketing's code. A call's offer is given its customer here, at the edge, so the command
(and every event of the call) names the customer it was decided for."""

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cc.common.v1 import event_pb2
from cc.ticketing.v1 import events_pb2 as customer_events

from services.common import numbers
from services.common.aggregate import ReadSpec
from services.common.envelope import to_datetime
from services.common.projection import Index, Projection
from services.common.topics import CUSTOMERS


@dataclass(frozen=True)
class KnownCustomer:
    customer_id: str
    name: str
    vip: bool
    # Each phone identifier as its digits.
    phones: tuple[str, ...]
    updated_at: datetime


def evolve(state: KnownCustomer | None, event: event_pb2.Event) -> KnownCustomer:
    match event.WhichOneof("payload"):
        case "customer_registered":
            profile = event.customer_registered.profile
        case "customer_changed":
            profile = event.customer_changed.profile
        case _:
            raise ValueError(f"not a customer event: {event.event_type}")
    return KnownCustomer(
        customer_id=event.aggregate_id,
        name=profile.name,
        vip=profile.vip,
        phones=tuple(i.value for i in profile.identifiers if i.kind == customer_events.IDENTIFIER_KIND_PHONE),
        updated_at=to_datetime(event.occurred_at),
    )


CUSTOMER_READS: ReadSpec[KnownCustomer] = ReadSpec(CUSTOMERS, evolve, KnownCustomer)


class CustomerDirectory:
    """The customers read model and its index by phone. The service is SERVING only once it has caught
    up, so a call is never offered as an unknown caller because the directory was still loading."""

    def __init__(self, bootstrap_servers: str) -> None:
        self._customers: Projection[KnownCustomer, Any] = Projection(CUSTOMER_READS, bootstrap_servers)
        self._by_phone = Index(self._customers, lambda customer: customer.phones)

    async def run(self) -> None:
        await self._customers.run()

    @property
    def caught_up(self) -> asyncio.Event:
        return self._customers.caught_up

    def ready(self) -> bool:
        return self.caught_up.is_set()

    def get(self, tenant_id: str, customer_id: str) -> KnownCustomer | None:
        entry = self._customers.get(tenant_id, customer_id)
        return entry.state if entry else None

    def caller(self, tenant_id: str, ani: str) -> KnownCustomer | None:
        """The customer whose phone the ANI is; of several, the profile updated last (then by id)."""
        found = [entry.state for entry in self._by_phone.find(tenant_id, numbers.canonical(ani))]
        return max(found, key=lambda customer: customer.updated_at, default=None)
