"""Helpers the thin servicers share to answer from a read model."""

from google.protobuf.message import Message

from services.common.aggregate import AggregateCommand, C, S, Versioned
from services.common.command_bus import CommandBus, idempotency
from services.common.errors import NotFound, Unavailable
from services.common.projection import Projection


async def execute(
    bus: CommandBus,
    projection: Projection[S, C],
    command: AggregateCommand,
    request_id: str,
    wait_seconds: float = 5.0,
) -> Versioned[S]:
    """Send the command (idempotent under the client's request_id) and return the aggregate as of the
    version the command produced, from the read model once it has caught up: answering from the owner's
    state saved about 2 ms, but then a list read right after the write could miss it."""
    idempotency(command, projection.spec.aggregate_type, request_id)
    reply = await bus.send(projection.spec.topics, command)
    tenant_id, version = command.meta.tenant_id, reply.aggregate_version
    entry = await projection.wait_for(tenant_id, reply.aggregate_id, version, wait_seconds)
    if entry is None or entry.version < version:
        # The command wrote this version: a read model that has not seen it yet is behind (say, it is
        # reconnecting to a broker that was away), which is no proof that the aggregate is not there.
        kind = projection.spec.aggregate_type
        raise Unavailable(
            "read-model-behind", f"{kind} {reply.aggregate_id} is written but not yet readable here; retry"
        )
    return entry


async def lookup(
    projection: Projection[S, C], tenant_id: str, aggregate_id: str, min_version: int = 0
) -> Versioned[S]:
    entry = (
        await projection.wait_for(tenant_id, aggregate_id, min_version)
        if min_version
        else projection.get(tenant_id, aggregate_id)
    )
    kind = projection.spec.aggregate_type
    if entry is None:
        raise NotFound(f"{kind}-not-found", f"{kind} {aggregate_id} does not exist")
    if entry.version < min_version:
        raise Unavailable(
            "read-model-behind",
            f"{kind} {aggregate_id} is at version {entry.version} here, not yet {min_version}",
        )
    return entry


def expected_version(request: Message) -> int | None:
    """The optional `expected_version` of a write request: None when the client did not set it."""
    return int(request.expected_version) if request.HasField("expected_version") else None  # type: ignore[attr-defined]
