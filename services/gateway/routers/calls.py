"""Calls: an adapter offers inbound calls and relays the caller's digits; agents answer; either hangs up."""

from typing import Literal

import grpc
from cc.routing.v1 import events_pb2 as routing_events
from cc.routing.v1 import routing_pb2
from cc.telephony.v1 import events_pb2, telephony_pb2
from fastapi import APIRouter

from services.common.command_bus import created_id
from services.common.errors import FieldViolation, IllegalTransition, InvalidArgument
from services.gateway.clients import ServiceClients
from services.gateway.deps import AuthenticatedCaller, Caller, Clients, IdempotencyKey
from services.gateway.errors import ERROR_RESPONSES
from services.gateway.models import (
    AnswerBody,
    Call,
    CallbackBody,
    CallbackOutcomeBody,
    ConsultBody,
    DigitsBody,
    HangUpBody,
    OfferCallBody,
    OutboundCallBody,
    PathId,
    TransferBody,
    VoicemailBody,
    given_timestamp,
)

router = APIRouter(prefix="/v1/calls", tags=["calls"], responses=ERROR_RESPONSES)
PARTIES = {"caller": events_pb2.PARTY_CALLER, "agent": events_pb2.PARTY_AGENT}
CALLBACK_OUTCOMES = {
    "connected": events_pb2.CALLBACK_OUTCOME_CONNECTED,
    "no-answer": events_pb2.CALLBACK_OUTCOME_NO_ANSWER,
    "busy": events_pb2.CALLBACK_OUTCOME_BUSY,
    "failed": events_pb2.CALLBACK_OUTCOME_FAILED,
    "ringing": events_pb2.CALLBACK_OUTCOME_RINGING,
}
CONSULT_ACTIONS = {
    "cancel": events_pb2.CONSULT_ACTION_CANCEL,
    "conference": events_pb2.CONSULT_ACTION_CONFERENCE,
    "transfer": events_pb2.CONSULT_ACTION_TRANSFER,
    "party-left": events_pb2.CONSULT_ACTION_PARTY_LEFT,
}
TRANSFER_TARGETS = {
    "queue": events_pb2.TRANSFER_TARGET_QUEUE,
    "agent": events_pb2.TRANSFER_TARGET_AGENT,
    "number": events_pb2.TRANSFER_TARGET_NUMBER,
}


@router.post("", status_code=201, summary="Offer an inbound call (ANI calls DNIS); it enters the IVR")
async def offer_call(
    body: OfferCallBody, who: AuthenticatedCaller, services: Clients, idempotency_key: IdempotencyKey = ""
) -> Call:
    request = telephony_pb2.OfferCallRequest(
        ani=body.ani,
        dnis=body.dnis,
        customer_id=body.customer_id,
        request_id=idempotency_key,
        priority=body.priority,
        carrier_ref=body.carrier_ref,
    )
    return Call.of(await services.telephony.OfferCall(request, metadata=who.metadata))


@router.post(
    "/outbound",
    status_code=201,
    summary="An agent calls a customer (preview dialling), showing one of a line's numbers",
)
async def place_outbound_call(
    body: OutboundCallBody, who: AuthenticatedCaller, services: Clients, idempotency_key: IdempotencyKey = ""
) -> Call:
    """The agent must be logged in and free (not on a contact or in wrap-up): 409 `agent-busy`,
    `agent-logged-out`. The carrier reports the leg's outcome at `/v1/calls/{call_id}/callback-outcome`.
    A retry with the same Idempotency-Key returns the call it placed, however busy its agent is now."""
    if idempotency_key:
        placed = created_id("call", who.tenant_id, idempotency_key)
        try:
            asked = telephony_pb2.GetCallRequest(call_id=placed)
            return Call.of(await services.telephony.GetCall(asked, metadata=who.metadata))
        except grpc.aio.AioRpcError as error:
            if error.code() != grpc.StatusCode.NOT_FOUND:
                raise  # else not placed yet: place it
    await _free(services, who, body.agent_id)
    request = telephony_pb2.PlaceOutboundCallRequest(
        agent_id=body.agent_id,
        number=body.number,
        line_id=body.line_id,
        caller_id=body.caller_id,
        request_id=idempotency_key,
    )
    return Call.of(await services.telephony.PlaceOutboundCall(request, metadata=who.metadata))


async def _free(services: Clients, who: AuthenticatedCaller, agent_id: str) -> None:
    """The agent must be logged in and on no contact (ready or not ready): checked here, from routing's
    read model, since telephony does not follow agents' states."""
    agent = await services.routing.GetAgent(
        routing_pb2.GetAgentRequest(agent_id=agent_id), metadata=who.metadata
    )
    if agent.state == routing_events.AGENT_STATE_LOGGED_OUT:
        raise IllegalTransition("agent-logged-out", f"agent {agent_id} is logged out")
    if agent.state in (routing_events.AGENT_STATE_ON_CONTACT, routing_events.AGENT_STATE_WRAP_UP):
        raise IllegalTransition("agent-busy", f"agent {agent_id} is on a contact or in wrap-up")


@router.post("/{call_id}/digits", summary="The caller pressed keys in the IVR")
async def send_digits(
    call_id: PathId,
    body: DigitsBody,
    who: AuthenticatedCaller,
    services: Clients,
    idempotency_key: IdempotencyKey = "",
) -> Call:
    request = telephony_pb2.SendDigitsRequest(
        call_id=call_id,
        digits=body.digits,
        request_id=idempotency_key,
        expected_version=body.expected_version,
    )
    return Call.of(await services.telephony.SendDigits(request, metadata=who.metadata))


@router.post(
    "/{call_id}/voicemail", summary="The carrier recorded the caller's voicemail; the call ends as a ticket"
)
async def leave_voicemail(
    call_id: PathId,
    body: VoicemailBody,
    who: AuthenticatedCaller,
    services: Clients,
    idempotency_key: IdempotencyKey = "",
) -> Call:
    request = telephony_pb2.LeaveVoicemailRequest(
        call_id=call_id,
        recording_ref=body.recording_ref,
        duration_seconds=body.duration_seconds,
        request_id=idempotency_key,
        expected_version=body.expected_version,
    )
    return Call.of(await services.telephony.LeaveVoicemail(request, metadata=who.metadata))


async def _control(
    rpc: str, call_id: str, body: AnswerBody, who: Caller, services: ServiceClients, idempotency_key: str
) -> Call:
    """One call-control RPC (TEL-1, TEL-7) for the agent the body names."""
    request = telephony_pb2.CallControlRequest(
        call_id=call_id,
        agent_id=body.agent_id,
        request_id=idempotency_key,
        expected_version=body.expected_version,
    )
    return Call.of(await getattr(services.telephony, rpc)(request, metadata=who.metadata))


def _control_route(path: str, rpc: str, summary: str) -> None:
    """`POST /v1/calls/{call_id}/<path>` `{agent_id}`: the call-control RPC `rpc` for that agent."""

    async def control(
        call_id: PathId,
        body: AnswerBody,
        who: AuthenticatedCaller,
        services: Clients,
        idempotency_key: IdempotencyKey = "",
    ) -> Call:
        return await _control(rpc, call_id, body, who, services, idempotency_key)

    control.__name__ = path.replace("/", "_")  # each route's own OpenAPI operation id
    router.post(f"/{{call_id}}/{path}", summary=summary)(control)


for _path, _rpc, _summary in (
    ("hold", "HoldCall", "The connected agent puts the caller on hold"),
    ("resume", "ResumeCall", "The agent takes the caller off hold"),
    ("recording/pause", "PauseRecording", "The agent on the call pauses its recording"),
    ("recording/resume", "ResumeRecording", "The agent on the call resumes its recording"),
    ("reject", "RejectCall", "The agent whose phone rings rejects the call (back to its queue)"),
):
    _control_route(_path, _rpc, _summary)


@router.post(
    "/{call_id}/transfer",
    summary="The agent on the call transfers it, blind, to a queue, an agent or a number",
)
async def transfer(
    call_id: PathId,
    body: TransferBody,
    who: AuthenticatedCaller,
    services: Clients,
    idempotency_key: IdempotencyKey = "",
) -> Call:
    request = telephony_pb2.TransferCallRequest(
        call_id=call_id,
        agent_id=body.agent_id,
        target=TRANSFER_TARGETS[body.target],
        to=body.to,
        request_id=idempotency_key,
        expected_version=body.expected_version,
    )
    return Call.of(await services.telephony.TransferCall(request, metadata=who.metadata))


@router.post(
    "/{call_id}/consult",
    summary="The agent on the call consults an outside number or another agent, the caller on hold",
)
async def consult(
    call_id: PathId,
    body: ConsultBody,
    who: AuthenticatedCaller,
    services: Clients,
    idempotency_key: IdempotencyKey = "",
) -> Call:
    """A consulted agent must be logged in and free (409 `agent-logged-out`, `agent-busy`); it is on the
    call until the consultation ends (and wraps up then) or takes the call over (a consult transfer).
    With `queue_id`, the agent routing would give the queue's next contact is consulted (409
    `no-agent-free`). A request with an Idempotency-Key skips the check (routing's join decides), so
    that its retry is answered with the consultation it began, busy as its agent is now."""
    consulted, begun = body.consulted_agent_id, await _begun(services, who, call_id, idempotency_key)
    if body.queue_id:
        if body.number or consulted:
            raise InvalidArgument(
                "invalid-argument",
                "a consultation is with a number, an agent or a queue",
                [FieldViolation("queue_id", "empty when number or consulted_agent_id is given")],
            )
        consulted = begun or await _free_in_queue(services, who, body.queue_id, body.agent_id)
    elif consulted and not idempotency_key:
        # a fast 409; routing decides in the end (a retry is answered by telephony from its first outcome)
        await _free(services, who, consulted)
    request = telephony_pb2.ConsultCallRequest(
        call_id=call_id,
        agent_id=body.agent_id,
        number=body.number,
        consulted_agent_id=consulted,
        request_id=idempotency_key,
        expected_version=body.expected_version,
    )
    return Call.of(await services.telephony.ConsultCall(request, metadata=who.metadata))


async def _begun(services: Clients, who: AuthenticatedCaller, call_id: str, idempotency_key: str) -> str:
    """The agent of the consultation in progress, when a request with an Idempotency-Key may have begun
    it: its retry is answered with that consultation."""
    if not idempotency_key:
        return ""
    asked = telephony_pb2.GetCallRequest(call_id=call_id)
    return (await services.telephony.GetCall(asked, metadata=who.metadata)).consult.agent_id


async def _free_in_queue(services: Clients, who: AuthenticatedCaller, queue_id: str, consulting: str) -> str:
    """The agent routing would give the queue's next contact, other than the one consulting."""
    asked = routing_pb2.ListCandidatesRequest(queue_id=queue_id)
    listed = await services.routing.ListCandidates(asked, metadata=who.metadata)
    free = [c.agent_id for c in listed.candidates if c.eligible and c.agent_id != consulting]
    if not free:
        raise IllegalTransition("no-agent-free", f"no agent of queue {queue_id} is free to consult")
    return free[0]


@router.post(
    "/{call_id}/consult/{action}",
    summary="The agent ends the consultation: cancel it, make it a conference, transfer the call to the "
    "party, or report that the party left",
)
async def finish_consult(
    call_id: PathId,
    action: Literal["cancel", "conference", "transfer", "party-left"],
    body: AnswerBody,
    who: AuthenticatedCaller,
    services: Clients,
    idempotency_key: IdempotencyKey = "",
) -> Call:
    request = telephony_pb2.FinishConsultRequest(
        call_id=call_id,
        agent_id=body.agent_id,
        action=CONSULT_ACTIONS[action],
        request_id=idempotency_key,
        expected_version=body.expected_version,
    )
    return Call.of(await services.telephony.FinishConsult(request, metadata=who.metadata))


@router.post(
    "/{call_id}/callback",
    summary="The caller waiting in a queue accepts a callback: keeping their place, or for a time slot",
)
async def request_callback(
    call_id: PathId,
    body: CallbackBody,
    who: AuthenticatedCaller,
    services: Clients,
    idempotency_key: IdempotencyKey = "",
) -> Call:
    request = telephony_pb2.RequestCallbackRequest(
        call_id=call_id,
        number=body.number or "",
        request_id=idempotency_key,
        expected_version=body.expected_version,
    )
    if body.at is not None:
        request.at.CopyFrom(given_timestamp(body.at, "at"))
    return Call.of(await services.telephony.RequestCallback(request, metadata=who.metadata))


@router.delete(
    "/{call_id}/callback", summary="Cancel a callback not yet connected (supervisors, admins, integrations)"
)
async def cancel_callback(
    call_id: PathId, who: AuthenticatedCaller, services: Clients, idempotency_key: IdempotencyKey = ""
) -> Call:
    request = telephony_pb2.CancelCallbackRequest(call_id=call_id, request_id=idempotency_key)
    return Call.of(await services.telephony.CancelCallback(request, metadata=who.metadata))


@router.post(
    "/{call_id}/callback-outcome",
    summary="The carrier reports what became of the call's outbound leg: a callback's or an outbound call's",
)
async def report_callback_outcome(
    call_id: PathId,
    body: CallbackOutcomeBody,
    who: AuthenticatedCaller,
    services: Clients,
    idempotency_key: IdempotencyKey = "",
) -> Call:
    request = telephony_pb2.ReportCallbackOutcomeRequest(
        call_id=call_id,
        outcome=CALLBACK_OUTCOMES[body.outcome],
        carrier_ref=body.carrier_ref,
        request_id=idempotency_key,
        expected_version=body.expected_version,
    )
    return Call.of(await services.telephony.ReportCallbackOutcome(request, metadata=who.metadata))


@router.post("/{call_id}/answer", summary="The ringing agent answers")
async def answer_call(
    call_id: PathId,
    body: AnswerBody,
    who: AuthenticatedCaller,
    services: Clients,
    idempotency_key: IdempotencyKey = "",
) -> Call:
    request = telephony_pb2.AnswerCallRequest(
        call_id=call_id,
        agent_id=body.agent_id,
        request_id=idempotency_key,
        expected_version=body.expected_version,
    )
    return Call.of(await services.telephony.AnswerCall(request, metadata=who.metadata))


@router.post("/{call_id}/hangup", summary="The caller or the agent hangs up")
async def hang_up(
    call_id: PathId,
    body: HangUpBody,
    who: AuthenticatedCaller,
    services: Clients,
    idempotency_key: IdempotencyKey = "",
) -> Call:
    request = telephony_pb2.HangUpCallRequest(
        call_id=call_id,
        party=PARTIES[body.party],
        request_id=idempotency_key,
        expected_version=body.expected_version,
    )
    return Call.of(await services.telephony.HangUpCall(request, metadata=who.metadata))


@router.get("/{call_id}", summary="A call as it is now")
async def get_call(call_id: PathId, who: AuthenticatedCaller, services: Clients) -> Call:
    return Call.of(
        await services.telephony.GetCall(telephony_pb2.GetCallRequest(call_id=call_id), metadata=who.metadata)
    )
