"""Presence (RT-9): an agent whose desktop stops sending heartbeats goes not ready (`lost-presence`),
so that routing never offers contacts to a seat nobody sits at.

Heartbeats are not events: at one every 10 s from 2,000 desktops they would be most of the log and
say nothing an analyst needs. Each is a record on the compacted `routing.agent.presence.v1`, keyed by
tenant and agent, so the topic holds each agent's latest. Every routing instance reads the whole topic
(any instance may receive a desktop's heartbeat) and keeps the latest per agent.

The watch is a deadline (services.common.deadlines), set from two things: the agent's latest state (the
agents read model) and its latest heartbeat. An agent is watched once its desktop has sent a heartbeat
in its current session, and only while routing could offer it a contact (ready, or wrapping up into
ready); an agent on a call or on a break is left alone. Its deadline is the heartbeat's time plus the
timeout, and its command's id derives from the heartbeat and the agent's version, so instances that
both fire it append once, and an agent made ready again without a heartbeat is watched again.

Nothing is judged before the topic has been read to its end at start, and no deadline falls earlier
than a timeout after that moment: an instance that was down longer than the timeout (or is still
replaying old heartbeats) must not take every ready agent for gone.
"""

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from aiokafka import AIOKafkaProducer, ConsumerRecord
from cc.routing.v1 import commands_pb2, routing_pb2
from google.protobuf.message import DecodeError

from services.common import kafka, tail
from services.common.aggregate import Versioned
from services.common.command_bus import caused_by
from services.common.deadlines import Deadline, Deadlines
from services.common.envelope import timestamp, to_datetime
from services.common.projection import Observer
from services.common.topics import AGENT_PRESENCE, AGENTS
from services.routing.domain import READY, WRAP_UP, AgentStatus

log = logging.getLogger(__name__)
Key = tuple[str, str]  # tenant, agent


def watched_until(agent: AgentStatus, heartbeat_at: float | None, timeout_seconds: float) -> float | None:
    """When the agent loses presence unless another heartbeat comes (epoch seconds), or None while it is
    not watched: no heartbeat in this session, or in a state where nothing would be offered to it."""
    if heartbeat_at is None or agent.logged_in_at is None or agent.state not in (READY, WRAP_UP):
        return None
    if heartbeat_at < agent.logged_in_at.timestamp():
        return None  # an earlier session's desktop
    return heartbeat_at + timeout_seconds


class Presence:
    """Writes heartbeats, follows the presence topic, and keeps each watched agent's deadline. A
    companion of the routing service (ready once it has read the topic to its end at start), and its
    timer factory (`timer`) for the agents read model."""

    def __init__(
        self, bootstrap_servers: str, timeout_seconds: float, clock: Callable[[], float] = time.time
    ) -> None:
        self._bootstrap = bootstrap_servers
        self.timeout_seconds = timeout_seconds
        self._clock = clock
        self._heartbeats: dict[Key, float] = {}
        self._agents: dict[Key, Versioned[AgentStatus]] = {}
        self._deadlines: Deadlines | None = None
        self._producer: AIOKafkaProducer | None = None
        # When the topic had been read to its end at start; None before.
        self._watch_from: float | None = None

    def timer(self, deadlines: Deadlines) -> Observer:
        """The observer of the agents read model: every change of an agent re-judges its watch."""
        self._deadlines = deadlines

        def observe(entry: Versioned[AgentStatus]) -> None:
            key = (entry.tenant_id, entry.aggregate_id)
            self._agents[key] = entry
            self._judge(key)

        return observe

    def heard(self, tenant_id: str, agent_id: str, at: float) -> None:
        """A heartbeat read from the topic (the latest wins; one read again changes nothing)."""
        key = (tenant_id, agent_id)
        if at > self._heartbeats.get(key, float("-inf")):
            self._heartbeats[key] = at
            self._judge(key)

    def _judge(self, key: Key) -> None:
        entry = self._agents.get(key)
        if self._deadlines is None or entry is None:
            return
        heartbeat_at = self._heartbeats.get(key)
        if self._watch_from is None:
            return
        until = watched_until(entry.state, heartbeat_at, self.timeout_seconds)
        # The agents' other timers (wrap-up) share these deadlines, keyed by tenant and agent.
        deadline_key = (key[0], f"presence/{key[1]}")
        if until is None or heartbeat_at is None:
            self._deadlines.cancel(deadline_key)
            return
        cause = f"presence/{heartbeat_at:.6f}/{entry.version}"

        def lost() -> commands_pb2.AgentCommand:
            meta = caused_by(cause, "mark-lost-presence", key[0], key[1], key[1])
            return commands_pb2.AgentCommand(meta=meta, mark_lost_presence=commands_pb2.MarkLostPresence())

        until = max(until, self._watch_from + self.timeout_seconds)
        remaining = max(0.0, until - self._clock())
        self._deadlines.set(deadline_key, Deadline(cause, timedelta(seconds=remaining), AGENTS, lost))

    async def beat(self, tenant_id: str, agent_id: str) -> routing_pb2.Heartbeat:
        """Record a heartbeat of the agent's desktop; every instance reads it from the topic."""
        assert self._producer is not None, "a heartbeat before the presence companion started"
        heartbeat = routing_pb2.Heartbeat(
            agent_id=agent_id,
            received_at=timestamp(datetime.fromtimestamp(self._clock(), UTC)),
            timeout_seconds=int(self.timeout_seconds),
            tenant_id=tenant_id,
        )
        key = f"{tenant_id}/{agent_id}".encode()
        await self._producer.send_and_wait(AGENT_PRESENCE, heartbeat.SerializeToString(), key=key)
        return heartbeat

    def ready(self) -> bool:
        return self._watch_from is not None

    def caught_up(self) -> None:
        """The topic has been read to its end: judge every agent from now on."""
        self._watch_from = self._clock()
        log.info("presence caught up: %d agent(s) heard", len(self._heartbeats))
        for key in list(self._agents):
            self._judge(key)

    async def run(self) -> None:
        self._producer = kafka.idempotent_producer(self._bootstrap)
        await self._producer.start()
        try:
            await tail.follow(
                self._bootstrap,
                tail.Follower([AGENT_PRESENCE], lambda tp, end: 0, self._read_all, self.caught_up),
            )
        finally:
            await self._producer.stop()

    def _read_all(self, records: list[ConsumerRecord]) -> None:
        for record in records:
            self._read(record.value)

    def _read(self, value: bytes | None) -> None:
        try:
            heartbeat = routing_pb2.Heartbeat.FromString(value or b"")
        except DecodeError:  # a record nobody here wrote: skip it, never stop watching
            log.warning("unreadable presence record skipped")
            return
        if heartbeat.tenant_id and heartbeat.agent_id:
            self.heard(
                heartbeat.tenant_id, heartbeat.agent_id, to_datetime(heartbeat.received_at).timestamp()
            )
