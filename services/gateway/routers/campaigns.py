"""Outbound campaigns (TEL-8): supervisors define a list of numbers and the agents who call it, then run,
pause or stop it; each agent who is ready is given the next due contact (progressive dialling), within
the line's hours, never a do-not-call number."""

from cc.telephony.v1 import telephony_pb2
from fastapi import APIRouter

from services.gateway.campaign_models import STATUSES, Campaign, CampaignBody, CampaignStatusBody
from services.gateway.deps import AuthenticatedCaller, Clients, IdempotencyKey
from services.gateway.errors import ERROR_RESPONSES
from services.gateway.models import PathId

router = APIRouter(prefix="/v1/campaigns", tags=["campaigns"], responses=ERROR_RESPONSES)


@router.post("", status_code=201, summary="Define a campaign with its contacts; it starts paused")
async def define_campaign(
    body: CampaignBody, who: AuthenticatedCaller, services: Clients, idempotency_key: IdempotencyKey = ""
) -> Campaign:
    request = body.request(idempotency_key)
    return Campaign.of(await services.telephony.DefineCampaign(request, metadata=who.metadata))


@router.put("/{campaign_id}/status", summary="Run, pause or stop a campaign; 409 campaign-ended once stopped")
async def set_campaign_status(
    campaign_id: PathId,
    body: CampaignStatusBody,
    who: AuthenticatedCaller,
    services: Clients,
    idempotency_key: IdempotencyKey = "",
) -> Campaign:
    request = telephony_pb2.SetCampaignStatusRequest(
        campaign_id=campaign_id,
        status=STATUSES[body.status],
        request_id=idempotency_key,
        expected_version=body.expected_version,
    )
    return Campaign.of(await services.telephony.SetCampaignStatus(request, metadata=who.metadata))


@router.get("", summary="The tenant's campaigns with their counts, without their contacts")
async def list_campaigns(who: AuthenticatedCaller, services: Clients) -> list[Campaign]:
    response = await services.telephony.ListCampaigns(
        telephony_pb2.ListCampaignsRequest(), metadata=who.metadata
    )
    return [Campaign.of(campaign) for campaign in response.campaigns]


@router.get("/{campaign_id}", summary="A campaign with each contact's progress")
async def get_campaign(campaign_id: PathId, who: AuthenticatedCaller, services: Clients) -> Campaign:
    request = telephony_pb2.GetCampaignRequest(campaign_id=campaign_id)
    return Campaign.of(await services.telephony.GetCampaign(request, metadata=who.metadata))
