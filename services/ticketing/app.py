"""Composition root of the ticketing service."""

from cc.ticketing.v1 import commands_pb2, ticketing_pb2_grpc

from services.common.aggregate import AggregateSpec
from services.common.service import AggregateService, PolicyDefinition
from services.common.settings import PlatformSettings, get_settings
from services.common.topics import CALLS, TICKETS
from services.ticketing import domain
from services.ticketing.consumers import voice_tickets
from services.ticketing.servicer import TicketingServicer

TICKET_SPEC: AggregateSpec[domain.TicketState, commands_pb2.TicketCommand] = AggregateSpec(
    TICKETS,
    commands_pb2.TicketCommand,
    domain.decide,
    domain.evolve,
    domain.customer_of,
    domain.TicketState,
)


async def main(settings: PlatformSettings | None = None) -> None:
    settings = settings or get_settings()
    service = AggregateService(
        name="ticketing",
        spec=TICKET_SPEC,
        port=settings.ticketing_port,
        grpc_service="cc.ticketing.v1.TicketingService",
        add_servicer=ticketing_pb2_grpc.add_TicketingServiceServicer_to_server,
        servicer=TicketingServicer,
        policies=[PolicyDefinition("ticketing.voice-tickets", [CALLS.events], voice_tickets)],
    )
    await service.run(settings)
