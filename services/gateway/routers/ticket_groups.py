"""Ticket groups (TKT-3): teams as data, and the rule that gives them new tickets (by category and
channel, round robin among their agents)."""

from datetime import datetime
from typing import Annotated, Literal

from cc.ticketing.v1 import events_pb2, ticketing_pb2
from fastapi import APIRouter, Path
from pydantic import BaseModel, Field

from services.gateway.deps import AuthenticatedCaller, Clients, IdempotencyKey
from services.gateway.errors import ERROR_RESPONSES
from services.gateway.models import TICKET_CHANNELS, Category, Text, WriteOptions, moment

GroupPath = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9_\-]{0,63}$", examples=["billing"])]
router = APIRouter(prefix="/v1/ticket-groups", tags=["ticket groups"], responses=ERROR_RESPONSES)
ChannelWord = Literal["voice", "chat", "email", "web-form", "sms"]
_CHANNEL_WORDS = {number: word for word, number in TICKET_CHANNELS.items()}


class GroupBody(WriteOptions):
    """The whole group: a field left out takes its default."""

    name: Text
    agent_ids: list[Text] = Field(default=[], max_length=200, description="Its agents, in rotation order.")
    categories: list[Category] = Field(
        default=[], max_length=20, description="New tickets of these categories or under them; none: any."
    )
    channels: list[ChannelWord] = Field(
        default=[], max_length=5, description="New tickets of these; none: any."
    )
    strategy: Literal["round-robin", ""] = Field(
        default="",
        description="round-robin: each ticket taken goes to the next agent in turn; empty: to the group.",
    )


class Group(BaseModel):
    group_id: str
    name: str
    agent_ids: list[str]
    categories: list[str]
    channels: list[str]
    strategy: str
    tickets_taken: int = Field(description="New tickets the group has taken by its rule.")
    changed_at: datetime | None
    version: int

    @staticmethod
    def of(view: ticketing_pb2.TicketGroupView) -> "Group":
        group = view.group
        return Group(
            group_id=view.group_id,
            name=group.name,
            agent_ids=list(group.agent_ids),
            categories=list(group.categories),
            channels=[_CHANNEL_WORDS.get(channel, str(channel)) for channel in group.channels],
            strategy=group.strategy,
            tickets_taken=view.tickets_taken,
            changed_at=moment(view, "changed_at"),
            version=view.version,
        )


class GroupList(BaseModel):
    groups: list[Group]


@router.put("/{group_id}", summary="Define a ticket group and the new tickets it takes")
async def define_group(
    group_id: GroupPath,
    body: GroupBody,
    who: AuthenticatedCaller,
    services: Clients,
    idempotency_key: IdempotencyKey = "",
) -> Group:
    group = events_pb2.TicketGroup(
        name=body.name,
        agent_ids=body.agent_ids,
        categories=body.categories,
        channels=[TICKET_CHANNELS[word] for word in body.channels],  # type: ignore[misc]
        strategy=body.strategy,
    )
    request = ticketing_pb2.DefineTicketGroupRequest(
        group_id=group_id, group=group, request_id=idempotency_key, expected_version=body.expected_version
    )
    return Group.of(await services.ticketing.DefineTicketGroup(request, metadata=who.metadata))


@router.get("/{group_id}", summary="One ticket group")
async def get_group(group_id: GroupPath, who: AuthenticatedCaller, services: Clients) -> Group:
    request = ticketing_pb2.GetTicketGroupRequest(group_id=group_id)
    return Group.of(await services.ticketing.GetTicketGroup(request, metadata=who.metadata))


@router.get("", summary="The tenant's ticket groups, by id")
async def list_groups(who: AuthenticatedCaller, services: Clients) -> GroupList:
    found = await services.ticketing.ListTicketGroups(
        ticketing_pb2.ListTicketGroupsRequest(), metadata=who.metadata
    )
    return GroupList(groups=[Group.of(view) for view in found.groups])
