"""The routing stream processor's Faust app: topics and the boards table. Only builds; the agents
that use them live in `agents.py`.

Call events are keyed by call and agent events by agent, but one tenant's routing needs both on one
board, so `repartition` re-keys both streams by tenant into `board_input`; the boards table is
co-partitioned with it and backed by a changelog topic, so a restarted worker recovers its boards.
"""

import faust

from services.common.settings import PlatformSettings
from services.common.topics import AGENTS, CALLS, ROUTING_DECISIONS

APP_ID = "routing-stream"
# Created by the platform before the worker starts: a topic Faust creates itself may not be in the
# metadata yet when its consumer subscribes on a fresh cluster, and is then never consumed.
BOARD_INPUT = f"{APP_ID}-board-input"
BOARDS_CHANGELOG = f"{APP_ID}-boards-changelog"


def create_app(settings: PlatformSettings) -> faust.App:
    return faust.App(
        APP_ID,
        broker=f"kafka://{settings.kafka_bootstrap_servers}",
        store="memory://",
        topic_partitions=settings.cc_partitions,
        topic_replication_factor=settings.cc_replication_factor,
        topic_allow_declare=True,
        web_enabled=False,
        # The metrics timer publishes every board this worker holds; a standby copy would go stale.
        table_standby_replicas=0,
        # exactly_once would commit board, decisions and offsets together, but faust-streaming 0.15.3
        # left its repartition transactions uncommitted here (routing stalled); see the README.
        processing_guarantee="at_least_once",
        producer_acks=-1,
        producer_linger=0.0,
        stream_wait_empty=False,
        broker_commit_every=100,
        broker_commit_interval=1.0,
        # A dead worker is noticed (its partitions handed over) within seconds, as in the other groups.
        broker_session_timeout=10.0,
        broker_heartbeat_interval=1.0,
    )


def raw_topic(
    app: faust.App, *names: str, partitions: int | None = None, internal: bool = False
) -> faust.TopicT:
    return app.topic(
        *names,
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
        partitions=partitions,
        internal=internal,
    )


class Topics:
    """Raw-bytes topics: values are cc.common.v1.Event / QueueMetrics protobufs, not Faust records."""

    def __init__(self, app: faust.App, partitions: int) -> None:
        self.sources = raw_topic(app, CALLS.events, AGENTS.events)
        self.board_input = raw_topic(app, BOARD_INPUT, partitions=partitions, internal=True)
        self.decisions = raw_topic(app, ROUTING_DECISIONS)
        self.boards = app.Table("boards", default=None, key_type=str, value_type=None, partitions=partitions)
