"""The worker's topics and its board table. Values are protobuf bytes (cc.common.v1.Event on the way
in and for decisions, QueueMetrics for metrics), so the topics are raw; the table holds the board's
small JSON entries (services.routing.board)."""

import faust

from services.common.topics import (
    AGENTS,
    CALLS,
    COMPACTED,
    CONTACTS,
    KEEP_A_DAY,
    KEEP_A_MONTH,
    QUEUE_METRICS,
    QUEUES,
    ROUTING_DECISIONS,
    TopicSpec,
    catalogue,
    dlq,
)
from services.routing.stream.app import app, settings


def platform_topic(name: str) -> str:
    return settings.routing_stream_topic_prefix + name


def raw_topic(*names: str, partitions: int | None = None, internal: bool = False) -> faust.TopicT:
    return app.topic(
        *names,
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
        partitions=partitions,
        internal=internal,
    )


SOURCE_EVENTS = (CALLS.events, AGENTS.events, QUEUES.events, CONTACTS.events)
SOURCES = tuple(platform_topic(name) for name in SOURCE_EVENTS)
BOARD_INPUT = f"{settings.routing_stream_id}-board-input"

sources = raw_topic(*SOURCES)
board_input = raw_topic(BOARD_INPUT, partitions=settings.cc_partitions, internal=True)
decisions = raw_topic(platform_topic(ROUTING_DECISIONS))
queue_metrics = raw_topic(platform_topic(QUEUE_METRICS))
dead_letters = {name: raw_topic(dlq(name)) for name in (*SOURCES, BOARD_INPUT)}
# Co-partitioned with the board input: an entry of a tenant lives on the tenant's board partition.
board_entries = app.Table(
    "board-entries", default=None, key_type=str, value_type=None, partitions=settings.cc_partitions
)


def worker_topics() -> dict[str, TopicSpec]:
    """Every topic the worker uses, created before it starts: a topic Faust creates itself may not be
    in the metadata yet when its consumer subscribes on a fresh cluster, and is then never consumed."""
    platform = catalogue(settings.cc_partitions)
    names = (*SOURCE_EVENTS, ROUTING_DECISIONS, QUEUE_METRICS, *(dlq(name) for name in SOURCE_EVENTS))
    return {
        **{platform_topic(name): platform[name] for name in names},
        BOARD_INPUT: TopicSpec(settings.cc_partitions, KEEP_A_DAY),
        dlq(BOARD_INPUT): TopicSpec(1, KEEP_A_MONTH),
        board_entries.changelog_topic.get_topic_name(): TopicSpec(settings.cc_partitions, COMPACTED),
    }
