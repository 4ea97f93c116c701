"""Consumers meeting faults, without a broker: a policy retries a passing refusal until the write goes
through, does not retry a record too large, and skips a commit a rebalance refuses; a read model goes on
past an observer (a timer) that fails."""

import asyncio
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka.conn import AIOKafkaConnection
from aiokafka.errors import CommitFailedError, KafkaConnectionError, MessageSizeTooLargeError
from aiokafka.structs import TopicPartition
from cc.common.v1 import types_pb2
from cc.telephony.v1 import events_pb2 as call_events

from services.common import kafka, policy
from services.common.aggregate import Versioned
from services.common.command_bus import CommandBus
from services.common.envelope import build_event
from services.common.kafka import CommitRounds
from services.common.projection import Projection
from services.common.topics import AggregateTopics
from services.telephony.app import call_spec
from services.telephony.domain import TelephonyRules


@pytest.fixture(autouse=True)
def no_waiting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(policy, "RETRY_FIRST_SECONDS", 0.0)


async def test_a_write_the_broker_refuses_for_now_is_retried_until_it_is_written() -> None:
    attempts: list[int] = []

    async def write() -> str:
        attempts.append(1)
        if len(attempts) < 3:
            raise KafkaConnectionError("the broker is away")
        return "written"

    assert await policy._until_written(write, "test") == "written"
    assert len(attempts) == 3


async def test_a_record_too_large_is_not_retried() -> None:
    attempts: list[int] = []

    async def write() -> None:
        attempts.append(1)
        raise MessageSizeTooLargeError()

    with pytest.raises(MessageSizeTooLargeError):
        await policy._until_written(write, "test")
    assert len(attempts) == 1


class RebalancingConsumer:
    def __init__(self) -> None:
        self.asked: list[dict[TopicPartition, int]] = []

    def assignment(self) -> set[TopicPartition]:
        return {TopicPartition("telephony.call.events.v1", 0)}

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.asked.append(offsets)
        raise CommitFailedError("the group rebalanced")


async def test_a_commit_refused_by_a_rebalance_is_skipped_not_fatal() -> None:
    consumer = RebalancingConsumer()
    tp = TopicPartition("telephony.call.events.v1", 0)
    rounds = CommitRounds("test", consumer)  # type: ignore[arg-type]
    rounds.handled(tp, [SimpleNamespace(offset=6)])  # type: ignore[list-item]
    await rounds.after_fetch(found_any=False)
    assert consumer.asked == [{tp: 7}]


class _Request:
    """The least of an aiokafka request that a connection writes."""

    def prepare(self, versions: object) -> "_Request":
        return self

    def build_request_header(self, correlation_id: int, client_id: str) -> Any:
        return SimpleNamespace(encode=lambda: b"header")

    def encode(self) -> bytes:
        return b"body"


class _ClosedTransport:
    def __init__(self, error: RuntimeError) -> None:
        self.error = error
        self.closed = False

    def write(self, data: bytes) -> None:
        raise self.error

    def close(self) -> None:
        self.closed = True


async def test_a_write_on_a_connection_the_broker_dropped_is_a_broken_connection_not_a_crash() -> None:
    connection = AIOKafkaConnection("127.0.0.1", 1)
    dropped = _ClosedTransport(
        RuntimeError(
            "unable to perform operation on <TCPTransport closed=True reading=False 0x7f06b4001990>; "
            "the handler is closed"
        )
    )
    connection._writer = dropped  # type: ignore[assignment]
    connection._reader = object()  # type: ignore[assignment]  # as if it had connected
    finished: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    finished.set_result(None)
    connection._read_task = finished  # type: ignore[assignment]
    with pytest.raises(KafkaConnectionError, match="broken"):
        connection.send(_Request())  # type: ignore[arg-type]
    assert dropped.closed and connection._writer is None  # aiokafka connects afresh for the next request
    other = AIOKafkaConnection("127.0.0.1", 1)
    other._writer = _ClosedTransport(RuntimeError("a bug"))  # type: ignore[assignment]
    with pytest.raises(RuntimeError, match="a bug"):
        other.send(_Request())  # type: ignore[arg-type]


class CommittingConsumer:
    def __init__(self) -> None:
        self.asked: list[dict[TopicPartition, int]] = []
        self.held = {TopicPartition("telephony.call.events.v1", p) for p in range(2)}

    def assignment(self) -> set[TopicPartition]:
        return self.held

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.asked.append(offsets)


def records_up_to(offset: int) -> list[Any]:
    return [SimpleNamespace(offset=o) for o in range(offset - 2, offset + 1)]


async def test_a_busy_member_commits_in_rounds_not_per_fetch(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [100.0]
    monkeypatch.setattr(kafka.time, "monotonic", lambda: now[0])
    consumer = CommittingConsumer()
    rounds = CommitRounds("test", consumer)  # type: ignore[arg-type]
    a, b = TopicPartition("telephony.call.events.v1", 0), TopicPartition("telephony.call.events.v1", 1)
    rounds.handled(a, records_up_to(4))
    await rounds.after_fetch(found_any=True)
    now[0] += kafka.COMMIT_EVERY_SECONDS / 2
    rounds.handled(b, records_up_to(9))
    rounds.handled(a, records_up_to(6))
    await rounds.after_fetch(found_any=True)
    assert consumer.asked == []  # busy, and the round is not over
    now[0] += kafka.COMMIT_EVERY_SECONDS / 2
    await rounds.after_fetch(found_any=True)
    assert consumer.asked == [{a: 7, b: 10}]
    await rounds.after_fetch(found_any=False)
    assert consumer.asked == [{a: 7, b: 10}]  # nothing new to commit


async def test_an_idle_member_commits_at_once_and_a_leaving_partition_on_revoke() -> None:
    consumer = CommittingConsumer()
    rounds = CommitRounds("test", consumer)  # type: ignore[arg-type]
    a, b = TopicPartition("telephony.call.events.v1", 0), TopicPartition("telephony.call.events.v1", 1)
    rounds.handled(a, records_up_to(4))
    await rounds.after_fetch(found_any=False)
    assert consumer.asked == [{a: 5}]
    rounds.handled(a, records_up_to(8))
    rounds.handled(b, records_up_to(3))
    await rounds.on_partitions_revoked([b])
    assert consumer.asked == [{a: 5}, {b: 4}]  # a stays for the next round
    await rounds.after_fetch(found_any=False)
    assert consumer.asked == [{a: 5}, {b: 4}, {a: 9}]
    consumer.held = {a}  # b left while records of it were in hand
    rounds.handled(b, records_up_to(6))
    rounds.handled(a, records_up_to(12))
    await rounds.after_fetch(found_any=False)
    assert consumer.asked[-1] == {a: 13}
    rounds.handled(b, records_up_to(7))
    await rounds.after_fetch(found_any=False)
    assert consumer.asked[-1] == {a: 13}  # nothing held to commit: no request at all


def test_a_failing_observer_never_stops_the_read_model() -> None:
    calls = Projection(call_spec(TelephonyRules()), "127.0.0.1:1")  # never started: no broker needed
    seen: list[Versioned[Any]] = []

    def broken(entry: Versioned[Any]) -> None:
        raise RuntimeError("a timer bug")

    calls.observe(broken)
    calls.observe(seen.append)
    offered = build_event(
        call_events.CallOffered(ani="+8210", dnis="1588"),
        context="telephony",
        aggregate_type="call",
        aggregate_id="call-1",
        aggregate_version=1,
        tenant_id="acme",
        occurred_at=datetime(2026, 11, 25, tzinfo=UTC),
        correlation_id="call-1",
        causation_id="command-1",
        customer_id="",
        actor=types_pb2.Actor(type=types_pb2.ACTOR_TYPE_SYSTEM),
    )
    calls._apply(offered.SerializeToString(), 0)
    assert [entry.version for entry in seen] == [1]
    assert calls.get("acme", "call-1") is not None


def test_a_transaction_right_after_another_asks_again_for_its_partition_after_2_ms_not_20() -> None:
    """The coordinator refuses to add a partition whose previous transaction's markers are still being
    written (CONCURRENT_TRANSACTIONS, code 51). aiokafka's own wait of 20 ms capped a partition at about
    45 transactions a second; the platform sets it to CONCURRENT_TRANSACTIONS_RETRY_SECONDS. Should
    aiokafka stop reading the setting it overrides, this fails rather than the speed quietly going."""
    from aiokafka.producer.sender import AddPartitionsToTxnHandler

    no_partitions_yet = SimpleNamespace(txn_partitions=set())
    sender = SimpleNamespace(_retry_backoff=0.1, _txn_manager=no_partitions_yet)
    handler = AddPartitionsToTxnHandler(sender, [TopicPartition("calls", 0)])
    refused = SimpleNamespace(errors=[("calls", [(0, 51)])])
    assert handler.handle_response(refused) == kafka.CONCURRENT_TRANSACTIONS_RETRY_SECONDS == 0.002


@pytest.mark.parametrize(
    ("found_nothing", "records_held", "paused", "min_bytes", "wait_ms"),
    [
        (True, False, False, 1, kafka.QUIET_FETCH_WAIT_MS),  # quiet: every partition is in the fetch
        (False, False, False, 1, kafka.IDLE_FETCH_WAIT_MS),  # records flowing
        (
            True,
            True,
            False,
            1,
            kafka.IDLE_FETCH_WAIT_MS,
        ),  # a partition left out while its records are handled
        (True, False, True, 1, kafka.IDLE_FETCH_WAIT_MS),  # a partition paused while its owner loads
        (True, False, False, 262144, 200),  # a gathering member keeps its own wait
    ],
)
def test_a_fetch_waits_longer_only_when_quiet_and_no_partition_is_left_out(
    monkeypatch: pytest.MonkeyPatch,
    found_nothing: bool,
    records_held: bool,
    paused: bool,
    min_bytes: int,
    wait_ms: int,
) -> None:
    """An idle consumer's fetch is held QUIET_FETCH_WAIT_MS by the broker; a record appended answers it
    at once, but only for the partitions in it, so a partition left out (its records still being
    handled, or paused until its owner has loaded it) would wait that long: then the short wait stays."""
    asked: list[int] = []
    monkeypatch.setattr(
        kafka, "_fetch_actions", lambda fetcher, assignment: asked.append(fetcher._fetch_max_wait_ms)
    )
    configured = 200 if min_bytes > 1 else kafka.IDLE_FETCH_WAIT_MS
    calls, tickets = TopicPartition("calls", 0), TopicPartition("tickets", 0)
    states = {
        calls: SimpleNamespace(paused=False, has_valid_position=True),
        tickets: SimpleNamespace(paused=paused, has_valid_position=True),
    }
    assignment = SimpleNamespace(tps={calls, tickets}, state_value=states.get)
    fetcher = SimpleNamespace(
        _fetch_max_wait_ms=configured,
        _fetch_min_bytes=min_bytes,
        _records={calls: object()} if records_held else {},
        _found_nothing=found_nothing,
    )
    kafka._fetch_actions_waiting_longer_when_quiet(fetcher, assignment)  # type: ignore[arg-type]
    fetcher._found_nothing = False
    fetcher._records = {}
    states[tickets].paused = False
    kafka._fetch_actions_waiting_longer_when_quiet(fetcher, assignment)  # type: ignore[arg-type]
    assert asked == [wait_ms, configured]  # and back to the configured wait once records flow


class _Broker:
    """A command bus and producer that log what is enqueued, acknowledged and dead-lettered, and fail
    the first write of the commands named in `refuse` (the broker away) or `too_large`."""

    post_together = CommandBus.post_together  # the real one, over this broker's enqueue and post

    def __init__(self, refuse: set[str] = frozenset(), too_large: set[str] = frozenset()) -> None:  # type: ignore[assignment]
        self.log: list[str] = []
        self._refuse = set(refuse)
        self._too_large = too_large

    async def enqueue(self, topics: object, command: Any) -> asyncio.Future[None]:
        name = command.meta.command_id
        self.log.append(f"enqueue {name}")
        ack: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if name in self._refuse:
            self._refuse.discard(name)
            ack.set_exception(KafkaConnectionError("the broker is away"))
        elif name in self._too_large:
            ack.set_exception(MessageSizeTooLargeError())
        else:
            ack.set_result(None)
        asyncio.get_running_loop().call_soon(self.log.append, f"acknowledged {name}")
        return ack

    async def post(self, topics: object, command: Any) -> None:
        self.log.append(f"post {command.meta.command_id}")

    async def send_and_wait(self, topic: str, **record: Any) -> None:
        self.log.append(f"dead letter {topic}")


def _posts(broker: _Broker, commands: list[tuple[str, str]]) -> list[policy.Post]:
    """Posts of one policy for (command id, aggregate id) pairs, in the order of their events."""
    reacting = policy.Policy("test", ["telephony.call.events.v1"], lambda e: [], broker, broker, "")  # type: ignore[arg-type]
    record = SimpleNamespace(
        topic="telephony.call.events.v1", partition=0, offset=1, value=b"", key=b"", headers=[]
    )
    return [
        policy.Post(
            record,  # type: ignore[arg-type]
            reacting,
            AGENT_TOPICS,
            SimpleNamespace(
                meta=types_pb2.CommandMeta(command_id=name, tenant_id="acme", aggregate_id=agent)
            ),  # type: ignore[arg-type]
        )
        for name, agent in commands
    ]


AGENT_TOPICS = AggregateTopics("routing", "agent")


async def test_policies_send_the_commands_of_different_aggregates_together_and_of_one_in_order() -> None:
    broker = _Broker()
    await policy.post_in_turns(broker, _posts(broker, [("kim-1", "kim"), ("lee-1", "lee"), ("kim-2", "kim")]))
    assert broker.log == [
        "enqueue kim-1",
        "enqueue lee-1",  # before kim-1 is acknowledged: one round trip for both
        "acknowledged kim-1",
        "acknowledged lee-1",
        "enqueue kim-2",  # only once kim-1 is written
        "acknowledged kim-2",
    ]


async def test_a_command_not_written_is_sent_again_before_the_next_of_its_aggregate() -> None:
    broker = _Broker(refuse={"kim-1"})
    await policy.post_in_turns(broker, _posts(broker, [("kim-1", "kim"), ("lee-1", "lee"), ("kim-2", "kim")]))
    assert broker.log.index("post kim-1") < broker.log.index("enqueue kim-2")
    assert "post lee-1" not in broker.log


async def test_a_command_too_large_is_parked_and_its_aggregate_goes_on() -> None:
    broker = _Broker(too_large={"kim-1"})
    posts = _posts(broker, [("kim-1", "kim"), ("kim-2", "kim")])
    await policy.post_in_turns(broker, posts)
    assert "dead letter telephony.call.events.v1.dlq" in broker.log and "post kim-1" not in broker.log
    assert broker.log[-2:] == ["enqueue kim-2", "acknowledged kim-2"]
    assert posts[0].policy.dead_lettered == 1
