"""Consumer lag per consumer group and topic, as one observable gauge (`messaging.kafka.consumer.lag`):
the records the group's members in this process have not taken yet, each partition's end minus the
member's position, summed per topic.

Each member measures its own lag where its client answers positions without blocking anyone: a
librdkafka member on its consumer's thread before a wait for records (`GroupMember`; positions and the
high watermarks of the last fetch, no broker call), the analytics sink and the Faust worker on their
event loop. They measure at most every MEASURE_SECONDS, and only while metrics are exported; the gauge
reads the latest measures when the metric reader collects (every OTEL_METRIC_EXPORT_INTERVAL, on the
reader's thread). Asking a librdkafka client from the reader's thread instead would wait for the
consumer's own wait for records (librdkafka's Python client serves one caller at a time).

The gauge is made on the process's meter when this module is first imported: a no-op one that never calls
back until `telemetry.configure` installs a meter provider, which the instrument then follows."""

import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Protocol, TypeVar

from aiokafka.errors import KafkaError
from opentelemetry.metrics import CallbackOptions, Observation

from services.common import telemetry

log = logging.getLogger(__name__)
MEASURE_SECONDS = 5.0


class Partition(Protocol):
    """aiokafka's TopicPartition and Faust's TP alike."""

    @property
    def topic(self) -> str: ...


P = TypeVar("P", bound=Partition)


def summed(partitions: Iterable[tuple[str, int | None, int | None]]) -> dict[str, int]:
    """(topic, end, position) of each partition -> records behind per topic. A partition whose end or
    position is not known yet (nothing fetched, nothing taken) counts for nothing."""
    lags: dict[str, int] = {}
    for topic, end, position in partitions:
        if end is not None and position is not None and end >= 0 and position >= 0:
            lags[topic] = lags.get(topic, 0) + max(end - position, 0)
    return lags


class MeasuredLag:
    """One member's latest measure (topic -> records behind), counted in its group's lag until `close`."""

    def __init__(self, group: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.group = group
        self.latest: Mapping[str, int] = {}
        self._clock = clock
        self._measured_at = -MEASURE_SECONDS
        _members[self] = None

    def close(self) -> None:
        _members.pop(self, None)

    def due(self) -> bool:
        """Metrics are exported and the latest measure is MEASURE_SECONDS old (then it is taken now)."""
        if not telemetry.metering():
            return False
        now = self._clock()
        if now - self._measured_at < MEASURE_SECONDS:
            return False
        self._measured_at = now
        return True

    def update(self, partitions: Iterable[tuple[str, int | None, int | None]]) -> None:
        """The member's partitions as (topic, end, position) now."""
        self.latest = summed(partitions)

    async def measure(
        self,
        partitions: Iterable[P],
        end: Callable[[P], int | None],
        position: Callable[[P], Awaitable[int | None]],
    ) -> None:
        """Measure partitions whose position is answered on the event loop (aiokafka, Faust); a partition
        moved away meanwhile (a rebalance) leaves the latest measure standing."""
        try:
            self.update([(tp.topic, end(tp), await position(tp)) for tp in partitions])
        except KafkaError as error:
            log.debug("%s: lag not measured: %r", self.group, error)


# The members measuring their lag in this process; a member leaves when it closes.
_members: dict[MeasuredLag, None] = {}


def _observe(options: CallbackOptions) -> Iterable[Observation]:
    totals: dict[tuple[str, str], int] = {}
    for member in list(_members):
        for topic, lag in member.latest.items():
            totals[(member.group, topic)] = totals.get((member.group, topic), 0) + lag
    return [
        Observation(lag, {"messaging.consumer.group.name": group, "messaging.destination.name": topic})
        for (group, topic), lag in totals.items()
    ]


telemetry.meter(__name__).create_observable_gauge(
    "messaging.kafka.consumer.lag",
    callbacks=[_observe],
    unit="{message}",
    description="Records on the broker that the group's members in this process have not taken yet.",
)
