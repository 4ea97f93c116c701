"""The business calendar (CAL-1): whether a line of business is open at a moment, and how many business
seconds lie between two moments. Pure (no I/O, no clock): telephony's flows branch on it, routing's
queue metrics and ticketing's SLA clocks count on it, so it is one module that every service uses
alike, the way each uses `datetime`.

A calendar is a time zone, opening hours per weekday (several spans a day if need be, wall-clock times
in that zone), a country's public holidays (from the `holidays` package, `KR` for Korea), one-off
closed days, and special days with hours of their own (a holiday opened for a campaign, a short day).
A special day wins over a holiday, a holiday over the weekday's hours. Days are local days: a day's
hours follow the zone's clock across daylight-saving changes, and counters that roll over at midnight
roll over at the line of business's midnight (`local_day`), not UTC's.
"""

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from itertools import pairwise
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays

from services.common.errors import FieldViolation, InvalidArgument

MINUTES_A_DAY = 24 * 60
# Opening hours as minutes after local midnight: (opens, closes), closes up to 1440 (midnight after).
Span = tuple[int, int]


@dataclass(frozen=True)
class BusinessCalendar:
    time_zone: str
    # weekday (0 = Monday) -> its opening spans; a weekday not listed is closed.
    weekly: dict[int, tuple[Span, ...]]
    # Public holidays of this country (ISO 3166 code, "KR"), and of one of its subdivisions if given.
    country: str = ""
    subdivision: str = ""
    closed_days: frozenset[date] = frozenset()
    # Days with hours of their own (an empty tuple is closed), over holidays and weekday hours.
    special_days: dict[date, tuple[Span, ...]] = field(default_factory=dict)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    def local_day(self, moment: datetime) -> date:
        """The line of business's date at `moment` (an aware datetime)."""
        return moment.astimezone(self.zone).date()

    def holiday(self, day: date) -> str | None:
        """The name of the public holiday or one-off closed day `day` is, else None."""
        if day in self.closed_days:
            return "closed"
        if not self.country:
            return None
        return _public_holidays(self.country, self.subdivision, day.year).get(day)

    def spans_on(self, day: date) -> tuple[Span, ...]:
        """The day's opening spans, in minutes after its local midnight."""
        if day in self.special_days:
            return self.special_days[day]
        if self.holiday(day) is not None:
            return ()
        return self.weekly.get(day.weekday(), ())

    def is_open(self, moment: datetime) -> bool:
        """Within one of the opening periods that `business_seconds` counts (so the two agree in the
        hour a daylight-saving change skips or repeats)."""
        instant = moment.astimezone(UTC)
        return any(opens <= instant < closes for opens, closes in self._open_periods(instant, instant))

    def business_seconds(self, start: datetime, end: datetime) -> float:
        """Open seconds from `start` to `end` (0 if end is not after start): what an SLA clock or a
        business-hours wait counts. O(days between them)."""
        if end <= start:
            return 0.0
        total = 0.0
        for opens, closes in self._open_periods(start, end):
            total += (min(closes, end) - max(opens, start)).total_seconds()
        return total

    def next_open(self, moment: datetime, within_days: int = 366) -> datetime | None:
        """`moment` if open then, else when it next opens (None if not within `within_days`)."""
        if self.is_open(moment):
            return moment
        for opens, _ in self._open_periods(moment, moment + timedelta(days=within_days)):
            return max(opens, moment)
        return None

    def after_business_seconds(
        self, start: datetime, seconds: float, within_days: int = 366
    ) -> datetime | None:
        """The moment `seconds` of open time after `start` (`start` itself for none): when an SLA clock
        with that much left is due. None if it is not within `within_days`."""
        if seconds <= 0:
            return start
        left = seconds
        for opens, closes in self._open_periods(start, start + timedelta(days=within_days)):
            begin = max(opens, start)
            available = (closes - begin).total_seconds()
            if available >= left:
                return begin + timedelta(seconds=left)
            left -= available
        return None

    def _open_periods(self, start: datetime, end: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Each opening span that overlaps [start, end) (or holds `start` when they are equal), as aware
        datetimes, in time order."""
        zone = self.zone
        day, last = self.local_day(start), self.local_day(end)
        while day <= last:
            midnight = datetime.combine(day, time(), zone)
            for opens, closes in sorted(self.spans_on(day)):
                begin, finish = _at(midnight, opens, zone), _at(midnight, closes, zone)
                if finish > start and begin <= end:
                    yield begin, finish
            day += timedelta(days=1)


def _at(midnight: datetime, minutes: int, zone: ZoneInfo) -> datetime:
    """The wall-clock time `minutes` after a local midnight, in UTC (so a DST change moves it)."""
    if minutes >= MINUTES_A_DAY:
        return datetime.combine(midnight.date() + timedelta(days=1), time(), zone).astimezone(UTC)
    return midnight.replace(hour=minutes // 60, minute=minutes % 60).astimezone(UTC)


@lru_cache(maxsize=256)
def _public_holidays(country: str, subdivision: str, year: int) -> "holidays.HolidayBase":
    return holidays.country_holidays(country, subdiv=subdivision or None, years=year)


TIME_ZONE_RULE = "an IANA time zone such as Asia/Seoul"


@lru_cache(maxsize=256)
def zone_of(name: str) -> ZoneInfo | None:
    """The zone an IANA name names; None for none ("Asia" is a directory of zones, not one)."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


def day_at(at: float, time_zone: str) -> str:
    """The ISO date at the moment `at` (seconds since the epoch) in the zone; UTC for "" (or a zone
    unknown here)."""
    zone = zone_of(time_zone) if time_zone else None
    return datetime.fromtimestamp(at, tz=zone or UTC).date().isoformat()


def validated(calendar: BusinessCalendar) -> BusinessCalendar:
    """The calendar, or InvalidArgument naming every field at fault."""
    violations: list[FieldViolation] = []
    if zone_of(calendar.time_zone) is None:
        violations.append(FieldViolation("time_zone", TIME_ZONE_RULE))
    if calendar.country and calendar.country not in holidays.list_supported_countries():
        violations.append(FieldViolation("country", "an ISO 3166 country code the holidays package knows"))
    elif calendar.subdivision and calendar.subdivision not in holidays.list_supported_countries().get(
        calendar.country, []
    ):
        violations.append(FieldViolation("subdivision", f"a subdivision of {calendar.country}"))
    for weekday, spans in calendar.weekly.items():
        if not 0 <= weekday <= 6:
            violations.append(FieldViolation(f"weekly[{weekday}]", "a weekday, 0 (Monday) to 6"))
        violations.extend(_span_faults(f"weekly[{weekday}]", spans))
    for day, spans in calendar.special_days.items():
        violations.extend(_span_faults(f"special_days[{day.isoformat()}]", spans))
    if violations:
        raise InvalidArgument("invalid-argument", "the calendar is not valid", violations)
    return calendar


def _span_faults(where: str, spans: tuple[Span, ...]) -> list[FieldViolation]:
    faults = [
        FieldViolation(where, f"{opens}-{closes}: opens before it closes, within the day (0 to 1440 minutes)")
        for opens, closes in spans
        if not 0 <= opens < closes <= MINUTES_A_DAY
    ]
    ordered = sorted(spans)
    if not faults and any(a[1] > b[0] for a, b in pairwise(ordered)):
        faults.append(FieldViolation(where, "its spans overlap"))
    return faults
