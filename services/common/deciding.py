"""Deciding one command against what the single writer holds of its aggregate: pure, no I/O.

Whatever goes wrong with one command (a domain refusal, a version conflict, an event too large for a
Kafka record, a bug in decide or evolve) becomes that command's refusal. The batch it came in carries
on; the partition never stops on it.
"""

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Generic

from cc.common.v1 import event_pb2, types_pb2

from services.common.aggregate import AggregateSpec, C, S
from services.common.envelope import build_event
from services.common.errors import InvalidArgument, PlatformError, VersionConflict
from services.common.outcomes import CommandLedger

log = logging.getLogger(__name__)


@dataclass
class Entry(Generic[S]):
    """What the single writer holds of one aggregate: its state (None until its first event), the
    version of its last event, and the commands it had within the outcome window."""

    state: S | None
    version: int
    ledger: CommandLedger = field(default_factory=CommandLedger)


@dataclass(frozen=True)
class Decided(Generic[S]):
    """One command's outcome: its reply and, when accepted, its events (each serialized once, for the
    size check and for the send) and the aggregate as they leave it."""

    reply: types_pb2.CommandReply
    events: list[event_pb2.Event]
    serialized: list[bytes]
    state: S | None
    version: int

    @property
    def accepted(self) -> bool:
        return bool(self.events)


def decide_command(
    spec: AggregateSpec[S, C], entry: Entry[S] | None, command: C, now: datetime, max_event_bytes: int
) -> Decided[S]:
    meta = command.meta
    state = entry.state if entry else None
    version = entry.version if entry else 0
    reply = types_pb2.CommandReply(
        command_id=meta.command_id, aggregate_id=meta.aggregate_id, aggregate_version=version
    )
    try:
        events = _events_of(spec, state, version, command, now)
        serialized = [_fitting(event, max_event_bytes) for event in events]
        for event in events:
            state = spec.evolve(state, event)
    except PlatformError as error:
        reply.error.CopyFrom(error.to_proto())
        return Decided(reply, [], [], entry.state if entry else None, version)
    except Exception:  # a bug in decide or evolve: refuse this command, never the batch or the partition
        log.exception("%s %s: command %s failed", spec.aggregate_type, meta.aggregate_id, meta.command_id)
        failure = PlatformError("command-failed", "the command could not be decided; it changed nothing")
        reply.error.CopyFrom(failure.to_proto())
        return Decided(reply, [], [], entry.state if entry else None, version)
    reply.aggregate_version = version + len(events)
    reply.event_ids.extend(event.event_id for event in events)
    return Decided(reply, events, serialized, state, reply.aggregate_version)


def _events_of(
    spec: AggregateSpec[S, C], state: S | None, version: int, command: C, now: datetime
) -> list[event_pb2.Event]:
    meta = command.meta
    if meta.HasField("expected_version") and meta.expected_version != version:
        raise VersionConflict(
            "version-conflict",
            f"{spec.aggregate_type} {meta.aggregate_id} is at version {version}, not {meta.expected_version}",
        )
    payloads = spec.decide(state, command, now)
    if not payloads:
        raise InvalidArgument("empty-command", "the command carries nothing to do")
    customer_id = spec.customer_of(state, command)
    return [
        build_event(
            payload,
            context=spec.context,
            aggregate_type=spec.aggregate_type,
            aggregate_id=meta.aggregate_id,
            aggregate_version=version + index,
            tenant_id=meta.tenant_id,
            occurred_at=now,
            correlation_id=meta.correlation_id or meta.aggregate_id,
            causation_id=meta.command_id,
            customer_id=customer_id,
            actor=meta.actor,
        )
        for index, payload in enumerate(payloads, start=1)
    ]


def _fitting(event: event_pb2.Event, max_event_bytes: int) -> bytes:
    """The event's bytes, if they fit one Kafka record: a command whose event would not fit is refused
    here rather than failing its transaction (and, retried forever, the partition)."""
    data = event.SerializeToString()
    if len(data) > max_event_bytes:
        raise InvalidArgument(
            "event-too-large",
            f"the command's {event.event_type} event would be {len(data)} bytes; "
            f"an event holds at most {max_event_bytes}",
        )
    return data


def replay(
    spec: AggregateSpec[S, C], entries: dict[tuple[str, str], Entry[S]], event: event_pb2.Event
) -> bool:
    """Fold one logged event into the entries; False when they include it already (a snapshot covered
    it, or it came twice): versions only grow, so replaying from any earlier offset rebuilds the same."""
    key = (event.tenant_id, event.aggregate_id)
    entry = entries.get(key)
    if entry is not None and event.aggregate_version <= entry.version:
        return False
    state = spec.evolve(entry.state if entry else None, event)
    entries[key] = Entry(state, event.aggregate_version, entry.ledger if entry else CommandLedger())
    return True


def duplicate_of(earlier: types_pb2.CommandReply) -> types_pb2.CommandReply:
    """The answer to a repeated command_id: the first outcome, marked as a repeat."""
    reply = types_pb2.CommandReply()
    reply.CopyFrom(earlier)
    reply.ClearField("reply_to")
    reply.duplicate = True
    return reply
