"""Twilio's voice webhooks (TEL-10): a real phone number drives the platform.

Every request is checked with the `twilio` library's RequestValidator against its account's token
(403 otherwise) and asks for no API key. Each answers TwiML for what the call does next (`twiml.py`):

| route      | Twilio calls it                            | the platform                                  |
|------------|--------------------------------------------|-----------------------------------------------|
| `voice`    | when the number is called; with `call_id`, | OfferCall (From, To, the CallSid as its      |
|            | when the dialer moved the call             | request id); or the call as it is now         |
| `digits`   | a `<Gather>` ended (no `Digits`: timeout)  | SendDigits                                    |
| `recording`| a voicemail `<Record>` ended               | LeaveVoicemail (its RecordingUrl)             |
| `answered` | the agent picked up the `<Dial>`ed leg     | AnswerCall; `<Hangup>` drops the leg if late  |
| `dialed`   | the `<Dial>` ended                         | RejectCall (no answer, busy), else HangUpCall |
| `status`   | the number's status callback               | HangUpCall by the caller once Twilio ends it  |
| `connected`| the customer answered an outbound leg the  | ReportCallbackOutcome connected (the leg's    |
|            | dialer placed (`attempt` names which)      | CallSid kept); `<Dial>` the agent             |
| `leg`      | that leg's status callback                 | not answered: its outcome (no-answer, busy,   |
|            |                                            | failed); completed: HangUpCall by the caller  |
|            |                                            | (each only while that leg is the call's)      |

Twilio may send a webhook again; each command carries a request id made from Twilio's own ids (and the
call's version for digits), so a repeat gets the first outcome. A command the call has moved past
(409, 404) is not an error here: the answer is the call as it is now."""

import logging
from collections.abc import Awaitable
from typing import Annotated
from urllib.parse import parse_qsl

import grpc
from cc.routing.v1 import routing_pb2
from cc.telephony.v1 import events_pb2, telephony_pb2
from fastapi import APIRouter, Header, Query, Request, Response

from services.common import telemetry
from services.common.command_bus import created_id
from services.common.grpc_server import API_KEY_HEADER
from services.common.settings import PlatformSettings
from services.gateway.clients import ServiceClients
from services.gateway.twilio import twiml
from services.gateway.twilio.accounts import TwilioAccount, TwilioAccounts
from services.gateway.twilio.dialer import dialing_leg
from services.gateway.twilio.flows import FlowCache

log = logging.getLogger(__name__)
router = APIRouter(prefix=twiml.PREFIX, tags=["twilio adapter"], include_in_schema=False)
Metadata = tuple[tuple[str, str], ...]
# A call the command came too late for: answer with the call as it is.
_MOVED_ON = (grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.ABORTED, grpc.StatusCode.NOT_FOUND)
_ENDED = {"completed", "busy", "failed", "no-answer", "canceled"}
CallId = Annotated[str, Query(min_length=1, max_length=200)]
AgentId = Annotated[str, Query(min_length=1, max_length=200)]
Signature = Annotated[str, Header(alias="X-Twilio-Signature")]


class Webhook:
    """One verified webhook: its account, its form, and the services as that account's tenant."""

    def __init__(self, request: Request, account: TwilioAccount, form: dict[str, str]) -> None:
        self.account = account
        self.form = form
        state = request.app.state
        self.services: ServiceClients = state.clients
        self.settings: PlatformSettings = state.settings
        self.flows: FlowCache = state.twilio_flows
        self.metadata: Metadata = ((API_KEY_HEADER, account.api_key), *telemetry.inject_metadata())

    async def acted(self, rpc: Awaitable[telephony_pb2.Call], call_id: str) -> telephony_pb2.Call:
        """The call after the command, or as it is when the call has moved past it."""
        call = await moved_on_or(rpc, call_id)
        if call is not None:
            return call
        request = telephony_pb2.GetCallRequest(call_id=call_id)
        return await self.services.telephony.GetCall(request, metadata=self.metadata)

    async def answer(self, call: telephony_pb2.Call) -> Response:
        node = None
        if call.status == telephony_pb2.CALL_STATUS_IN_IVR:
            telephony, tenant = self.services.telephony, self.account.tenant_id
            node = await self.flows.node(telephony, self.metadata, tenant, call)
        endpoint = ""
        if call.status == telephony_pb2.CALL_STATUS_RINGING:
            request = routing_pb2.GetAgentRequest(agent_id=call.agent_id)
            agent = await self.services.routing.GetAgent(request, metadata=self.metadata)
            endpoint = agent.profile.endpoint
        urls = twiml.Urls(self.settings.cc_twilio_public_url.rstrip("/"))
        text = twiml.render(call, node, endpoint, urls, self.settings.cc_twilio_language)
        return twiml_response(text)


async def moved_on_or(rpc: Awaitable[telephony_pb2.Call], call_id: str) -> telephony_pb2.Call | None:
    """The command's answer, or None when the call has moved past it (409, 404): not an error here."""
    try:
        return await rpc
    except grpc.aio.AioRpcError as error:
        if error.code() not in _MOVED_ON:
            raise
        log.info("twilio: call %s moved past the webhook (%s)", call_id, error.details())
        return None


def twiml_response(text: str) -> Response:
    return Response(content=text, media_type="application/xml")


async def webhook(request: Request, signature: str) -> Webhook:
    """The request, verified: the URL Twilio signed is the public base plus the path and query."""
    accounts: TwilioAccounts = request.app.state.twilio_accounts
    settings: PlatformSettings = request.app.state.settings
    form = dict(parse_qsl((await request.body()).decode(), keep_blank_values=True))
    query = f"?{request.url.query}" if request.url.query else ""
    url = f"{settings.cc_twilio_public_url.rstrip('/')}{request.url.path}{query}"
    return Webhook(request, accounts.verified(url, form, signature), form)


@router.post("/voice")
async def voice(request: Request, signature: Signature = "", call_id: str = "", version: int = 0) -> Response:
    hook = await webhook(request, signature)
    telephony = hook.services.telephony
    if call_id:  # the dialer moved the call: what it does now, once this gateway has read that far
        found = telephony_pb2.GetCallRequest(call_id=call_id, min_version=version)
        return await hook.answer(await telephony.GetCall(found, metadata=hook.metadata))
    sid = hook.form.get("CallSid", "")
    offer = telephony_pb2.OfferCallRequest(
        ani=hook.form.get("From", ""),
        dnis=hook.form.get("To", ""),
        request_id=f"twilio-{sid}",
        carrier_ref=sid,
    )
    return await hook.answer(await telephony.OfferCall(offer, metadata=hook.metadata))


@router.post("/digits")
async def digits(request: Request, call_id: CallId, version: int, signature: Signature = "") -> Response:
    hook = await webhook(request, signature)
    sent = telephony_pb2.SendDigitsRequest(
        call_id=call_id,
        digits=hook.form.get("Digits", ""),  # none: the caller's timeout, a miss
        request_id=f"twilio-digits-{version}",
    )
    rpc = hook.services.telephony.SendDigits(sent, metadata=hook.metadata)
    return await hook.answer(await hook.acted(rpc, call_id))


@router.post("/recording")
async def recording(request: Request, call_id: CallId, signature: Signature = "") -> Response:
    hook = await webhook(request, signature)
    url, seconds = hook.form.get("RecordingUrl", ""), int(hook.form.get("RecordingDuration") or 0)
    if not url or seconds < 1:  # the caller said nothing: no voicemail, the call ends
        return twiml_response(twiml.hang_up())
    left = telephony_pb2.LeaveVoicemailRequest(
        call_id=call_id,
        recording_ref=url,
        duration_seconds=seconds,
        request_id=f"twilio-recording-{hook.form.get('RecordingSid', url)}",
    )
    rpc = hook.services.telephony.LeaveVoicemail(left, metadata=hook.metadata)
    return await hook.answer(await hook.acted(rpc, call_id))


@router.post("/answered")
async def answered(
    request: Request, call_id: CallId, agent_id: AgentId, version: int, signature: Signature = ""
) -> Response:
    """The agent picked up: the call is answered, and an empty answer bridges the two legs. Too late (the
    ring timed out and the call moved on) the agent's leg is hung up instead."""
    hook = await webhook(request, signature)
    answer = telephony_pb2.AnswerCallRequest(
        call_id=call_id, agent_id=agent_id, request_id=f"twilio-answer-{version}"
    )
    call = await hook.acted(hook.services.telephony.AnswerCall(answer, metadata=hook.metadata), call_id)
    taken = call.status == telephony_pb2.CALL_STATUS_CONNECTED and call.agent_id == agent_id
    return twiml_response(twiml.bridge() if taken else twiml.hang_up())


@router.post("/dialed")
async def dialed(
    request: Request, call_id: CallId, agent_id: AgentId, version: int, signature: Signature = ""
) -> Response:
    """The agent's leg of one ring ended. The caller gone, the call ends as theirs; unanswered (no
    answer, busy, failed), the agent passed on it and it is offered again in its place; answered,
    the agent hung up, if the call is still with that agent (a transfer moved it on)."""
    hook = await webhook(request, signature)
    telephony, request_id = hook.services.telephony, f"twilio-dialed-{version}"
    if hook.form.get("CallStatus") in _ENDED:
        gone = telephony_pb2.HangUpCallRequest(
            call_id=call_id, party=events_pb2.PARTY_CALLER, request_id=request_id
        )
        return await hook.answer(
            await hook.acted(telephony.HangUpCall(gone, metadata=hook.metadata), call_id)
        )
    if hook.form.get("DialCallStatus") != "completed":
        reject = telephony_pb2.CallControlRequest(call_id=call_id, agent_id=agent_id, request_id=request_id)
        return await hook.answer(
            await hook.acted(telephony.RejectCall(reject, metadata=hook.metadata), call_id)
        )
    found = telephony_pb2.GetCallRequest(call_id=call_id, min_version=version)
    call = await telephony.GetCall(found, metadata=hook.metadata)
    if call.status != telephony_pb2.CALL_STATUS_CONNECTED or call.agent_id != agent_id:
        return await hook.answer(call)
    hang_up = telephony_pb2.HangUpCallRequest(
        call_id=call_id, party=events_pb2.PARTY_AGENT, request_id=request_id
    )
    return await hook.answer(await hook.acted(telephony.HangUpCall(hang_up, metadata=hook.metadata), call_id))


@router.post("/connected")
async def connected(
    request: Request, call_id: CallId, version: int, attempt: int = 0, signature: Signature = ""
) -> Response:
    """The customer answered the leg of `attempt`: it connected, and the agent on the call is bridged in
    (Twilio asking again gets the same answer). A leg the call has moved past (the agent gave up, a
    later attempt is being dialled) is hung up; an agent without an endpoint cannot be bridged, so the
    attempt failed."""
    hook = await webhook(request, signature)
    telephony, sid = hook.services.telephony, hook.form.get("CallSid", "")
    found = telephony_pb2.GetCallRequest(call_id=call_id, min_version=version)
    call = await telephony.GetCall(found, metadata=hook.metadata)
    dialing = dialing_leg(call, attempt)
    # Twilio asking again after the leg connected: the same answer
    bridged = not dialing and call.status == telephony_pb2.CALL_STATUS_CONNECTED and call.carrier_ref == sid
    if not (dialing or bridged) or not sid:
        return twiml_response(twiml.hang_up())
    agent = routing_pb2.GetAgentRequest(agent_id=call.agent_id)
    endpoint = (await hook.services.routing.GetAgent(agent, metadata=hook.metadata)).profile.endpoint
    if not bridged:
        report = telephony_pb2.ReportCallbackOutcomeRequest(
            call_id=call_id,
            outcome=events_pb2.CALLBACK_OUTCOME_CONNECTED if endpoint else events_pb2.CALLBACK_OUTCOME_FAILED,
            carrier_ref=sid,
            request_id=f"twilio-connected-{sid}",
        )
        call = await hook.acted(telephony.ReportCallbackOutcome(report, metadata=hook.metadata), call_id)
    if call.status != telephony_pb2.CALL_STATUS_CONNECTED or call.carrier_ref != sid or not endpoint:
        return twiml_response(twiml.hang_up())
    urls = twiml.Urls(hook.settings.cc_twilio_public_url.rstrip("/"))
    return twiml_response(twiml.connect_agent(call, endpoint, urls))


# An outbound leg's final status, when the customer never answered: the leg's outcome.
_NOT_ANSWERED = {
    "no-answer": events_pb2.CALLBACK_OUTCOME_NO_ANSWER,
    "canceled": events_pb2.CALLBACK_OUTCOME_NO_ANSWER,
    "busy": events_pb2.CALLBACK_OUTCOME_BUSY,
    "failed": events_pb2.CALLBACK_OUTCOME_FAILED,
}


@router.post("/leg", status_code=204)
async def leg(
    request: Request, call_id: CallId, version: int, attempt: int = 0, signature: Signature = ""
) -> Response:
    """The leg of `attempt` ended: unanswered, that is the attempt's outcome (the call ends, or a
    callback waits for its next attempt); completed, the customer hung up, if that leg is the call's
    (a leg hung up because the call had moved past it ends nothing)."""
    hook = await webhook(request, signature)
    telephony, status, sid = (
        hook.services.telephony,
        hook.form.get("CallStatus", ""),
        hook.form.get("CallSid", ""),
    )
    found = telephony_pb2.GetCallRequest(call_id=call_id, min_version=version)
    call = await telephony.GetCall(found, metadata=hook.metadata)
    outcome = _NOT_ANSWERED.get(status)
    if outcome is not None and dialing_leg(call, attempt):
        report = telephony_pb2.ReportCallbackOutcomeRequest(
            call_id=call_id, outcome=outcome, request_id=f"twilio-leg-{sid}"
        )
        await moved_on_or(telephony.ReportCallbackOutcome(report, metadata=hook.metadata), call_id)
    elif status == "completed" and sid and call.carrier_ref == sid:
        gone = telephony_pb2.HangUpCallRequest(
            call_id=call_id, party=events_pb2.PARTY_CALLER, request_id=f"twilio-leg-{sid}"
        )
        await moved_on_or(telephony.HangUpCall(gone, metadata=hook.metadata), call_id)
    return Response(status_code=204)


@router.post("/status", status_code=204)
async def status(request: Request, signature: Signature = "") -> Response:
    """Twilio ended the call (the caller hung up, or it failed): the call ends, if it has not already."""
    hook = await webhook(request, signature)
    sid = hook.form.get("CallSid", "")
    if hook.form.get("CallStatus") in _ENDED and sid:
        call_id = created_id("call", hook.account.tenant_id, f"twilio-{sid}")
        hang_up = telephony_pb2.HangUpCallRequest(
            call_id=call_id, party=events_pb2.PARTY_CALLER, request_id=f"twilio-status-{sid}"
        )
        await moved_on_or(hook.services.telephony.HangUpCall(hang_up, metadata=hook.metadata), call_id)
    return Response(status_code=204)
