"""Composition root of the routing service (agents over gRPC, and the candidates for a contact from its
board view). The routing decisions and live metrics run in the stream worker,
`python -m services.routing.stream`."""

from cc.routing.v1 import commands_pb2, routing_pb2_grpc

from services.common.aggregate import AggregateSpec
from services.common.service import AggregateService, PolicyDefinition, with_rules
from services.common.settings import PlatformSettings, get_settings
from services.common.topics import AGENTS, CALLS
from services.routing import domain
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


async def main(settings: PlatformSettings | None = None) -> None:
    settings = settings or get_settings()
    rules = domain.AgentRules(wrap_up_seconds=settings.cc_wrap_up_seconds)
    boards = BoardView(settings.kafka_bootstrap_servers)
    service = AggregateService(
        name="routing",
        spec=agent_spec(rules),
        port=settings.routing_port,
        grpc_service="cc.routing.v1.RoutingService",
        add_servicer=routing_pb2_grpc.add_RoutingServiceServicer_to_server,
        servicer=lambda bus, agents: RoutingServicer(bus, agents, boards),
        policies=[PolicyDefinition("routing.agent-follows-calls", [CALLS.events], agent_commands_for_call)],
        timers=[WrapUpTimer],
        companions=[boards],
    )
    await service.run(settings)
