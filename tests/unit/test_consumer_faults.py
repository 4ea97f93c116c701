"""Consumers meeting faults, without a broker: a policy retries a passing refusal until the write goes
through, does not retry a record too large, and skips a commit a rebalance refuses; a read model goes on
past an observer (a timer) that fails."""

from datetime import UTC, datetime
from typing import Any

import pytest
from aiokafka.errors import CommitFailedError, KafkaConnectionError, MessageSizeTooLargeError
from aiokafka.structs import TopicPartition
from cc.common.v1 import types_pb2
from cc.telephony.v1 import events_pb2 as call_events

from services.common import policy
from services.common.aggregate import Versioned
from services.common.envelope import build_event
from services.common.policy import Policy
from services.common.projection import Projection
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

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.asked.append(offsets)
        raise CommitFailedError("the group rebalanced")


async def test_a_commit_refused_by_a_rebalance_is_skipped_not_fatal() -> None:
    consumer = RebalancingConsumer()
    tp = TopicPartition("telephony.call.events.v1", 0)
    a_policy = object.__new__(Policy)  # only its name is used when a commit is refused
    a_policy.name = "test"
    await a_policy._commit(consumer, tp, 7)  # type: ignore[arg-type]
    assert consumer.asked == [{tp: 7}]


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
