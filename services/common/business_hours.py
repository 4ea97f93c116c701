"""A line of business's hours as the API and its events write them (`BusinessHours`: weekday spans
like "09:00-18:00", a holiday country, special days) and as the calendar reads them. Every context
that follows a line's events (telephony's flows, ticketing's SLA clocks) reads its hours the same way.
Refusals name the fields as the line's API does (`settings.hours...`)."""

import re
from datetime import date

from cc.telephony.v1 import events_pb2

from services.common import calendar
from services.common.calendar import BusinessCalendar, Span
from services.common.errors import FieldViolation, InvalidArgument

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_TIME = re.compile(r"([0-9]{2}):([0-9]{2})")
_COUNTRY = re.compile(r"[A-Z]{2}")


def calendar_of(hours: events_pb2.BusinessHours) -> BusinessCalendar:
    """The calendar the hours describe, or InvalidArgument naming each field (`settings.hours...`)."""
    faults: list[FieldViolation] = []
    weekly: dict[int, tuple[Span, ...]] = {}
    for day, text in sorted(hours.weekly.items()):
        where = f"settings.hours.weekly[{day}]"
        if day not in WEEKDAYS:
            faults.append(FieldViolation(where, "a weekday: mon, tue, wed, thu, fri, sat or sun"))
        elif (spans := _spans(text, where, faults)) is not None:
            weekly[WEEKDAYS.index(day)] = spans
    special: dict[date, tuple[Span, ...]] = {}
    for day, text in sorted(hours.special_days.items()):
        where = f"settings.hours.special_days[{day}]"
        try:
            moment = date.fromisoformat(day)
        except ValueError:
            faults.append(FieldViolation(where, "a date: 2026-12-24"))
            continue
        if (spans := _spans(text, where, faults)) is not None:
            special[moment] = spans
    if hours.holiday_country and not _COUNTRY.fullmatch(hours.holiday_country):
        faults.append(FieldViolation("settings.hours.holiday_country", "an ISO 3166 alpha-2 code: KR"))
    if faults:
        raise InvalidArgument("invalid-argument", "the line's hours are not valid", faults)
    found = BusinessCalendar(
        time_zone=hours.time_zone,
        weekly=weekly,
        country=hours.holiday_country,
        subdivision=hours.holiday_subdivision,
        special_days=special,
    )
    try:
        return calendar.validated(found)
    except InvalidArgument as invalid:  # name the fields as the API does
        raise InvalidArgument(
            invalid.error_id,
            "the line's hours are not valid",
            [FieldViolation(_api_field(v.field), v.description) for v in invalid.field_violations],
        ) from None


def _api_field(field: str) -> str:
    renamed = {"country": "holiday_country", "subdivision": "holiday_subdivision"}.get(field, field)
    if renamed.startswith("weekly["):
        renamed = f"weekly[{WEEKDAYS[int(renamed[7:-1])]}]"
    return f"settings.hours.{renamed}"


def _spans(text: str, where: str, faults: list[FieldViolation]) -> tuple[Span, ...] | None:
    spans: list[Span] = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        ends = [_minutes(t.strip()) for t in part.split("-")]
        if len(ends) != 2 or None in ends:
            faults.append(FieldViolation(where, f"{part!r}: spans like 09:00-18:00, separated by commas"))
            return None
        opens, closes = ends
        assert opens is not None and closes is not None
        spans.append((opens, closes))
    return tuple(sorted(spans))


def _minutes(text: str) -> int | None:
    match = _TIME.fullmatch(text)
    if match is None:
        return None
    hours, minutes = int(match[1]), int(match[2])
    if minutes > 59 or hours > 24 or (hours == 24 and minutes):
        return None
    return hours * 60 + minutes


def hours_message(found: BusinessCalendar) -> events_pb2.BusinessHours:
    return events_pb2.BusinessHours(
        time_zone=found.time_zone,
        weekly={WEEKDAYS[day]: _text(spans) for day, spans in found.weekly.items()},
        holiday_country=found.country,
        holiday_subdivision=found.subdivision,
        special_days={day.isoformat(): _text(spans) for day, spans in found.special_days.items()},
    )


def _text(spans: tuple[Span, ...]) -> str:
    return ",".join(f"{_clock(opens)}-{_clock(closes)}" for opens, closes in spans)


def _clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"
