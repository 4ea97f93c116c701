"""Every error the gateway returns has one body shape: error_id, message, field_violations."""

import grpc
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from pydantic import BaseModel

from services.common.errors import PlatformError, http_status_for


class FieldViolationBody(BaseModel):
    field: str
    description: str


class ErrorBody(BaseModel):
    error_id: str
    message: str
    field_violations: list[FieldViolationBody] = []


ERROR_RESPONSES: dict[int | str, dict[str, object]] = {
    status: {"model": ErrorBody} for status in (401, 403, 404, 409, 413, 422, 503)
}


# How long a client should wait before retrying a 503 (the broker away, a service rebuilding its state).
RETRY_AFTER_SECONDS = 2


def _response(status: int, error_id: str, message: str, violations: list[FieldViolationBody]) -> JSONResponse:
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)} if status == 503 else None
    return JSONResponse(status_code=status, content=_body(error_id, message, violations), headers=headers)


def _body(error_id: str, message: str, violations: list[FieldViolationBody]) -> dict[str, object]:
    return ErrorBody(error_id=error_id, message=message, field_violations=violations).model_dump()


def from_rpc_error(error: grpc.aio.AioRpcError) -> JSONResponse:
    error_id, violations = error.code().name.lower().replace("_", "-"), []
    status = rpc_status.from_call(error)
    for detail in status.details if status else []:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            error_id = info.reason
        elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            violations = [
                FieldViolationBody(field=v.field, description=v.description) for v in bad.field_violations
            ]
    return _response(http_status_for(error.code()), error_id, error.details() or "", violations)


def install(app: FastAPI) -> None:
    @app.exception_handler(grpc.aio.AioRpcError)
    async def rpc_failed(request: Request, error: grpc.aio.AioRpcError) -> JSONResponse:
        return from_rpc_error(error)

    @app.exception_handler(PlatformError)
    async def refused(request: Request, error: PlatformError) -> JSONResponse:
        violations = [
            FieldViolationBody(field=v.field, description=v.description) for v in error.field_violations
        ]
        return _response(error.http_status, error.error_id, error.message, violations)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        violations = [
            FieldViolationBody(field=".".join(str(p) for p in e["loc"] if p != "body"), description=e["msg"])
            for e in error.errors()
        ]
        return JSONResponse(
            status_code=422, content=_body("invalid-argument", "the request is not valid", violations)
        )
