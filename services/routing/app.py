"""Composition root of the routing service (agents over gRPC, and the candidates for a contact from its
board view). The routing decisions and live metrics run in the stream worker,
`python -m services.routing.stream`."""

from cc.routing.v1 import commands_pb2, routing_pb2_grpc

from services.common.aggregate import AggregateSpec
from services.common.projection import Projection
from services.common.service import AggregateService, FurtherAggregate, PolicyDefinition, with_rules
from services.common.settings import PlatformSettings, get_settings
from services.common.topics import AGENTS, CALLS, QUEUES
from services.routing import domain, queues
from services.routing.board_view import BoardView
from services.routing.consumers import WrapUpTimer, agent_commands_for_call
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


async def main(settings: PlatformSettings | None = None) -> None:
    settings = settings or get_settings()
    rules = domain.AgentRules(wrap_up_seconds=settings.cc_wrap_up_seconds)
    boards = BoardView(settings.kafka_bootstrap_servers)
    queue_definitions = Projection(QUEUE_SPEC, settings.kafka_bootstrap_servers)
    service = AggregateService(
        name="routing",
        spec=agent_spec(rules),
        port=settings.routing_port,
        grpc_service="cc.routing.v1.RoutingService",
        add_servicer=routing_pb2_grpc.add_RoutingServiceServicer_to_server,
        servicer=lambda bus, agents: RoutingServicer(bus, agents, queue_definitions, boards),
        policies=[PolicyDefinition("routing.agent-follows-calls", [CALLS.events], agent_commands_for_call)],
        timers=[WrapUpTimer],
        companions=[boards],
        further=[FurtherAggregate(QUEUE_SPEC, queue_definitions)],
    )
    await service.run(settings)
