"""Faust agents: re-key events by tenant, fold them into the tenant's board, emit routing decisions
(ContactRouted on routing.decisions.v1) and publish live queue metrics every second."""

import logging
import time
from datetime import UTC, datetime
from typing import Any

import faust
from aiokafka import AIOKafkaProducer
from cc.common.v1 import event_pb2, types_pb2
from google.protobuf.message import DecodeError

from services.common import kafka
from services.common.envelope import build_event
from services.common.topics import QUEUE_METRICS, ROUTING_DECISIONS, dlq
from services.routing.board import Board, apply
from services.routing.matching import Decision, dispatch, unrung_decisions
from services.routing.metrics import all_queue_metrics
from services.routing.stream.app import Topics, raw_topic

log = logging.getLogger(__name__)
# The queues of the default contact centre and the skill each requires (the IVR's menu options).
DEFAULT_QUEUES = {"member": "member", "payment": "payment", "general": "general"}
METRICS_INTERVAL_SECONDS = 1.0
# A decision whose agent has not rung by then is sent again (it may have been lost in a crash).
RESEND_AFTER_SECONDS = 5.0


def decision_record(tenant_id: str, decision: Decision, causation_id: str) -> tuple[bytes, bytes]:
    """A routing decision as the key and value of a routing.decisions.v1 record."""
    routed = build_event(
        decision.routed,
        context="routing",
        aggregate_type="contact",
        aggregate_id=decision.contact.contact_id,
        aggregate_version=decision.contact.routings,
        tenant_id=tenant_id,
        occurred_at=datetime.now(UTC),
        correlation_id=decision.contact.correlation_id,
        causation_id=causation_id,
        customer_id=decision.contact.customer_id,
        actor=types_pb2.Actor(type=types_pb2.ACTOR_TYPE_SYSTEM),
    )
    return f"{tenant_id}/{decision.contact.contact_id}".encode(), routed.SerializeToString()


def install(app: faust.App, topics: Topics, bootstrap_servers: str) -> None:
    cache: dict[str, Board] = {}
    # Metrics (and re-sent decisions) go out from a timer, outside any stream: a plain producer sends them.
    metrics_producers: list[AIOKafkaProducer] = []
    resent: dict[str, float] = {}  # decision id -> when it was last re-sent by this worker

    def board_of(tenant_id: str) -> Board:
        board = cache.get(tenant_id)
        if board is None:
            stored = topics.boards.get(tenant_id)
            board = (
                Board.from_json(stored) if stored else Board(tenant_id=tenant_id, queues=dict(DEFAULT_QUEUES))
            )
            cache[tenant_id] = board
        return board

    @app.agent(topics.sources)
    async def repartition(stream: faust.StreamT) -> None:
        async for message in stream.events():
            event = event_pb2.Event()
            try:
                event.ParseFromString(message.value)
                if not event.tenant_id:
                    raise ValueError("event without tenant")
            except (DecodeError, ValueError) as error:
                source = message.message.topic
                await raw_topic(app, dlq(source)).send(
                    key=message.key,
                    value=message.value,
                    headers={"dlq-reason": f"routing-stream: {error}".encode()},
                )
                continue
            await topics.board_input.send(key=event.tenant_id.encode(), value=message.value)

    @app.agent(topics.board_input)
    async def route(stream: faust.StreamT) -> None:
        async for value in stream:
            event = event_pb2.Event.FromString(value)
            board = board_of(event.tenant_id)
            if not apply(board, event):
                continue
            decisions = dispatch(board, time.time())
            topics.boards[event.tenant_id] = board.to_json()
            for decision in decisions:
                key, value = decision_record(event.tenant_id, decision, event.event_id)
                await topics.decisions.send(key=key, value=value)
                log.info(
                    "routed %s to %s: %s",
                    decision.contact.contact_id,
                    decision.routed.agent_id,
                    decision.routed.explanation,
                )

    @app.task
    async def start_metrics_producer() -> None:
        producer = kafka.idempotent_producer(bootstrap_servers)
        await producer.start()
        metrics_producers.append(producer)

    @app.timer(METRICS_INTERVAL_SECONDS)
    async def publish_queue_metrics() -> None:
        if not metrics_producers:
            return
        now = time.time()
        for tenant_id in list(topics.boards.keys()):
            board = board_of(tenant_id)
            for decision in unrung_decisions(board, now, RESEND_AFTER_SECONDS):
                last = resent.get(decision.routed.decision_id, 0.0)
                if now - last >= RESEND_AFTER_SECONDS:
                    resent[decision.routed.decision_id] = now
                    key, value = decision_record(tenant_id, decision, decision.routed.decision_id)
                    await metrics_producers[0].send(ROUTING_DECISIONS, key=key, value=value)
                    log.warning(
                        "re-sent decision %s for %s", decision.routed.decision_id, decision.contact.contact_id
                    )
            for metrics in all_queue_metrics(board, now):
                await metrics_producers[0].send(
                    QUEUE_METRICS,
                    key=f"{tenant_id}/{metrics.queue_id}".encode(),
                    value=metrics.SerializeToString(),
                )

    @app.on_partitions_revoked.connect
    async def forget_boards(sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        cache.clear()  # partitions may move: reload boards from the table once it has recovered
