"""RoutingService: agent log-in, state and log-out as agent commands; reads from the agents read model."""

import grpc
from cc.common.v1 import types_pb2
from cc.routing.v1 import commands_pb2, events_pb2, routing_pb2, routing_pb2_grpc

from services.common.aggregate import Versioned
from services.common.command_bus import CommandBus, command_meta
from services.common.envelope import timestamp
from services.common.errors import require
from services.common.grpc_server import current_tenant
from services.common.projection import Projection
from services.common.queries import execute, expected_version, lookup
from services.routing.domain import LOGGED_OUT, AgentStatus


def agent_view(entry: Versioned[AgentStatus]) -> routing_pb2.Agent:
    agent = entry.state
    return routing_pb2.Agent(
        agent_id=agent.agent_id,
        display_name=agent.display_name,
        site_id=agent.site_id,
        skills=[events_pb2.Skill(name=name, proficiency=level) for name, level in agent.skills],
        state=agent.state,
        reason=agent.reason,
        contact_id=agent.contact_id,
        state_since=timestamp(agent.state_since),
        version=entry.version,
    )


class RoutingServicer(routing_pb2_grpc.RoutingServiceServicer):
    def __init__(self, bus: CommandBus, agents: Projection[AgentStatus, commands_pb2.AgentCommand]) -> None:
        self._bus = bus
        self._agents = agents

    def _meta(self, agent_id: str, request_id: str, expected: int | None) -> types_pb2.CommandMeta:
        return command_meta(
            tenant_id=current_tenant(),
            aggregate_id=require(agent_id, "agent_id", "the agent"),
            aggregate_type="agent",
            request_id=request_id,
            expected_version=expected,
            actor=types_pb2.Actor(type=types_pb2.ACTOR_TYPE_AGENT, id=agent_id),
        )

    async def _run(self, command: commands_pb2.AgentCommand) -> routing_pb2.Agent:
        return agent_view(await execute(self._bus, self._agents, command))

    async def LogInAgent(
        self, request: routing_pb2.LogInAgentRequest, context: grpc.aio.ServicerContext
    ) -> routing_pb2.Agent:
        return await self._run(
            commands_pb2.AgentCommand(
                meta=self._meta(request.agent_id, request.request_id, expected_version(request)),
                log_in=commands_pb2.LogInAgent(
                    site_id=request.site_id, skills=request.skills, display_name=request.display_name
                ),
            )
        )

    async def SetAgentState(
        self, request: routing_pb2.SetAgentStateRequest, context: grpc.aio.ServicerContext
    ) -> routing_pb2.Agent:
        return await self._run(
            commands_pb2.AgentCommand(
                meta=self._meta(request.agent_id, request.request_id, expected_version(request)),
                set_state=commands_pb2.SetAgentState(state=request.state, reason=request.reason),
            )
        )

    async def LogOutAgent(
        self, request: routing_pb2.LogOutAgentRequest, context: grpc.aio.ServicerContext
    ) -> routing_pb2.Agent:
        return await self._run(
            commands_pb2.AgentCommand(
                meta=self._meta(request.agent_id, request.request_id, expected_version(request)),
                log_out=commands_pb2.LogOutAgent(),
            )
        )

    async def GetAgent(
        self, request: routing_pb2.GetAgentRequest, context: grpc.aio.ServicerContext
    ) -> routing_pb2.Agent:
        agent_id = require(request.agent_id, "agent_id", "the agent")
        return agent_view(await lookup(self._agents, current_tenant(), agent_id, request.min_version))

    async def ListAgents(
        self, request: routing_pb2.ListAgentsRequest, context: grpc.aio.ServicerContext
    ) -> routing_pb2.ListAgentsResponse:
        entries = [
            e
            for e in self._agents.of_tenant(current_tenant())
            if e.state.state != LOGGED_OUT and (not request.site_id or e.state.site_id == request.site_id)
        ]
        return routing_pb2.ListAgentsResponse(
            agents=[agent_view(e) for e in sorted(entries, key=lambda e: e.aggregate_id)]
        )
