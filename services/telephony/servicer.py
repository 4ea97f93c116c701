"""TelephonyService: translate RPCs to call and line commands, and answer from their read models."""

from datetime import UTC, datetime

import grpc
from cc.common.v1 import types_pb2
from cc.telephony.v1 import commands_pb2, events_pb2, telephony_pb2, telephony_pb2_grpc
from google.protobuf.message import Message

from services.common import numbers
from services.common.access import Role
from services.common.aggregate import Versioned
from services.common.command_bus import CommandBus, command_meta, created_id
from services.common.envelope import timestamp
from services.common.errors import IllegalTransition, NotFound, PermissionDenied, require
from services.common.grpc_server import current_credential, current_tenant
from services.common.pci import redact_card_numbers
from services.common.projection import Projection
from services.common.queries import execute, expected_version, lookup
from services.telephony import caller_list, domain, flows, lines
from services.telephony.agent_calls import AgentCalls, agent_of
from services.telephony.caller_list import ListedNumber
from services.telephony.campaign_rpcs import CampaignRpcs
from services.telephony.campaigns import CampaignState
from services.telephony.customers import CustomerDirectory
from services.telephony.domain import CallState
from services.telephony.lines import LineState


def call_view(entry: Versioned[CallState]) -> telephony_pb2.Call:
    call = entry.state
    view = telephony_pb2.Call(
        call_id=call.call_id,
        ani=call.ani,
        dnis=call.dnis,
        customer_id=call.customer_id,
        status=call.status,
        queue_id=call.queue_id,
        agent_id=call.agent_id or call.ringing_agent_id,
        version=entry.version,
        offered_at=timestamp(call.offered_at),
        ivr_digits=call.ivr_digits,
        ended_by=call.ended_by,
        end_reason=call.end_reason,
        line_id=call.line_id,
        flow_version=call.flow_version,
        node_id=call.node_id if call.status == telephony_pb2.CALL_STATUS_IN_IVR else "",
        priority=call.priority,
        attributes=call.attributes,
        caller_flag=call.caller_flag,
        on_hold=call.held_since is not None,
        hold_seconds=call.hold_seconds,
        transfers=call.transfers,
        recording_segments=call.recording.segments,
        recording_paused=call.recording.paused,
        heard=call.heard,
        carrier_ref=call.carrier_ref,
        transferred_to=call.transferred_to,
        campaign_id=call.campaign_id,
        direction=telephony_pb2.CALL_DIRECTION_OUTBOUND
        if call.outbound
        else telephony_pb2.CALL_DIRECTION_INBOUND,
    )
    if call.consult_number or call.consult_agent_id:
        view.consult.CopyFrom(
            telephony_pb2.Consult(
                number=call.consult_number,
                conference=call.conference,
                agent_id=call.consult_agent_id,
                joined=call.consult_joined,
            )
        )
    if call.callback_number:
        view.callback.CopyFrom(
            telephony_pb2.Callback(
                number=call.callback_number,
                attempts=call.callback_attempts,
                connected=call.callback_connected,
                leg_attempt=call.leg_attempt,
            )
        )
        if call.callback_due is not None:
            view.callback.due_at.CopyFrom(timestamp(call.callback_due))
    for field, moment in (
        ("enqueued_at", call.enqueued_at),
        ("answered_at", call.answered_at),
        ("ended_at", call.ended_at),
    ):
        if moment is not None:
            getattr(view, field).CopyFrom(timestamp(moment))
    return view


def line_view(entry: Versioned[LineState]) -> telephony_pb2.Line:
    line = entry.state
    return telephony_pb2.Line(
        line_id=line.line_id,
        settings=lines.settings_message(line),
        flow_version=line.flow_version,
        version=entry.version,
        defined_at=timestamp(line.defined_at),
        changed_at=timestamp(line.changed_at),
    )


LISTED_ACTIONS = {word: action for action, word in caller_list.ACTIONS.items()}


def listed_view(entry: Versioned[ListedNumber]) -> telephony_pb2.CallerListEntry:
    listed = entry.state
    view = telephony_pb2.CallerListEntry(
        number=listed.number,
        action=LISTED_ACTIONS[listed.action],
        reason=listed.reason,
        listed=listed.listed,
        version=entry.version,
        changed_at=timestamp(listed.changed_at),
    )
    if listed.expires_at is not None:
        view.expires_at.CopyFrom(timestamp(listed.expires_at))
    return view


CallWrite = (
    telephony_pb2.SendDigitsRequest
    | telephony_pb2.AnswerCallRequest
    | telephony_pb2.HangUpCallRequest
    | telephony_pb2.LeaveVoicemailRequest
    | telephony_pb2.CallControlRequest
    | telephony_pb2.TransferCallRequest
    | telephony_pb2.ConsultCallRequest
    | telephony_pb2.FinishConsultRequest
    | telephony_pb2.RequestCallbackRequest
    | telephony_pb2.ReportCallbackOutcomeRequest
    | telephony_pb2.CancelCallbackRequest
)


class TelephonyServicer(CampaignRpcs, telephony_pb2_grpc.TelephonyServiceServicer):
    def __init__(
        self,
        bus: CommandBus,
        calls: Projection[CallState, commands_pb2.CallCommand],
        lines: Projection[LineState, commands_pb2.LineCommand],
        listed: Projection[ListedNumber, commands_pb2.ListedNumberCommand],
        campaigns: Projection[CampaignState, commands_pb2.CampaignCommand],
        rules: domain.TelephonyRules,
        customers: CustomerDirectory,
    ) -> None:
        self._bus = bus
        self._calls = calls
        self._lines = lines
        self._listed = listed
        self._campaigns = campaigns
        self._rules = rules
        self._customers = customers
        self._agent_calls = AgentCalls()
        calls.observe(self._agent_calls.observe)

    def _meta(self, call_id: str, expected_version: int | None = None) -> types_pb2.CommandMeta:
        return command_meta(
            tenant_id=current_tenant(),
            aggregate_id=call_id,
            expected_version=expected_version,
            correlation_id=call_id,
            actor=current_credential().actor(),
        )

    async def _run(self, command: commands_pb2.CallCommand, request_id: str) -> telephony_pb2.Call:
        return call_view(await execute(self._bus, self._calls, command, request_id))

    async def _on_call(self, request: CallWrite, **action: Message) -> telephony_pb2.Call:
        """One command on an existing call, with the request's idempotency key and expected version."""
        call_id = require(request.call_id, "call_id", "the call")
        command = commands_pb2.CallCommand(meta=self._meta(call_id, expected_version(request)), **action)  # type: ignore[arg-type]
        return await self._run(command, request.request_id)

    async def OfferCall(
        self, request: telephony_pb2.OfferCallRequest, context: grpc.aio.ServicerContext
    ) -> telephony_pb2.Call:
        tenant = current_tenant()
        # The caller's customer (CH-2): the one the adapter names, else the profile with the ANI's number.
        known = (
            self._customers.get(tenant, request.customer_id)
            if request.customer_id
            else self._customers.caller(tenant, request.ani)
        )
        offer = commands_pb2.OfferCall(
            ani=request.ani,
            dnis=request.dnis,
            customer_id=known.customer_id if known else request.customer_id,
            priority=request.priority,
            carrier_ref=request.carrier_ref,
            customer_vip=known.vip if known else False,
        )
        call_id = created_id("call", tenant, request.request_id)
        return await self._run(
            commands_pb2.CallCommand(meta=self._meta(call_id), offer_call=offer), request.request_id
        )

    async def PlaceOutboundCall(
        self, request: telephony_pb2.PlaceOutboundCallRequest, context: grpc.aio.ServicerContext
    ) -> telephony_pb2.Call:
        tenant = current_tenant()
        known = self._customers.caller(tenant, request.number)  # the customer with that number (CH-2)
        place = commands_pb2.PlaceOutboundCall(
            agent_id=request.agent_id,
            number=request.number,
            line_id=request.line_id,
            caller_id=request.caller_id,
            customer_id=known.customer_id if known else "",
        )
        call_id = created_id("call", tenant, request.request_id)
        return await self._run(
            commands_pb2.CallCommand(meta=self._meta(call_id), place_outbound_call=place), request.request_id
        )

    async def SendDigits(
        self, request: telephony_pb2.SendDigitsRequest, context: grpc.aio.ServicerContext
    ) -> telephony_pb2.Call:
        tenant = current_tenant()
        entry = self._calls.get(tenant, request.call_id)
        sent = domain.digits_to_send(entry.state if entry else None, request.digits, tenant, self._rules)
        return await self._on_call(request, send_digits=sent)

    async def AnswerCall(
        self, request: telephony_pb2.AnswerCallRequest, context: grpc.aio.ServicerContext
    ) -> telephony_pb2.Call:
        return await self._on_call(request, answer_call=commands_pb2.AnswerCall(agent_id=request.agent_id))

    async def HangUpCall(
        self, request: telephony_pb2.HangUpCallRequest, context: grpc.aio.ServicerContext
    ) -> telephony_pb2.Call:
        credential = current_credential()
        if credential.role == Role.AGENT:  # an agent hangs up its own call only, as itself
            if request.party != events_pb2.PARTY_AGENT:
                raise PermissionDenied(
                    "agent-hangs-up-as-agent",
                    "an agent's key hangs up as the agent; the carrier reports the caller",
                )
            call = (await lookup(self._calls, credential.tenant_id, request.call_id)).state
            if credential.agent_id not in (call.agent_id, call.ringing_agent_id):
                raise PermissionDenied("not-your-call", f"the call is not with {credential.agent_id}")
        return await self._on_call(request, hang_up_call=commands_pb2.HangUpCall(party=request.party))

    async def HoldCall(
        self, request: telephony_pb2.CallControlRequest, context: grpc.aio.ServicerContext
    ) -> telephony_pb2.Call:
        return await self._on_call(request, hold_call=commands_pb2.HoldCall(agent_id=request.agent_id))

    async def ResumeCall(
        self, request: telephony_pb2.CallControlRequest, context: grpc.aio.ServicerContext
    ) -> telephony_pb2.Call:
        return await self._on_call(request, resume_call=commands_pb2.ResumeCall(agent_id=request.agent_id))

    async def RejectCall(
        self, request: telephony_pb2.CallControlRequest, context: grpc.aio.ServicerContext
    ) -> telephony_pb2.Call:
        return await self._on_call(request, reject_call=commands_pb2.RejectCall(agent_id=request.agent_id))

    async def PauseRecording(
        self, request: telephony_pb2.CallControlRequest, context: grpc.aio.ServicerContext
    ) -> telephony_pb2.Call:
        pause = commands_pb2.PauseRecording(agent_id=request.agent_id)
        return await self._on_call(request, pause_recording=pause)

    async def ResumeRecording(
        self, request: telephony_pb2.CallControlRequest, context: grpc.aio.ServicerContext
    ) -> telephony_pb2.Call:
        resume = commands_pb2.ResumeRecording(agent_id=request.agent_id)
        return await self._on_call(request, resume_recording=resume)

    async def TransferCall(
        self, request: telephony_pb2.TransferCallRequest, context: grpc.aio.ServicerContext
    ) -> telephony_pb2.Call:
        transfer = commands_pb2.TransferCall(agent_id=request.agent_id, target=request.target, to=request.to)
        return await self._on_call(request, transfer_call=transfer)

    async def ConsultCall(
        self, request: telephony_pb2.ConsultCallRequest, context: grpc.aio.ServicerContext
    ) -> telephony_pb2.Call:
        consulting = commands_pb2.ConsultCall(
            agent_id=request.agent_id, number=request.number, consulted_agent_id=request.consulted_agent_id
        )
        return await self._on_call(request, consult_call=consulting)

    async def FinishConsult(
        self, request: telephony_pb2.FinishConsultRequest, context: grpc.aio.ServicerContext
    ) -> telephony_pb2.Call:
        finish = commands_pb2.FinishConsult(agent_id=request.agent_id, action=request.action)
        return await self._on_call(request, finish_consult=finish)

    async def RequestCallback(
        self, request: telephony_pb2.RequestCallbackRequest, context: grpc.aio.ServicerContext
    ) -> telephony_pb2.Call:
        callback = commands_pb2.RequestCallback(number=request.number)
        if request.HasField("at"):
            callback.at.CopyFrom(request.at)
        return await self._on_call(request, request_callback=callback)

    async def ReportCallbackOutcome(
        self, request: telephony_pb2.ReportCallbackOutcomeRequest, context: grpc.aio.ServicerContext
    ) -> telephony_pb2.Call:
        outcome = commands_pb2.ReportCallbackOutcome(outcome=request.outcome, carrier_ref=request.carrier_ref)
        return await self._on_call(request, report_callback_outcome=outcome)

    async def CancelCallback(
        self, request: telephony_pb2.CancelCallbackRequest, context: grpc.aio.ServicerContext
    ) -> telephony_pb2.Call:
        return await self._on_call(request, cancel_callback=commands_pb2.CancelCallback())

    async def LeaveVoicemail(
        self, request: telephony_pb2.LeaveVoicemailRequest, context: grpc.aio.ServicerContext
    ) -> telephony_pb2.Call:
        left = commands_pb2.LeaveVoicemail(
            recording_ref=request.recording_ref, duration_seconds=request.duration_seconds
        )
        return await self._on_call(request, leave_voicemail=left)

    async def GetCall(
        self, request: telephony_pb2.GetCallRequest, context: grpc.aio.ServicerContext
    ) -> telephony_pb2.Call:
        call_id = require(request.call_id, "call_id", "the call")
        return call_view(await lookup(self._calls, current_tenant(), call_id, request.min_version))

    async def GetAgentCall(
        self, request: telephony_pb2.GetAgentCallRequest, context: grpc.aio.ServicerContext
    ) -> telephony_pb2.Call:
        agent_id = require(request.agent_id, "agent_id", "the agent")
        tenant = current_tenant()
        entry = self._calls.get(tenant, self._agent_calls.call_of(tenant, agent_id))
        if entry is None or agent_of(entry.state) != agent_id:
            raise NotFound("agent-has-no-call", f"no call rings for {agent_id} or is connected to it")
        return call_view(entry)

    def _admin_meta(self, aggregate_id: str, request: Message) -> types_pb2.CommandMeta:
        """The meta of a change to the tenant's set-up (a line, the caller list): no call's journey."""
        return command_meta(
            tenant_id=current_tenant(),
            aggregate_id=aggregate_id,
            expected_version=expected_version(request),
            actor=current_credential().actor(),
        )

    async def _on_line(
        self, request: telephony_pb2.DefineLineRequest | telephony_pb2.PublishFlowRequest, **action: Message
    ) -> telephony_pb2.Line:
        line_id = require(request.line_id, "line_id", "the line of business")
        command = commands_pb2.LineCommand(meta=self._admin_meta(line_id, request), **action)  # type: ignore[arg-type]
        return line_view(await execute(self._bus, self._lines, command, request.request_id))

    async def DefineLine(
        self, request: telephony_pb2.DefineLineRequest, context: grpc.aio.ServicerContext
    ) -> telephony_pb2.Line:
        tenant = current_tenant()
        for other in self._lines.of_tenant(tenant):
            taken = set(request.settings.numbers) & set(other.state.numbers)
            if other.aggregate_id != request.line_id and taken:
                raise IllegalTransition(
                    "number-in-use", f"line {other.aggregate_id} has {', '.join(sorted(taken))}"
                )
        settings = events_pb2.LineSettings()
        settings.CopyFrom(request.settings)
        settings.display_name = redact_card_numbers(settings.display_name)
        return await self._on_line(request, define=commands_pb2.DefineLine(settings=settings))

    async def PublishFlow(
        self, request: telephony_pb2.PublishFlowRequest, context: grpc.aio.ServicerContext
    ) -> telephony_pb2.Line:
        return await self._on_line(request, publish_flow=commands_pb2.PublishFlow(flow=request.flow))

    async def GetLine(
        self, request: telephony_pb2.GetLineRequest, context: grpc.aio.ServicerContext
    ) -> telephony_pb2.Line:
        line_id = require(request.line_id, "line_id", "the line of business")
        return line_view(await lookup(self._lines, current_tenant(), line_id, request.min_version))

    async def ListLines(
        self, request: telephony_pb2.ListLinesRequest, context: grpc.aio.ServicerContext
    ) -> telephony_pb2.ListLinesResponse:
        entries = sorted(self._lines.of_tenant(current_tenant()), key=lambda e: e.aggregate_id)
        return telephony_pb2.ListLinesResponse(lines=[line_view(e) for e in entries])

    async def GetFlow(
        self, request: telephony_pb2.GetFlowRequest, context: grpc.aio.ServicerContext
    ) -> telephony_pb2.FlowVersion:
        if not request.line_id:  # the built-in default line's flow: calls to a DNIS of no line walk it
            return telephony_pb2.FlowVersion(flow=flows.flow_message(lines.DEFAULT_FLOW))
        line_id = request.line_id
        line = (await lookup(self._lines, current_tenant(), line_id)).state
        published = line.published(request.version or line.flow_version)
        if published is None:
            kept = ", ".join(str(f.version) for f in line.flows) or "none yet"
            raise NotFound("flow-not-found", f"line {line_id} keeps flow versions {kept}")
        return telephony_pb2.FlowVersion(
            line_id=line_id,
            version=published.version,
            flow=flows.flow_message(published.flow),
            published_at=timestamp(published.published_at),
        )

    async def _on_listed(
        self,
        request: telephony_pb2.PutCallerListEntryRequest | telephony_pb2.RemoveCallerListEntryRequest,
        **action: Message,
    ) -> telephony_pb2.CallerListEntry:
        number = numbers.canonical(require(request.number, "number", "the caller's number"))
        meta = self._admin_meta(number, request)
        command = commands_pb2.ListedNumberCommand(meta=meta, **action)  # type: ignore[arg-type]
        return listed_view(await execute(self._bus, self._listed, command, request.request_id))

    async def PutCallerListEntry(
        self, request: telephony_pb2.PutCallerListEntryRequest, context: grpc.aio.ServicerContext
    ) -> telephony_pb2.CallerListEntry:
        listing = commands_pb2.ListNumber(action=request.action, reason=redact_card_numbers(request.reason))
        if request.HasField("expires_at"):
            listing.expires_at.CopyFrom(request.expires_at)
        return await self._on_listed(request, list=listing)

    async def RemoveCallerListEntry(
        self, request: telephony_pb2.RemoveCallerListEntryRequest, context: grpc.aio.ServicerContext
    ) -> telephony_pb2.CallerListEntry:
        return await self._on_listed(request, unlist=commands_pb2.UnlistNumber())

    async def GetCallerListEntry(
        self, request: telephony_pb2.GetCallerListEntryRequest, context: grpc.aio.ServicerContext
    ) -> telephony_pb2.CallerListEntry:
        number = numbers.canonical(require(request.number, "number", "the caller's number"))
        return listed_view(await lookup(self._listed, current_tenant(), number))

    async def ListCallerListEntries(
        self, request: telephony_pb2.ListCallerListEntriesRequest, context: grpc.aio.ServicerContext
    ) -> telephony_pb2.ListCallerListEntriesResponse:
        entries = sorted(self._listed.of_tenant(current_tenant()), key=lambda e: e.aggregate_id)
        now = datetime.now(UTC)
        listed = [listed_view(e) for e in entries if e.state.applies(now)]  # expired ones are off it
        return telephony_pb2.ListCallerListEntriesResponse(entries=listed)
