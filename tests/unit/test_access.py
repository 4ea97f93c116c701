"""Who may do what (issue 6, API-2): each role on each write, an agent acting only as itself, the
actor each credential puts on events, and development keys as `key:tenant[:role[:agent_id]]`."""

import pytest
from cc.analytics.v1 import analytics_pb2
from cc.common.v1 import types_pb2
from cc.gateway.v1 import keys_pb2
from cc.routing.v1 import routing_pb2
from cc.telephony.v1 import telephony_pb2
from cc.ticketing.v1 import ticketing_pb2
from google.protobuf.message import Message

from services.common.access import RESTRICTED, Credential, Role, authorize, parse_api_keys
from services.common.errors import PermissionDenied

KIM = Credential("acme", Role.AGENT, "agent:kim", "kim")
CALLS = "/cc.telephony.v1.TelephonyService"
AGENTS = "/cc.routing.v1.RoutingService"
TICKETS = "/cc.ticketing.v1.TicketingService"
KEYS = "/cc.gateway.v1.ApiKeyService"
ANALYTICS = "/cc.analytics.v1.AnalyticsService"
REQUESTS: dict[str, Message] = {
    f"{CALLS}/OfferCall": telephony_pb2.OfferCallRequest(ani="1", dnis="2"),
    f"{CALLS}/SendDigits": telephony_pb2.SendDigitsRequest(call_id="c", digits="1"),
    f"{CALLS}/LeaveVoicemail": telephony_pb2.LeaveVoicemailRequest(call_id="c"),
    f"{CALLS}/AnswerCall": telephony_pb2.AnswerCallRequest(call_id="c", agent_id="kim"),
    f"{CALLS}/HangUpCall": telephony_pb2.HangUpCallRequest(call_id="c"),
    f"{CALLS}/HoldCall": telephony_pb2.CallControlRequest(call_id="c", agent_id="kim"),
    f"{CALLS}/ResumeCall": telephony_pb2.CallControlRequest(call_id="c", agent_id="kim"),
    f"{CALLS}/RejectCall": telephony_pb2.CallControlRequest(call_id="c", agent_id="kim"),
    f"{CALLS}/PauseRecording": telephony_pb2.CallControlRequest(call_id="c", agent_id="kim"),
    f"{CALLS}/ResumeRecording": telephony_pb2.CallControlRequest(call_id="c", agent_id="kim"),
    f"{CALLS}/TransferCall": telephony_pb2.TransferCallRequest(call_id="c", agent_id="kim", to="lee"),
    f"{CALLS}/ConsultCall": telephony_pb2.ConsultCallRequest(
        call_id="c", agent_id="kim", number="+8225550100"
    ),
    f"{CALLS}/FinishConsult": telephony_pb2.FinishConsultRequest(call_id="c", agent_id="kim"),
    f"{CALLS}/RequestCallback": telephony_pb2.RequestCallbackRequest(call_id="c"),
    f"{CALLS}/ReportCallbackOutcome": telephony_pb2.ReportCallbackOutcomeRequest(call_id="c"),
    f"{CALLS}/PlaceOutboundCall": telephony_pb2.PlaceOutboundCallRequest(agent_id="kim"),
    f"{CALLS}/CancelCallback": telephony_pb2.CancelCallbackRequest(call_id="c"),
    f"{CALLS}/DefineLine": telephony_pb2.DefineLineRequest(line_id="sales"),
    f"{CALLS}/PublishFlow": telephony_pb2.PublishFlowRequest(line_id="sales"),
    f"{CALLS}/PutCallerListEntry": telephony_pb2.PutCallerListEntryRequest(number="0101234"),
    f"{CALLS}/RemoveCallerListEntry": telephony_pb2.RemoveCallerListEntryRequest(number="0101234"),
    f"{CALLS}/DefineCampaign": telephony_pb2.DefineCampaignRequest(request_id="r"),
    f"{CALLS}/SetCampaignStatus": telephony_pb2.SetCampaignStatusRequest(campaign_id="c"),
    f"{AGENTS}/LogInAgent": routing_pb2.LogInAgentRequest(agent_id="kim"),
    f"{AGENTS}/SetAgentState": routing_pb2.SetAgentStateRequest(agent_id="kim"),
    f"{AGENTS}/LogOutAgent": routing_pb2.LogOutAgentRequest(agent_id="kim"),
    f"{AGENTS}/SendHeartbeat": routing_pb2.SendHeartbeatRequest(agent_id="kim"),
    f"{AGENTS}/ChangeAgentSkills": routing_pb2.ChangeAgentSkillsRequest(agent_id="kim"),
    f"{AGENTS}/DefineAgentProfile": routing_pb2.DefineAgentProfileRequest(agent_id="kim"),
    f"{AGENTS}/CreateQueue": routing_pb2.CreateQueueRequest(queue_id="q"),
    f"{AGENTS}/ChangeQueueRules": routing_pb2.ChangeQueueRulesRequest(queue_id="q"),
    f"{AGENTS}/OfferContact": routing_pb2.OfferContactRequest(queue_id="q"),
    f"{AGENTS}/AcceptContact": routing_pb2.AcceptContactRequest(contact_id="c", agent_id="kim"),
    f"{AGENTS}/DeclineContact": routing_pb2.DeclineContactRequest(contact_id="c", agent_id="kim"),
    f"{AGENTS}/CloseContact": routing_pb2.CloseContactRequest(contact_id="c"),
    f"{TICKETS}/TransitionTicket": ticketing_pb2.TransitionTicketRequest(ticket_id="t"),
    f"{TICKETS}/AddTicketNote": ticketing_pb2.AddTicketNoteRequest(ticket_id="t"),
    f"{TICKETS}/CreateTicket": ticketing_pb2.CreateTicketRequest(subject="s"),
    f"{TICKETS}/EditTicket": ticketing_pb2.EditTicketRequest(ticket_id="t"),
    f"{TICKETS}/AssignTicket": ticketing_pb2.AssignTicketRequest(ticket_id="t", agent_id="kim"),
    f"{TICKETS}/AddTicketReply": ticketing_pb2.AddTicketReplyRequest(ticket_id="t"),
    f"{TICKETS}/EscalateTicket": ticketing_pb2.EscalateTicketRequest(ticket_id="t"),
    f"{TICKETS}/ReturnTicket": ticketing_pb2.ReturnTicketRequest(ticket_id="t"),
    f"{TICKETS}/RateTicket": ticketing_pb2.RateTicketRequest(ticket_id="t", survey_token="s", score=5),
    f"{TICKETS}/LinkTickets": ticketing_pb2.LinkTicketsRequest(ticket_id="t", other_ticket_id="u"),
    f"{TICKETS}/UnlinkTickets": ticketing_pb2.LinkTicketsRequest(ticket_id="t", other_ticket_id="u"),
    f"{TICKETS}/MergeTicket": ticketing_pb2.MergeTicketRequest(ticket_id="t", into_ticket_id="u"),
    f"{TICKETS}/RegisterCustomer": ticketing_pb2.RegisterCustomerRequest(name="Kim"),
    f"{TICKETS}/ChangeCustomer": ticketing_pb2.ChangeCustomerRequest(customer_id="cu", vip=True),
    f"{TICKETS}/DefineReplyTemplate": ticketing_pb2.DefineReplyTemplateRequest(template_id="thanks"),
    f"{TICKETS}/RemoveReplyTemplate": ticketing_pb2.RemoveReplyTemplateRequest(template_id="thanks"),
    f"{TICKETS}/DefineTicketGroup": ticketing_pb2.DefineTicketGroupRequest(group_id="billing"),
    f"{ANALYTICS}/ExportEvents": analytics_pb2.ExportEventsRequest(),
    f"{ANALYTICS}/ExportTickets": analytics_pb2.ExportTicketsRequest(),
    f"{ANALYTICS}/ExportCallStatistics": analytics_pb2.ExportCallStatisticsRequest(),
    f"{ANALYTICS}/ExportTicketStatistics": analytics_pb2.ExportTicketStatisticsRequest(),
    f"{KEYS}/CreateApiKey": keys_pb2.CreateApiKeyRequest(user="kim"),
    f"{KEYS}/ListApiKeys": keys_pb2.ListApiKeysRequest(),
    f"{KEYS}/RevokeApiKey": keys_pb2.RevokeApiKeyRequest(key_id="k"),
}
ADAPTER_ONLY = {
    f"{CALLS}/OfferCall",
    f"{CALLS}/SendDigits",
    f"{CALLS}/LeaveVoicemail",
    f"{CALLS}/RequestCallback",
    f"{CALLS}/ReportCallbackOutcome",
    f"{AGENTS}/OfferContact",
}
ADMIN_ONLY = {
    f"{KEYS}/CreateApiKey",
    f"{KEYS}/ListApiKeys",
    f"{KEYS}/RevokeApiKey",
    f"{AGENTS}/CreateQueue",
    f"{AGENTS}/ChangeQueueRules",
    f"{AGENTS}/DefineAgentProfile",
    f"{CALLS}/DefineLine",
    f"{CALLS}/PublishFlow",
}
# Supervisors, admins and integrations: who works when, which callers get through, callbacks owed, and
# the replies the floor sends.
STAFFING = {
    f"{AGENTS}/ChangeAgentSkills",
    f"{CALLS}/PutCallerListEntry",
    f"{CALLS}/RemoveCallerListEntry",
    f"{CALLS}/CancelCallback",
    f"{CALLS}/DefineCampaign",
    f"{CALLS}/SetCampaignStatus",
    f"{TICKETS}/DefineReplyTemplate",
    f"{TICKETS}/RemoveReplyTemplate",
    f"{TICKETS}/RateTicket",
    f"{TICKETS}/DefineTicketGroup",
}
# Bulk reads: admins, supervisors and analysts.
EXPORTS = {method for method in REQUESTS if method.startswith(f"{ANALYTICS}/Export")}
# Each role and the restricted methods it may call (every role may read the rest).
MAY_WRITE = {
    Role.ADMIN: set(REQUESTS),
    Role.INTEGRATION: set(REQUESTS) - ADMIN_ONLY - EXPORTS,
    Role.SUPERVISOR: set(REQUESTS) - ADAPTER_ONLY - ADMIN_ONLY,
    Role.AGENT: set(REQUESTS) - ADAPTER_ONLY - ADMIN_ONLY - STAFFING - EXPORTS,
    Role.ANALYST: EXPORTS,
}


def test_every_write_of_every_service_and_every_key_method_has_its_roles() -> None:
    writes = {
        f"/{service.full_name}/{method.name}"
        for module in (telephony_pb2, routing_pb2, ticketing_pb2, analytics_pb2, keys_pb2)
        for service in module.DESCRIPTOR.services_by_name.values()
        for method in service.methods
        if not method.name.startswith(("Get", "List"))
    }
    assert writes | {f"{KEYS}/ListApiKeys"} == set(RESTRICTED) == set(REQUESTS)


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("method", sorted(REQUESTS))
def test_each_role_on_each_write(role: Role, method: str) -> None:
    credential = KIM if role == Role.AGENT else Credential("acme", role, f"{role}-key")
    if method in MAY_WRITE[role]:
        authorize(credential, method, REQUESTS[method])
    else:
        with pytest.raises(PermissionDenied) as refused:
            authorize(credential, method, REQUESTS[method])
        assert refused.value.error_id == "role-not-permitted" and refused.value.http_status == 403


def test_reads_are_open_to_every_role() -> None:
    for role in Role:
        anyone = Credential("acme", role, "x", "kim")
        authorize(anyone, f"{CALLS}/GetCall", telephony_pb2.GetCallRequest(call_id="c"))


@pytest.mark.parametrize(
    ("method", "request_"),
    [
        ("/cc.telephony.v1.TelephonyService/AnswerCall", telephony_pb2.AnswerCallRequest(agent_id="lee")),
        ("/cc.routing.v1.RoutingService/SetAgentState", routing_pb2.SetAgentStateRequest(agent_id="lee")),
        ("/cc.routing.v1.RoutingService/LogInAgent", routing_pb2.LogInAgentRequest(agent_id="lee")),
        ("/cc.routing.v1.RoutingService/LogOutAgent", routing_pb2.LogOutAgentRequest(agent_id="lee")),
        (f"{TICKETS}/AssignTicket", ticketing_pb2.AssignTicketRequest(ticket_id="t", agent_id="lee")),
    ],
)
def test_an_agent_acts_only_as_itself_and_a_supervisor_for_anyone(method: str, request_: Message) -> None:
    with pytest.raises(PermissionDenied) as refused:
        authorize(KIM, method, request_)
    assert refused.value.error_id == "not-your-agent"
    authorize(Credential("acme", Role.SUPERVISOR, "supervisor-key"), method, request_)


def test_an_agent_creates_tickets_for_itself_or_for_nobody_never_for_another() -> None:
    method = f"{TICKETS}/CreateTicket"
    authorize(KIM, method, ticketing_pb2.CreateTicketRequest(subject="s", assignee_agent_id="kim"))
    authorize(KIM, method, ticketing_pb2.CreateTicketRequest(subject="s"))
    with pytest.raises(PermissionDenied) as refused:
        authorize(KIM, method, ticketing_pb2.CreateTicketRequest(subject="s", assignee_agent_id="lee"))
    assert refused.value.error_id == "not-your-agent"
    authorize(
        Credential("acme", Role.SUPERVISOR, "s"),
        method,
        ticketing_pb2.CreateTicketRequest(assignee_agent_id="lee"),
    )


def test_each_credential_puts_its_person_or_integration_on_events() -> None:
    keys = parse_api_keys("a:acme,s:acme:supervisor,k:acme:agent:kim,i:acme:integration")
    assert keys["a"].actor() == types_pb2.Actor(type=types_pb2.ACTOR_TYPE_USER, id=keys["a"].name)
    assert keys["a"].role == Role.ADMIN  # no role given: admin, as the development keys always were
    assert keys["s"].actor().type == types_pb2.ACTOR_TYPE_USER
    assert keys["k"].actor() == types_pb2.Actor(type=types_pb2.ACTOR_TYPE_AGENT, id="kim")
    assert keys["i"].actor().type == types_pb2.ACTOR_TYPE_INTEGRATION
    assert all(c.name != "a" and c.name != "k" for c in keys.values())  # never the key itself


@pytest.mark.parametrize("keys", ["k:acme:agent", "k:acme:owner", "k", ":acme"])
def test_a_key_the_platform_cannot_understand_stops_it_at_start(keys: str) -> None:
    with pytest.raises(ValueError):
        parse_api_keys(keys)
