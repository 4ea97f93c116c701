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
from datetime import datetime
from importlib import resources
from typing import Protocol

from cc.common.v1 import event_pb2
from cc.telephony.v1 import commands_pb2, events_pb2
from google.protobuf import json_format
from google.protobuf.message import Message

from services.common import categories
from services.common.aggregate import evolved
from services.common.business_hours import calendar_of, hours_message
from services.common.calendar import BusinessCalendar
from services.common.envelope import to_datetime
from services.common.errors import FieldViolation, IllegalTransition, InvalidArgument, NotFound, optional_text
from services.common.numbers import NUMBER, NUMBER_RULE
from services.telephony import flows
from services.telephony.flows import Flow

KEPT_FLOWS = 20
KEPT_FLOW_BYTES = 300_000
MAX_NUMBERS = 100
MAX_TICKET_CATEGORIES = 500
TICKET_PRIORITIES = ("low", "normal", "high", "urgent")
MAX_TARGET_MINUTES = 365 * 24 * 60
# A page for the agent to open: http(s), no spaces or control characters, [TEL] where the number goes.
SCREEN_POP_URL = re.compile(r"https?://[^\s\x00-\x1f\x7f-\x9f]{1,1990}")


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
class TicketSla:
    """The line's ticket SLA targets (TKT-6), in minutes by priority word; ticketing runs the clocks."""

    first_response_minutes: tuple[tuple[str, int], ...]
    resolution_minutes: tuple[tuple[str, int], ...]
    all_hours: bool = False

    def message(self) -> events_pb2.TicketSla:
        return events_pb2.TicketSla(
            first_response_minutes=dict(self.first_response_minutes),
            resolution_minutes=dict(self.resolution_minutes),
            all_hours=self.all_hours,
        )


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
    ticket_sla: TicketSla | None = None
    # The screen pop's page for a caller (TEL-2), [TEL] standing for the number; empty: none.
    screen_pop_url: str = ""
    # The ticket category tree's paths as defined, sorted (TKT-2); empty: any category.
    ticket_categories: tuple[str, ...] = ()

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
            sla = _sla_of(settings.ticket_sla) if settings.HasField("ticket_sla") else None
            if state is None:
                return LineState(
                    event.aggregate_id,
                    settings.display_name,
                    tuple(settings.numbers),
                    hours,
                    at,
                    at,
                    ticket_sla=sla,
                    screen_pop_url=settings.screen_pop_url,
                    ticket_categories=tuple(settings.ticket_categories),
                )
            return evolved(
                state,
                display_name=settings.display_name,
                numbers=tuple(settings.numbers),
                hours=hours,
                ticket_sla=sla,
                screen_pop_url=settings.screen_pop_url,
                ticket_categories=tuple(settings.ticket_categories),
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
    if settings.screen_pop_url and not SCREEN_POP_URL.fullmatch(settings.screen_pop_url):
        faults.append(FieldViolation("settings.screen_pop_url", "an http or https URL, [TEL] for the number"))
    for i, path in enumerate(settings.ticket_categories):
        optional_text(path, f"settings.ticket_categories[{i}]", "a ticket category")
        if (problem := categories.problem(path)) is not None:
            faults.append(FieldViolation(f"settings.ticket_categories[{i}]", problem))
    if len(settings.ticket_categories) > MAX_TICKET_CATEGORIES:
        faults.append(FieldViolation("settings.ticket_categories", f"at most {MAX_TICKET_CATEGORIES}"))
    if faults:
        raise InvalidArgument("invalid-argument", "the line's settings are not valid", faults)
    written = events_pb2.LineSettings(
        display_name=settings.display_name,
        numbers=sorted(set(settings.numbers)),
        screen_pop_url=settings.screen_pop_url,
        ticket_categories=sorted({categories.canonical(path) for path in settings.ticket_categories}),
    )
    if settings.HasField("hours"):
        written.hours.CopyFrom(hours_message(calendar_of(settings.hours)))
    if settings.HasField("ticket_sla"):
        written.ticket_sla.CopyFrom(_validated_sla(settings.ticket_sla))
    return written


def settings_message(state: LineState) -> events_pb2.LineSettings:
    settings = events_pb2.LineSettings(
        display_name=state.display_name,
        numbers=state.numbers,
        screen_pop_url=state.screen_pop_url,
        ticket_categories=state.ticket_categories,
    )
    if state.hours is not None:
        settings.hours.CopyFrom(hours_message(state.hours))
    if state.ticket_sla is not None:
        settings.ticket_sla.CopyFrom(state.ticket_sla.message())
    return settings


def _validated_sla(sla: events_pb2.TicketSla) -> events_pb2.TicketSla:
    """Targets for known priorities, each a minute to a year, or InvalidArgument naming each."""
    faults = [
        FieldViolation(f"settings.ticket_sla.{name}[{priority}]", problem)
        for name in ("first_response_minutes", "resolution_minutes")
        for priority, minutes in sorted(getattr(sla, name).items())
        if (problem := _target_problem(priority, minutes)) is not None
    ]
    if faults:
        raise InvalidArgument("invalid-argument", "the line's ticket SLA is not valid", faults)
    return sla


def _target_problem(priority: str, minutes: int) -> str | None:
    if priority not in TICKET_PRIORITIES:
        return "a ticket priority: low, normal, high or urgent"
    if not 1 <= minutes <= MAX_TARGET_MINUTES:
        return f"1 to {MAX_TARGET_MINUTES} minutes (a year)"
    return None


def _sla_of(sla: events_pb2.TicketSla) -> TicketSla:
    return TicketSla(
        tuple(sorted(sla.first_response_minutes.items())),
        tuple(sorted(sla.resolution_minutes.items())),
        sla.all_hours,
    )
