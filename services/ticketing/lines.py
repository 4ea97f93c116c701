"""The lines of business as ticketing reads them: each line's ticket SLA targets and the calendar
they count on (TKT-6), its hours for after-hours messages (TKT-8) and its ticket category tree (TKT-2),
from telephony's line events.
Each event carries the line's whole settings, so this copy takes the latest; the hours are read by the
same shared codec telephony uses."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cc.common.v1 import event_pb2

from services.common import categories
from services.common.aggregate import ReadSpec
from services.common.business_hours import calendar_of
from services.common.calendar import BusinessCalendar
from services.common.projection import Projection
from services.common.topics import LINES
from services.ticketing.sla import SlaTerms


@dataclass(frozen=True)
class LineTerms:
    line_id: str
    # None: the line sets no ticket SLA.
    terms: SlaTerms | None
    # None: always open.
    hours: BusinessCalendar | None = None
    # Every category path of the line's tree and its ancestors; None: the line takes any category.
    categories: frozenset[str] | None = None


def evolve(state: LineTerms | None, event: event_pb2.Event) -> LineTerms:
    if event.WhichOneof("payload") != "line_defined":
        if state is None:
            raise ValueError(f"{event.event_type} before line_defined")
        return state  # a flow published: nothing the clocks read
    settings = event.line_defined.settings
    hours = calendar_of(settings.hours) if settings.HasField("hours") else None
    tree = categories.tree(settings.ticket_categories) if settings.ticket_categories else None
    if not settings.HasField("ticket_sla"):
        return LineTerms(event.aggregate_id, None, hours, tree)
    sla = settings.ticket_sla
    terms = SlaTerms(
        tuple(sorted(sla.first_response_minutes.items())),
        tuple(sorted(sla.resolution_minutes.items())),
        None if sla.all_hours else hours,
    )
    return LineTerms(event.aggregate_id, terms, hours, tree)


LINE_TERMS: ReadSpec[LineTerms] = ReadSpec(LINES, evolve, LineTerms)


class LineDirectory:
    """The read model, as the ticket's decisions, views and SLA timer ask it. The service is SERVING
    only once it has caught up, so no clock is shown or timed on a line not yet read."""

    def __init__(self, bootstrap_servers: str) -> None:
        self.lines: Projection[LineTerms, Any] = Projection(LINE_TERMS, bootstrap_servers)

    async def run(self) -> None:
        await self.lines.run()

    def ready(self) -> bool:
        return self.lines.caught_up.is_set()

    def is_open(self, tenant_id: str, line_id: str, moment: datetime) -> bool:
        """Whether the line is open at `moment`; a line with no hours, or none, always is."""
        entry = self.lines.get(tenant_id, line_id) if line_id else None
        hours = entry.state.hours if entry else None
        return hours is None or hours.is_open(moment)

    def sla_terms(self, tenant_id: str, line_id: str) -> SlaTerms | None:
        entry = self.lines.get(tenant_id, line_id) if line_id else None
        return entry.state.terms if entry else None

    def categories(self, tenant_id: str, line_id: str) -> frozenset[str] | None:
        entry = self.lines.get(tenant_id, line_id) if line_id else None
        return entry.state.categories if entry else None
