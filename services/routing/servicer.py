"""RoutingService: agent log-in, state and log-out as agent commands, queue definitions as queue
commands; reads from the agents and queues read models; the candidates for a contact in routing from
the board view."""

import time

import grpc
from cc.routing.v1 import commands_pb2, events_pb2, routing_pb2, routing_pb2_grpc
from google.protobuf.message import Message

from services.common.aggregate import Versioned
from services.common.command_bus import CommandBus, command_meta
from services.common.envelope import timestamp
from services.common.errors import require
from services.common.grpc_server import current_credential, current_tenant
from services.common.projection import Projection
from services.common.queries import execute, expected_version, lookup
from services.routing.board_view import BoardView
from services.routing.domain import LOGGED_OUT, AgentStatus
from services.routing.queues import QueueState
from services.routing.rules import proto_of


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


def queue_view(entry: Versioned[QueueState]) -> routing_pb2.Queue:
    queue = entry.state
    return routing_pb2.Queue(
        queue_id=queue.queue_id,
        rules=proto_of(queue.rule),
        created_at=timestamp(queue.created_at),
        changed_at=timestamp(queue.changed_at),
        version=entry.version,
    )


AgentWrite = (
    routing_pb2.LogInAgentRequest
    | routing_pb2.SetAgentStateRequest
    | routing_pb2.LogOutAgentRequest
    | routing_pb2.ChangeAgentSkillsRequest
)


class RoutingServicer(routing_pb2_grpc.RoutingServiceServicer):
    def __init__(
        self,
        bus: CommandBus,
        agents: Projection[AgentStatus, commands_pb2.AgentCommand],
        queues: Projection[QueueState, commands_pb2.QueueCommand],
        boards: BoardView,
    ) -> None:
        self._bus = bus
        self._agents = agents
        self._queues = queues
        self._boards = boards

    async def _on_agent(self, request: AgentWrite, **action: Message) -> routing_pb2.Agent:
        """One command on an agent, with the request's idempotency key and expected version."""
        agent_id = require(request.agent_id, "agent_id", "the agent")
        meta = command_meta(
            tenant_id=current_tenant(),
            aggregate_id=agent_id,
            expected_version=expected_version(request),
            actor=current_credential().actor(),
        )
        command = commands_pb2.AgentCommand(meta=meta, **action)  # type: ignore[arg-type]
        return agent_view(await execute(self._bus, self._agents, command, request.request_id))

    async def LogInAgent(
        self, request: routing_pb2.LogInAgentRequest, context: grpc.aio.ServicerContext
    ) -> routing_pb2.Agent:
        log_in = commands_pb2.LogInAgent(
            site_id=request.site_id, skills=request.skills, display_name=request.display_name
        )
        return await self._on_agent(request, log_in=log_in)

    async def SetAgentState(
        self, request: routing_pb2.SetAgentStateRequest, context: grpc.aio.ServicerContext
    ) -> routing_pb2.Agent:
        return await self._on_agent(
            request, set_state=commands_pb2.SetAgentState(state=request.state, reason=request.reason)
        )

    async def LogOutAgent(
        self, request: routing_pb2.LogOutAgentRequest, context: grpc.aio.ServicerContext
    ) -> routing_pb2.Agent:
        return await self._on_agent(request, log_out=commands_pb2.LogOutAgent())

    async def ChangeAgentSkills(
        self, request: routing_pb2.ChangeAgentSkillsRequest, context: grpc.aio.ServicerContext
    ) -> routing_pb2.Agent:
        return await self._on_agent(
            request, change_skills=commands_pb2.ChangeAgentSkills(skills=request.skills)
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

    async def ListCandidates(
        self, request: routing_pb2.ListCandidatesRequest, context: grpc.aio.ServicerContext
    ) -> routing_pb2.ListCandidatesResponse:
        contact_id = require(request.contact_id, "contact_id", "the contact")
        return self._boards.candidates(current_tenant(), contact_id, time.time())

    async def ListAgentStatistics(
        self, request: routing_pb2.ListAgentStatisticsRequest, context: grpc.aio.ServicerContext
    ) -> routing_pb2.ListAgentStatisticsResponse:
        return self._boards.agent_statistics(current_tenant(), request.site_id, time.time())

    async def _on_queue(
        self,
        request: routing_pb2.CreateQueueRequest | routing_pb2.ChangeQueueRulesRequest,
        expected: int | None,
        **action: Message,
    ) -> routing_pb2.Queue:
        queue_id = require(request.queue_id, "queue_id", "the queue")
        meta = command_meta(
            tenant_id=current_tenant(),
            aggregate_id=queue_id,
            expected_version=expected,
            actor=current_credential().actor(),
        )
        command = commands_pb2.QueueCommand(meta=meta, **action)  # type: ignore[arg-type]
        return queue_view(await execute(self._bus, self._queues, command, request.request_id))

    async def CreateQueue(
        self, request: routing_pb2.CreateQueueRequest, context: grpc.aio.ServicerContext
    ) -> routing_pb2.Queue:
        return await self._on_queue(request, None, create=commands_pb2.CreateQueue(rules=request.rules))

    async def ChangeQueueRules(
        self, request: routing_pb2.ChangeQueueRulesRequest, context: grpc.aio.ServicerContext
    ) -> routing_pb2.Queue:
        change = commands_pb2.ChangeQueueRules(rules=request.rules)
        return await self._on_queue(request, expected_version(request), change_rules=change)

    async def GetQueue(
        self, request: routing_pb2.GetQueueRequest, context: grpc.aio.ServicerContext
    ) -> routing_pb2.Queue:
        queue_id = require(request.queue_id, "queue_id", "the queue")
        return queue_view(await lookup(self._queues, current_tenant(), queue_id, request.min_version))

    async def ListQueues(
        self, request: routing_pb2.ListQueuesRequest, context: grpc.aio.ServicerContext
    ) -> routing_pb2.ListQueuesResponse:
        entries = sorted(self._queues.of_tenant(current_tenant()), key=lambda e: e.aggregate_id)
        return routing_pb2.ListQueuesResponse(queues=[queue_view(e) for e in entries])
