"""The business calendar (issue 8, CAL-1): open at a moment, business seconds between two moments,
Korean public holidays from the `holidays` package, one-off closed days, special days, local midnight
and daylight saving."""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.common.calendar import BusinessCalendar, validated
from services.common.errors import InvalidArgument

SEOUL = ZoneInfo("Asia/Seoul")
NINE_TO_SIX = ((9 * 60, 18 * 60),)
WEEKDAYS = {day: NINE_TO_SIX for day in range(5)}
KOREA = BusinessCalendar("Asia/Seoul", WEEKDAYS, country="KR")


def seoul(day: str, hour: int, minute: int = 0) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, minute=minute, tzinfo=SEOUL)


def test_open_on_weekday_hours_and_closed_on_weekends_and_korean_holidays() -> None:
    assert KOREA.is_open(seoul("2026-03-03", 9))  # a Tuesday, at opening
    assert not KOREA.is_open(seoul("2026-03-03", 18))  # closing time is closed
    assert not KOREA.is_open(seoul("2026-03-07", 10))  # Saturday
    assert KOREA.holiday(date(2026, 2, 17)) == "Korean New Year"
    assert not KOREA.is_open(seoul("2026-02-17", 10))  # Seollal
    assert not KOREA.is_open(seoul("2026-03-02", 10))  # the alternative holiday for 3.1
    no_country = BusinessCalendar("Asia/Seoul", WEEKDAYS)
    assert no_country.is_open(seoul("2026-02-17", 10))  # no country: no holidays


def test_one_off_closed_days_and_special_days_over_holidays() -> None:
    calendar = BusinessCalendar(
        "Asia/Seoul",
        WEEKDAYS,
        country="KR",
        closed_days=frozenset({date(2026, 3, 4)}),
        special_days={date(2026, 2, 17): ((10 * 60, 14 * 60),), date(2026, 3, 5): ()},
    )
    assert not calendar.is_open(seoul("2026-03-04", 10))  # a one-off closed day
    assert not calendar.is_open(seoul("2026-03-05", 10))  # a special day with no hours
    assert calendar.is_open(seoul("2026-02-17", 13)) and not calendar.is_open(seoul("2026-02-17", 9))


def test_business_seconds_skip_nights_weekends_and_holidays() -> None:
    friday_five, monday_ten = seoul("2026-03-06", 17), seoul("2026-03-09", 10)
    assert KOREA.business_seconds(friday_five, monday_ten) == 2 * 3600
    # across Seollal (Mon 16 to Wed 18 Feb): Friday 13th 17:00 to Thursday 19th 10:00
    assert KOREA.business_seconds(seoul("2026-02-13", 17), seoul("2026-02-19", 10)) == 2 * 3600
    assert KOREA.business_seconds(monday_ten, friday_five) == 0  # end before start
    assert KOREA.business_seconds(seoul("2026-03-09", 15), seoul("2026-03-09", 10)) == 0  # on one day too
    lunch = BusinessCalendar("Asia/Seoul", {0: ((9 * 60, 12 * 60), (13 * 60, 18 * 60))})
    assert lunch.business_seconds(seoul("2026-03-09", 11), seoul("2026-03-09", 14)) == 2 * 3600


def test_next_open_and_the_local_day() -> None:
    assert KOREA.next_open(seoul("2026-03-06", 19)) == seoul("2026-03-09", 9)
    assert KOREA.next_open(seoul("2026-03-09", 11)) == seoul("2026-03-09", 11)
    # 15:30 UTC on 2 March is already 3 March in Seoul: counters roll over at Seoul's midnight
    assert KOREA.local_day(datetime(2026, 3, 2, 15, 30, tzinfo=UTC)) == date(2026, 3, 3)
    assert BusinessCalendar("Asia/Seoul", {}).next_open(seoul("2026-03-06", 19)) is None


def test_a_day_follows_the_wall_clock_across_daylight_saving() -> None:
    new_york = BusinessCalendar("America/New_York", {6: ((0, 24 * 60),)})  # Sundays, all day
    spring = datetime(2026, 3, 8, tzinfo=ZoneInfo("America/New_York"))  # clocks go forward at 02:00
    assert new_york.business_seconds(spring, spring + timedelta(days=1)) == 23 * 3600
    # 02:30 to 04:00 on the day 02:00-03:00 does not exist: open from 03:30 EDT (07:30 UTC), 30 minutes
    early = BusinessCalendar("America/New_York", {6: ((150, 240),)})
    assert early.business_seconds(spring, spring + timedelta(days=1)) == 30 * 60
    assert early.is_open(datetime(2026, 3, 8, 7, 45, tzinfo=UTC))
    assert not early.is_open(datetime(2026, 3, 8, 7, 15, tzinfo=UTC))  # the two agree in the skipped hour
    assert early.next_open(spring) == datetime(2026, 3, 8, 7, 30, tzinfo=UTC)


def test_a_bad_calendar_names_every_field_at_fault() -> None:
    bad = BusinessCalendar(
        "Mars/Olympus",
        {7: NINE_TO_SIX, 1: ((600, 500),), 2: ((540, 720), (700, 900))},
        country="XX",
        special_days={date(2026, 1, 2): ((0, 1441),)},
    )
    with pytest.raises(InvalidArgument) as refused:
        validated(bad)
    assert [v.field for v in refused.value.field_violations] == [
        "time_zone",
        "country",
        "weekly[7]",
        "weekly[1]",
        "weekly[2]",
        "special_days[2026-01-02]",
    ]
    assert validated(KOREA) is KOREA


moments = st.datetimes(
    min_value=datetime(2026, 1, 1), max_value=datetime(2026, 12, 31), timezones=st.just(UTC)
)


@settings(max_examples=150, deadline=None)
@given(st.lists(moments, min_size=3, max_size=3))
def test_business_seconds_add_up_and_never_exceed_the_time_between(three: list[datetime]) -> None:
    a, b, c = sorted(three)
    parts = KOREA.business_seconds(a, b) + KOREA.business_seconds(b, c)
    assert KOREA.business_seconds(a, c) == pytest.approx(parts)
    assert 0 <= KOREA.business_seconds(a, c) <= (c - a).total_seconds()


def test_a_moment_after_business_seconds_skips_nights_weekends_and_holidays() -> None:
    assert KOREA.after_business_seconds(seoul("2026-03-06", 17), 2 * 3600) == seoul("2026-03-09", 10)
    assert KOREA.after_business_seconds(seoul("2026-03-07", 12), 60) == seoul("2026-03-09", 9, 1)
    # Friday 13 Feb 17:00 plus two hours: across Seollal to Thursday 19 Feb 10:00
    assert KOREA.after_business_seconds(seoul("2026-02-13", 17), 2 * 3600) == seoul("2026-02-19", 10)
    assert KOREA.after_business_seconds(seoul("2026-03-09", 10), 0) == seoul("2026-03-09", 10)
    never = BusinessCalendar("Asia/Seoul", {})
    assert never.after_business_seconds(seoul("2026-03-09", 10), 1) is None


@settings(max_examples=150, deadline=None)
@given(moments, st.integers(min_value=1, max_value=30 * 9 * 3600))
def test_the_moment_after_is_exactly_that_many_business_seconds_away(start: datetime, seconds: int) -> None:
    due = KOREA.after_business_seconds(start, seconds)
    assert due is not None and due > start
    assert KOREA.business_seconds(start, due) == pytest.approx(seconds)
    assert KOREA.business_seconds(start, due - timedelta(seconds=1)) < seconds
