"""Faust agents and timers of the routing stream worker: re-key call and agent events by tenant, fold
them into the tenant's board, send routing decisions (ContactRouted on routing.decisions.v1), publish
live queue metrics, and send again the decisions that never rang."""

import logging
import time
from typing import Any

import faust
from cc.common.v1 import event_pb2
from google.protobuf.message import DecodeError

from services.routing.board import FORWARDED_PAYLOADS, SourcePosition, apply
from services.routing.matching import dispatch, unrung_decisions
from services.routing.metrics import all_queue_metrics
from services.routing.stream import topics
from services.routing.stream.app import app, settings
from services.routing.stream.board_input import SOURCE_HEADER, board_partition, source_header, source_of
from services.routing.stream.boards import OwnedBoards
from services.routing.stream.decisions import decision_record

log = logging.getLogger(__name__)
# The queues of the default contact centre and the skill each requires (the IVR's menu options).
DEFAULT_QUEUES = {"member": "member", "payment": "payment", "general": "general"}
RESEND_CHECK_SECONDS = 1.0

boards = OwnedBoards(settings.cc_partitions, DEFAULT_QUEUES)
# decision id -> when this worker last sent it again
resent: dict[str, float] = {}


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
            headers=[(SOURCE_HEADER, source_header(source))],
        )


@app.agent(topics.board_input)
async def route(stream: faust.StreamT[bytes]) -> None:
    """Fold each event into its tenant's board, write the entries it changed, send its decisions."""
    async for event in stream.events():
        message = event.message
        try:
            envelope, source = tenant_event(message.value), source_of(message.headers)
        except (DecodeError, ValueError) as error:
            await dead_letter(message, error)
            continue
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
        # Synchronously, so no rebalance falls between the entries of one event (redo record first).
        for entry_key, entry in board.take_changelog():
            if entry is not None:
                topics.board_entries[entry_key] = entry
            elif entry_key in topics.board_entries:
                del topics.board_entries[entry_key]
        for decision in decisions:
            key, value = decision_record(envelope.tenant_id, decision, envelope.event_id)
            await topics.decisions.send(key=key, value=value)
            log.info(
                "routed %s to %s: %s",
                decision.contact.contact_id,
                decision.routed.agent_id,
                decision.routed.explanation,
            )


@app.timer(settings.routing_metrics_interval_seconds)
async def publish_queue_metrics() -> None:
    if not recovered():
        return
    now = time.time()
    for board in boards.owned():
        if not recovered():  # a rebalance began while the last board's metrics were being sent
            return
        for metrics in all_queue_metrics(board, now):
            await topics.queue_metrics.send(
                key=f"{board.tenant_id}/{metrics.queue_id}".encode(), value=metrics.SerializeToString()
            )


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


@app.on_partitions_revoked.connect
async def forget_boards(sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
    boards.forget()


@topics.board_entries.on_recover
async def rebuild_boards() -> None:
    """The table has recovered: build the boards of the tenants this worker now owns from it."""
    changelog = topics.board_entries.changelog_topic.get_topic_name()
    owned = {tp.partition for tp in app.assignor.assigned_actives() if tp.topic == changelog}
    store = topics.board_entries.data
    for key in boards.rebuild(list(store.items()), owned):
        del store[key]
    log.info("boards rebuilt from the table for %d tenant(s) on partitions %s", len(boards.owned()), owned)
