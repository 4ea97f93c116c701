"""What a board-input record carries: a call or agent event re-keyed by tenant, on the tenant's board
partition, with a `cc-source` header naming the source record it was forwarded from. By that header
the board tells a record forwarded twice (after a crash) from a new one (services.routing.board)."""

from collections.abc import Iterable, Mapping

from aiokafka.partitioner import murmur2

from services.routing.board import SourcePosition

SOURCE_HEADER = "cc-source"

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
