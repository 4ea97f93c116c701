"""The routing service's board view on a real broker, on topics of its own: it replays a history written
in transactions (commit markers at every partition's end, one transaction aborted) to the end offsets
it saw at start, folds the decisions after the call events that caused them even though the decisions
were written first, and then follows new events."""

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta

import pytest
from aiokafka import AIOKafkaProducer
from cc.routing.v1 import events_pb2 as routing_events
from cc.routing.v1 import routing_pb2
from cc.telephony.v1 import events_pb2 as call_events
from google.protobuf.message import Message

from services.common import kafka
from services.common.envelope import aggregate_key, new_id
from services.common.errors import NotFound
from services.common.settings import PlatformSettings
from services.common.topics import AGENTS, CALLS, ROUTING_DECISIONS, TopicSpec, ensure_topics
from services.routing.board import NOT_READY, READY
from services.routing.board_view import BoardView
from tests.unit.support import changed, envelope, logged_in, queued

TENANT = "tenant-view"
PARTITIONS = 3


class History:
    """Events of one tenant on topics of their own, each stamped `seconds` after a start."""

    def __init__(self) -> None:
        prefix = f"it-view-{new_id()[-12:]}."
        self.calls, self.agents, self.decisions = (
            prefix + t for t in (CALLS.events, AGENTS.events, ROUTING_DECISIONS)
        )
        self.start = datetime.now(UTC) - timedelta(minutes=5)
        self.versions: dict[str, int] = {}

    @property
    def topics(self) -> tuple[str, str, str]:
        return (self.calls, self.agents, self.decisions)

    def record(
        self, topic: str, aggregate_id: str, payload: Message, seconds: float, version: int = 0
    ) -> tuple[str, bytes, bytes, int]:
        """(topic, key, value, timestamp ms) of one event."""
        kind = {self.calls: "call", self.agents: "agent", self.decisions: "contact"}[topic]
        self.versions[f"{kind}/{aggregate_id}"] = (
            version or self.versions.get(f"{kind}/{aggregate_id}", 0) + 1
        )
        when = self.start + timedelta(seconds=seconds)
        event = envelope(
            payload,
            context="telephony" if kind == "call" else "routing",
            aggregate_type=kind,
            aggregate_id=aggregate_id,
            version=self.versions[f"{kind}/{aggregate_id}"],
            when=when,
            tenant_id=TENANT,
        )
        return (
            topic,
            aggregate_key(TENANT, aggregate_id),
            event.SerializeToString(),
            int(when.timestamp() * 1000),
        )


def decision(contact_id: str, agent_id: str) -> routing_events.ContactRouted:
    return routing_events.ContactRouted(contact_id=contact_id, agent_id=agent_id, queue_id="member")


async def write(
    producer: AIOKafkaProducer, records: list[tuple[str, bytes, bytes, int]], *, abort: bool = False
) -> None:
    await producer.begin_transaction()
    for topic, key, value, timestamp_ms in records:
        await producer.send(topic, key=key, value=value, timestamp_ms=timestamp_ms)
    await (producer.abort_transaction() if abort else producer.commit_transaction())


@pytest.fixture
async def history(kafka_bootstrap: str) -> AsyncIterator[History]:
    found = History()
    platform_partitions = PlatformSettings().cc_partitions
    await ensure_topics(
        kafka_bootstrap, platform_partitions, {t: TopicSpec(PARTITIONS) for t in found.topics}
    )
    yield found


@pytest.fixture
async def producer(kafka_bootstrap: str) -> AsyncIterator[AIOKafkaProducer]:
    started = kafka.transactional_producer(kafka_bootstrap, f"it-view-{new_id()}")
    await started.start()
    try:
        yield started
    finally:
        await started.stop()


async def until(probe: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    try:
        async with asyncio.timeout(timeout):
            while not probe():
                await asyncio.sleep(0.05)
    except TimeoutError:
        raise AssertionError(what) from None


async def test_the_view_replays_to_the_end_in_time_order_then_follows(
    kafka_bootstrap: str, history: History, producer: AIOKafkaProducer
) -> None:
    h = history
    # The worker's decisions, written before the events that caused them but stamped after them.
    await write(
        producer,
        [
            h.record(h.decisions, "call-1", decision("call-1", "kim"), 3, version=1),
            h.record(h.decisions, "call-1", decision("call-1", "lee"), 20, version=2),
        ],
    )
    await write(
        producer,
        [
            h.record(h.agents, "kim", logged_in(member=5), 0),
            h.record(h.agents, "lee", logged_in(member=7), 1),
            h.record(h.calls, "call-1", queued("member", 2), 2),
            h.record(h.calls, "call-1", call_events.CallRinging(agent_id="kim", queue_id="member"), 4),
            h.record(h.calls, "call-1", call_events.CallRingNoAnswer(agent_id="kim", queue_id="member"), 19),
            h.record(h.calls, "call-1", queued("member", 2, reason="ring-no-answer"), 19),
            h.record(h.agents, "kim", changed(NOT_READY, READY, reason="ring-no-answer"), 19.5),
            h.record(h.calls, "call-1", call_events.CallRinging(agent_id="lee", queue_id="member"), 21),
            h.record(h.calls, "call-2", queued("member", 22), 22),
        ],
    )
    await write(producer, [h.record(h.calls, "call-aborted", queued("member", 23), 23)], abort=True)

    view = BoardView(kafka_bootstrap, h.topics)
    running = asyncio.create_task(view.run())
    try:
        await until(view.ready, "the view never caught up")
        now = (h.start + timedelta(seconds=30)).timestamp()
        ringing = view.candidates(TENANT, "call-1", now)
        assert (ringing.status, ringing.agent_id) == (routing_pb2.CONTACT_ROUTING_STATUS_RINGING, "lee")
        waiting = view.candidates(TENANT, "call-2", now)
        assert waiting.status == routing_pb2.CONTACT_ROUTING_STATUS_WAITING
        assert [(c.agent_id, c.skipped_reason) for c in waiting.candidates] == [
            ("lee", "reserved"),
            ("kim", "not-ready"),
        ]
        with pytest.raises(NotFound):
            view.candidates(TENANT, "call-aborted", now)

        await write(
            producer,
            [
                h.record(h.calls, "call-1", call_events.CallAnswered(agent_id="lee", queue_id="member"), 31),
                h.record(h.agents, "kim", changed(READY, NOT_READY), 32),
            ],
        )

        def answered() -> bool:
            board = view.board(TENANT)
            return board is not None and "call-1" not in board.routed and board.agents["kim"].state == READY

        await until(answered, "the view never followed the answer")
        assert [
            (c.agent_id, c.eligible, c.rank) for c in view.candidates(TENANT, "call-2", now).candidates
        ] == [
            ("kim", True, 1),
            ("lee", False, 0),
        ]
        assert view.unreadable == 0
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
