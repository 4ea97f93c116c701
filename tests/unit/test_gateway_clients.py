"""The gateway's calls to the services carry a deadline, so no REST request waits on a service forever."""

from typing import Any

import grpc

from services.gateway.clients import Deadline


async def test_a_call_without_a_deadline_gets_one_and_one_with_a_deadline_keeps_it() -> None:
    seen: list[float | None] = []

    async def continuation(details: grpc.aio.ClientCallDetails, request: Any) -> str:
        seen.append(details.timeout)
        return "answered"

    deadline = Deadline(15.0)
    for timeout in (None, 2.0):
        method = "/cc.telephony.v1.TelephonyService/OfferCall"
        details = grpc.aio.ClientCallDetails(method, timeout, None, None, None)
        assert await deadline.intercept_unary_unary(continuation, details, object()) == "answered"
    assert seen == [15.0, 2.0]
