"""Snapshots of aggregate state on the compacted `<context>.<aggregate>.snapshots.v1`.

The single writer of a partition writes, every so many events and inside the same transaction as a
batch of commands, a snapshot of each aggregate the partition changed since its last checkpoint, then a
checkpoint record naming the events offset and the outcomes offset those snapshots cover. Compaction
keeps the latest record per key, so the topic holds about one snapshot per aggregate plus the latest
checkpoint per partition. A new owner (or a read model) loads them and replays only the events from the
checkpoint on; replaying an event a snapshot already includes changes nothing (versions only grow).

Snapshots are an optimisation, never the truth: a partition without a checkpoint, or with a snapshot in
a schema this code does not know (the state type changed), is rebuilt from its events instead.
"""

import hashlib
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from typing import Any, Generic, TypeVar

from aiokafka import AIOKafkaConsumer, TopicPartition
from cc.common.v1 import snapshot_pb2
from google.protobuf.message import DecodeError
from pydantic import TypeAdapter, ValidationError

from services.common import kafka
from services.common.envelope import aggregate_key, timestamp
from services.common.outcomes import CommandLedger

log = logging.getLogger(__name__)
T = TypeVar("T")
CHECKPOINT_KEY = b"\x00checkpoint"
Key = tuple[str, str]


class StateCodec(Generic[T]):
    """JSON of an aggregate's state dataclass (through pydantic, so datetimes, tuples and enums
    round-trip), with a schema fingerprint that changes whenever the state's fields or types do."""

    def __init__(self, state_type: type[T]) -> None:
        self._adapter: TypeAdapter[T] = TypeAdapter(state_type)

    @cached_property
    def schema(self) -> str:
        described = json.dumps(self._adapter.json_schema(), sort_keys=True).encode()
        return hashlib.sha256(described).hexdigest()[:16]

    def encode(self, state: T) -> bytes:
        return self._adapter.dump_json(state)

    def decode(self, data: bytes) -> T:
        return self._adapter.validate_json(data)


@dataclass
class SnapshotOf(Generic[T]):
    tenant_id: str
    aggregate_id: str
    version: int
    state: T | None
    ledger: CommandLedger


@dataclass
class PartitionSnapshot(Generic[T]):
    """Everything one partition's snapshots say, and where its events and outcomes must be replayed from."""

    aggregates: dict[Key, SnapshotOf[T]]
    events_offset: int
    outcomes_offset: int


def snapshot_record(codec: StateCodec[T], snapshot: SnapshotOf[T]) -> tuple[bytes, bytes]:
    """The key and value of one aggregate's snapshot record."""
    message = snapshot_pb2.AggregateSnapshot(
        tenant_id=snapshot.tenant_id,
        aggregate_id=snapshot.aggregate_id,
        aggregate_version=snapshot.version,
        schema=codec.schema,
        state=codec.encode(snapshot.state) if snapshot.state is not None else b"",
        ledger=snapshot.ledger.to_bytes(),
    )
    return aggregate_key(snapshot.tenant_id, snapshot.aggregate_id), message.SerializeToString()


def checkpoint_record(codec: StateCodec[Any], events_offset: int, outcomes_offset: int) -> bytes:
    return snapshot_pb2.SnapshotCheckpoint(
        events_offset=events_offset,
        outcomes_offset=outcomes_offset,
        schema=codec.schema,
        written_at=timestamp(datetime.now(UTC)),
    ).SerializeToString()


class UnusableSnapshots(Exception):
    """The partition's snapshots cannot be trusted as a whole; its events are replayed instead."""


async def load_partition(
    consumer: AIOKafkaConsumer, tp: TopicPartition, codec: StateCodec[T]
) -> PartitionSnapshot[T] | None:
    """The latest snapshot of each aggregate of one partition and its latest checkpoint, streaming; None
    when the partition must be replayed from its first event instead."""
    latest: dict[bytes, bytes] = {}
    checkpoint: snapshot_pb2.SnapshotCheckpoint | None = None
    async for records in kafka.read_to_end(consumer, {tp: 0}):
        for record in records:
            if record.key == CHECKPOINT_KEY:
                checkpoint = _checkpoint(record.value)
            elif record.key is not None and record.value is not None:
                latest[record.key] = record.value
            elif record.key is not None:  # a tombstone: read as compaction will leave the topic
                latest.pop(record.key, None)
    if checkpoint is None:
        return None
    try:
        if checkpoint.schema != codec.schema:
            raise UnusableSnapshots(f"checkpoint schema {checkpoint.schema}, code {codec.schema}")
        aggregates = dict(_decoded(latest.values(), codec))
    except UnusableSnapshots as why:
        log.warning("%s: snapshots not used (%s); replaying the events instead", tp, why)
        return None
    return PartitionSnapshot(aggregates, checkpoint.events_offset, checkpoint.outcomes_offset)


def _checkpoint(value: bytes | None) -> snapshot_pb2.SnapshotCheckpoint | None:
    try:
        return snapshot_pb2.SnapshotCheckpoint.FromString(value or b"")
    except DecodeError:
        return None


def _decoded(values: Any, codec: StateCodec[T]) -> Iterator[tuple[Key, SnapshotOf[T]]]:
    for value in values:
        try:
            message = snapshot_pb2.AggregateSnapshot.FromString(value)
            if message.schema != codec.schema:
                raise UnusableSnapshots(f"a snapshot of schema {message.schema}")
            state = codec.decode(message.state) if message.state else None
        except (DecodeError, ValidationError, ValueError) as error:
            raise UnusableSnapshots(f"an unreadable snapshot: {error}") from error
        key = (message.tenant_id, message.aggregate_id)
        yield (
            key,
            SnapshotOf(
                message.tenant_id,
                message.aggregate_id,
                message.aggregate_version,
                state,
                CommandLedger(message.ledger),
            ),
        )
