"""Any instance accepts an RPC, sends the command to its aggregate's commands topic and answers when
the owner's reply arrives on the replies topic (matched by command_id, addressed by reply_to)."""

import asyncio
import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from functools import partial
from typing import cast

from aiokafka import AIOKafkaProducer, ConsumerRecord
from aiokafka.errors import KafkaError, MessageSizeTooLargeError
from aiokafka.structs import RecordMetadata
from cc.common.v1 import types_pb2
from google.protobuf.message import DecodeError, Message
from opentelemetry.context import Context

from services.common import kafka, tail, telemetry
from services.common.aggregate import AggregateCommand
from services.common.envelope import aggregate_key, derived_id, new_id, timestamp
from services.common.errors import InvalidArgument, PlatformError, Unavailable
from services.common.topics import AggregateTopics

log = logging.getLogger(__name__)


class CommandBus:
    def __init__(
        self, bootstrap_servers: str, producer: AIOKafkaProducer, instance_id: str, timeout_seconds: float
    ) -> None:
        self._bootstrap = bootstrap_servers
        self._producer = producer
        self.instance_id = instance_id
        self._timeout = timeout_seconds
        self._waiting: dict[str, asyncio.Future[types_pb2.CommandReply]] = {}
        self.listening = asyncio.Event()

    async def listen(self, replies_topics: list[str]) -> None:
        """Follow the replies topics from their end; only replies addressed to this instance matter."""
        await tail.follow(
            self._bootstrap,
            tail.Follower(replies_topics, lambda tp, end: end, self._take_replies, self.listening.set),
        )

    def _take_replies(self, records: list[ConsumerRecord]) -> None:
        mine = self.instance_id.encode()
        for record in records:
            if record.key != mine:
                continue
            try:
                self.deliver(types_pb2.CommandReply.FromString(record.value))
            except DecodeError:  # nobody here wrote it: its RPC times out, the others are answered
                log.error("unreadable reply at %s/%s/%s", record.topic, record.partition, record.offset)

    def deliver(self, reply: types_pb2.CommandReply) -> bool:
        """Hand a reply to the RPC waiting for it in this process; False when it is addressed elsewhere.
        An owner in the same process calls this directly, saving the replies topic a round trip."""
        if reply.reply_to != self.instance_id:
            return False
        future = self._waiting.pop(reply.command_id, None)
        if future is not None and not future.done():
            future.set_result(reply)
        return True

    async def send(self, topics: AggregateTopics, command: AggregateCommand) -> types_pb2.CommandReply:
        """Send and wait for the outcome; a refusal is raised as the PlatformError it carries."""
        meta = command.meta
        if not meta.aggregate_id:  # its owner would dead-letter it unanswered: refuse it here
            raise InvalidArgument(
                "invalid-argument", f"the {topics.aggregate} command names no {topics.aggregate}"
            )
        if not meta.command_id:
            meta.command_id = new_id()
        meta.reply_to = self.instance_id
        meta.issued_at.CopyFrom(timestamp(datetime.now(UTC)))
        future: asyncio.Future[types_pb2.CommandReply] = asyncio.get_running_loop().create_future()
        self._waiting[meta.command_id] = future
        try:
            # One deadline for the whole command, its send included: with the broker away the producer
            # would otherwise hold the RPC for its own request timeout (40 s) before giving up.
            async with asyncio.timeout(self._timeout):  # cheaper than wait_for: no task per command
                await self._producer.send_and_wait(
                    topics.commands,
                    value=command.SerializeToString(),
                    key=aggregate_key(meta.tenant_id, meta.aggregate_id),
                    headers=telemetry.inject_headers(),
                )
                reply = await future
        except MessageSizeTooLargeError as error:  # the request limits keep commands under it; still:
            raise InvalidArgument("command-too-large", f"the command is too large: {error}") from None
        except KafkaError as error:
            raise Unavailable("event-store-unavailable", f"could not send the command: {error}") from error
        except TimeoutError as error:
            raise Unavailable(
                "command-outcome-unknown",
                f"no outcome for command {meta.command_id} within {self._timeout}s; a retry with the same "
                "request_id (Idempotency-Key) is safe, one without may act twice",
            ) from error
        finally:
            self._waiting.pop(meta.command_id, None)
        if reply.HasField("error"):
            raise PlatformError.from_proto(reply.error)
        return reply

    async def post(self, topics: AggregateTopics, command: AggregateCommand) -> None:
        """Send without waiting for the outcome: for policies reacting to events, whose deterministic
        command ids make a resend harmless."""
        await (await self.enqueue(topics, command))

    async def post_together(
        self,
        commands: Sequence[tuple[AggregateTopics, AggregateCommand]],
        who: str,
        first: float = 0.5,
        cap: float = 10.0,
        contexts: Sequence[Context | None] = (),
    ) -> list[MessageSizeTooLargeError | None]:
        """Post commands at once (one round trip for all, not one each) and return once the broker has
        every one: a command it refuses for now is posted again, one by one and in order, until written
        (retries from `first` up to `cap` seconds apart). Resends may land after later commands, so
        a call should hold at most one command per aggregate (see `policy.post_in_turns`). Answers, per
        command, the MessageSizeTooLargeError no resend cures, else None. A command given a trace
        context (`contexts`, in the commands' order) carries it, rather than the current one."""
        traced = contexts or [None] * len(commands)
        acks = []
        for (topics, command), context in zip(commands, traced, strict=True):
            with telemetry.attached(context):
                acks.append(await self.enqueue(topics, command))
        outcomes = await asyncio.gather(*acks, return_exceptions=True)
        too_large: list[MessageSizeTooLargeError | None] = []
        for (topics, command), context, outcome in zip(commands, traced, outcomes, strict=True):
            if isinstance(outcome, BaseException) and not isinstance(outcome, MessageSizeTooLargeError):
                log.warning("%s: a command was not written (%r); posting it again", who, outcome)
                try:
                    with telemetry.attached(context):
                        await kafka.until_done(partial(self.post, topics, command), who, first, cap)
                except MessageSizeTooLargeError as error:
                    outcome = error
            too_large.append(outcome if isinstance(outcome, MessageSizeTooLargeError) else None)
        return too_large

    async def enqueue(
        self, topics: AggregateTopics, command: AggregateCommand
    ) -> asyncio.Future[RecordMetadata]:
        """Hand a command to the producer and return the broker's acknowledgement to come: commands
        enqueued one after another keep their order on a partition, and a batch of them is written in a
        few produce requests rather than one round trip each. A command the producer refuses at once
        (too large, the producer stopped) fails the acknowledgement; this never raises."""
        meta = command.meta
        if not meta.command_id:
            meta.command_id = new_id()
        meta.issued_at.CopyFrom(timestamp(datetime.now(UTC)))
        try:
            return await self._producer.send(
                topics.commands,
                value=command.SerializeToString(),
                key=aggregate_key(meta.tenant_id, meta.aggregate_id),
                headers=telemetry.inject_headers(),
            )
        except Exception as error:
            refused: asyncio.Future[RecordMetadata] = asyncio.get_running_loop().create_future()
            refused.set_exception(error)
            return refused


def command_meta(
    *,
    tenant_id: str,
    aggregate_id: str,
    expected_version: int | None = None,
    actor: types_pb2.Actor | None = None,
    correlation_id: str = "",
) -> types_pb2.CommandMeta:
    """Metadata of a command from an API call; its command_id is set when it is sent (see `idempotency`)."""
    meta = types_pb2.CommandMeta(
        tenant_id=tenant_id,
        aggregate_id=aggregate_id,
        correlation_id=correlation_id,
        actor=actor or types_pb2.Actor(type=types_pb2.ACTOR_TYPE_INTEGRATION),
    )
    if expected_version is not None:
        meta.expected_version = expected_version
    return meta


def idempotency(command: AggregateCommand, aggregate_type: str, request_id: str) -> None:
    """Give the command a stable id from the client's request_id (REST Idempotency-Key), scoped to the
    tenant, the aggregate and the action, so a retry is answered with the first outcome while the same
    key on another call or another action is a different command. Without a key the id is new."""
    meta = command.meta
    action = cast(Message, command).WhichOneof("command") or ""  # every <Aggregate>Command has this oneof
    meta.command_id = (
        derived_id("command", meta.tenant_id, aggregate_type, meta.aggregate_id, action, request_id)
        if request_id
        else new_id()
    )


def created_id(kind: str, tenant_id: str, request_id: str) -> str:
    """The id of the aggregate a create request makes: a retry with the same request_id (a carrier's own
    id of the call, a client's Idempotency-Key) names the same aggregate, so an adapter that knows only
    the request can find what it made. Without one the id is new."""
    return derived_id(kind, tenant_id, request_id) if request_id else new_id()


def caused_by(
    event_id: str, action: str, tenant_id: str, aggregate_id: str, correlation_id: str
) -> types_pb2.CommandMeta:
    """Metadata of a command a policy or timer sends because of an event: its id derives from the event."""
    return types_pb2.CommandMeta(
        command_id=derived_id("command", event_id, action),
        tenant_id=tenant_id,
        aggregate_id=aggregate_id,
        correlation_id=correlation_id,
        causation_id=event_id,
        actor=types_pb2.Actor(type=types_pb2.ACTOR_TYPE_SYSTEM),
    )
