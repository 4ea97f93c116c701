"""The single writer of an aggregate type (ARCHITECTURE: event sourcing on Kafka).

A consumer group reads `<context>.<aggregate>.commands.v1`. Whoever owns partition p is the only writer
of the aggregates keyed to p, so no two writers race on one aggregate. On assignment it replays
`<context>.<aggregate>.events.v1` partition p to its end before it handles a command. For each command:
repeated command_id -> the original outcome, nothing appended; expected_version mismatch -> ABORTED;
otherwise decide -> events produced with the idempotent producer -> acknowledged -> reply -> offset
committed. A crash between append and commit replays the command, which the command_id rule absorbs.
"""

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any, Generic

from aiokafka import (
    AIOKafkaConsumer,
    AIOKafkaProducer,
    ConsumerRebalanceListener,
    ConsumerRecord,
    TopicPartition,
)
from cc.common.v1 import event_pb2, types_pb2
from google.protobuf.message import DecodeError

from services.common import kafka, telemetry
from services.common.aggregate import AggregateSpec, C, S, Versioned
from services.common.envelope import aggregate_key, build_event
from services.common.errors import InvalidArgument, PlatformError, VersionConflict

log = logging.getLogger(__name__)
Key = tuple[str, str]


class CommandProcessor(ConsumerRebalanceListener, Generic[S, C]):
    def __init__(self, spec: AggregateSpec[S, C], bootstrap_servers: str, producer: AIOKafkaProducer) -> None:
        self.spec = spec
        self._bootstrap = bootstrap_servers
        self._producer = producer
        self._consumer: AIOKafkaConsumer | None = None
        self._states: dict[Key, Versioned[S]] = {}
        # command_id -> the reply it got; rebuilt from events' causation ids on replay.
        self._outcomes: dict[str, types_pb2.CommandReply] = {}
        self._partitions_of: dict[Key, int] = {}
        self.assigned = asyncio.Event()
        self._tracer = telemetry.tracer(__name__)

    # -- lifecycle -------------------------------------------------------------------------------
    async def run(self) -> None:
        group = f"{self.spec.context}.{self.spec.aggregate_type}.command-processor"
        self._consumer = kafka.group_consumer(self._bootstrap, group)
        self._consumer.subscribe([self.spec.topics.commands], listener=self)
        await self._consumer.start()
        try:
            while True:
                batches = await self._consumer.getmany(timeout_ms=200)
                if not self._consumer.assignment():
                    continue
                for tp, records in batches.items():
                    for record in records:
                        await self._process(record)
                    await self._consumer.commit({tp: records[-1].offset + 1})
        finally:
            await self._consumer.stop()

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        lost = {tp.partition for tp in revoked}
        for key in [k for k, p in self._partitions_of.items() if p in lost]:
            self._states.pop(key, None)
            self._partitions_of.pop(key, None)

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        events = [TopicPartition(self.spec.topics.events, tp.partition) for tp in assigned]
        consumer = kafka.reader(self._bootstrap)
        await consumer.start()
        try:
            records = await kafka.replay(consumer, events)
        finally:
            await consumer.stop()
        for record in records:
            event = event_pb2.Event()
            try:
                event.ParseFromString(record.value)
                self._apply(event, record.partition)
            except Exception:  # one bad record in the log must not stop the owner from serving the rest
                log.exception("cannot replay %s/%s/%s", record.topic, record.partition, record.offset)
        log.info(
            "%s: replayed %d events for partitions %s",
            self.spec.topics.events,
            len(records),
            sorted(tp.partition for tp in assigned),
        )
        self.assigned.set()

    # -- state -------------------------------------------------------------------------------------
    def _apply(self, event: event_pb2.Event, partition: int) -> None:
        key = (event.tenant_id, event.aggregate_id)
        current = self._states.get(key)
        if current is not None and event.aggregate_version <= current.version:
            return  # already applied: replays are idempotent
        state = self.spec.evolve(current.state if current else None, event)
        self._states[key] = Versioned(state, event.aggregate_version, event.tenant_id, event.aggregate_id)
        self._partitions_of[key] = partition
        outcome = self._outcomes.setdefault(
            event.causation_id,
            types_pb2.CommandReply(command_id=event.causation_id, aggregate_id=event.aggregate_id),
        )
        outcome.aggregate_version = event.aggregate_version
        outcome.event_ids.append(event.event_id)

    # -- commands ----------------------------------------------------------------------------------
    async def _process(self, record: ConsumerRecord) -> None:
        command = self.spec.command_type()
        try:
            command.ParseFromString(record.value)
            if not command.meta.command_id or not command.meta.tenant_id or not command.meta.aggregate_id:
                raise ValueError("command without command_id, tenant_id or aggregate_id")
        except (DecodeError, ValueError) as error:
            await kafka.send_to_dlq(self._producer, record, f"unreadable command: {error}")
            return
        context = telemetry.extract_context(record.headers)
        with self._tracer.start_as_current_span(f"decide {self.spec.aggregate_type}", context=context):
            reply = await self._handle(command, record.partition)
        if command.meta.reply_to:
            reply.reply_to = command.meta.reply_to
            await self._producer.send_and_wait(
                self.spec.topics.replies,
                value=reply.SerializeToString(),
                key=command.meta.reply_to.encode(),
                headers=telemetry.inject_headers(),
            )

    async def _handle(self, command: C, partition: int) -> types_pb2.CommandReply:
        meta = command.meta
        earlier = self._outcomes.get(meta.command_id)
        if earlier is not None:
            duplicate = types_pb2.CommandReply()
            duplicate.CopyFrom(earlier)
            duplicate.duplicate = True
            return duplicate
        key = (meta.tenant_id, meta.aggregate_id)
        current = self._states.get(key)
        version = current.version if current else 0
        try:
            if meta.HasField("expected_version") and meta.expected_version != version:
                raise VersionConflict(
                    "version-conflict",
                    f"{self.spec.aggregate_type} {meta.aggregate_id} is at version {version}, "
                    f"not {meta.expected_version}",
                )
            now = datetime.now(UTC)
            payloads = self.spec.decide(current.state if current else None, command, now)
            if not payloads:
                raise InvalidArgument("empty-command", "the command carries nothing to do")
            customer_id = self.spec.customer_of(current.state if current else None, command)
            events = [
                build_event(
                    payload,
                    context=self.spec.context,
                    aggregate_type=self.spec.aggregate_type,
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
        except PlatformError as error:
            return types_pb2.CommandReply(
                command_id=meta.command_id,
                aggregate_id=meta.aggregate_id,
                aggregate_version=version,
                error=error.to_proto(),
            )
        await self._append(events, partition)
        for event in events:
            self._apply(event, partition)
        reply = types_pb2.CommandReply()
        reply.CopyFrom(self._outcomes[meta.command_id])
        return reply

    async def _append(self, events: list[event_pb2.Event], partition: int) -> None:
        headers = telemetry.inject_headers()
        sends: list[Any] = [
            await self._producer.send(
                self.spec.topics.events,
                value=event.SerializeToString(),
                key=aggregate_key(event.tenant_id, event.aggregate_id),
                partition=partition,
                headers=headers,
            )
            for event in events
        ]
        await asyncio.gather(*sends)  # every event acknowledged (acks=all) before the reply and the commit
