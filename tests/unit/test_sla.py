"""SLA clocks (TKT-6): first response and resolution on the line's business hours, paused while
pending or on hold, stopped by the first reply or the solve, and right across a reopen; a breach is
recorded once, and only when the clock has passed its target. Pure: no broker."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cc.telephony.v1 import events_pb2 as line_events
from cc.ticketing.v1 import commands_pb2, events_pb2
from google.protobuf.message import Message
from hypothesis import given, settings
from hypothesis import strategies as st

from services.common.aggregate import Versioned
from services.common.calendar import BusinessCalendar
from services.common.errors import IllegalTransition, InvalidArgument, NotFound, PlatformError
from services.ticketing import domain, sla
from services.ticketing.lines import LineTerms
from services.ticketing.lines import evolve as line_terms
from services.ticketing.sla_timer import MARGIN, next_breach
from tests.unit.support import at, envelope, refused
from tests.unit.test_ticket_domain import CLOSED, NEW, ON_HOLD, OPEN, PENDING, SOLVED, Ticket, command

MINUTE = 60
# Targets in minutes: normal tickets get a first answer within an hour and a solution within four.
TARGETS = ((("normal", 60), ("urgent", 15)), (("normal", 240),))
ALL_HOURS = sla.SlaTerms(*TARGETS, calendar=None)
# Weekdays 09:00-18:00 UTC; at(0) is Monday 3 March 2025, 09:00 UTC.
OFFICE = sla.SlaTerms(*TARGETS, calendar=BusinessCalendar("UTC", {d: ((9 * 60, 18 * 60),) for d in range(5)}))


def sla_ticket() -> Ticket:
    """A ticket on a line with the all-hours targets: its replies and solves judge the clocks they stop."""
    ticket = Ticket(line_id="cards")
    ticket.rules = domain.TicketRules(sla_terms=lambda tenant_id, line_id: ALL_HOURS)
    return ticket


def clock(ticket: Ticket, metric: str, minutes: float, terms: sla.SlaTerms = ALL_HOURS) -> sla.SlaClock:
    [found] = [c for c in sla.clocks(ticket.state, terms, at(minutes * MINUTE)) if c.metric == metric]
    return found


def test_both_clocks_run_from_the_opening_and_say_when_they_are_due() -> None:
    ticket = Ticket()
    first, resolution = sla.clocks(ticket.state, ALL_HOURS, at(30 * MINUTE))
    assert (first.metric, first.state, first.elapsed_seconds, first.target_seconds) == (
        "first_response",
        "running",
        30 * MINUTE,
        60 * MINUTE,
    )
    assert first.due_at == at(60 * MINUTE)
    assert (resolution.state, resolution.due_at) == ("running", at(240 * MINUTE))


def test_pending_and_on_hold_pause_both_clocks_and_open_resumes_them() -> None:
    ticket = Ticket()
    ticket.to(PENDING, at_second=10 * MINUTE)
    paused = clock(ticket, "resolution", 50)
    assert (paused.state, paused.elapsed_seconds, paused.due_at) == ("paused", 10 * MINUTE, None)
    ticket.to(OPEN, at_second=40 * MINUTE)
    ticket.to(ON_HOLD, at_second=45 * MINUTE)
    assert clock(ticket, "first_response", 90).elapsed_seconds == 15 * MINUTE
    ticket.to(OPEN, at_second=100 * MINUTE)
    resumed = clock(ticket, "first_response", 110)
    assert (resumed.state, resumed.elapsed_seconds) == ("running", 25 * MINUTE)
    assert resumed.due_at == at(145 * MINUTE)


@pytest.mark.parametrize(("replied_after", "state"), [(20, "met"), (60, "met"), (70, "breached")])
def test_the_first_public_reply_stops_the_first_response_clock(replied_after: int, state: str) -> None:
    ticket = sla_ticket()
    ticket.note("internal notes do not count")
    ticket.reply(at_second=replied_after * MINUTE)
    stopped = clock(ticket, "first_response", 500)
    assert (stopped.state, stopped.elapsed_seconds, stopped.due_at) == (state, replied_after * MINUTE, None)
    assert clock(ticket, "resolution", 500).state == "breached"  # still running, past its target


def test_solving_stops_resolution_and_a_reopen_runs_on_from_where_it_stopped() -> None:
    ticket = sla_ticket()
    ticket.to(SOLVED, at_second=100 * MINUTE)
    solved = clock(ticket, "resolution", 150)
    assert (solved.state, solved.elapsed_seconds) == ("met", 100 * MINUTE)
    assert clock(ticket, "first_response", 150).state == "breached"  # solved without a reply, after 100 min
    ticket.to(OPEN, at_second=200 * MINUTE)  # reopened: the 100 minutes before still count
    reopened = clock(ticket, "resolution", 230)
    assert (reopened.state, reopened.elapsed_seconds, reopened.due_at) == (
        "running",
        130 * MINUTE,
        at(340 * MINUTE),
    )
    ticket.to(SOLVED, at_second=400 * MINUTE)
    ticket.to(CLOSED, at_second=500 * MINUTE)
    closed = clock(ticket, "resolution", 600)
    assert (closed.state, closed.elapsed_seconds) == ("breached", 300 * MINUTE)


def test_a_clock_past_its_target_is_breached_while_it_runs_and_is_due_no_more() -> None:
    late = clock(Ticket(), "first_response", 61)
    assert (late.state, late.due_at) == ("breached", None)
    on_time = clock(Ticket(), "first_response", 60)  # due at its target: past it only after
    assert (on_time.state, on_time.due_at) == ("running", at(60 * MINUTE))


def test_business_hours_count_only_while_the_line_is_open() -> None:
    ticket = Ticket()  # opened Monday 09:00
    ticket.to(PENDING, at_second=0)
    ticket.to(OPEN, at_second=8 * 60 * MINUTE)  # Monday 17:00
    evening = clock(ticket, "resolution", 8.5 * 60, OFFICE)  # Monday 17:30, 210 of 240 minutes left
    assert (evening.elapsed_seconds, evening.due_at) == (30 * MINUTE, at((24 + 3) * 60 * MINUTE))
    overnight = clock(ticket, "resolution", 24 * 60, OFFICE)  # Tuesday 09:00: the night is free
    assert (overnight.state, overnight.elapsed_seconds) == ("running", 60 * MINUTE)
    assert clock(ticket, "first_response", 8.5 * 60, OFFICE).due_at == at(9 * 60 * MINUTE)  # Monday 18:00
    weekend = sla.clocks(ticket.state, OFFICE, datetime(2025, 3, 8, 12, tzinfo=UTC))  # Saturday
    assert weekend[1].elapsed_seconds == (60 + 4 * 9 * 60) * MINUTE  # Mon 1 h + Tue-Fri 9 h a day


def test_the_target_follows_the_priority_and_a_priority_with_none_has_no_clock() -> None:
    ticket = Ticket()
    ticket.edit(priority=events_pb2.TICKET_PRIORITY_URGENT)
    assert [c.metric for c in sla.clocks(ticket.state, ALL_HOURS, at(5 * MINUTE))] == ["first_response"]
    assert clock(ticket, "first_response", 16).state == "breached"  # urgent: 15 minutes
    low = Ticket(priority=events_pb2.TICKET_PRIORITY_LOW)
    assert sla.clocks(low.state, ALL_HOURS, at(0)) == []


def record(
    ticket: Ticket, metric: str, minutes: float, terms: sla.SlaTerms | None = ALL_HOURS
) -> list[Message]:
    ticket.rules = domain.TicketRules(sla_terms=lambda tenant_id, line_id: terms)
    breach = command(record_sla_breach=commands_pb2.RecordSlaBreach(metric=metric))
    return ticket.handle(breach, at(minutes * MINUTE))


def test_a_breach_is_recorded_once_and_only_when_the_clock_has_passed_its_target() -> None:
    ticket = Ticket(line_id="cards")
    error = refused(lambda: record(ticket, "first_response", 59), IllegalTransition, "sla-not-breached")
    assert "running" in error.message
    [breached] = record(ticket, "first_response", 61)
    assert breached == events_pb2.TicketSlaBreached(metric="first_response", target_seconds=60 * MINUTE)
    assert ticket.state.sla_breaches == ("first_response",)
    refused(lambda: record(ticket, "first_response", 90), IllegalTransition, "sla-breach-recorded")
    refused(lambda: record(ticket, "resolution", 90, terms=None), NotFound, "no-sla-target")
    refused(lambda: record(ticket, "handle_time", 90), InvalidArgument, "invalid-argument")
    ticket.to(PENDING, at_second=100 * MINUTE)
    refused(lambda: record(ticket, "resolution", 500), IllegalTransition, "sla-not-breached")  # paused


transitions = st.lists(
    st.tuples(st.integers(min_value=0, max_value=600), st.sampled_from([OPEN, PENDING, ON_HOLD, SOLVED])),
    max_size=8,
)


@settings(max_examples=200, deadline=None)
@given(transitions, st.integers(min_value=0, max_value=6000), st.integers(min_value=0, max_value=6000))
def test_elapsed_time_never_shrinks_nor_exceeds_the_time_since_opening(
    steps: list[tuple[int, int]], later: int, then: int
) -> None:
    ticket = Ticket()
    moment = 0
    for gap, status in steps:
        moment += gap * MINUTE
        try:
            ticket.to(status, at_second=moment)
        except PlatformError:
            continue  # a move the lifecycle does not allow
    for metric in ("first_response", "resolution"):
        first = clock(ticket, metric, moment / MINUTE + min(later, then))
        second = clock(ticket, metric, moment / MINUTE + max(later, then))
        assert first.elapsed_seconds <= second.elapsed_seconds
        assert second.elapsed_seconds <= (moment + max(later, then) * MINUTE)
        office = clock(ticket, metric, moment / MINUTE + later, OFFICE)
        assert office.elapsed_seconds <= clock(ticket, metric, moment / MINUTE + later).elapsed_seconds


def test_a_ticket_opens_on_its_line_and_keeps_it() -> None:
    assert Ticket(line_id="cards").state.line_id == "cards"
    assert Ticket().state.line_id == ""
    assert Ticket().state.status == NEW
    assert timedelta(0) == Ticket().state.opened_at - at(0)


def test_the_timer_arms_a_clock_past_its_target_at_once_else_the_one_due_first() -> None:
    ticket = Ticket()
    entry = Versioned(ticket.state, ticket.version, ticket.tenant_id, ticket.aggregate_id)
    assert next_breach(entry, ALL_HOURS, at(10 * MINUTE)) == ("first_response", at(60 * MINUTE) + MARGIN)
    assert next_breach(entry, ALL_HOURS, at(70 * MINUTE)) == ("first_response", at(70 * MINUTE))
    ticket.reply(at_second=30 * MINUTE)
    replied = Versioned(ticket.state, ticket.version, ticket.tenant_id, ticket.aggregate_id)
    assert next_breach(replied, ALL_HOURS, at(40 * MINUTE)) == ("resolution", at(240 * MINUTE) + MARGIN)
    ticket.to(PENDING, at_second=50 * MINUTE)
    paused = Versioned(ticket.state, ticket.version, ticket.tenant_id, ticket.aggregate_id)
    assert next_breach(paused, ALL_HOURS, at(60 * MINUTE)) is None  # met, and paused


def test_ticketings_copy_of_a_line_reads_its_targets_and_its_hours_unless_all_hours() -> None:
    hours = line_events.BusinessHours(time_zone="UTC", weekly={"mon": "09:00-18:00"})
    sla_given = line_events.TicketSla(first_response_minutes={"normal": 60})

    def defined(**settings: Any) -> LineTerms:
        event = envelope(
            line_events.LineDefined(settings=line_events.LineSettings(**settings)),
            context="telephony",
            aggregate_type="line",
            aggregate_id="cards",
            version=1,
            when=at(0),
        )
        return line_terms(None, event)

    on_hours = defined(hours=hours, ticket_sla=sla_given)
    assert on_hours.terms is not None and on_hours.terms.calendar is not None
    assert on_hours.terms.target_seconds("first_response", events_pb2.TICKET_PRIORITY_NORMAL) == 3600
    sla_given.all_hours = True
    assert defined(hours=hours, ticket_sla=sla_given).terms.calendar is None  # type: ignore[union-attr]
    assert defined(hours=hours).terms is None
    # With or without targets, the copy holds the line's category tree: each path and its branches.
    for targets in ({}, {"ticket_sla": sla_given}):
        copy = defined(ticket_categories=["billing/refund", "delivery"], **targets)
        assert copy.categories == {"billing", "billing/refund", "delivery"}
    assert defined().categories is None  # no tree: any category


def test_a_first_response_stopped_by_a_solve_stays_stopped_when_a_reply_follows_a_reopen() -> None:
    ticket = Ticket()
    ticket.to(SOLVED, at_second=30 * MINUTE)
    ticket.to(OPEN, at_second=40 * MINUTE)
    ticket.reply(at_second=200 * MINUTE)
    first = clock(ticket, "first_response", 300)
    assert (first.state, first.elapsed_seconds, first.stopped) == ("met", 30 * MINUTE, True)


def test_the_stopping_reply_or_solve_records_a_late_clocks_breach_and_the_timer_leaves_it() -> None:
    ticket = Ticket(line_id="cards")
    ticket.rules = domain.TicketRules(sla_terms=lambda tenant_id, line_id: ALL_HOURS)
    replied = ticket.reply(at_second=70 * MINUTE)
    assert replied[1:] == [events_pb2.TicketSlaBreached(metric="first_response", target_seconds=60 * MINUTE)]
    assert ticket.state.sla_breaches == ("first_response",)
    assert ticket.reply(at_second=80 * MINUTE)[1:] == []  # a second reply stops nothing
    solved = ticket.to(SOLVED, at_second=300 * MINUTE)
    assert solved[1:] == [events_pb2.TicketSlaBreached(metric="resolution", target_seconds=240 * MINUTE)]
    on_time = Ticket(line_id="cards")
    on_time.rules = ticket.rules
    assert on_time.to(SOLVED, at_second=30 * MINUTE)[1:] == []
    entry = Versioned(on_time.state, on_time.version, on_time.tenant_id, on_time.aggregate_id)
    assert next_breach(entry, ALL_HOURS, at(500 * MINUTE)) is None  # stopped: never judged again


def test_later_terms_never_turn_a_met_clock_into_a_breach_to_record_and_a_recorded_one_stands() -> None:
    ticket = Ticket(line_id="cards")
    ticket.to(SOLVED, at_second=100 * MINUTE)  # met on a 240-minute target
    stricter = sla.SlaTerms((), (("normal", 30),), calendar=None)
    later = clock(ticket, "resolution", 10_000, stricter)
    assert (later.state, later.stopped) == ("met", True)  # judged when it stopped...
    entry = Versioned(ticket.state, ticket.version, ticket.tenant_id, ticket.aggregate_id)
    assert next_breach(entry, stricter, at(10_000 * MINUTE)) is None  # ...and never recorded later
    refused(lambda: record(ticket, "resolution", 10_000, stricter), IllegalTransition, "sla-not-breached")
    late = Ticket(line_id="cards")
    record(late, "first_response", 61)
    lenient = sla.SlaTerms((("normal", 600),), (), calendar=None)
    assert clock(late, "first_response", 62, lenient).state == "breached"  # the recorded breach stands


def test_a_long_target_on_office_hours_is_still_due_some_day() -> None:
    year = sla.SlaTerms((), (("normal", 365 * 24 * 60),), calendar=OFFICE.calendar)
    [resolution] = sla.clocks(Ticket().state, year, at(0))
    assert resolution.due_at is not None and resolution.due_at > at(3 * 365 * 24 * 3600)


def test_a_duplicate_merged_away_stops_its_clocks_and_records_what_was_late_as_it_goes() -> None:
    ticket = sla_ticket()
    merged = ticket.handle(command(merge=commands_pb2.MergeTicket(into_ticket_id="t-9")), at(90 * MINUTE))
    # First response was due after an hour: late, recorded with the merge; resolution was still in time.
    assert merged[2:] == [events_pb2.TicketSlaBreached(metric="first_response", target_seconds=60 * MINUTE)]
    later = {c.metric: c for c in sla.clocks(ticket.state, ALL_HOURS, at(600 * MINUTE))}
    assert (later["first_response"].state, later["resolution"].state) == ("breached", "met")
    assert later["resolution"].elapsed_seconds == 90 * MINUTE and later["resolution"].due_at is None
