"""The line-of-business aggregate (TEL-3, TEL-4, ORG-2): a line ("service" in the seed product) has
its service numbers (DNIS), its business hours and the versions of its IVR flow. Admins define it and
publish flows over the API; every change is an event. Pure decide and evolve.

A call to one of a line's numbers walks the line's current flow, and keeps that version to its end.
The last `KEPT_FLOWS` versions, at most `KEPT_FLOW_BYTES` of them, stay in the line's state for the calls
still walking them (the state is one snapshot record, which must fit Kafka's record limit); a call on a
version older than that (only if more were published during its IVR) starts the current one over.
Version 0 is the default flow: what a line walks before its first publish.
A number no line has reaches the default line: the seed product's menu, `default_flow.json`, always
open.
"""

import json
import re
from dataclasses import dataclass
from datetime import date, datetime
from importlib import resources
from typing import Protocol

from cc.common.v1 import event_pb2
from cc.telephony.v1 import commands_pb2, events_pb2
from google.protobuf import json_format
from google.protobuf.message import Message

from services.common import calendar
from services.common.aggregate import evolved
from services.common.calendar import BusinessCalendar, Span
from services.common.envelope import to_datetime
from services.common.errors import FieldViolation, IllegalTransition, InvalidArgument, NotFound, optional_text
from services.common.numbers import NUMBER, NUMBER_RULE
from services.telephony import flows
from services.telephony.flows import Flow

KEPT_FLOWS = 20
KEPT_FLOW_BYTES = 300_000
MAX_NUMBERS = 100
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_TIME = re.compile(r"([0-9]{2}):([0-9]{2})")
_COUNTRY = re.compile(r"[A-Z]{2}")


def _default_flow() -> Flow:
    text = resources.files("services.telephony").joinpath("default_flow.json").read_text(encoding="utf-8")
    return flows.validated(json_format.ParseDict(json.loads(text), events_pb2.IvrFlow()))


DEFAULT_FLOW = _default_flow()


@dataclass(frozen=True)
class PublishedFlow:
    version: int
    flow: Flow
    published_at: datetime
    # Its size as published: the kept versions are bounded by their total.
    size: int = 0


@dataclass(frozen=True)
class LineState:
    line_id: str
    display_name: str
    numbers: tuple[str, ...]
    # None: always open.
    hours: BusinessCalendar | None
    defined_at: datetime
    changed_at: datetime
    # The last KEPT_FLOWS published versions, oldest first.
    flows: tuple[PublishedFlow, ...] = ()

    @property
    def flow_version(self) -> int:
        return self.flows[-1].version if self.flows else 0

    def published(self, version: int) -> PublishedFlow | None:
        return next((f for f in self.flows if f.version == version), None)

    def flow(self, version: int) -> Flow:
        """The flow a call on `version` walks: that version while kept, else the current one."""
        if version == 0:
            return DEFAULT_FLOW
        kept = self.published(version) or (self.flows[-1] if self.flows else None)
        return kept.flow if kept else DEFAULT_FLOW

    def is_open(self, moment: datetime) -> bool:
        return self.hours is None or self.hours.is_open(moment)


class LineDirectory(Protocol):
    """The lines a call's decisions read: the line a DNIS reaches, and a line by id. A flow version
    never changes once published, so a call's walk depends only on the version its offer recorded."""

    def line_for(self, tenant_id: str, dnis: str) -> LineState | None: ...

    def line(self, tenant_id: str, line_id: str) -> LineState | None: ...


class NoLines:
    """A directory without lines: every number reaches the default line."""

    def line_for(self, tenant_id: str, dnis: str) -> LineState | None:
        return None

    def line(self, tenant_id: str, line_id: str) -> LineState | None:
        return None


def customer_of(state: LineState | None, command: commands_pb2.LineCommand) -> str:
    return ""  # a line's events belong to no customer's journey


def decide(state: LineState | None, command: commands_pb2.LineCommand, now: datetime) -> list[Message]:
    line_id = command.meta.aggregate_id
    match command.WhichOneof("command"):
        case "define":
            settings = validated_settings(command.define.settings)
            if state is not None and settings == settings_message(state):
                raise IllegalTransition("line-unchanged", f"line {line_id} has these settings already")
            return [events_pb2.LineDefined(settings=settings)]
        case "publish_flow":
            if state is None:
                raise NotFound("line-not-found", f"line {line_id} is not defined")
            flow = flows.validated(command.publish_flow.flow)
            if state.flows and flow == state.flows[-1].flow:
                raise IllegalTransition(
                    "flow-unchanged", f"version {state.flow_version} of line {line_id} is this flow"
                )
            return [events_pb2.FlowPublished(version=state.flow_version + 1, flow=flows.flow_message(flow))]
    raise InvalidArgument("unknown-command", "the line command names no known action")


def evolve(state: LineState | None, event: event_pb2.Event) -> LineState:
    at = to_datetime(event.occurred_at)
    match event.WhichOneof("payload"):
        case "line_defined":
            settings = event.line_defined.settings
            hours = calendar_of(settings.hours) if settings.HasField("hours") else None
            if state is None:
                return LineState(
                    event.aggregate_id, settings.display_name, tuple(settings.numbers), hours, at, at
                )
            return evolved(
                state,
                display_name=settings.display_name,
                numbers=tuple(settings.numbers),
                hours=hours,
                changed_at=at,
            )
    assert state is not None, f"{event.event_type} before line_defined"
    match event.WhichOneof("payload"):
        case "flow_published":
            message = event.flow_published
            published = PublishedFlow(message.version, flows.flow_of(message.flow), at, message.ByteSize())
            return evolved(state, flows=_kept((*state.flows, published)), changed_at=at)
    return state


def _kept(published: tuple[PublishedFlow, ...]) -> tuple[PublishedFlow, ...]:
    """The newest versions within KEPT_FLOWS and KEPT_FLOW_BYTES, the current one always."""
    kept = published[-KEPT_FLOWS:]
    while len(kept) > 1 and sum(f.size for f in kept) > KEPT_FLOW_BYTES:
        kept = kept[1:]
    return kept


# --- settings -------------------------------------------------------------------------------------


def validated_settings(settings: events_pb2.LineSettings) -> events_pb2.LineSettings:
    """The settings in their one written form (numbers without repeats, hours as the calendar reads
    them), or InvalidArgument naming each field at fault."""
    optional_text(settings.display_name, "settings.display_name", "the line's name")
    faults = [
        FieldViolation(f"settings.numbers[{i}]", f"a service number: {NUMBER_RULE}")
        for i, number in enumerate(settings.numbers)
        if not NUMBER.fullmatch(number)
    ]
    if len(settings.numbers) > MAX_NUMBERS:
        faults.append(FieldViolation("settings.numbers", f"at most {MAX_NUMBERS}"))
    if faults:
        raise InvalidArgument("invalid-argument", "the line's settings are not valid", faults)
    written = events_pb2.LineSettings(
        display_name=settings.display_name, numbers=sorted(set(settings.numbers))
    )
    if settings.HasField("hours"):
        written.hours.CopyFrom(hours_message(calendar_of(settings.hours)))
    return written


def settings_message(state: LineState) -> events_pb2.LineSettings:
    settings = events_pb2.LineSettings(display_name=state.display_name, numbers=state.numbers)
    if state.hours is not None:
        settings.hours.CopyFrom(hours_message(state.hours))
    return settings


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
