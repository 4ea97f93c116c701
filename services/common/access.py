"""Who may do what (API-2, ORG-1): every API key is a credential of one tenant with one role, and an
agent's key is bound to its agent. Checked once, at the gRPC edge, for every service (REST reaches the
same check through the gateway, which forwards the caller's key).

- admin: everything;
- supervisor: everything on calls, agents and tickets except what a carrier reports (offering calls,
  digits, voicemail recordings, a callback's acceptance and outcome);
- analyst: reads only (statistics, journeys, calls, agents, tickets), exports included;
- agent: its own agent's state and calls (answer as itself, hang up its own call) and tickets;
- integration: anything an adapter does, for any agent (carrier adapters, load generators).

Reads are open to every role of the tenant, except the API keys (only admins manage and list them)
and the exports (admins, supervisors and analysts).
Only admins define queues, lines of business and their IVR flows, and agents' profiles; supervisors,
admins and integrations change logged-in agents' skills and the caller list.
Keys of named users are issued over the API (services/common/keys.py). Development keys come from
CC_API_KEYS as `key:tenant[:role[:agent_id]]`, the role admin when none is given."""

import hashlib
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache

from cc.common.v1 import types_pb2
from google.protobuf.message import Message

from services.common.errors import PermissionDenied


class Role(StrEnum):
    ADMIN = "admin"
    SUPERVISOR = "supervisor"
    ANALYST = "analyst"
    AGENT = "agent"
    INTEGRATION = "integration"


@dataclass(frozen=True)
class Credential:
    tenant_id: str
    role: Role
    # Who is behind the key, as events record it; never the key itself.
    name: str
    agent_id: str = ""

    def actor(self) -> types_pb2.Actor:
        """The person or integration behind a command, as its events record it."""
        if self.role == Role.AGENT:
            return types_pb2.Actor(type=types_pb2.ACTOR_TYPE_AGENT, id=self.agent_id)
        if self.role == Role.INTEGRATION:
            return types_pb2.Actor(type=types_pb2.ACTOR_TYPE_INTEGRATION, id=self.name)
        return types_pb2.Actor(type=types_pb2.ACTOR_TYPE_USER, id=self.name)


@lru_cache(maxsize=8)
def parse_api_keys(text: str) -> dict[str, Credential]:
    """`key:tenant[:role[:agent_id]]`, comma-separated. A role the platform does not know, or an agent
    key without its agent, stops the service at start rather than letting the key in. Parsed once per
    text: the gateway asks for the credentials on every request. The answer is shared; never change it."""
    credentials: dict[str, Credential] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, tenant, role, agent_id, *_ = [*item.split(":"), "", "", ""]
        if not key or not tenant:
            raise ValueError(f"CC_API_KEYS: {item.split(':')[0][:4]}… needs key:tenant[:role[:agent_id]]")
        parsed = Role(role or Role.ADMIN)
        if parsed == Role.AGENT and not agent_id:
            raise ValueError(f"CC_API_KEYS: the agent key of tenant {tenant} names no agent")
        fingerprint = hashlib.sha256(key.encode()).hexdigest()[:8]
        name = f"{parsed}:{agent_id}" if agent_id else f"{parsed}-key-{fingerprint}"
        credentials[key] = Credential(tenant, parsed, name, agent_id)
    return credentials


_CALL_CONTROL = frozenset({Role.ADMIN, Role.SUPERVISOR, Role.AGENT, Role.INTEGRATION})
_ADAPTER = frozenset({Role.ADMIN, Role.INTEGRATION})
_ADMIN = frozenset({Role.ADMIN})
# Who may change an agent's skills: people who run the floor, and workforce-management integrations.
_STAFFING = frozenset({Role.ADMIN, Role.SUPERVISOR, Role.INTEGRATION})
# Bulk reads of every event and ticket of the tenant (AN-6): for the people who analyse, not for an
# agent's or an adapter's key.
_EXPORTS = frozenset({Role.ADMIN, Role.SUPERVISOR, Role.ANALYST})
# The roles allowed each restricted method: every write, and the reads of keys. A method not listed is
# a read, open to every role.
RESTRICTED: dict[str, frozenset[Role]] = {
    "/cc.telephony.v1.TelephonyService/OfferCall": _ADAPTER,
    "/cc.telephony.v1.TelephonyService/SendDigits": _ADAPTER,
    "/cc.telephony.v1.TelephonyService/LeaveVoicemail": _ADAPTER,
    "/cc.telephony.v1.TelephonyService/RequestCallback": _ADAPTER,
    "/cc.telephony.v1.TelephonyService/ReportCallbackOutcome": _ADAPTER,
    "/cc.telephony.v1.TelephonyService/CancelCallback": _STAFFING,
    "/cc.telephony.v1.TelephonyService/AnswerCall": _CALL_CONTROL,
    # An agent calls customers as itself (TEL-8).
    "/cc.telephony.v1.TelephonyService/PlaceOutboundCall": _CALL_CONTROL,
    "/cc.telephony.v1.TelephonyService/HangUpCall": _CALL_CONTROL,
    "/cc.telephony.v1.TelephonyService/HoldCall": _CALL_CONTROL,
    "/cc.telephony.v1.TelephonyService/ResumeCall": _CALL_CONTROL,
    "/cc.telephony.v1.TelephonyService/RejectCall": _CALL_CONTROL,
    "/cc.telephony.v1.TelephonyService/TransferCall": _CALL_CONTROL,
    "/cc.telephony.v1.TelephonyService/ConsultCall": _CALL_CONTROL,
    "/cc.telephony.v1.TelephonyService/FinishConsult": _CALL_CONTROL,
    "/cc.telephony.v1.TelephonyService/PauseRecording": _CALL_CONTROL,
    "/cc.telephony.v1.TelephonyService/ResumeRecording": _CALL_CONTROL,
    "/cc.telephony.v1.TelephonyService/DefineLine": _ADMIN,
    "/cc.telephony.v1.TelephonyService/PublishFlow": _ADMIN,
    "/cc.telephony.v1.TelephonyService/PutCallerListEntry": _STAFFING,
    "/cc.telephony.v1.TelephonyService/RemoveCallerListEntry": _STAFFING,
    # Supervisors run their campaigns (TEL-8); the pacer's own commands are the service's.
    "/cc.telephony.v1.TelephonyService/DefineCampaign": _STAFFING,
    "/cc.telephony.v1.TelephonyService/SetCampaignStatus": _STAFFING,
    "/cc.routing.v1.RoutingService/LogInAgent": _CALL_CONTROL,
    "/cc.routing.v1.RoutingService/SetAgentState": _CALL_CONTROL,
    "/cc.routing.v1.RoutingService/LogOutAgent": _CALL_CONTROL,
    "/cc.routing.v1.RoutingService/SendHeartbeat": _CALL_CONTROL,
    "/cc.routing.v1.RoutingService/ChangeAgentSkills": _STAFFING,
    "/cc.routing.v1.RoutingService/DefineAgentProfile": _ADMIN,
    "/cc.routing.v1.RoutingService/CreateQueue": _ADMIN,
    "/cc.routing.v1.RoutingService/ChangeQueueRules": _ADMIN,
    "/cc.routing.v1.RoutingService/OfferContact": _ADAPTER,
    "/cc.routing.v1.RoutingService/AcceptContact": _CALL_CONTROL,
    "/cc.routing.v1.RoutingService/DeclineContact": _CALL_CONTROL,
    "/cc.routing.v1.RoutingService/CloseContact": _CALL_CONTROL,
    "/cc.ticketing.v1.TicketingService/TransitionTicket": _CALL_CONTROL,
    "/cc.ticketing.v1.TicketingService/AddTicketNote": _CALL_CONTROL,
    "/cc.ticketing.v1.TicketingService/CreateTicket": _CALL_CONTROL,
    "/cc.ticketing.v1.TicketingService/EditTicket": _CALL_CONTROL,
    "/cc.ticketing.v1.TicketingService/AssignTicket": _CALL_CONTROL,
    "/cc.ticketing.v1.TicketingService/AddTicketReply": _CALL_CONTROL,
    "/cc.ticketing.v1.TicketingService/EscalateTicket": _CALL_CONTROL,
    "/cc.ticketing.v1.TicketingService/ReturnTicket": _CALL_CONTROL,
    # A survey bot (an integration) records the customer's answer, or a supervisor one taken by phone;
    # never the agent whose work is rated.
    "/cc.ticketing.v1.TicketingService/RateTicket": _STAFFING,
    "/cc.ticketing.v1.TicketingService/LinkTickets": _CALL_CONTROL,
    "/cc.ticketing.v1.TicketingService/UnlinkTickets": _CALL_CONTROL,
    "/cc.ticketing.v1.TicketingService/MergeTicket": _CALL_CONTROL,
    # Agents take a caller's details down during the call.
    "/cc.ticketing.v1.TicketingService/RegisterCustomer": _CALL_CONTROL,
    "/cc.ticketing.v1.TicketingService/ChangeCustomer": _CALL_CONTROL,
    # The floor's reply templates and automatic messages: supervisors and admins keep them.
    "/cc.ticketing.v1.TicketingService/DefineReplyTemplate": _STAFFING,
    "/cc.ticketing.v1.TicketingService/RemoveReplyTemplate": _STAFFING,
    # Teams and the rule that gives them tickets: the floor's managers.
    "/cc.ticketing.v1.TicketingService/DefineTicketGroup": _STAFFING,
    "/cc.analytics.v1.AnalyticsService/ExportEvents": _EXPORTS,
    "/cc.analytics.v1.AnalyticsService/ExportTickets": _EXPORTS,
    "/cc.analytics.v1.AnalyticsService/ExportCallStatistics": _EXPORTS,
    "/cc.analytics.v1.AnalyticsService/ExportTicketStatistics": _EXPORTS,
    "/cc.gateway.v1.ApiKeyService/CreateApiKey": _ADMIN,
    "/cc.gateway.v1.ApiKeyService/ListApiKeys": _ADMIN,
    "/cc.gateway.v1.ApiKeyService/RevokeApiKey": _ADMIN,
}


# Requests that may name an agent under another field, where naming nobody is fine: an agent's key may
# create a ticket for itself or for nobody, never for another agent. (Escalating names an agent of the
# next tier on purpose: tier 1 hands the ticket over.)
_NAMES_AN_AGENT = {"/cc.ticketing.v1.TicketingService/CreateTicket": "assignee_agent_id"}


def authorize(credential: Credential, method: str, request: Message) -> None:
    """Refuse what the credential's role may not do; an agent acts only as itself."""
    allowed = RESTRICTED.get(method)
    if allowed is None:
        return
    if credential.role not in allowed:
        raise PermissionDenied(
            "role-not-permitted", f"the {credential.role} role may not call {method.rsplit('/', 1)[-1]}"
        )
    if credential.role != Role.AGENT:
        return
    optional = _NAMES_AN_AGENT.get(method)
    if optional is not None:
        named = getattr(request, optional)
        if named and named != credential.agent_id:
            raise PermissionDenied(
                "not-your-agent", f"an agent's key gives tickets only to {credential.agent_id}"
            )
    elif "agent_id" in request.DESCRIPTOR.fields_by_name:
        named = getattr(request, "agent_id")  # noqa: B009 (a field some requests have)
        if named != credential.agent_id:
            raise PermissionDenied("not-your-agent", f"an agent's key acts only as {credential.agent_id}")
