"""The ticket group half of TicketingService (TKT-3): defining groups as commands, reading them from
their read model."""

import grpc
from cc.ticketing.v1 import commands_pb2, ticketing_pb2

from services.common.aggregate import Versioned
from services.common.command_bus import CommandBus, command_meta
from services.common.envelope import timestamp
from services.common.grpc_server import current_credential, current_tenant
from services.common.queries import execute, expected_version, lookup
from services.ticketing.groups import Groups, GroupState, by_id, group_id_of


def group_view(entry: Versioned[GroupState]) -> ticketing_pb2.TicketGroupView:
    return ticketing_pb2.TicketGroupView(
        group_id=entry.aggregate_id,
        group=entry.state.message(),
        tickets_taken=entry.state.taken,
        changed_at=timestamp(entry.state.changed_at),
        version=entry.version,
    )


class GroupRpcs:
    """Mixed into the servicer: the ticket group RPCs over the groups read model."""

    def __init__(self, bus: CommandBus, groups: Groups) -> None:
        self._bus = bus
        self._groups = groups

    async def DefineTicketGroup(
        self, request: ticketing_pb2.DefineTicketGroupRequest, context: grpc.aio.ServicerContext
    ) -> ticketing_pb2.TicketGroupView:
        meta = command_meta(
            tenant_id=current_tenant(),
            aggregate_id=group_id_of(request.group_id),
            expected_version=expected_version(request),
            actor=current_credential().actor(),
        )
        command = commands_pb2.TicketGroupCommand(meta=meta, define=request.group)
        return group_view(await execute(self._bus, self._groups, command, request.request_id))

    async def GetTicketGroup(
        self, request: ticketing_pb2.GetTicketGroupRequest, context: grpc.aio.ServicerContext
    ) -> ticketing_pb2.TicketGroupView:
        return group_view(await lookup(self._groups, current_tenant(), request.group_id))

    async def ListTicketGroups(
        self, request: ticketing_pb2.ListTicketGroupsRequest, context: grpc.aio.ServicerContext
    ) -> ticketing_pb2.ListTicketGroupsResponse:
        groups = by_id(self._groups.of_tenant(current_tenant()))
        return ticketing_pb2.ListTicketGroupsResponse(groups=[group_view(entry) for entry in groups])
