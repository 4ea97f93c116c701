"""What the event store needs to know about one aggregate type. Domain modules provide the pure
functions; the infrastructure in this package never looks inside states or payloads."""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Generic, Protocol, TypeVar

from cc.common.v1 import event_pb2, types_pb2
from google.protobuf.message import Message

from services.common.snapshots import StateCodec
from services.common.topics import AggregateTopics

S = TypeVar("S")
C = TypeVar("C", bound="AggregateCommand")


class AggregateCommand(Protocol):
    """A generated `<Aggregate>Command` message: CommandMeta plus a oneof of command payloads."""

    @property
    def meta(self) -> types_pb2.CommandMeta: ...

    def SerializeToString(self, *, deterministic: bool = ...) -> bytes: ...

    def ParseFromString(self, serialized: bytes, /) -> int: ...


@dataclass(frozen=True)
class ReadSpec(Generic[S]):
    """What a read model of an aggregate type needs: its topics and how its events fold into state.
    A context that reads another's aggregate (every service follows the gateway's API keys) uses this
    without the owner's decide."""

    topics: AggregateTopics
    evolve: Callable[[S | None, event_pb2.Event], S]
    state_type: type[S]

    @cached_property
    def codec(self) -> StateCodec[S]:
        return StateCodec(self.state_type)

    @property
    def aggregate_type(self) -> str:
        return self.topics.aggregate


@dataclass(frozen=True)
class AggregateSpec(Generic[S, C]):
    topics: AggregateTopics
    command_type: Callable[[], C]
    # decide(state or None, command, now) -> event payloads; raises PlatformError to refuse.
    decide: Callable[[S | None, C, datetime], Sequence[Message]]
    # evolve(state or None, event) -> state; never refuses.
    evolve: Callable[[S | None, event_pb2.Event], S]
    # The customer the aggregate's events belong to, for the envelope and the journey.
    customer_of: Callable[[S | None, C], str]
    # The state's dataclass, for snapshots.
    state_type: type[S]

    @cached_property
    def codec(self) -> StateCodec[S]:
        return StateCodec(self.state_type)

    @property
    def context(self) -> str:
        return self.topics.context

    @property
    def aggregate_type(self) -> str:
        return self.topics.aggregate


T = TypeVar("T")


def evolved(state: T, /, **changes: object) -> T:
    """`dataclasses.replace` for evolve functions, without running __init__ again: 1.5 µs against 12 per
    event, and a replay of a long log is mostly this. States are plain dataclasses with no __post_init__."""
    new = object.__new__(type(state))
    new.__dict__.update(state.__dict__)
    new.__dict__.update(changes)
    return new


@dataclass
class Versioned(Generic[S]):
    """An aggregate's state and the version of the last event applied to it."""

    state: S
    version: int
    tenant_id: str
    aggregate_id: str
