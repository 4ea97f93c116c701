"""The analytics sink replaces a consumer that stopped fetching while records wait (seen after a broker
kill), and keeps one that is simply idle and caught up. A stand-in consumer, no broker."""

import asyncio
from typing import Any

import pytest
from aiokafka import TopicPartition

from services.analytics import sink
from services.analytics.sink import EventSink

TP = TopicPartition("telephony.call.events.v1", 0)


class Consumer:
    def __init__(self, position: int, end: int) -> None:
        self._position, self._end = position, end

    async def getmany(self, *partitions: Any, **options: Any) -> dict[TopicPartition, list[Any]]:
        await asyncio.sleep(0.01)
        return {}

    def assignment(self) -> set[TopicPartition]:
        return {TP}

    async def end_offsets(self, partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
        return dict.fromkeys(partitions, self._end)

    async def position(self, tp: TopicPartition) -> int:
        return self._position


@pytest.fixture(autouse=True)
def short_stall(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sink, "STALL_SECONDS", 0.1)
    monkeypatch.setattr(sink, "BATCH_SECONDS", 0.02)


def idle_sink() -> EventSink:
    return EventSink(store=None, producer=None, bootstrap_servers="127.0.0.1:1")  # type: ignore[arg-type]


async def test_a_consumer_that_fetches_nothing_while_records_wait_is_given_up() -> None:
    stalled = Consumer(position=3, end=10)
    await asyncio.wait_for(idle_sink()._consume(stalled, {TP: 0}), 5)  # returns: replace it


async def test_an_idle_consumer_that_is_caught_up_is_kept() -> None:
    caught_up = Consumer(position=10, end=10)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(idle_sink()._consume(caught_up, {TP: 10}), 0.5)
