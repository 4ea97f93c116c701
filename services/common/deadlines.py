"""Timers rebuilt from the log: a deadline is set and cancelled by events (ringing -> RONA, wrap-up ->
ready), so a restarted service that replays its read model gets the same pending timers back. When a
deadline passes, its command is posted; its id is derived from the event that set it, so a timer that
fires twice (two instances, a restart) appends once."""

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from services.common.aggregate import AggregateCommand
from services.common.command_bus import CommandBus
from services.common.topics import AggregateTopics

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Deadline:
    due: datetime
    topics: AggregateTopics
    command: Callable[[], AggregateCommand]


class Deadlines:
    def __init__(self) -> None:
        self._pending: dict[tuple[str, str], Deadline] = {}

    def set(self, key: tuple[str, str], deadline: Deadline) -> None:
        self._pending[key] = deadline

    def cancel(self, key: tuple[str, str]) -> None:
        self._pending.pop(key, None)

    def due(self, now: datetime) -> list[Deadline]:
        keys = [key for key, deadline in self._pending.items() if deadline.due <= now]
        return [self._pending.pop(key) for key in keys]

    async def run(self, bus: CommandBus, ready: asyncio.Event, tick_seconds: float = 0.2) -> None:
        """Fire deadlines once the read model that sets them has caught up (so none fires on stale state)."""
        await ready.wait()
        while True:
            for deadline in self.due(datetime.now(UTC)):
                await bus.post(deadline.topics, deadline.command())
            await asyncio.sleep(tick_seconds)
