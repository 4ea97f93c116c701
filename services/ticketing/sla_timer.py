"""The SLA timer (TKT-6): a breach is an event, recorded when a clock passes its target. It follows the
tickets read model and arms one deadline per ticket, for its clock due first (at once for a clock found
already past its target, say after a restart); the deadline posts RecordSlaBreach, which the ticket
decides again on its own state, so a reply or a pause that came first wins.

Clocks count on the line's calendar, so nothing is armed before the lines read model has caught up:
tickets seen before then wait, and so do the open tickets of a line whose settings change."""

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from itertools import islice

from cc.common.v1 import types_pb2
from cc.ticketing.v1 import commands_pb2

from services.common.aggregate import Versioned
from services.common.deadlines import Deadline, Deadlines
from services.common.envelope import new_id
from services.common.projection import Observer
from services.common.topics import TICKETS
from services.ticketing import sla
from services.ticketing.domain import CLOSED, SOLVED, TicketState
from services.ticketing.lines import LineDirectory, LineTerms

Key = tuple[str, str]
# A deadline fires this long after the moment its clock reaches the target, so that the decision,
# made a moment later on its own clock, finds it past the target.
MARGIN = timedelta(seconds=1)
# Tickets armed between two turns of the event loop: about 3 ms each on an old ticket.
ARMED_PER_TURN = 100


def breach_command(entry: Versioned[TicketState], metric: str) -> commands_pb2.TicketCommand:
    """Each firing is a command of its own: the ticket records a breach once however often it is asked
    (two instances, a restart), and a refused firing (a clock not yet past on the owner's clock) leaves
    no answer behind for a later one to be given."""
    tenant_id, ticket_id = entry.tenant_id, entry.aggregate_id
    meta = types_pb2.CommandMeta(
        command_id=new_id(),
        tenant_id=tenant_id,
        aggregate_id=ticket_id,
        correlation_id=ticket_id,
        actor=types_pb2.Actor(type=types_pb2.ACTOR_TYPE_SYSTEM),
    )
    return commands_pb2.TicketCommand(
        meta=meta, record_sla_breach=commands_pb2.RecordSlaBreach(metric=metric)
    )


def next_breach(
    entry: Versioned[TicketState], terms: sla.SlaTerms, now: datetime
) -> tuple[str, datetime] | None:
    """The clock to record next and when: one past its target now, else the running one due first;
    None when no clock can breach (met, paused, recorded, or stopped: a stopping reply or solve judges
    its own clock)."""
    unrecorded = [
        c
        for c in sla.clocks(entry.state, terms, now)
        if c.metric not in entry.state.sla_breaches and not c.stopped
    ]
    past = [c for c in unrecorded if c.state == sla.BREACHED]
    if past:
        return past[0].metric, now
    due = [(c.due_at, c.metric) for c in unrecorded if c.due_at is not None]
    return (min(due)[1], min(due)[0] + MARGIN) if due else None


class SlaTimer:
    def __init__(
        self,
        lines: LineDirectory,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        tick: float = 0.5,
    ) -> None:
        self._lines = lines
        self._clock = clock
        self._tick = tick
        self._deadlines = Deadlines()
        self._open: dict[Key, Versioned[TicketState]] = {}  # tickets whose clocks may yet breach
        self._waiting: dict[Key, Versioned[TicketState]] = {}  # to arm once the lines are read
        lines.lines.observe(self._line_changed)

    def timer(self, deadlines: Deadlines) -> Observer:
        """What the service's composition root registers on the tickets read model."""
        self._deadlines = deadlines
        return self._changed

    def _changed(self, entry: Versioned[TicketState]) -> None:
        key = (entry.tenant_id, entry.aggregate_id)
        if entry.state.status in (SOLVED, CLOSED):  # no clock runs: a reopen brings it back
            self._open.pop(key, None)
            self._deadlines.cancel(key)
            return
        self._open[key] = entry
        self._waiting[key] = entry

    def _line_changed(self, line: Versioned[LineTerms]) -> None:
        for key, entry in self._open.items():
            if key[0] == line.tenant_id and entry.state.line_id == line.aggregate_id:
                self._waiting[key] = entry

    async def run(self) -> None:
        await self._lines.lines.caught_up.wait()
        while True:
            # A share at a time: at start-up every open ticket waits, and the loop serves RPCs meanwhile.
            while self.arm_waiting(limit=ARMED_PER_TURN):
                await asyncio.sleep(0)
            await asyncio.sleep(self._tick)

    def ready(self) -> bool:
        return True  # the lines read model it waits for is a readiness condition of its own

    def arm_waiting(self, limit: int | None = None) -> bool:
        """Arm the tickets waiting (at most `limit` of them); whether any are left."""
        now = self._clock()
        keys = list(islice(self._waiting, limit))
        for key in keys:
            entry = self._waiting.pop(key)
            terms = self._lines.sla_terms(entry.tenant_id, entry.state.line_id)
            found = next_breach(entry, terms, now) if terms else None
            if found is None:
                self._deadlines.cancel(key)
                continue
            metric, when = found

            def record(
                entry: Versioned[TicketState] = entry, metric: str = metric
            ) -> commands_pb2.TicketCommand:
                return breach_command(entry, metric)

            cause = f"{entry.version}:{metric}:{when.isoformat(timespec='seconds')}"
            self._deadlines.set(key, Deadline(cause, max(when - now, timedelta(0)), TICKETS, record))
        return bool(self._waiting)
