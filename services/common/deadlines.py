"""Timers rebuilt from the log: a deadline is set and cancelled by events (ringing -> RONA, wrap-up ->
ready), so a restarted service that replays its read model gets the same pending timers back. When a
deadline passes, its command is posted; its id is derived from the event that set it, so a timer that
fires twice (two instances, a restart) appends once.

One clock: a deadline runs for its length (the ring timeout, the wrap-up time) from the moment this
process saw the event that set it, on this process's monotonic clock. It is never compared with the
time another host stamped on the event, so clock skew between hosts cannot fire it early (nor a wall
clock stepped by NTP). It can fire late by however long the event took to arrive, which after a restart
is the time the service was away."""

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from services.common.aggregate import AggregateCommand
from services.common.command_bus import CommandBus
from services.common.topics import AggregateTopics

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Deadline:
    # The event that set it: the same deadline set again (the aggregate changed in another way) keeps
    # the moment it was first seen.
    cause: str
    length: timedelta
    topics: AggregateTopics
    command: Callable[[], AggregateCommand]


@dataclass(frozen=True)
class _Armed:
    due: float  # on the monotonic clock
    deadline: Deadline


class Deadlines:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._pending: dict[tuple[str, str], _Armed] = {}

    def set(self, key: tuple[str, str], deadline: Deadline) -> None:
        armed = self._pending.get(key)
        if armed is None or armed.deadline.cause != deadline.cause:
            self._pending[key] = _Armed(self._clock() + deadline.length.total_seconds(), deadline)

    def cancel(self, key: tuple[str, str]) -> None:
        self._pending.pop(key, None)

    def due(self) -> list[Deadline]:
        now = self._clock()
        keys = [key for key, armed in self._pending.items() if armed.due <= now]
        return [self._pending.pop(key).deadline for key in keys]

    async def run(self, bus: CommandBus, ready: asyncio.Event, tick_seconds: float = 0.2) -> None:
        """Fire deadlines once the read model that sets them has caught up (so none fires on stale state)."""
        await ready.wait()
        while True:
            await _fire(bus, self.due())
            await asyncio.sleep(tick_seconds)


async def _fire(bus: CommandBus, due: list[Deadline]) -> None:
    """Post the due deadlines' commands together (a burst of RONAs is one round trip, not one each);
    one the broker does not take now is posted again until it is, rather than lost or stopping timers."""
    commands = [(deadline.topics, deadline.command()) for deadline in due]
    for (_, command), too_large in zip(commands, await bus.post_together(commands, "deadlines"), strict=True):
        if too_large is not None:  # a timer's command is small: a bug, not a fault
            log.error("a deadline's command is too large for a record; dropped: %s", command)
