"""The routing service's read model of the routing boards: every tenant's board, so that the service can
list every candidate for a contact in routing (RT-8, `ListCandidates`) without asking the stream worker.

It reads queue, call, contact and agent events and routing decisions from the beginning (read
committed) and folds them with the worker's own `apply`; the decisions tell it which agent is reserved
for which contact. It never dispatches: routing is the worker's alone, and this board only follows its
decisions.

**Order across topics.** A decision follows the call and agent events that caused it and precedes the
ringing it causes, but the three topics are separate logs whose partitions a consumer hands over
separately (during the replay at start, one partition can be far ahead of another). So records are
folded in timestamp order across partitions, the way Kafka Streams synchronises the partitions of a
task: the next record is the earliest one buffered, unless a partition with nothing buffered still has
records to read (its position is below its last stable offset), since one of those may be earlier; the
merge waits for them, at most `MAX_IDLE_SECONDS` (as Streams' `max.task.idle.ms`). A partition with
`MAX_BUFFERED` records waiting is paused meanwhile, so memory stays bounded. Timestamps come from
different producers; what the merge cannot order is left to the fold (`board._contact_routed`).
"""

import asyncio
import heapq
import logging
import time
from collections import deque
from collections.abc import Collection, Iterable, Sequence
from datetime import UTC, datetime

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from cc.common.v1 import event_pb2
from cc.routing.v1 import routing_pb2
from google.protobuf.message import DecodeError

from services.common import kafka
from services.common.envelope import timestamp
from services.common.errors import NotFound
from services.common.topics import AGENTS, CALLS, CONTACTS, QUEUES, ROUTING_DECISIONS
from services.routing.agent_stats import agent_statistics
from services.routing.board import Board, SourcePosition, WaitingContact, apply
from services.routing.matching import candidates_for
from services.routing.waiting import estimated_wait_seconds, position

log = logging.getLogger(__name__)
# Queue, call and agent events first: on a tie (the same millisecond) a decision goes after its causes.
TOPICS = (QUEUES.events, CALLS.events, CONTACTS.events, AGENTS.events, ROUTING_DECISIONS)
MAX_IDLE_SECONDS = 1.0
MAX_BUFFERED = 10_000


def candidate_list(board: Board, contact: WaitingContact, now: float) -> routing_pb2.ListCandidatesResponse:
    """Where a contact in routing stands and every logged-in agent for it, as of `now` (epoch seconds)."""
    if contact.contact_id in board.waiting:
        status = routing_pb2.CONTACT_ROUTING_STATUS_WAITING
    elif contact.rung:
        status = routing_pb2.CONTACT_ROUTING_STATUS_RINGING
    else:
        status = routing_pb2.CONTACT_ROUTING_STATUS_RESERVED
    listed = routing_pb2.ListCandidatesResponse(
        contact_id=contact.contact_id,
        queue_id=contact.queue_id,
        required_skill=board.queues[contact.queue_id].skill_label,
        status=status,
        agent_id=contact.agent_id,
        waited_seconds=round(now - contact.enqueued_at, 3),
        as_of=timestamp(datetime.fromtimestamp(now, UTC)),
        enqueued_at=timestamp(datetime.fromtimestamp(contact.enqueued_at, UTC)),
        candidates=candidates_for(board, contact, now),
    )
    if status == routing_pb2.CONTACT_ROUTING_STATUS_WAITING:
        listed.position = position(board, contact)
        estimate = estimated_wait_seconds(board, contact)
        if estimate is not None:
            listed.estimated_wait_seconds = round(estimate, 3)
    return listed


class TimestampMerge:
    """Records of several partitions, handed over in timestamp order (see the module docstring)."""

    def __init__(self, topics: Sequence[str], max_idle_seconds: float = MAX_IDLE_SECONDS) -> None:
        self._rank = {topic: rank for rank, topic in enumerate(topics)}
        self._max_idle = max_idle_seconds
        self._buffers: dict[TopicPartition, deque[ConsumerRecord]] = {}
        # Since when a lagging partition with nothing buffered has held the others back.
        self._waiting_since: float | None = None

    def add(self, records: Iterable[ConsumerRecord]) -> None:
        for record in records:
            tp = TopicPartition(record.topic, record.partition)
            self._buffers.setdefault(tp, deque()).append(record)

    def buffered(self, tp: TopicPartition) -> int:
        return len(self._buffers.get(tp, ()))

    def holds_before(self, tp: TopicPartition, offset: int) -> bool:
        """Whether a record of `tp` below `offset` is still waiting to be handed over."""
        buffer = self._buffers.get(tp)
        return buffer is not None and bool(buffer) and buffer[0].offset < offset

    def take(self, lagging: Collection[TopicPartition], now: float) -> list[ConsumerRecord]:
        """The records that can go now, in order. `lagging`: partitions with records not yet added."""
        starving = {tp for tp in lagging if not self._buffers.get(tp)}
        heap = [(self._order(buffer[0]), tp) for tp, buffer in self._buffers.items() if buffer]
        heapq.heapify(heap)
        taken: list[ConsumerRecord] = []
        while heap:
            if starving:
                if self._waiting_since is None:
                    self._waiting_since = now
                if now - self._waiting_since < self._max_idle:
                    return taken
            else:
                self._waiting_since = None
            _, tp = heapq.heappop(heap)
            buffer = self._buffers[tp]
            taken.append(buffer.popleft())
            if buffer:
                heapq.heappush(heap, (self._order(buffer[0]), tp))
            elif tp in lagging:
                starving.add(tp)
        if not starving:
            self._waiting_since = None
        return taken

    def _order(self, record: ConsumerRecord) -> tuple[int, int, int]:
        return (record.timestamp, self._rank[record.topic], record.partition)


class BoardView:
    """Every tenant's routing board, caught up once it has folded what the topics held at its start."""

    def __init__(self, bootstrap_servers: str, topics: Sequence[str] = TOPICS) -> None:
        self._bootstrap = bootstrap_servers
        self._topics = tuple(topics)
        self._boards: dict[str, Board] = {}
        self._caught_up = asyncio.Event()
        self.unreadable = 0

    def ready(self) -> bool:
        return self._caught_up.is_set()

    def board(self, tenant_id: str) -> Board | None:
        return self._boards.get(tenant_id)

    def candidates(self, tenant_id: str, contact_id: str, now: float) -> routing_pb2.ListCandidatesResponse:
        """Every candidate for a contact waiting, reserved or ringing; NotFound once it is answered or
        ended, or when the tenant has no such contact."""
        board = self._boards.get(tenant_id)
        contact = None if board is None else board.waiting.get(contact_id) or board.routed.get(contact_id)
        if board is None or contact is None:
            raise NotFound("contact-not-found", f"contact {contact_id} is not waiting for an agent")
        return candidate_list(board, contact, now)

    def queue_candidates(
        self, tenant_id: str, queue_id: str, now: float
    ) -> routing_pb2.ListCandidatesResponse:
        """Every candidate for a new contact of the queue, as if one arrived now."""
        board = self._boards.get(tenant_id)
        if board is None or queue_id not in board.queues:
            raise NotFound("queue-not-found", f"queue {queue_id} does not exist")
        rule = board.queues[queue_id]
        arriving = WaitingContact("", queue_id, rule.skill_label, 0, now, "", "")
        return routing_pb2.ListCandidatesResponse(
            queue_id=queue_id,
            required_skill=rule.skill_label,
            as_of=timestamp(datetime.fromtimestamp(now, UTC)),
            candidates=candidates_for(board, arriving, now),
        )

    def agent_statistics(
        self, tenant_id: str, site_id: str, now: float
    ) -> routing_pb2.ListAgentStatisticsResponse:
        """Today's statistics of the tenant's logged-in agents (of one site, or all), by agent id."""
        board = self._boards.get(tenant_id)
        listed = routing_pb2.ListAgentStatisticsResponse()
        if board is not None:
            seats = sorted(board.agents.values(), key=lambda seat: seat.agent_id)
            listed.agents.extend(
                agent_statistics(board, seat, now) for seat in seats if not site_id or seat.site_id == site_id
            )
        return listed

    def fold(self, record: ConsumerRecord) -> None:
        """Fold one record into its tenant's board; an unreadable one is skipped and counted (a read
        model is no consumer group: the groups dead-letter)."""
        event = event_pb2.Event()
        try:
            event.ParseFromString(record.value)
        except DecodeError:
            self.unreadable += 1
            log.error("unreadable record at %s/%s/%s", record.topic, record.partition, record.offset)
            return
        board = self._boards.get(event.tenant_id)
        if board is None:
            board = self._boards[event.tenant_id] = Board(event.tenant_id)
        try:
            apply(board, event, SourcePosition(record.topic, record.partition, record.offset))
        except Exception:  # an event the board cannot follow: skip, never stop answering
            self.unreadable += 1
            log.exception("cannot fold %s %s", event.event_type, event.event_id)
        board.drop_changelog()

    async def run(self) -> None:
        consumer = kafka.reader(self._bootstrap)
        await consumer.start()
        try:
            partitions = await kafka.partitions_of(consumer, self._topics)
            consumer.assign(partitions)
            await consumer.seek_to_beginning(*partitions)
            ends = await consumer.end_offsets(partitions)
            merge = TimestampMerge(self._topics)
            while True:
                batches = await consumer.getmany(timeout_ms=200, max_records=kafka.REPLAY_BATCH)
                merge.add(record for records in batches.values() for record in records)
                positions = {tp: await consumer.position(tp) for tp in partitions}
                lagging = {tp for tp in partitions if positions[tp] < _stable_end(consumer, tp, ends[tp])}
                for record in merge.take(lagging, time.monotonic()):
                    self.fold(record)
                _pause_the_full(consumer, merge, partitions)
                if not self._caught_up.is_set() and all(
                    positions[tp] >= end and not merge.holds_before(tp, end) for tp, end in ends.items()
                ):
                    log.info("routing board view caught up: %d tenant(s)", len(self._boards))
                    self._caught_up.set()
        finally:
            await consumer.stop()


def _stable_end(consumer: AIOKafkaConsumer, tp: TopicPartition, at_start: int) -> int:
    """The partition's last stable offset as of its latest fetch (the one seen at start before any)."""
    stable = consumer.last_stable_offset(tp)
    return at_start if stable is None else int(stable)


def _pause_the_full(
    consumer: AIOKafkaConsumer, merge: TimestampMerge, partitions: list[TopicPartition]
) -> None:
    """Stop fetching a partition whose records wait on a slower one; fetch it again once they went."""
    full = [tp for tp in partitions if merge.buffered(tp) >= MAX_BUFFERED]
    consumer.pause(*full)
    consumer.resume(*(tp for tp in partitions if tp not in full))
