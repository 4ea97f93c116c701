"""Topics are served before anything subscribes (issue 6, honest readiness). A consumer that subscribes
to a topic the broker's metadata does not show yet ignores it until its next metadata refresh, minutes
later: a fresh routing worker then never routed a call. The race is made here on purpose, with a broker
whose answers are scripted: on the local single-node broker a new topic gets its leaders within
milliseconds, too soon to catch. Another process has just created every topic (so there is nothing left
to create), and their partitions have no leader for the first answers: `ensure_topics` must wait."""

from typing import Any

import pytest

from services.common import topics
from services.common.topics import TopicSpec, catalogue, ensure_topics

WORKER_TOPIC = "routing-stream-board-input"


class JustCreatedElsewhere:
    """An admin client of a broker where every topic exists but gets its leaders only after a while."""

    described = 0

    def __init__(self, **_: Any) -> None:
        self.created: list[str] = []

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def list_topics(self) -> list[str]:
        return [*catalogue(6), WORKER_TOPIC]

    async def create_topics(self, new: list[Any]) -> None:
        self.created.extend(topic.name for topic in new)

    async def describe_topics(self, names: list[str]) -> list[dict[str, Any]]:
        JustCreatedElsewhere.described += 1
        leader = 1 if JustCreatedElsewhere.described > 3 else -1
        return [
            {"topic": name, "error_code": 0, "partitions": [{"partition": 0, "leader": leader}]}
            for name in names
        ]


async def test_topics_another_process_just_created_are_waited_for_until_they_have_leaders(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(topics, "AIOKafkaAdminClient", JustCreatedElsewhere)
    monkeypatch.setattr(topics.asyncio, "sleep", _no_wait)
    JustCreatedElsewhere.described = 0
    await ensure_topics("127.0.0.1:1", 6, {WORKER_TOPIC: TopicSpec(6)})
    assert JustCreatedElsewhere.described == 4  # three answers without leaders, then served


async def _no_wait(seconds: float) -> None:
    return None
