"""Agents: log in with a site and skills, set ready / not ready, change skills, log out (RT-1, RT-2);
live statistics of the logged-in agents (RTM-2)."""

from cc.routing.v1 import events_pb2, routing_pb2
from cc.telephony.v1 import telephony_pb2
from fastapi import APIRouter

from services.gateway.deps import AuthenticatedCaller, Clients, IdempotencyKey
from services.gateway.errors import ERROR_RESPONSES
from services.gateway.models import (
    AGENT_STATES,
    Agent,
    AgentStateBody,
    AgentStatistics,
    Call,
    Heartbeat,
    LogInBody,
    PathId,
    ProfileBody,
    SkillsBody,
    WriteOptions,
)

router = APIRouter(prefix="/v1/agents", tags=["agents"], responses=ERROR_RESPONSES)


@router.post(
    "/{agent_id}/login", summary="Log an agent in; it becomes ready (the configured state after login)"
)
async def log_in(
    agent_id: PathId,
    body: LogInBody,
    who: AuthenticatedCaller,
    services: Clients,
    idempotency_key: IdempotencyKey = "",
) -> Agent:
    request = routing_pb2.LogInAgentRequest(
        agent_id=agent_id,
        site_id=body.site_id,
        display_name=body.display_name,
        request_id=idempotency_key,
        skills=[events_pb2.Skill(name=s.name, proficiency=s.proficiency) for s in body.skills],
        expected_version=body.expected_version,
        capacity=body.capacity.to_proto() if body.capacity else [],
    )
    return Agent.of(await services.routing.LogInAgent(request, metadata=who.metadata))


@router.put("/{agent_id}/state", summary="Set an agent ready, or not ready with a reason")
async def set_state(
    agent_id: PathId,
    body: AgentStateBody,
    who: AuthenticatedCaller,
    services: Clients,
    idempotency_key: IdempotencyKey = "",
) -> Agent:
    request = routing_pb2.SetAgentStateRequest(
        agent_id=agent_id,
        state=AGENT_STATES[body.state],
        reason=body.reason,
        request_id=idempotency_key,
        expected_version=body.expected_version,
    )
    return Agent.of(await services.routing.SetAgentState(request, metadata=who.metadata))


@router.put("/{agent_id}/skills", summary="Replace a logged-in agent's skills (not the agent's own key)")
async def change_skills(
    agent_id: PathId,
    body: SkillsBody,
    who: AuthenticatedCaller,
    services: Clients,
    idempotency_key: IdempotencyKey = "",
) -> Agent:
    request = routing_pb2.ChangeAgentSkillsRequest(
        agent_id=agent_id,
        skills=[events_pb2.Skill(name=s.name, proficiency=s.proficiency) for s in body.skills],
        request_id=idempotency_key,
        expected_version=body.expected_version,
    )
    return Agent.of(await services.routing.ChangeAgentSkills(request, metadata=who.metadata))


@router.put("/{agent_id}/profile", summary="Define an agent before its first log-in, or change it (admins)")
async def define_profile(
    agent_id: PathId,
    body: ProfileBody,
    who: AuthenticatedCaller,
    services: Clients,
    idempotency_key: IdempotencyKey = "",
) -> Agent:
    request = routing_pb2.DefineAgentProfileRequest(
        agent_id=agent_id,
        display_name=body.display_name,
        site_id=body.site_id,
        skills=[events_pb2.Skill(name=s.name, proficiency=s.proficiency) for s in body.skills],
        capacity=body.capacity.to_proto() if body.capacity else [],
        endpoint=body.endpoint,
        request_id=idempotency_key,
        expected_version=body.expected_version,
    )
    return Agent.of(await services.routing.DefineAgentProfile(request, metadata=who.metadata))


@router.post(
    "/{agent_id}/heartbeat",
    summary="The agent's desktop is alive; once it has sent one, silence for the timeout makes the "
    "agent not ready (lost-presence)",
)
async def heartbeat(agent_id: PathId, who: AuthenticatedCaller, services: Clients) -> Heartbeat:
    request = routing_pb2.SendHeartbeatRequest(agent_id=agent_id)
    return Heartbeat.of(await services.routing.SendHeartbeat(request, metadata=who.metadata))


@router.post("/{agent_id}/logout", summary="Log an agent out")
async def log_out(
    agent_id: PathId,
    who: AuthenticatedCaller,
    services: Clients,
    body: WriteOptions | None = None,
    idempotency_key: IdempotencyKey = "",
) -> Agent:
    request = routing_pb2.LogOutAgentRequest(
        agent_id=agent_id,
        request_id=idempotency_key,
        expected_version=body.expected_version if body else None,
    )
    return Agent.of(await services.routing.LogOutAgent(request, metadata=who.metadata))


@router.get("", summary="Logged-in agents (or every agent), optionally of one site")
async def list_agents(
    who: AuthenticatedCaller, services: Clients, site_id: str = "", include_logged_out: bool = False
) -> list[Agent]:
    request = routing_pb2.ListAgentsRequest(site_id=site_id, include_logged_out=include_logged_out)
    response = await services.routing.ListAgents(request, metadata=who.metadata)
    return [Agent.of(agent) for agent in response.agents]


@router.get("/{agent_id}", summary="One agent and its state")
async def get_agent(agent_id: PathId, who: AuthenticatedCaller, services: Clients) -> Agent:
    return Agent.of(
        await services.routing.GetAgent(routing_pb2.GetAgentRequest(agent_id=agent_id), metadata=who.metadata)
    )


@router.get(
    "/{agent_id}/call",
    summary="The call ringing for the agent or connected to it now (404 agent-has-no-call for none)",
)
async def get_agent_call(agent_id: PathId, who: AuthenticatedCaller, services: Clients) -> Call:
    request = telephony_pb2.GetAgentCallRequest(agent_id=agent_id)
    return Call.of(await services.telephony.GetAgentCall(request, metadata=who.metadata))


statistics_router = APIRouter(prefix="/v1/agent-statistics", tags=["agents"], responses=ERROR_RESPONSES)


@statistics_router.get("", summary="Live statistics of the logged-in agents today, optionally of one site")
async def agent_statistics(
    who: AuthenticatedCaller, services: Clients, site_id: str = ""
) -> list[AgentStatistics]:
    response = await services.routing.ListAgentStatistics(
        routing_pb2.ListAgentStatisticsRequest(site_id=site_id), metadata=who.metadata
    )
    return [AgentStatistics.of(agent) for agent in response.agents]
