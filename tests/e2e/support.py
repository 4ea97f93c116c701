"""Small helpers the end-to-end tests share: reading a gRPC refusal's field violations, and polling a
REST resource until it shows what a test waits for (events, not timers, decide when it has arrived)."""

import asyncio
from collections.abc import Callable
from typing import Any

import grpc
import httpx
from google.rpc import error_details_pb2
from grpc_status import rpc_status


def violated_fields(error: grpc.RpcError) -> list[str]:
    """The fields a refusal's BadRequest detail names (none when it has no such detail)."""
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    bad = error_details_pb2.BadRequest()
    if status is None or not any(d.Unpack(bad) for d in status.details if d.Is(bad.DESCRIPTOR)):
        return []
    return [v.field for v in bad.field_violations]


async def until(
    rest: httpx.AsyncClient, path: str, done: Callable[[Any], bool], what: str, **params: Any
) -> Any:
    """GET `path` until its 200 body satisfies `done` (45 s at most: a loaded machine stalls for long)."""
    async with asyncio.timeout(45):
        while True:
            response = await rest.get(path, params=params or None)
            if response.status_code == 200 and done(response.json()):
                return response.json()
            await asyncio.sleep(0.2)
    raise AssertionError(what)  # unreachable: the timeout raises first


async def journey_to_the_end(rest: httpx.AsyncClient, customer_id: str) -> Any:
    """The customer's journey once the sink has stored a call's end."""
    return await until(
        rest,
        f"/v1/customers/{customer_id}/journey",
        lambda body: any(e["event_type"] == "telephony.call.ended" for e in body["events"]),
        "the journey never showed the end",
    )
