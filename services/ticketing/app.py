"""Composition root of the ticketing service."""

from cc.ticketing.v1 import commands_pb2, ticketing_pb2_grpc

from services.common.aggregate import AggregateSpec
from services.common.command_processor import CommandProcessor
from services.common.grpc_server import serve
from services.common.policy import Policy
from services.common.projection import Projection
from services.common.runtime import all_set, configure_logging, runtime
from services.common.settings import PlatformSettings, get_settings
from services.common.topics import CALLS, TICKETS
from services.ticketing import domain
from services.ticketing.consumers import ticket_for_answered_call
from services.ticketing.servicer import TicketingServicer

TICKET_SPEC: AggregateSpec[domain.TicketState, commands_pb2.TicketCommand] = AggregateSpec(
    TICKETS, commands_pb2.TicketCommand, domain.decide, domain.evolve, domain.customer_of
)


async def main(settings: PlatformSettings | None = None) -> None:
    settings = settings or get_settings()
    configure_logging("ticketing")
    bootstrap = settings.kafka_bootstrap_servers
    async with runtime(settings, "ticketing") as rt:
        processor = CommandProcessor(TICKET_SPEC, bootstrap, rt.producer)
        tickets = Projection(TICKET_SPEC, bootstrap)
        voice_tickets = Policy(
            "ticketing.voice-tickets",
            [CALLS.events],
            ticket_for_answered_call,
            rt.bus,
            rt.producer,
            bootstrap,
        )
        await serve(
            address=settings.address(settings.ticketing_port),
            api_keys=settings.api_keys(),
            registrations=[
                (
                    ticketing_pb2_grpc.add_TicketingServiceServicer_to_server,
                    TicketingServicer(rt.bus, tickets),
                    "cc.ticketing.v1.TicketingService",
                )
            ],
            background=[
                processor.run(),
                tickets.run(),
                rt.bus.listen([TICKETS.replies]),
                voice_tickets.run(),
            ],
            ready=lambda: all_set(processor.assigned, tickets.caught_up, rt.bus.listening),
        )
