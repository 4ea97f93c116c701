"""The reply template half of TicketingService (TKT-7, TKT-8): defining and removing templates as
commands, reading them and listing those recommended for a category from their read model."""

import grpc
from cc.ticketing.v1 import commands_pb2, ticketing_pb2

from services.common.aggregate import Versioned
from services.common.command_bus import CommandBus, command_meta
from services.common.envelope import timestamp
from services.common.errors import NotFound
from services.common.grpc_server import current_credential, current_tenant
from services.common.projection import Projection
from services.common.queries import execute, expected_version, lookup
from services.ticketing.domain import clean_category, refused
from services.ticketing.templates import AUTOMATIC, TEMPLATE_ID, TemplateState

Templates = Projection[TemplateState, commands_pb2.ReplyTemplateCommand]


def template_view(entry: Versioned[TemplateState]) -> ticketing_pb2.ReplyTemplateView:
    return ticketing_pb2.ReplyTemplateView(
        template_id=entry.aggregate_id,
        template=entry.state.message(),
        removed=entry.state.removed,
        changed_at=timestamp(entry.state.changed_at),
        version=entry.version,
    )


class TemplateRpcs:
    """Mixed into the servicer: the reply template RPCs over the templates read model."""

    def __init__(self, bus: CommandBus, templates: Templates) -> None:
        self._bus = bus
        self._templates = templates

    def live_template(self, tenant_id: str, template_id: str) -> TemplateState:
        """A template an agent may reply with: defined and not removed."""
        entry = self._templates.get(tenant_id, template_id)
        if entry is None or entry.state.removed:
            raise NotFound("template-not-found", f"no reply template {template_id}")
        return entry.state

    async def _on_template(
        self, template_id: str, request_id: str, version: int | None, **action: object
    ) -> ticketing_pb2.ReplyTemplateView:
        if not TEMPLATE_ID.fullmatch(template_id):  # the command's key: never sent without one
            raise refused("template_id", "a-z, digits, - and _, at most 64, starting with a letter or digit")
        meta = command_meta(
            tenant_id=current_tenant(),
            aggregate_id=template_id,
            expected_version=version,
            actor=current_credential().actor(),
        )
        command = commands_pb2.ReplyTemplateCommand(meta=meta, **action)  # type: ignore[arg-type]
        return template_view(await execute(self._bus, self._templates, command, request_id))

    async def DefineReplyTemplate(
        self, request: ticketing_pb2.DefineReplyTemplateRequest, context: grpc.aio.ServicerContext
    ) -> ticketing_pb2.ReplyTemplateView:
        return await self._on_template(
            request.template_id, request.request_id, expected_version(request), define=request.template
        )

    async def RemoveReplyTemplate(
        self, request: ticketing_pb2.RemoveReplyTemplateRequest, context: grpc.aio.ServicerContext
    ) -> ticketing_pb2.ReplyTemplateView:
        remove = commands_pb2.RemoveReplyTemplate()
        return await self._on_template(
            request.template_id, request.request_id, expected_version(request), remove=remove
        )

    async def GetReplyTemplate(
        self, request: ticketing_pb2.GetReplyTemplateRequest, context: grpc.aio.ServicerContext
    ) -> ticketing_pb2.ReplyTemplateView:
        return template_view(await lookup(self._templates, current_tenant(), request.template_id))

    async def ListReplyTemplates(
        self, request: ticketing_pb2.ListReplyTemplatesRequest, context: grpc.aio.ServicerContext
    ) -> ticketing_pb2.ListReplyTemplatesResponse:
        if request.automatic and request.automatic not in AUTOMATIC:
            raise refused("automatic", "received, solved or after-hours")
        category = clean_category(request.category)
        found = sorted(self._templates.of_tenant(current_tenant()), key=lambda entry: entry.aggregate_id)
        return ticketing_pb2.ListReplyTemplatesResponse(
            templates=[
                template_view(entry)
                for entry in found
                if not entry.state.removed
                and (not request.category or entry.state.recommended_for(category))
                and (not request.automatic or entry.state.automatic == request.automatic)
            ]
        )
