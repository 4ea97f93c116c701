"""The lines of business and the caller list as the call aggregate's decisions read them: from
telephony's own read models, in memory. A tenant has a handful of lines, so finding a DNIS's line
scans them."""

from cc.telephony.v1 import commands_pb2

from services.common.projection import Projection
from services.telephony.caller_list import ListedNumber
from services.telephony.lines import LineState


class ProjectedLines:
    def __init__(self, lines: Projection[LineState, commands_pb2.LineCommand]) -> None:
        self._lines = lines

    def line_for(self, tenant_id: str, dnis: str) -> LineState | None:
        """The line that has the number; the servicer keeps numbers to one line, and should two ever
        claim one (two admins at the same instant), the lowest line id takes it, on every instance."""
        having = [e.state for e in self._lines.of_tenant(tenant_id) if dnis in e.state.numbers]
        return min(having, key=lambda line: line.line_id, default=None)

    def line(self, tenant_id: str, line_id: str) -> LineState | None:
        entry = self._lines.get(tenant_id, line_id)
        return entry.state if entry else None


class ProjectedCallerList:
    def __init__(self, entries: Projection[ListedNumber, commands_pb2.ListedNumberCommand]) -> None:
        self._entries = entries

    def entry(self, tenant_id: str, number: str) -> ListedNumber | None:
        found = self._entries.get(tenant_id, number)
        return found.state if found else None
