"""REST bodies and views of outbound campaigns (TEL-8): a campaign is written with its settings and its
contacts at once, and read with each contact's progress."""

from datetime import datetime
from typing import Annotated, Literal

from cc.telephony.v1 import events_pb2, telephony_pb2
from pydantic import BaseModel, Field

from services.gateway.models import OptionalText, Text, WriteOptions, enum_word, moment

CampaignStatusWord = Literal["running", "paused", "stopped"]
STATUSES = {
    "running": events_pb2.CAMPAIGN_STATUS_RUNNING,
    "paused": events_pb2.CAMPAIGN_STATUS_PAUSED,
    "stopped": events_pb2.CAMPAIGN_STATUS_STOPPED,
}
CalledNumber = Annotated[str, Field(pattern=r"^\+?[0-9 ().-]{2,30}$", examples=["+821055550101"])]
AgentId = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f\x7f-\x9f]*$")]


class CampaignContactBody(BaseModel):
    number: CalledNumber
    name: OptionalText = Field(default="", description="Who the agent asks for.")


class CampaignBody(BaseModel):
    name: Text
    line_id: Annotated[str, Field(min_length=1, max_length=100)] = Field(
        description="The line of business that calls: its hours are the permitted calling hours."
    )
    caller_id: Annotated[str, Field(pattern=r"^(\+?[0-9 ().-]{2,30})?$")] = Field(
        default="", description="One of the line's numbers, shown to the customer; empty for its first."
    )
    agent_ids: list[AgentId] = Field(
        min_length=1, max_length=500, description="The agents who work it: each one ready is given a contact."
    )
    max_attempts: int = Field(
        default=3, ge=1, le=10, description="Attempts per contact before it is given up."
    )
    retry_seconds: int = Field(
        default=3600, ge=60, le=7 * 24 * 3600, description="Wait after an unanswered attempt before the next."
    )
    contacts: list[CampaignContactBody] = Field(min_length=1, max_length=2000)

    def request(self, request_id: str) -> telephony_pb2.DefineCampaignRequest:
        request = telephony_pb2.DefineCampaignRequest(request_id=request_id)
        settings = request.settings
        settings.name, settings.line_id, settings.caller_id = self.name, self.line_id, self.caller_id
        settings.agent_ids.extend(self.agent_ids)
        settings.max_attempts, settings.retry_seconds = self.max_attempts, self.retry_seconds
        for contact in self.contacts:
            request.contacts.add(number=contact.number, name=contact.name)
        return request


class CampaignStatusBody(WriteOptions):
    status: CampaignStatusWord = Field(
        description="running: agents who are ready get contacts; paused: nobody is called; stopped: for good."
    )


class CampaignContactView(BaseModel):
    number: str
    name: str
    status: str = Field(
        description="pending, dialling, waiting (to be tried again), reached, failed, skipped."
    )
    attempts: int
    last_outcome: str = Field(description="connected, no-answer, busy or failed; unspecified before any.")
    call_id: str = Field(description="The call of its latest attempt.")
    agent_id: str
    retry_at: datetime | None
    skip_reason: str


class Campaign(BaseModel):
    campaign_id: str
    name: str
    line_id: str
    caller_id: str
    agent_ids: list[str]
    max_attempts: int
    retry_seconds: int
    status: str = Field(description="paused, running, stopped or completed.")
    counts: dict[str, int] = Field(description="Contacts by status.")
    contacts: list[CampaignContactView] = Field(description="Empty in a list of campaigns.")
    defined_at: datetime | None
    changed_at: datetime | None
    version: int

    @staticmethod
    def of(campaign: telephony_pb2.Campaign) -> "Campaign":
        settings = campaign.settings
        return Campaign(
            campaign_id=campaign.campaign_id,
            name=settings.name,
            line_id=settings.line_id,
            caller_id=settings.caller_id,
            agent_ids=list(settings.agent_ids),
            max_attempts=settings.max_attempts,
            retry_seconds=settings.retry_seconds,
            status=enum_word(campaign, "status", "CAMPAIGN_STATUS_"),
            counts=dict(campaign.counts),
            contacts=[
                CampaignContactView(
                    number=c.number,
                    name=c.name,
                    status=enum_word(c, "status", "CAMPAIGN_CONTACT_STATUS_"),
                    attempts=c.attempts,
                    last_outcome=enum_word(c, "last_outcome", "CALLBACK_OUTCOME_"),
                    call_id=c.call_id,
                    agent_id=c.agent_id,
                    retry_at=moment(c, "retry_at"),
                    skip_reason=c.skip_reason,
                )
                for c in campaign.contacts
            ],
            defined_at=moment(campaign, "defined_at"),
            changed_at=moment(campaign, "changed_at"),
            version=campaign.version,
        )
