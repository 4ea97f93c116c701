"""Reply templates (TKT-7, TKT-8): text with {{variables}} an agent replies with instead of typing,
recommended by ticket category, and the automatic messages sent when a ticket is received, received
after hours, or solved."""

from datetime import datetime
from typing import Annotated, Literal

from cc.ticketing.v1 import events_pb2, ticketing_pb2
from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field

from services.gateway.deps import AuthenticatedCaller, Clients, IdempotencyKey
from services.gateway.errors import ERROR_RESPONSES
from services.gateway.models import (
    Category,
    MultilineText,
    OptionalText,
    Text,
    WriteOptions,
    moment,
)

TemplatePath = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9_\-]{0,63}$", examples=["thanks"])]
router = APIRouter(prefix="/v1/reply-templates", tags=["reply templates"], responses=ERROR_RESPONSES)
Moment = Literal["received", "solved", "after-hours"]


class TemplateBody(WriteOptions):
    """The whole template: a field left out takes its default."""

    title: Text
    body: MultilineText = Field(
        description="Variables: {{ticket.id}}, {{ticket.subject}}, {{ticket.category}}, {{ticket.status}}, "
        "{{ticket.survey_token}}, {{customer.name}}, {{agent.id}}; any other is refused."
    )
    categories: list[Category] = Field(default=[], max_length=20, description="Recommended for these.")
    automatic: Moment | Literal[""] = Field(default="", description="Sent by itself at this moment.")
    line_id: OptionalText = Field(default="", description="Only for tickets of this line; empty: every line.")


class ReplyTemplate(BaseModel):
    template_id: str
    title: str
    body: str
    categories: list[str]
    automatic: str
    line_id: str
    removed: bool
    changed_at: datetime | None
    version: int

    @staticmethod
    def of(view: ticketing_pb2.ReplyTemplateView) -> "ReplyTemplate":
        template = view.template
        return ReplyTemplate(
            template_id=view.template_id,
            title=template.title,
            body=template.body,
            categories=list(template.categories),
            automatic=template.automatic,
            line_id=template.line_id,
            removed=view.removed,
            changed_at=moment(view, "changed_at"),
            version=view.version,
        )


class ReplyTemplateList(BaseModel):
    templates: list[ReplyTemplate] = Field(description="By id; removed ones are left out.")


@router.put("/{template_id}", summary="Define a reply template or replace it (supervisors, admins)")
async def define_template(
    template_id: TemplatePath,
    body: TemplateBody,
    who: AuthenticatedCaller,
    services: Clients,
    idempotency_key: IdempotencyKey = "",
) -> ReplyTemplate:
    request = ticketing_pb2.DefineReplyTemplateRequest(
        template_id=template_id,
        template=events_pb2.ReplyTemplate(
            title=body.title,
            body=body.body,
            categories=body.categories,
            automatic=body.automatic,
            line_id=body.line_id,
        ),
        request_id=idempotency_key,
        expected_version=body.expected_version,
    )
    return ReplyTemplate.of(await services.ticketing.DefineReplyTemplate(request, metadata=who.metadata))


@router.delete("/{template_id}", summary="Remove a reply template; replies already sent keep their text")
async def remove_template(
    template_id: TemplatePath,
    who: AuthenticatedCaller,
    services: Clients,
    idempotency_key: IdempotencyKey = "",
) -> ReplyTemplate:
    request = ticketing_pb2.RemoveReplyTemplateRequest(template_id=template_id, request_id=idempotency_key)
    return ReplyTemplate.of(await services.ticketing.RemoveReplyTemplate(request, metadata=who.metadata))


@router.get("/{template_id}", summary="One reply template")
async def get_template(
    template_id: TemplatePath, who: AuthenticatedCaller, services: Clients
) -> ReplyTemplate:
    request = ticketing_pb2.GetReplyTemplateRequest(template_id=template_id)
    return ReplyTemplate.of(await services.ticketing.GetReplyTemplate(request, metadata=who.metadata))


@router.get("", summary="The reply templates, those recommended for a category, or the automatic ones")
async def list_templates(
    who: AuthenticatedCaller,
    services: Clients,
    category: Annotated[
        Category, Query(description="Templates of it, of a category above it, or of none.")
    ] = "",
    automatic: Annotated[Moment | None, Query(description="Only those sent by themselves then.")] = None,
) -> ReplyTemplateList:
    request = ticketing_pb2.ListReplyTemplatesRequest(category=category, automatic=automatic or "")
    response = await services.ticketing.ListReplyTemplates(request, metadata=who.metadata)
    return ReplyTemplateList(templates=[ReplyTemplate.of(t) for t in response.templates])
