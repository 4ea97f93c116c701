"""The latest live metrics of every queue, tailed from routing.queue-metrics.v1 (RTM-1, RTM-5)."""

import asyncio
import logging

from aiokafka import ConsumerRecord
from aiokafka.errors import KafkaError
from cc.routing.v1 import events_pb2
from google.protobuf.message import DecodeError

from services.common import tail
from services.common.topics import QUEUE_METRICS

log = logging.getLogger(__name__)
RETRY_SECONDS = 2.0


class LiveQueueMetrics:
    def __init__(self, bootstrap_servers: str) -> None:
        self._bootstrap = bootstrap_servers
        self._latest: dict[str, dict[str, events_pb2.QueueMetrics]] = {}  # tenant -> queue -> latest
        # Assigned and positioned on the metrics topic: what the gateway's readiness asks of the tail.
        self.following = False

    def get(self, tenant_id: str, queue_id: str) -> events_pb2.QueueMetrics | None:
        return self._latest.get(tenant_id, {}).get(queue_id)

    def of_tenant(self, tenant_id: str) -> list[events_pb2.QueueMetrics]:
        """Every queue of the tenant, by queue id: what a wallboard shows."""
        queues = self._latest.get(tenant_id, {})
        return [queues[queue_id] for queue_id in sorted(queues)]

    async def run(self) -> None:
        """Tail for as long as the gateway runs: a broken connection is retried, never given up on."""
        while True:
            try:
                await self._tail()
            except KafkaError:
                log.exception("live metrics tail lost Kafka; retrying in %ss", RETRY_SECONDS)
                await asyncio.sleep(RETRY_SECONDS)

    async def _tail(self) -> None:
        # Only the current picture matters: start a few seconds back, not at the beginning of history.
        try:
            await tail.follow(
                self._bootstrap,
                tail.Follower([QUEUE_METRICS], lambda tp, end: max(0, end - 200), self._take, self._follows),
            )
        finally:
            self.following = False

    def _follows(self) -> None:
        self.following = True

    def _take(self, records: list[ConsumerRecord]) -> None:
        for record in records:
            try:
                metrics = events_pb2.QueueMetrics.FromString(record.value)
            except DecodeError:
                log.error("unreadable queue metrics at offset %s", record.offset)
                continue
            self._latest.setdefault(metrics.tenant_id, {})[metrics.queue_id] = metrics
