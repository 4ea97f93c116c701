"""Composition root of the routing service (agents over gRPC, and the candidates for a contact from its
board view). The routing decisions and live metrics run in the stream worker,
`python -m services.routing.stream`."""

from cc.routing.v1 import commands_pb2, routing_pb2_grpc

from services.common.aggregate import AggregateSpec
from services.common.projection import Projection
from services.common.service import AggregateService, FurtherAggregate, PolicyDefinition, with_rules
from services.common.settings import PlatformSettings, get_settings
from services.common.topics import AGENTS, CALLS, CONTACTS, QUEUES, ROUTING_DECISIONS
from services.routing import contacts, domain, queues
from services.routing.board_view import BoardView
from services.routing.consumers import (
    OfferTimer,
    WrapUpTimer,
    agent_commands_for_call,
    agent_commands_for_contact,
    offer_for_decision,
)
from services.routing.presence import Presence
from services.routing.servicer import RoutingServicer


def agent_spec(rules: domain.AgentRules) -> AggregateSpec[domain.AgentStatus, commands_pb2.AgentCommand]:
    return AggregateSpec(
        AGENTS,
        commands_pb2.AgentCommand,
        with_rules(domain.decide, rules),
        domain.evolve,
        domain.customer_of,
        domain.AgentStatus,
    )


QUEUE_SPEC: AggregateSpec[queues.QueueState, commands_pb2.QueueCommand] = AggregateSpec(
    QUEUES,
    commands_pb2.QueueCommand,
    queues.decide,
    queues.evolve,
    queues.customer_of,
    queues.QueueState,
)


def contact_spec(
    rules: contacts.ContactRules,
) -> AggregateSpec[contacts.ContactState, commands_pb2.ContactCommand]:
    return AggregateSpec(
        CONTACTS,
        commands_pb2.ContactCommand,
        with_rules(contacts.decide, rules),
        contacts.evolve,
        contacts.customer_of,
        contacts.ContactState,
    )


async def main(settings: PlatformSettings | None = None) -> None:
    settings = settings or get_settings()
    rules = domain.AgentRules(wrap_up_seconds=settings.cc_wrap_up_seconds)
    boards = BoardView(settings.kafka_bootstrap_servers)
    presence = Presence(settings.kafka_bootstrap_servers, settings.cc_presence_timeout_seconds)
    queue_definitions = Projection(QUEUE_SPEC, settings.kafka_bootstrap_servers)
    # A contact's offer times out as a call's ringing does.
    contact_rules = contacts.ContactRules(offer_timeout_seconds=settings.cc_ring_timeout_seconds)
    contact_aggregate = contact_spec(contact_rules)
    contact_model = Projection(contact_aggregate, settings.kafka_bootstrap_servers)
    service = AggregateService(
        name="routing",
        spec=agent_spec(rules),
        port=settings.routing_port,
        grpc_service="cc.routing.v1.RoutingService",
        add_servicer=routing_pb2_grpc.add_RoutingServiceServicer_to_server,
        servicer=lambda bus, agents: RoutingServicer(
            bus, agents, queue_definitions, boards, contact_model, presence
        ),
        policies=[
            PolicyDefinition("routing.agent-follows-calls", [CALLS.events], agent_commands_for_call),
            PolicyDefinition("routing.agent-follows-contacts", [CONTACTS.events], agent_commands_for_contact),
            PolicyDefinition("routing.contact-offers", [ROUTING_DECISIONS], offer_for_decision),
        ],
        timers=[WrapUpTimer, presence.timer],
        companions=[boards, presence],
        further=[
            FurtherAggregate(QUEUE_SPEC, queue_definitions),
            FurtherAggregate(contact_aggregate, contact_model, timers=[OfferTimer]),
        ],
    )
    await service.run(settings)
