"""Lines of business (TEL-3, TEL-4, ORG-2): admins define each with its service numbers and business
hours, and publish versions of its IVR flow; a call to one of its numbers walks the current version
to its end. Everyone of the tenant may read them."""

from cc.telephony.v1 import telephony_pb2
from fastapi import APIRouter, Path

from services.gateway.deps import AuthenticatedCaller, Clients, IdempotencyKey
from services.gateway.errors import ERROR_RESPONSES
from services.gateway.models import DefineLineBody, FlowVersion, Line, PathId, PublishFlowBody

router = APIRouter(prefix="/v1/lines", tags=["lines"], responses=ERROR_RESPONSES)


@router.put("/{line_id}", summary="Define a line of business or replace its settings (admins)")
async def define_line(
    line_id: PathId,
    body: DefineLineBody,
    who: AuthenticatedCaller,
    services: Clients,
    idempotency_key: IdempotencyKey = "",
) -> Line:
    request = telephony_pb2.DefineLineRequest(
        line_id=line_id,
        settings=body.to_proto(),
        request_id=idempotency_key,
        expected_version=body.expected_version,
    )
    return Line.of(await services.telephony.DefineLine(request, metadata=who.metadata))


@router.post(
    "/{line_id}/flows",
    status_code=201,
    summary="Publish a new version of the line's IVR flow (admins); 422 names the nodes at fault",
)
async def publish_flow(
    line_id: PathId,
    body: PublishFlowBody,
    who: AuthenticatedCaller,
    services: Clients,
    idempotency_key: IdempotencyKey = "",
) -> Line:
    request = telephony_pb2.PublishFlowRequest(
        line_id=line_id,
        flow=body.to_proto(),
        request_id=idempotency_key,
        expected_version=body.expected_version,
    )
    return Line.of(await services.telephony.PublishFlow(request, metadata=who.metadata))


@router.get("", summary="The tenant's lines of business, by id")
async def list_lines(who: AuthenticatedCaller, services: Clients) -> list[Line]:
    response = await services.telephony.ListLines(telephony_pb2.ListLinesRequest(), metadata=who.metadata)
    return [Line.of(line) for line in response.lines]


@router.get("/{line_id}", summary="One line of business")
async def get_line(line_id: PathId, who: AuthenticatedCaller, services: Clients) -> Line:
    request = telephony_pb2.GetLineRequest(line_id=line_id)
    return Line.of(await services.telephony.GetLine(request, metadata=who.metadata))


@router.get("/{line_id}/flows/{version}", summary="One published version of the line's flow; 0 the current")
async def get_flow(
    line_id: PathId,
    who: AuthenticatedCaller,
    services: Clients,
    version: int = Path(ge=0, le=2**31 - 1),
) -> FlowVersion:
    request = telephony_pb2.GetFlowRequest(line_id=line_id, version=version)
    return FlowVersion.of(await services.telephony.GetFlow(request, metadata=who.metadata))
