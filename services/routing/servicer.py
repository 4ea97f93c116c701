"""RoutingService: agent log-in, state and log-out as agent commands, queue definitions as queue
commands, contacts of channels other than voice as contact commands; reads from the agents, queues and
contacts read models; the candidates for a contact in routing from the board view."""

import time

import grpc
from cc.routing.v1 import commands_pb2, events_pb2, routing_pb2, routing_pb2_grpc
from google.protobuf.message import Message

from services.common.aggregate import Versioned
from services.common.command_bus import CommandBus, command_meta
from services.common.envelope import new_id, timestamp
from services.common.errors import IllegalTransition, require
from services.common.grpc_server import current_credential, current_tenant
from services.common.pci import redact_card_numbers
from services.common.projection import Projection
from services.common.queries import execute, expected_version, lookup
from services.routing.board_view import BoardView
from services.routing.contacts import ContactState
from services.routing.domain import LOGGED_OUT, AgentStatus, capacity_messages, skill_messages
from services.routing.presence import Presence
from services.routing.queues import QueueState
from services.routing.rules import proto_of


def agent_view(entry: Versioned[AgentStatus]) -> routing_pb2.Agent:
    agent = entry.state
    view = routing_pb2.Agent(
        agent_id=agent.agent_id,
        display_name=agent.display_name,
        site_id=agent.site_id,
        skills=skill_messages(agent.skills),
        state=agent.state,
        reason=agent.reason,
        contact_id=agent.contact_id,
        state_since=timestamp(agent.state_since),
        version=entry.version,
        capacity=capacity_messages(agent.capacity),
        wrap_up_seconds=int(agent.wrap_up_for.total_seconds()) if agent.wrap_up_for is not None else 0,
    )
    if agent.profile is not None:
        view.profile.CopyFrom(agent.profile.message())
    return view


def contact_view(entry: Versioned[ContactState]) -> routing_pb2.Contact:
    contact = entry.state
    return routing_pb2.Contact(
        contact_id=contact.contact_id,
        channel=contact.channel,
        queue_id=contact.queue_id,
        priority=contact.priority,
        customer_id=contact.customer_id,
        status=contact.status,
        agent_id=contact.agent_id,
        abandoned=contact.abandoned,
        enqueued_at=timestamp(contact.enqueued_at),
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
    | routing_pb2.DefineAgentProfileRequest
)


class RoutingServicer(routing_pb2_grpc.RoutingServiceServicer):
    def __init__(
        self,
        bus: CommandBus,
        agents: Projection[AgentStatus, commands_pb2.AgentCommand],
        queues: Projection[QueueState, commands_pb2.QueueCommand],
        boards: BoardView,
        contacts: Projection[ContactState, commands_pb2.ContactCommand],
        presence: Presence,
    ) -> None:
        self._bus = bus
        self._agents = agents
        self._queues = queues
        self._boards = boards
        self._contacts = contacts
        self._presence = presence

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
            site_id=request.site_id,
            skills=request.skills,
            display_name=redact_card_numbers(request.display_name),
            capacity=request.capacity,
        )
        return await self._on_agent(request, log_in=log_in)

    async def SetAgentState(
        self, request: routing_pb2.SetAgentStateRequest, context: grpc.aio.ServicerContext
    ) -> routing_pb2.Agent:
        return await self._on_agent(
            request,
            set_state=commands_pb2.SetAgentState(
                state=request.state, reason=redact_card_numbers(request.reason)
            ),
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

    async def DefineAgentProfile(
        self, request: routing_pb2.DefineAgentProfileRequest, context: grpc.aio.ServicerContext
    ) -> routing_pb2.Agent:
        profile = events_pb2.AgentProfileDefined(
            display_name=redact_card_numbers(request.display_name),
            site_id=request.site_id,
            skills=request.skills,
            capacity=request.capacity,
            endpoint=request.endpoint,
        )
        return await self._on_agent(request, define_profile=commands_pb2.DefineAgentProfile(profile=profile))

    async def SendHeartbeat(
        self, request: routing_pb2.SendHeartbeatRequest, context: grpc.aio.ServicerContext
    ) -> routing_pb2.Heartbeat:
        agent_id = require(request.agent_id, "agent_id", "the agent")
        entry = await lookup(self._agents, current_tenant(), agent_id)
        if entry.state.state == LOGGED_OUT:
            raise IllegalTransition("agent-logged-out", f"agent {agent_id} is logged out")
        return await self._presence.beat(current_tenant(), agent_id)

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
            if (request.include_logged_out or e.state.state != LOGGED_OUT)
            and (not request.site_id or e.state.site_id == request.site_id)
        ]
        return routing_pb2.ListAgentsResponse(
            agents=[agent_view(e) for e in sorted(entries, key=lambda e: e.aggregate_id)]
        )

    async def ListCandidates(
        self, request: routing_pb2.ListCandidatesRequest, context: grpc.aio.ServicerContext
    ) -> routing_pb2.ListCandidatesResponse:
        if request.queue_id and not request.contact_id:
            return self._boards.queue_candidates(current_tenant(), request.queue_id, time.time())
        contact_id = require(request.contact_id, "contact_id", "the contact, or queue_id")
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

    async def _on_contact(self, contact_id: str, request_id: str, **action: Message) -> routing_pb2.Contact:
        """One command on a contact of a channel other than voice (RT-7)."""
        contact_id = require(contact_id, "contact_id", "the contact")
        meta = command_meta(
            tenant_id=current_tenant(),
            aggregate_id=contact_id,
            actor=current_credential().actor(),
            correlation_id=contact_id,
        )
        command = commands_pb2.ContactCommand(meta=meta, **action)  # type: ignore[arg-type]
        return contact_view(await execute(self._bus, self._contacts, command, request_id))

    async def OfferContact(
        self, request: routing_pb2.OfferContactRequest, context: grpc.aio.ServicerContext
    ) -> routing_pb2.Contact:
        """Only to a queue an admin defined for the contact's channel: the board learns a queue's
        channel from its definition, never from a contact."""
        queue_id = require(request.queue_id, "queue_id", "the queue")
        queue = await lookup(self._queues, current_tenant(), queue_id)
        if request.channel and queue.state.rule.channel != request.channel:
            raise IllegalTransition(
                "queue-serves-another-channel",
                f"queue {queue_id} serves {queue.state.rule.channel}, not {request.channel}",
            )
        offer = commands_pb2.OfferContact(
            channel=request.channel,
            queue_id=queue_id,
            priority=request.priority,
            customer_id=request.customer_id,
        )
        return await self._on_contact(request.contact_id or new_id(), request.request_id, offer=offer)

    async def AcceptContact(
        self, request: routing_pb2.AcceptContactRequest, context: grpc.aio.ServicerContext
    ) -> routing_pb2.Contact:
        accept = commands_pb2.AcceptContact(agent_id=request.agent_id)
        return await self._on_contact(request.contact_id, request.request_id, accept=accept)

    async def DeclineContact(
        self, request: routing_pb2.DeclineContactRequest, context: grpc.aio.ServicerContext
    ) -> routing_pb2.Contact:
        decline = commands_pb2.DeclineContact(
            agent_id=request.agent_id, reason=redact_card_numbers(request.reason)
        )
        return await self._on_contact(request.contact_id, request.request_id, decline=decline)

    async def CloseContact(
        self, request: routing_pb2.CloseContactRequest, context: grpc.aio.ServicerContext
    ) -> routing_pb2.Contact:
        return await self._on_contact(
            request.contact_id, request.request_id, close=commands_pb2.CloseContact()
        )

    async def GetContact(
        self, request: routing_pb2.GetContactRequest, context: grpc.aio.ServicerContext
    ) -> routing_pb2.Contact:
        contact_id = require(request.contact_id, "contact_id", "the contact")
        return contact_view(await lookup(self._contacts, current_tenant(), contact_id, request.min_version))
