"""The single writer of an aggregate type (ARCHITECTURE: event sourcing on Kafka).

A consumer group reads `<context>.<aggregate>.commands.v1`. Whoever owns partition p is the only writer
of the aggregates keyed to p. On assignment it replays `<context>.<aggregate>.events.v1` partition p to
its end before it handles a command. For each command: a repeated command_id -> the original outcome,
nothing appended; an expected_version mismatch -> ABORTED; otherwise decide -> events.

The events of one command and the command's offset are committed in one Kafka transaction, by a
transactional producer whose id belongs to the partition (`<group>.<p>`). So a command's events are
all written or none (readers use read_committed), a crash before the commit leaves nothing and the
command is redelivered, and a previous owner that has not noticed it lost the partition is fenced
when the new owner starts that producer. The reply goes out after the commit; a lost reply is
recovered by retrying with the same command_id.
"""

import asyncio
import logging
from datetime import UTC, datetime
from typing import Generic

from aiokafka import (
    AIOKafkaConsumer,
    AIOKafkaProducer,
    ConsumerRebalanceListener,
    ConsumerRecord,
    TopicPartition,
)
from aiokafka.errors import ProducerFenced
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
        self._producer = producer  # replies and dead letters, outside any transaction
        self._group = f"{spec.context}.{spec.aggregate_type}.command-processor"
        self._consumer: AIOKafkaConsumer | None = None
        self._writers: dict[int, AIOKafkaProducer] = {}  # owned partition -> its transactional producer
        self._states: dict[Key, Versioned[S]] = {}
        self._partition_of: dict[Key, int] = {}
        # command_id -> (partition, the reply it got); rebuilt from the events' causation ids on replay.
        self._outcomes: dict[str, tuple[int, types_pb2.CommandReply]] = {}
        # Held while a command is handled; a revocation waits for it, so no command straddles a hand-over.
        self._lock = asyncio.Lock()
        self.assigned = asyncio.Event()
        self._tracer = telemetry.tracer(__name__)

    # -- lifecycle -------------------------------------------------------------------------------
    async def run(self) -> None:
        self._consumer = kafka.group_consumer(self._bootstrap, self._group)
        self._consumer.subscribe([self.spec.topics.commands], listener=self)
        await self._consumer.start()
        try:
            while True:
                batches = await self._consumer.getmany(timeout_ms=200)
                for tp, records in batches.items():
                    for record in records:
                        async with self._lock:
                            writer = self._writers.get(tp.partition)
                            if writer is None:
                                break  # the partition moved on; its new owner resumes from the last commit
                            await self._process(record, tp, writer)
        finally:
            async with self._lock:
                await self._stop_writers(list(self._writers))
            await self._consumer.stop()

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        async with self._lock:
            lost = {tp.partition for tp in revoked}
            await self._stop_writers(lost)
            for key in [k for k, p in self._partition_of.items() if p in lost]:
                self._states.pop(key, None)
                self._partition_of.pop(key, None)
            for command_id in [c for c, (p, _) in self._outcomes.items() if p in lost]:
                del self._outcomes[command_id]

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        async with self._lock:
            for tp in assigned:
                # Starting the partition's transactional producer fences any previous owner of it.
                writer = kafka.transactional_producer(self._bootstrap, f"{self._group}.{tp.partition}")
                await writer.start()
                self._writers[tp.partition] = writer
            await self._replay([tp.partition for tp in assigned])
        self.assigned.set()

    async def _stop_writers(self, partitions: set[int] | list[int]) -> None:
        for partition in partitions:
            writer = self._writers.pop(partition, None)
            if writer is not None:
                await writer.stop()

    async def _replay(self, partitions: list[int]) -> None:
        events = [TopicPartition(self.spec.topics.events, p) for p in partitions]
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
            sorted(partitions),
        )

    # -- state -------------------------------------------------------------------------------------
    def _apply(self, event: event_pb2.Event, partition: int) -> None:
        key = (event.tenant_id, event.aggregate_id)
        current = self._states.get(key)
        if current is not None and event.aggregate_version <= current.version:
            return  # already applied: replays are idempotent
        state = self.spec.evolve(current.state if current else None, event)
        self._states[key] = Versioned(state, event.aggregate_version, event.tenant_id, event.aggregate_id)
        self._partition_of[key] = partition
        _, outcome = self._outcomes.setdefault(
            event.causation_id,
            (
                partition,
                types_pb2.CommandReply(command_id=event.causation_id, aggregate_id=event.aggregate_id),
            ),
        )
        outcome.aggregate_version = event.aggregate_version
        outcome.event_ids.append(event.event_id)

    # -- commands ----------------------------------------------------------------------------------
    async def _process(self, record: ConsumerRecord, tp: TopicPartition, writer: AIOKafkaProducer) -> None:
        command = self.spec.command_type()
        try:
            command.ParseFromString(record.value)
            if not command.meta.command_id or not command.meta.tenant_id or not command.meta.aggregate_id:
                raise ValueError("command without command_id, tenant_id or aggregate_id")
        except (DecodeError, ValueError) as error:
            await kafka.send_to_dlq(self._producer, record, f"unreadable command: {error}")
            await self._commit(writer, tp, record, [])
            return
        context = telemetry.extract_context(record.headers)
        with self._tracer.start_as_current_span(f"decide {self.spec.aggregate_type}", context=context):
            reply, events = self._decide(command)
            try:
                await self._commit(writer, tp, record, events)
            except ProducerFenced:
                log.warning(
                    "%s partition %s was taken over; leaving command %s to its new owner",
                    self.spec.topics.commands,
                    tp.partition,
                    command.meta.command_id,
                )
                await self._stop_writers([tp.partition])
                return
        for event in events:
            self._apply(event, tp.partition)
        if events:
            reply.CopyFrom(self._outcomes[command.meta.command_id][1])
        if command.meta.reply_to:
            reply.reply_to = command.meta.reply_to
            await self._producer.send_and_wait(
                self.spec.topics.replies,
                value=reply.SerializeToString(),
                key=command.meta.reply_to.encode(),
                headers=telemetry.inject_headers(),
            )

    def _decide(self, command: C) -> tuple[types_pb2.CommandReply, list[event_pb2.Event]]:
        """The reply and the events of one command; no events for a duplicate or a refusal."""
        meta = command.meta
        earlier = self._outcomes.get(meta.command_id)
        if earlier is not None:
            duplicate = types_pb2.CommandReply()
            duplicate.CopyFrom(earlier[1])
            duplicate.duplicate = True
            return duplicate, []
        current = self._states.get((meta.tenant_id, meta.aggregate_id))
        version = current.version if current else 0
        reply = types_pb2.CommandReply(
            command_id=meta.command_id, aggregate_id=meta.aggregate_id, aggregate_version=version
        )
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
        except PlatformError as error:
            reply.error.CopyFrom(error.to_proto())
            return reply, []
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
        return reply, events

    async def _commit(
        self,
        writer: AIOKafkaProducer,
        tp: TopicPartition,
        record: ConsumerRecord,
        events: list[event_pb2.Event],
    ) -> None:
        """Append the events and move past the command, atomically."""
        headers = telemetry.inject_headers()
        async with writer.transaction():
            for event in events:
                await writer.send(
                    self.spec.topics.events,
                    value=event.SerializeToString(),
                    key=aggregate_key(event.tenant_id, event.aggregate_id),
                    partition=tp.partition,
                    headers=headers,
                )
            await writer.send_offsets_to_transaction({tp: record.offset + 1}, self._group)
