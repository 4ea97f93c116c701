"""The campaign RPCs of TelephonyService (TEL-8): define, run, pause or stop, and read campaigns, as
campaign commands and answers from the campaigns read model."""

import grpc
from cc.telephony.v1 import commands_pb2, events_pb2, telephony_pb2
from google.protobuf.message import Message

from services.common.aggregate import Versioned
from services.common.command_bus import CommandBus, command_meta, created_id
from services.common.envelope import timestamp
from services.common.errors import require
from services.common.grpc_server import current_credential, current_tenant
from services.common.pci import redact_card_numbers
from services.common.projection import Projection
from services.common.queries import execute, expected_version, lookup
from services.telephony.campaigns import CampaignState


def campaign_view(entry: Versioned[CampaignState], with_contacts: bool = True) -> telephony_pb2.Campaign:
    campaign = entry.state
    view = telephony_pb2.Campaign(
        campaign_id=campaign.campaign_id,
        status=campaign.status,
        counts=campaign.counts(),
        version=entry.version,
        defined_at=timestamp(campaign.defined_at),
        changed_at=timestamp(campaign.changed_at),
    )
    view.settings.name = campaign.name
    view.settings.line_id = campaign.line_id
    view.settings.caller_id = campaign.caller_id
    view.settings.agent_ids.extend(campaign.agent_ids)
    view.settings.max_attempts = campaign.max_attempts
    view.settings.retry_seconds = campaign.retry_seconds
    for contact in campaign.contacts if with_contacts else ():
        shown = view.contacts.add(
            number=contact.number,
            name=contact.name,
            status=contact.status,
            attempts=contact.attempts,
            last_outcome=contact.last_outcome,
            call_id=contact.call_id,
            agent_id=contact.agent_id,
            skip_reason=contact.skip_reason,
        )
        if contact.retry_at is not None:
            shown.retry_at.CopyFrom(timestamp(contact.retry_at))
    return view


class CampaignRpcs:
    """Mixed into TelephonyServicer, which sets the bus and the campaigns read model."""

    _bus: CommandBus
    _campaigns: Projection[CampaignState, commands_pb2.CampaignCommand]

    async def _on_campaign(
        self, campaign_id: str, expected: int | None, request_id: str, **action: Message
    ) -> telephony_pb2.Campaign:
        meta = command_meta(
            tenant_id=current_tenant(),
            aggregate_id=campaign_id,
            expected_version=expected,
            actor=current_credential().actor(),
        )
        command = commands_pb2.CampaignCommand(meta=meta, **action)  # type: ignore[arg-type]
        return campaign_view(await execute(self._bus, self._campaigns, command, request_id))

    async def DefineCampaign(
        self, request: telephony_pb2.DefineCampaignRequest, context: grpc.aio.ServicerContext
    ) -> telephony_pb2.Campaign:
        settings = events_pb2.CampaignSettings()
        settings.CopyFrom(request.settings)
        settings.name = redact_card_numbers(settings.name)
        define = commands_pb2.DefineCampaign(settings=settings)
        for contact in request.contacts:
            define.contacts.add(number=contact.number, name=redact_card_numbers(contact.name))
        campaign_id = created_id("campaign", current_tenant(), request.request_id)
        return await self._on_campaign(campaign_id, None, request.request_id, define=define)

    async def SetCampaignStatus(
        self, request: telephony_pb2.SetCampaignStatusRequest, context: grpc.aio.ServicerContext
    ) -> telephony_pb2.Campaign:
        campaign_id = require(request.campaign_id, "campaign_id", "the campaign")
        status = commands_pb2.SetCampaignStatus(status=request.status)
        return await self._on_campaign(
            campaign_id, expected_version(request), request.request_id, set_status=status
        )

    async def GetCampaign(
        self, request: telephony_pb2.GetCampaignRequest, context: grpc.aio.ServicerContext
    ) -> telephony_pb2.Campaign:
        campaign_id = require(request.campaign_id, "campaign_id", "the campaign")
        return campaign_view(
            await lookup(self._campaigns, current_tenant(), campaign_id, request.min_version)
        )

    async def ListCampaigns(
        self, request: telephony_pb2.ListCampaignsRequest, context: grpc.aio.ServicerContext
    ) -> telephony_pb2.ListCampaignsResponse:
        entries = sorted(self._campaigns.of_tenant(current_tenant()), key=lambda e: e.state.defined_at)
        return telephony_pb2.ListCampaignsResponse(campaigns=[campaign_view(e, False) for e in entries])
