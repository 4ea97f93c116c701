"""Composition root of the routing service (agents over gRPC). The routing decisions and live metrics
run in the stream worker, `python -m services.routing.stream`."""

from datetime import datetime
from functools import partial

from cc.routing.v1 import commands_pb2, routing_pb2_grpc
from google.protobuf.message import Message

from services.common.aggregate import AggregateSpec
from services.common.command_processor import CommandProcessor
from services.common.deadlines import Deadlines
from services.common.grpc_server import serve
from services.common.policy import Policy
from services.common.projection import Projection
from services.common.runtime import all_set, configure_logging, runtime
from services.common.settings import PlatformSettings, get_settings
from services.common.topics import AGENTS, CALLS
from services.routing import domain
from services.routing.consumers import WrapUpTimer, agent_commands_for_call
from services.routing.servicer import RoutingServicer


def agent_spec(rules: domain.AgentRules) -> AggregateSpec[domain.AgentStatus, commands_pb2.AgentCommand]:
    decide = partial(domain.decide, rules=rules)

    def decide_agent(
        state: domain.AgentStatus | None, command: commands_pb2.AgentCommand, now: datetime
    ) -> list[Message]:
        return decide(state, command, now)

    return AggregateSpec(AGENTS, commands_pb2.AgentCommand, decide_agent, domain.evolve, domain.customer_of)


async def main(settings: PlatformSettings | None = None) -> None:
    settings = settings or get_settings()
    configure_logging("routing")
    spec = agent_spec(domain.AgentRules(wrap_up_seconds=settings.cc_wrap_up_seconds))
    bootstrap = settings.kafka_bootstrap_servers
    async with runtime(settings, "routing") as rt:
        processor = CommandProcessor(spec, bootstrap, rt.producer)
        agents = Projection(spec, bootstrap)
        deadlines = Deadlines()
        agents.observe(WrapUpTimer(deadlines))
        follow_calls = Policy(
            "routing.agent-follows-calls",
            [CALLS.events],
            agent_commands_for_call,
            rt.bus,
            rt.producer,
            bootstrap,
        )
        await serve(
            address=settings.address(settings.routing_port),
            api_keys=settings.api_keys(),
            registrations=[
                (
                    routing_pb2_grpc.add_RoutingServiceServicer_to_server,
                    RoutingServicer(rt.bus, agents),
                    "cc.routing.v1.RoutingService",
                )
            ],
            background=[
                processor.run(),
                agents.run(),
                rt.bus.listen([AGENTS.replies]),
                follow_calls.run(),
                deadlines.run(rt.bus, agents.caught_up),
            ],
            ready=lambda: all_set(processor.assigned, agents.caught_up, rt.bus.listening),
        )
