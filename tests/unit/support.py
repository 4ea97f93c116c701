"""Builders shared by the unit tests: envelopes around payloads, command metadata, an aggregate
history that folds `decide` output through `evolve`, and a feed of events into a routing board.

Every timestamp is T0 plus a number of seconds, so durations in assertions are exact."""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cc.common.v1 import event_pb2, types_pb2
from cc.routing.v1 import events_pb2 as routing_events
from cc.telephony.v1 import events_pb2 as call_events
from google.protobuf.message import Message

from services.common.envelope import build_event, payload_of, timestamp
from services.common.errors import PlatformError
from services.common.topics import AGENTS, CALLS, CONTACTS, QUEUES
from services.routing.board import Board, SourcePosition, apply

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
TENANT = "tenant-a"
SYSTEM = types_pb2.Actor(type=types_pb2.ACTOR_TYPE_SYSTEM, id="unit-test")


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def ts(seconds: float) -> float:
    """The board's clock reading (epoch seconds) `seconds` after T0."""
    return at(seconds).timestamp()


def meta(aggregate_id: str, tenant_id: str = TENANT) -> types_pb2.CommandMeta:
    return types_pb2.CommandMeta(
        command_id=f"cmd-{aggregate_id}",
        tenant_id=tenant_id,
        aggregate_id=aggregate_id,
        correlation_id=aggregate_id,
        actor=SYSTEM,
    )


def envelope(
    payload: Message,
    *,
    context: str,
    aggregate_type: str,
    aggregate_id: str,
    version: int,
    when: datetime,
    tenant_id: str = TENANT,
    customer_id: str = "",
) -> event_pb2.Event:
    return build_event(
        payload,
        context=context,
        aggregate_type=aggregate_type,
        aggregate_id=aggregate_id,
        aggregate_version=version,
        tenant_id=tenant_id,
        occurred_at=when,
        correlation_id=aggregate_id,
        causation_id="unit-test",
        customer_id=customer_id,
        actor=SYSTEM,
    )


@dataclass
class History:
    """One aggregate's event stream: decide a command, wrap each payload in an envelope with the next
    version, and evolve it into the state, as the command processor does."""

    decide: Callable[..., list[Message]]
    evolve: Callable[[Any, event_pb2.Event], Any]
    customer_of: Callable[[Any, Any], str]
    rules: Any
    context: str
    aggregate_type: str
    aggregate_id: str
    tenant_id: str = TENANT
    state: Any = None
    version: int = 0
    events: list[event_pb2.Event] = field(default_factory=list)

    def handle(self, command: Any, now: datetime) -> list[Message]:
        """Run one command; return the payloads it produced (already evolved into `state`)."""
        payloads = self.decide(self.state, command, now, self.rules)
        customer = self.customer_of(self.state, command)
        produced = []
        for payload in payloads:
            self.version += 1
            event = envelope(
                payload,
                context=self.context,
                aggregate_type=self.aggregate_type,
                aggregate_id=self.aggregate_id,
                version=self.version,
                when=now,
                tenant_id=self.tenant_id,
                customer_id=customer,
            )
            self.state = self.evolve(self.state, event)
            self.events.append(event)
            produced.append(payload_of(event))
        return produced


# ---- routing board feed ------------------------------------------------------------------------


def skills(**proficiencies: int) -> list[routing_events.Skill]:
    return [routing_events.Skill(name=name, proficiency=level) for name, level in proficiencies.items()]


def logged_in(
    site: str = "seoul", initial: int = routing_events.AGENT_STATE_READY, **proficiencies: int
) -> routing_events.AgentLoggedIn:
    return routing_events.AgentLoggedIn(site_id=site, skills=skills(**proficiencies), initial_state=initial)


def changed(
    state: int, previous: int, contact_id: str = "", reason: str = ""
) -> routing_events.AgentStateChanged:
    return routing_events.AgentStateChanged(
        state=state,
        previous_state=previous,
        contact_id=contact_id,
        reason=reason,  # type: ignore[arg-type]
    )


def queued(
    queue_id: str, enqueued: float, *, skill: str = "", priority: int = 0, reason: str = "menu-choice"
) -> call_events.CallQueued:
    return call_events.CallQueued(
        queue_id=queue_id,
        required_skill=skill or queue_id,
        priority=priority,
        enqueued_at=timestamp(at(enqueued)),
        reason=reason,
    )


def answered(agent_id: str, queue_id: str, enqueued: float) -> call_events.CallAnswered:
    return call_events.CallAnswered(agent_id=agent_id, queue_id=queue_id, enqueued_at=timestamp(at(enqueued)))


def contact_queued(
    queue_id: str, enqueued: float, *, channel: str = "chat", priority: int = 0
) -> routing_events.ContactQueued:
    """A synthetic contact of a channel other than voice joins a queue (RT-7)."""
    return routing_events.ContactQueued(
        channel=channel, queue_id=queue_id, priority=priority, enqueued_at=timestamp(at(enqueued))
    )


def accepted(agent_id: str, queue_id: str, enqueued: float) -> routing_events.ContactAccepted:
    return routing_events.ContactAccepted(
        agent_id=agent_id, queue_id=queue_id, enqueued_at=timestamp(at(enqueued))
    )


def ended(queue_id: str = "", agent_id: str = "", *, abandoned: bool = False) -> call_events.CallEnded:
    """A CallEnded as telephony emits it: abandoned in queue, or normal clearing after an answer."""
    reason = call_events.END_REASON_NORMAL_CLEARING
    if abandoned:
        reason = call_events.END_REASON_ABANDONED_IN_QUEUE
    return call_events.CallEnded(
        ended_by=call_events.PARTY_CALLER,
        reason=reason,
        abandoned=abandoned,
        queue_id=queue_id,
        agent_id=agent_id,
    )


@dataclass
class Feed:
    """Appends events to a board in log order, keeping one version counter per aggregate and reading
    each aggregate type from partition 0 of its events topic, offset after offset."""

    board: Board
    versions: dict[str, int] = field(default_factory=dict)
    offsets: dict[str, int] = field(default_factory=dict)

    def event(self, aggregate_type: str, aggregate_id: str, payload: Message, t: float) -> event_pb2.Event:
        key = f"{aggregate_type}/{aggregate_id}"
        self.versions[key] = self.versions.get(key, 0) + 1
        context = "telephony" if aggregate_type == "call" else "routing"
        return envelope(
            payload,
            context=context,
            aggregate_type=aggregate_type,
            aggregate_id=aggregate_id,
            version=self.versions[key],
            when=at(t),
            tenant_id=self.board.tenant_id,
            customer_id=f"customer-of-{aggregate_id}" if aggregate_type in ("call", "contact") else "",
        )

    def next_source(self, aggregate_type: str) -> SourcePosition:
        topics = {"call": CALLS.events, "queue": QUEUES.events, "contact": CONTACTS.events}
        topic = topics.get(aggregate_type, AGENTS.events)
        self.offsets[topic] = self.offsets.get(topic, -1) + 1
        return SourcePosition(topic, 0, self.offsets[topic])

    def deliver(self, event: event_pb2.Event, source: SourcePosition | None = None) -> bool:
        """Apply `event` as read from `source` (by default the next offset of its events topic)."""
        return apply(self.board, event, source or self.next_source(event.aggregate_type))

    def call(self, call_id: str, payload: Message, t: float) -> bool:
        return self.deliver(self.event("call", call_id, payload, t))

    def contact(self, contact_id: str, payload: Message, t: float) -> bool:
        """An event of a contact of another channel than voice (routing.contact)."""
        return self.deliver(self.event("contact", contact_id, payload, t))

    def agent(self, agent_id: str, payload: Message, t: float) -> bool:
        return self.deliver(self.event("agent", agent_id, payload, t))

    def queue(self, queue_id: str, payload: Message, t: float) -> bool:
        return self.deliver(self.event("queue", queue_id, payload, t))


@dataclass
class Changelog:
    """A compacted changelog as the stream worker's table holds it: the latest value of every key."""

    entries: dict[str, Any] = field(default_factory=dict)

    def write(self, records: list[tuple[str, Any]]) -> None:
        for key, value in records:
            if value is None:
                self.entries.pop(key, None)
            else:
                self.entries[key] = value

    def restore(self, tenant_id: str = TENANT) -> Board:
        return Board.restore(tenant_id, self.entries.items())


def refused(action: Callable[[], object], kind: type[PlatformError], error_id: str) -> PlatformError:
    """The error `action` raises: exactly `kind`, with `error_id`."""
    with pytest.raises(kind) as caught:
        action()
    assert type(caught.value) is kind
    assert caught.value.error_id == error_id
    return caught.value


def violated_fields(error: PlatformError) -> list[str]:
    return [violation.field for violation in error.field_violations]
