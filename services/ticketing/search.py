"""Ticket search (TKT-3): filters, a sort order and cursor pages over the tickets read model, pure.

A page token names the last ticket of the page before by its sort key, not by a position, so tickets
that arrive between two pages neither repeat a ticket nor skip one. (A ticket whose sort key changes
meanwhile, an update under the `updated` sorts or a new priority, moves in the order and can show on
two pages or none, as in any keyset pagination.) The token also carries a fingerprint of the filters
and the sort, and a token from another query is refused.
"""

import base64
import binascii
import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from cc.ticketing.v1 import ticketing_pb2

from services.common.aggregate import Versioned
from services.common.errors import FieldViolation, InvalidArgument
from services.ticketing.domain import TicketState

Sort = ticketing_pb2.TicketSort
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
SortKey = tuple[int, ...]
# The states of a ticket's SLA clocks now: running, paused, met, breached.
ClockStates = Callable[[TicketState], frozenset[str]]
SLA_STATES = frozenset({"running", "paused", "met", "breached"})


def _micros(moment: datetime) -> int:
    return int(moment.timestamp() * 1_000_000)


# Each sort: the key of a ticket (its id breaks ties, so the order is total) and whether it descends.
SORTS: dict[int, tuple[Callable[[TicketState], SortKey], bool]] = {
    Sort.TICKET_SORT_OPENED_DESC: (lambda t: (_micros(t.opened_at),), True),
    Sort.TICKET_SORT_OPENED_ASC: (lambda t: (_micros(t.opened_at),), False),
    Sort.TICKET_SORT_UPDATED_DESC: (lambda t: (_micros(t.updated_at),), True),
    Sort.TICKET_SORT_UPDATED_ASC: (lambda t: (_micros(t.updated_at),), False),
    Sort.TICKET_SORT_PRIORITY: (lambda t: (-t.priority, _micros(t.opened_at)), False),
}


@dataclass(frozen=True)
class TicketFilter:
    """What a listed ticket must match; an empty field matches every ticket."""

    customer_id: str = ""
    statuses: frozenset[int] = frozenset()
    assignee_agent_id: str = ""
    group_id: str = ""
    category: str = ""
    tags: frozenset[str] = frozenset()
    opened_from: datetime | None = None
    opened_before: datetime | None = None
    # The states of SLA clocks (running, paused, met, breached) of which a ticket must have one.
    sla_states: frozenset[str] = frozenset()
    # request or complaint (TKT-11).
    kind: str = ""
    # The ticket of this number (TKT-1); 0: any.
    number: int = 0

    def matches(self, ticket: TicketState, clock_states: ClockStates = lambda ticket: frozenset()) -> bool:
        return (
            (not self.customer_id or ticket.customer_id == self.customer_id)
            and (not self.statuses or ticket.status in self.statuses)
            and (not self.assignee_agent_id or ticket.assignee_agent_id == self.assignee_agent_id)
            and (not self.group_id or ticket.group_id == self.group_id)
            and (
                not self.category
                or ticket.category == self.category
                or ticket.category.startswith(self.category + "/")
            )
            and self.tags <= set(ticket.tags)
            and (not self.kind or ticket.kind == self.kind)
            and (not self.number or ticket.number == self.number)
            and (self.opened_from is None or ticket.opened_at >= self.opened_from)
            and (self.opened_before is None or ticket.opened_at < self.opened_before)
            # Last: a ticket's clocks are worked out only for the tickets every other filter let by.
            and (not self.sla_states or bool(self.sla_states & clock_states(ticket)))
        )

    def fingerprint(self, sort: int) -> str:
        described = json.dumps(
            [
                sort,
                self.customer_id,
                sorted(self.statuses),
                self.assignee_agent_id,
                self.group_id,
                self.category,
                sorted(self.tags),
                self.opened_from.isoformat() if self.opened_from else "",
                self.opened_before.isoformat() if self.opened_before else "",
                sorted(self.sla_states),
                self.kind,
                self.number,
            ]
        )
        return hashlib.sha256(described.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Page:
    tickets: list[Versioned[TicketState]]
    next_page_token: str


def _token(query: str, key: SortKey, ticket_id: str) -> str:
    raw = json.dumps({"q": query, "k": list(key), "id": ticket_id}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _after(token: str, query: str) -> tuple[SortKey, str]:
    """The sort key and id of the last ticket the token's page ended with."""
    refused = InvalidArgument(
        "invalid-page-token",
        "page_token is not a token this list gave, or it was given for other filters or another sort",
        [FieldViolation("page_token", "the next_page_token of the page before, with the same query")],
    )
    try:
        decoded = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        parts, ticket_id = decoded["k"], decoded["id"]
    except (ValueError, TypeError, KeyError, binascii.Error) as error:
        raise refused from error
    # Only what _token writes: whole numbers (not 1e400, not Infinity) and a text id, for this query.
    if (
        not isinstance(parts, list)
        or not all(type(part) is int for part in parts)
        or not isinstance(ticket_id, str)
        or decoded.get("q") != query
    ):
        raise refused
    return tuple(parts), ticket_id


def page_of(
    entries: Iterable[Versioned[TicketState]],
    matching: TicketFilter,
    sort: int = Sort.TICKET_SORT_UNSPECIFIED,
    page_size: int = 0,
    page_token: str = "",
    clock_states: "ClockStates" = lambda ticket: frozenset(),
) -> Page:
    if sort == Sort.TICKET_SORT_UNSPECIFIED:
        sort = Sort.TICKET_SORT_OPENED_DESC
    if sort not in SORTS:
        raise InvalidArgument(
            "invalid-argument", "sort is not a known order", [FieldViolation("sort", "a TicketSort")]
        )
    if not 0 <= page_size <= MAX_PAGE_SIZE:
        raise InvalidArgument(
            "invalid-argument",
            f"page_size must be 1..{MAX_PAGE_SIZE}",
            [FieldViolation("page_size", f"1..{MAX_PAGE_SIZE}, or 0 for {DEFAULT_PAGE_SIZE}")],
        )
    size = page_size or DEFAULT_PAGE_SIZE
    key_of, descending = SORTS[sort]
    query = matching.fingerprint(sort)
    ranked = sorted(
        ((key_of(e.state), e.aggregate_id, e) for e in entries if matching.matches(e.state, clock_states)),
        key=lambda ranked: (ranked[0], ranked[1]),
        reverse=descending,
    )
    if page_token:
        after = _after(page_token, query)
        ranked = [r for r in ranked if ((r[0], r[1]) < after if descending else (r[0], r[1]) > after)]
    chosen = ranked[:size]
    more = len(ranked) > size
    last_key, last_id, _ = chosen[-1] if chosen else ((), "", None)
    return Page([e for _, _, e in chosen], _token(query, last_key, last_id) if more else "")
