"""SLA clocks (TKT-6): first response and resolution, against the targets of the ticket's line of
business for its priority, counted on the line's business hours. Pure: a function of the ticket's
history, the line's terms and the moment asked.

A clock counts while the ticket is new or open, and pauses while it is pending (waiting on the
customer) or on hold (waiting on a third party). The first-response clock stops at the first public
reply, or at the first solve if there never was one. The resolution clock stops when the ticket is
solved; a reopened ticket's clock runs on from where it stopped, so time before the solve still counts.
Counting from the status history at every question (rather than keeping a running total) is what keeps
the clocks right across pauses, reopens, priority changes and a line whose hours change.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from cc.ticketing.v1 import events_pb2
from google.protobuf.message import Message

from services.common.calendar import BusinessCalendar
from services.common.errors import IllegalTransition, InvalidArgument, NotFound

if TYPE_CHECKING:  # the ticket's module decides breaches with this one
    from services.ticketing.domain import TicketState

Status = events_pb2.TicketStatus
COUNTING = frozenset({Status.TICKET_STATUS_NEW, Status.TICKET_STATUS_OPEN})
PAUSED = frozenset({Status.TICKET_STATUS_PENDING, Status.TICKET_STATUS_ON_HOLD})
SOLVED = Status.TICKET_STATUS_SOLVED
CLOSED = Status.TICKET_STATUS_CLOSED
PRIORITY_WORDS = {
    events_pb2.TICKET_PRIORITY_LOW: "low",
    events_pb2.TICKET_PRIORITY_NORMAL: "normal",
    events_pb2.TICKET_PRIORITY_HIGH: "high",
    events_pb2.TICKET_PRIORITY_URGENT: "urgent",
}
FIRST_RESPONSE, RESOLUTION = "first_response", "resolution"
METRICS = (FIRST_RESPONSE, RESOLUTION)
DUE_WITHIN_DAYS = 6 * 366
RUNNING, PAUSED_STATE, MET, BREACHED = "running", "paused", "met", "breached"


@dataclass(frozen=True)
class SlaTerms:
    """What a line of business gives its tickets' clocks: targets in minutes by priority word, and the
    calendar they count on (None: every hour counts)."""

    first_response_minutes: tuple[tuple[str, int], ...]
    resolution_minutes: tuple[tuple[str, int], ...]
    calendar: BusinessCalendar | None

    def target_seconds(self, metric: str, priority: int) -> int | None:
        minutes = dict(self.first_response_minutes if metric == FIRST_RESPONSE else self.resolution_minutes)
        found = minutes.get(PRIORITY_WORDS.get(priority, "normal"))  # type: ignore[call-overload]
        return None if found is None else found * 60

    def seconds_between(self, start: datetime, end: datetime) -> float:
        if self.calendar is None:
            return max((end - start).total_seconds(), 0.0)
        return self.calendar.business_seconds(start, end)

    def due(self, now: datetime, seconds: float) -> datetime | None:
        if self.calendar is None:
            return now + timedelta(seconds=seconds)
        # A target is at most a year of open minutes: on 9-to-6 weekdays that is about four years away.
        return self.calendar.after_business_seconds(now, seconds, within_days=DUE_WITHIN_DAYS)


@dataclass(frozen=True)
class SlaClock:
    metric: str
    target_seconds: int
    elapsed_seconds: float
    # running, paused, met or breached (a breached clock may still be running: the ticket is not solved)
    state: str
    # When a running clock reaches its target.
    due_at: datetime | None = None
    # Stopped for good (the first reply, the solve): its breach, if any, was recorded when it stopped.
    stopped: bool = False


def counting_periods(ticket: "TicketState", until: datetime) -> list[tuple[datetime, datetime]]:
    """The stretches before `until` in which the ticket was new or open, from its status history."""
    status = ticket.status_changes[0].from_status if ticket.status_changes else ticket.status
    moments = [(ticket.opened_at, status)] + [(c.changed_at, c.to_status) for c in ticket.status_changes]
    periods = []
    for (start, current), (end, _) in zip(moments, [*moments[1:], (until, status)], strict=True):
        if current in COUNTING and start < min(end, until):
            periods.append((start, min(end, until)))
    return periods


def clocks(ticket: "TicketState", terms: SlaTerms, now: datetime) -> list[SlaClock]:
    """The ticket's clocks as of `now`, one per metric its line has a target for at its priority."""
    found = []
    for metric in METRICS:
        target = terms.target_seconds(metric, ticket.priority)
        if target is None:
            continue
        stop = _stopped_at(ticket, metric)
        until = min(stop, now) if stop is not None else now
        elapsed = sum(terms.seconds_between(start, end) for start, end in counting_periods(ticket, until))
        # A clock is judged when it stops (the stopping reply or solve records its breach), so a stopped
        # one is breached only if that was recorded: no later change of terms or priority judges it
        # again. A recorded breach stands for a running clock too.
        recorded = metric in ticket.sla_breaches
        if stop is not None:
            found.append(SlaClock(metric, target, elapsed, BREACHED if recorded else MET, stopped=True))
        elif elapsed > target or recorded:
            found.append(SlaClock(metric, target, elapsed, BREACHED))
        elif ticket.status in PAUSED:
            found.append(SlaClock(metric, target, elapsed, PAUSED_STATE))
        else:
            found.append(SlaClock(metric, target, elapsed, RUNNING, terms.due(now, target - elapsed)))
    return found


def _stopped_at(ticket: "TicketState", metric: str) -> datetime | None:
    """When the clock stopped for good, or None while it runs or pauses: the first reply (or the first
    solve without one) for first response; the last solve of a solved or closed ticket for resolution.
    A close that no solve came before (a duplicate merged into another ticket) stops them like a solve."""
    solves = [
        change.changed_at
        for change in ticket.status_changes
        if change.to_status == SOLVED or (change.to_status == CLOSED and change.from_status != SOLVED)
    ]
    if metric == FIRST_RESPONSE:
        ends = [moment for moment in (ticket.first_replied_at, solves[0] if solves else None) if moment]
        return min(ends, default=None)
    if ticket.status in COUNTING | PAUSED or not solves:
        return None
    return solves[-1]


def record_breach(ticket: "TicketState", metric: str, terms: SlaTerms | None, now: datetime) -> list[Message]:
    """The SLA timer's command: a breach is recorded once per metric, and only when the clock has
    passed its target as the ticket and its line stand now (a reply or a pause may have come first)."""
    if metric not in METRICS:
        raise InvalidArgument(
            "invalid-argument", f"no SLA metric {metric[:40]!r}: first_response or resolution"
        )
    if metric in ticket.sla_breaches:
        raise IllegalTransition(
            "sla-breach-recorded", f"the {metric} breach of {ticket.ticket_id} is recorded"
        )
    clock = next((c for c in clocks(ticket, terms, now) if c.metric == metric), None) if terms else None
    if clock is None:
        raise NotFound("no-sla-target", f"ticket {ticket.ticket_id} has no {metric} target")
    if clock.state != BREACHED or clock.stopped:  # a stopped clock was judged when it stopped
        raise IllegalTransition(
            "sla-not-breached", f"the {metric} clock of {ticket.ticket_id} is {clock.state}"
        )
    return [events_pb2.TicketSlaBreached(metric=metric, target_seconds=clock.target_seconds)]


def breaches_on_stop(
    ticket: "TicketState", metrics: list[str], terms: SlaTerms | None, now: datetime
) -> list[Message]:
    """The breaches of the clocks a reply or a solve stops now, recorded with it: a clock is judged on
    the terms in force when it stops, and no later change of terms or priority judges it again."""
    if terms is None:
        return []
    return [
        events_pb2.TicketSlaBreached(metric=clock.metric, target_seconds=clock.target_seconds)
        for clock in clocks(ticket, terms, now)
        if clock.metric in metrics
        and not clock.stopped
        and clock.state == BREACHED
        and clock.metric not in ticket.sla_breaches
    ]
