"""The gRPC edge every service shares, without a network: a bug in a handler answers INTERNAL with an
incident id that is in the log, and a request over its limits never reaches the handler."""

import logging
from typing import Any

import grpc
import pytest
from cc.telephony.v1 import telephony_pb2
from google.rpc import status_pb2

from services.common.access import parse_api_keys
from services.common.grpc_server import TenantAndErrorsInterceptor


class Aborted(Exception):
    pass


class Context:
    """What the interceptor uses of a grpc.aio.ServicerContext."""

    def __init__(self) -> None:
        self.status: Any = None

    def invocation_metadata(self) -> list[tuple[str, str]]:
        return [("x-api-key", "key")]

    async def abort_with_status(self, status: Any) -> None:
        self.status = status
        raise Aborted


def guarded(handler: Any) -> Any:
    interceptor = TenantAndErrorsInterceptor(parse_api_keys("key:acme").get, ready=lambda: True)
    return interceptor._guard("/t.S/M", handler)


async def test_a_bug_in_a_handler_answers_internal_with_an_incident_id_in_the_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def broken(request: Any, context: Any) -> None:
        raise KeyError("a bug")

    context = Context()
    with caplog.at_level(logging.ERROR), pytest.raises(Aborted):
        await guarded(broken)(telephony_pb2.GetCallRequest(call_id="call-1"), context)

    assert context.status.code == grpc.StatusCode.INTERNAL
    incident = context.status.details.rsplit(" ", 1)[-1]
    assert context.status.details.startswith("an unexpected error; incident")
    assert incident in caplog.text and "KeyError" in caplog.text
    details = status_pb2.Status.FromString(dict(context.status.trailing_metadata)["grpc-status-details-bin"])
    assert "internal-error" in str(details.details[0].value)


async def test_a_request_over_its_limits_never_reaches_the_handler() -> None:
    reached: list[Any] = []

    async def handler(request: Any, context: Any) -> None:
        reached.append(request)

    context = Context()
    with pytest.raises(Aborted):
        await guarded(handler)(telephony_pb2.GetCallRequest(call_id="x" * 201), context)
    assert context.status.code == grpc.StatusCode.INVALID_ARGUMENT and reached == []
