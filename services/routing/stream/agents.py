"""Faust agents and timers of the routing stream worker: re-key call and agent events by tenant, fold
them into the tenant's board, send routing decisions (ContactRouted on routing.decisions.v1), publish
live queue metrics and the waiting contacts' estimated waits, and send again the decisions that never
rang. Each event's fold and each decision are spans of the call's trace (`tracing`)."""

import logging
import time
from collections.abc import Sequence
from typing import Any, cast

import faust
from cc.common.v1 import event_pb2
from google.protobuf.message import DecodeError

from services.common import telemetry
from services.common.consumer_lag import MeasuredLag
from services.routing.agent_stats import queue_occupancies
from services.routing.board import FORWARDED_PAYLOADS, Board, SourcePosition, apply
from services.routing.matching import Decision, dispatch, expand_targets, unrung_decisions
from services.routing.metrics import all_queue_metrics
from services.routing.stream import topics
from services.routing.stream.app import app, settings
from services.routing.stream.board_input import (
    SOURCE_HEADER,
    board_partition,
    is_tick,
    source_header,
    source_of,
    tick_record,
)
from services.routing.stream.boards import OwnedBoards
from services.routing.stream.decisions import (
    decision_record,
    estimate_record,
    expansion_event_id,
    expansion_record,
)
from services.routing.stream.ready_file import Heartbeat, ReadyFile
from services.routing.stream.recovery_watch import RecoveryWatch, request_rejoin
from services.routing.stream.tracing import deciding, routing
from services.routing.waiting import due_estimates, wait_estimated

log = logging.getLogger(__name__)
# The queues of the default contact centre and the skill each requires (the IVR's menu options).
DEFAULT_QUEUES = {"member": "member", "payment": "payment", "general": "general"}
RESEND_CHECK_SECONDS = 1.0
OCCUPANCY_REFRESH_SECONDS = 1.0
EXPAND_CHECK_SECONDS = 1.0
ESTIMATE_CHECK_SECONDS = 1.0
RECOVERY_CHECK_SECONDS = 2.0
HEARTBEAT_SECONDS = 5.0  # the liveness probe allows a minute without one
LAG_CHECK_SECONDS = 1.0  # how often it looks; it measures every consumer_lag.MEASURE_SECONDS

boards = OwnedBoards(settings.cc_partitions, DEFAULT_QUEUES)
recovery_watch = RecoveryWatch(settings.routing_recovery_stall_seconds)
ready_file = ReadyFile(settings.routing_stream_ready_file)
heartbeat = Heartbeat(settings.routing_stream_heartbeat_file)
# The worker's consumer lag, measured while metrics are exported (services/common/consumer_lag.py).
lag = MeasuredLag(settings.routing_stream_id)
# decision id -> when this worker last sent it again
resent: dict[str, float] = {}
# tenant -> when its queues' occupancies were computed, and them
occupancy_cache: dict[str, tuple[float, dict[str, float | None]]] = {}
# tenant -> waiting contact id -> when this worker last sent its estimated wait
estimates_sent: dict[str, dict[str, float]] = {}


def tenant_event(value: bytes) -> event_pb2.Event:
    event = event_pb2.Event.FromString(value)
    if not event.tenant_id:
        raise ValueError("event without tenant")
    return event


async def dead_letter(message: faust.types.Message, error: Exception) -> None:
    await topics.dead_letters[message.topic].send(
        key=message.key,
        value=message.value,
        headers={"dlq-reason": f"routing-stream: {error}".encode()},
    )


def recovered() -> bool:
    """The board table has recovered since the latest start or rebalance, and no rebalance runs."""
    return boards.recovered and app.tables.actives_ready and not app.rebalancing


@app.agent(topics.sources)
async def repartition(stream: faust.StreamT[bytes]) -> None:
    """Forward the events the board folds to the tenant's board partition, naming their source."""
    async for event in stream.events():
        message = event.message
        try:
            envelope = tenant_event(message.value)
        except (DecodeError, ValueError) as error:
            await dead_letter(message, error)
            continue
        if envelope.WhichOneof("payload") not in FORWARDED_PAYLOADS:
            continue
        source = SourcePosition(message.topic, message.partition, message.offset)
        await topics.board_input.send(
            key=envelope.tenant_id.encode(),
            value=message.value,
            partition=board_partition(envelope.tenant_id, settings.cc_partitions),
            headers=[(SOURCE_HEADER, source_header(source)), *telemetry.trace_headers(message.headers)],
        )


@app.agent(topics.board_input)
async def route(stream: faust.StreamT[bytes]) -> None:
    """Fold each event into its tenant's board, write the entries it changed, send its decisions."""
    async for event in stream.events():
        message = event.message
        if is_tick(message.headers):
            await widen(message.value.decode())
            continue
        try:
            envelope, source = tenant_event(message.value), source_of(message.headers)
        except (DecodeError, ValueError) as error:
            await dead_letter(message, error)
            continue
        with routing(message, envelope, settings.routing_stream_id):
            board = await boards.board(envelope.tenant_id)
            try:
                if not apply(board, envelope, source):
                    continue
                decisions = dispatch(board, time.time())
            except Exception as error:  # a bug on this one event: park it, never stop routing the partition
                log.exception("cannot route on %s %s", envelope.event_type, envelope.event_id)
                boards.reload(envelope.tenant_id, topics.board_entries.items())
                await dead_letter(message, error)
                continue
            await save_and_send(board, decisions, envelope.event_id)


async def save_and_send(
    board: Board,
    decisions: list[Decision],
    causation_id: str,
    expanded: Sequence[tuple[bytes, bytes]] = (),
) -> None:
    """Write the entries the board changed, then send the widened targets and the decisions."""
    # Synchronously, so no rebalance falls between the entries of one change (redo record first).
    for entry_key, entry in board.take_changelog():
        if entry is not None:
            topics.board_entries[entry_key] = entry
        elif entry_key in topics.board_entries:
            del topics.board_entries[entry_key]
    for key, value in expanded:
        await topics.decisions.send(key=key, value=value)
    for decision in decisions:
        key, value = decision_record(board.tenant_id, decision, causation_id)
        with deciding(decision) as headers:
            await topics.decisions.send(key=key, value=value, headers=headers)
        log.info(
            "routed %s to %s: %s",
            decision.contact.contact_id,
            decision.routed.agent_id,
            decision.routed.explanation,
        )


@app.timer(HEARTBEAT_SECONDS)
async def beat() -> None:
    heartbeat.beat()


@app.timer(settings.routing_metrics_interval_seconds)
async def publish_queue_metrics() -> None:
    if not recovered():
        return
    now = time.time()
    for board in boards.owned():
        if not recovered():  # a rebalance began while the last board's metrics were being sent
            return
        for metrics in all_queue_metrics(board, now, occupancies(board, now)):
            await topics.queue_metrics.send(
                key=f"{board.tenant_id}/{metrics.queue_id}".encode(), value=metrics.SerializeToString()
            )


async def widen(tenant_id: str) -> None:
    """On a tick: widen the targets of the tenant's contacts that have waited long enough (RT-5), and
    route where that made a match."""
    board = await boards.board(tenant_id)
    now = time.time()
    try:
        expansions = expand_targets(board, now)
        decisions = dispatch(board, now) if expansions else []
    except Exception:  # a bug on this board: drop what it half did, never stop routing the partition
        log.exception("cannot widen targets of tenant %s", tenant_id)
        boards.reload(tenant_id, topics.board_entries.items())
        return
    if expansions:
        records = [expansion_record(tenant_id, expansion, now) for expansion in expansions]
        # the decisions that follow were made possible by this widening
        await save_and_send(board, decisions, expansion_event_id(tenant_id, expansions[0]), records)


@app.timer(EXPAND_CHECK_SECONDS)
async def tick_boards_with_targets_due() -> None:
    """A board whose contacts are due to widen gets a tick on its board-input partition: only the
    `route` agent, inside its stream, may change the board table (Faust writes a table's changelog for
    the record being processed), so the widening happens there."""
    if not recovered():
        return
    now = time.time()
    for board in boards.owned():
        if board.due_expansions(now):
            key, value, partition, headers = tick_record(board.tenant_id, settings.cc_partitions)
            await topics.board_input.send(key=key, value=value, partition=partition, headers=headers)


def occupancies(board: Board, now: float) -> dict[str, float | None]:
    """The board's queue occupancies, computed at most once a second (O(agents) per queue), however
    often metrics are published: a metrics interval far below a second (the tests race recovery at
    10 ms) must not keep the event loop from anything else."""
    cached = occupancy_cache.get(board.tenant_id)
    if cached is None or not 0 <= now - cached[0] < OCCUPANCY_REFRESH_SECONDS:
        cached = occupancy_cache[board.tenant_id] = (
            now,
            queue_occupancies(board, board.queues, now),
        )
    return cached[1]


@app.timer(RESEND_CHECK_SECONDS)
async def resend_unrung_decisions() -> None:
    if not recovered():
        return
    now, after = time.time(), settings.routing_resend_after_seconds
    unrung = [(board.tenant_id, d) for board in boards.owned() for d in unrung_decisions(board, now, after)]
    for decision_id in set(resent) - {d.routed.decision_id for _, d in unrung}:
        del resent[decision_id]  # rang, or no longer routed
    for tenant_id, decision in unrung:
        decision_id = decision.routed.decision_id
        if now - resent.get(decision_id, 0.0) >= after:
            resent[decision_id] = now
            key, value = decision_record(tenant_id, decision, decision_id)
            await topics.decisions.send(key=key, value=value)
            log.warning("re-sent decision %s for %s", decision_id, decision.contact.contact_id)


@app.timer(ESTIMATE_CHECK_SECONDS)
async def send_wait_estimates() -> None:
    """Each waiting contact's position and estimated wait (RT-10), when due (`due_estimates`). They read
    the board and change nothing on it, so they go out from here, not from the `route` agent."""
    if not recovered():
        return
    now, interval = time.time(), settings.routing_wait_estimate_interval_seconds
    for board in boards.owned():
        if not recovered():  # a rebalance began while the last board's estimates were being sent
            return
        sent = estimates_sent.setdefault(board.tenant_id, {})
        for contact_id in set(sent) - set(board.waiting):
            del sent[contact_id]  # routed or gone
        for contact in due_estimates(board, sent, now, interval):
            sent[contact.contact_id] = now
            key, value = estimate_record(board.tenant_id, contact, wait_estimated(board, contact, now), now)
            await topics.decisions.send(key=key, value=value)


@app.timer(LAG_CHECK_SECONDS)
async def measure_lag() -> None:
    """The consumer's lag on the topics it reads, for the lag gauge (only while metrics are exported);
    not on the table's changelog, which the worker writes and reads only to recover."""
    if recovered() and lag.due():
        consumer, changelogs = app.consumer, app.tables.changelog_topics
        assigned = [tp for tp in consumer.assignment() if tp.topic not in changelogs]
        await lag.measure(assigned, consumer.highwater, consumer.position)


@app.timer(RECOVERY_CHECK_SECONDS)
async def restart_a_stalled_recovery() -> None:
    recovery: Any = cast(Any, app.tables).recovery  # the TableManager's, not in Faust's typing
    remaining = recovery.active_remaining_total() if recovery.in_recovery else 0
    if not recovery_watch.stalled(recovery.in_recovery, recovery.active_offsets, remaining, time.monotonic()):
        return
    log.warning(
        "board table recovery read nothing for %ss with %d records to go: rejoining the group",
        recovery_watch.stall_seconds,
        remaining,
    )
    thread: Any = cast(Any, app.consumer)._thread  # Faust's consumer runs in a thread of its own, own loop
    await thread.call_thread(request_rejoin, thread._ensure_consumer())


@app.on_partitions_revoked.connect
async def forget_boards(sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
    ready_file.not_ready()
    boards.forget()
    occupancy_cache.clear()
    estimates_sent.clear()


@topics.board_entries.on_recover
async def rebuild_boards() -> None:
    """The table has recovered: build the boards of the tenants this worker now owns from it."""
    changelog = topics.board_entries.changelog_topic.get_topic_name()
    owned = {tp.partition for tp in app.assignor.assigned_actives() if tp.topic == changelog}
    store = topics.board_entries.data
    for key in boards.rebuild(list(store.items()), owned):
        del store[key]
    log.info("boards rebuilt from the table for %d tenant(s) on partitions %s", len(boards.owned()), owned)
    ready_file.ready()
