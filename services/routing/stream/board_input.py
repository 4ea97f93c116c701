"""What a board-input record carries: a call, agent or queue event re-keyed by tenant, on the tenant's
board partition, with a `cc-source` header naming the source record it was forwarded from. By that
header the board tells a record forwarded twice (after a crash) from a new one (services.routing.board).

A tick (`cc-tick` header, the tenant id as its value) tells the board's owner that some of the
tenant's waiting contacts are due to widen their target; a tick read twice widens nothing twice."""

from collections.abc import Iterable, Mapping

from aiokafka.partitioner import murmur2

from services.routing.board import SourcePosition

SOURCE_HEADER = "cc-source"
TICK_HEADER = "cc-tick"

Headers = Mapping[str, bytes] | Iterable[tuple[str, bytes]] | None


def board_partition(tenant_id: str, partitions: int) -> int:
    """aiokafka's default partitioner on the tenant key, named explicitly so that the owner of a
    tenant's board can be told from the tenant alone."""
    return (murmur2(tenant_id.encode()) & 0x7FFFFFFF) % partitions


def source_header(position: SourcePosition) -> bytes:
    return f"{position.topic}/{position.partition}/{position.offset}".encode()


def source_of(headers: Headers) -> SourcePosition:
    """The source position a board-input record names; ValueError when it names none."""
    pairs = headers.items() if isinstance(headers, Mapping) else headers or ()
    for name, value in pairs:
        if name == SOURCE_HEADER:
            topic, partition, offset = value.decode().rsplit("/", 2)
            return SourcePosition(topic, int(partition), int(offset))
    raise ValueError(f"no {SOURCE_HEADER} header")


def tick_record(tenant_id: str, partitions: int) -> tuple[bytes, bytes, int, list[tuple[str, bytes]]]:
    """The key, value, partition and headers of a tick for the tenant's board."""
    return (
        tenant_id.encode(),
        tenant_id.encode(),
        board_partition(tenant_id, partitions),
        [(TICK_HEADER, b"")],
    )


def is_tick(headers: Headers) -> bool:
    pairs = headers.items() if isinstance(headers, Mapping) else headers or ()
    return any(name == TICK_HEADER for name, _ in pairs)
