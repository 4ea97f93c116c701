"""Ticket search (TKT-3): filters, sorts and cursor pages over read-model entries. Pure: no broker."""

import base64
import dataclasses

import pytest
from cc.common.v1 import types_pb2
from cc.ticketing.v1 import events_pb2, ticketing_pb2

from services.common.aggregate import Versioned
from services.common.errors import InvalidArgument
from services.ticketing.domain import TicketState
from services.ticketing.search import TicketFilter, page_of
from tests.unit.support import TENANT, at, refused

S = events_pb2.TicketStatus
P = events_pb2.TicketPriority
Sort = ticketing_pb2.TicketSort


def ticket(ticket_id: str, opened: float, **fields: object) -> Versioned[TicketState]:
    state = TicketState(
        ticket_id=ticket_id,
        subject="s",
        channel=types_pb2.CHANNEL_EMAIL,
        customer_id="cu-1",
        queue_id="",
        assignee_agent_id="",
        call_id="",
        status=S.TICKET_STATUS_NEW,
        opened_at=at(opened),
        updated_at=at(opened),
    )
    return Versioned(dataclasses.replace(state, **fields), 1, TENANT, ticket_id)  # type: ignore[arg-type]


TICKETS = [
    ticket("t-1", 10, status=S.TICKET_STATUS_OPEN, assignee_agent_id="kim", category="billing/refund"),
    ticket("t-2", 20, status=S.TICKET_STATUS_PENDING, group_id="tier-2", category="billing", tags=("vip",)),
    ticket(
        "t-3",
        30,
        customer_id="cu-2",
        category="billingx",
        priority=P.TICKET_PRIORITY_URGENT,
        kind="complaint",
    ),
    ticket("t-4", 40, status=S.TICKET_STATUS_SOLVED, tags=("refund", "vip"), updated_at=at(5)),
    ticket("t-5", 40, priority=P.TICKET_PRIORITY_URGENT),  # opened with t-4: the id breaks the tie
]


def ids(matching: TicketFilter, sort: int = Sort.TICKET_SORT_OPENED_ASC) -> list[str]:
    return [e.aggregate_id for e in page_of(TICKETS, matching, sort, 200).tickets]


@pytest.mark.parametrize(
    ("matching", "expected"),
    [
        (TicketFilter(), ["t-1", "t-2", "t-3", "t-4", "t-5"]),
        (TicketFilter(customer_id="cu-2"), ["t-3"]),
        (TicketFilter(statuses=frozenset({S.TICKET_STATUS_OPEN, S.TICKET_STATUS_PENDING})), ["t-1", "t-2"]),
        (TicketFilter(assignee_agent_id="kim"), ["t-1"]),
        (TicketFilter(group_id="tier-2"), ["t-2"]),
        (TicketFilter(category="billing"), ["t-1", "t-2"]),  # itself and under it, not billingx
        (TicketFilter(category="billing/refund"), ["t-1"]),
        (TicketFilter(tags=frozenset({"vip"})), ["t-2", "t-4"]),
        (TicketFilter(tags=frozenset({"vip", "refund"})), ["t-4"]),
        (TicketFilter(opened_from=at(20), opened_before=at(40)), ["t-2", "t-3"]),
        (TicketFilter(customer_id="cu-1", statuses=frozenset({S.TICKET_STATUS_NEW})), ["t-5"]),
        (TicketFilter(kind="complaint"), ["t-3"]),
        (TicketFilter(kind="request"), ["t-1", "t-2", "t-4", "t-5"]),
    ],
)
def test_every_filter_given_must_match(matching: TicketFilter, expected: list[str]) -> None:
    assert ids(matching) == expected


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        (Sort.TICKET_SORT_UNSPECIFIED, ["t-5", "t-4", "t-3", "t-2", "t-1"]),  # newest first
        (Sort.TICKET_SORT_OPENED_DESC, ["t-5", "t-4", "t-3", "t-2", "t-1"]),
        (Sort.TICKET_SORT_OPENED_ASC, ["t-1", "t-2", "t-3", "t-4", "t-5"]),
        (Sort.TICKET_SORT_UPDATED_ASC, ["t-4", "t-1", "t-2", "t-3", "t-5"]),
        (Sort.TICKET_SORT_UPDATED_DESC, ["t-5", "t-3", "t-2", "t-1", "t-4"]),
        (Sort.TICKET_SORT_PRIORITY, ["t-3", "t-5", "t-1", "t-2", "t-4"]),  # urgent first, then oldest
    ],
)
def test_each_sort_orders_the_tickets(sort: int, expected: list[str]) -> None:
    assert ids(TicketFilter(), sort) == expected


@pytest.mark.parametrize(
    "sort", [Sort.TICKET_SORT_OPENED_DESC, Sort.TICKET_SORT_OPENED_ASC, Sort.TICKET_SORT_PRIORITY]
)
def test_pages_follow_each_other_without_repeating_or_skipping(sort: int) -> None:
    seen: list[str] = []
    token = ""
    for _ in range(3):
        page = page_of(TICKETS, TicketFilter(), sort, 2, token)
        seen += [e.aggregate_id for e in page.tickets]
        token = page.next_page_token
    assert token == ""  # the third page was the last
    assert seen == ids(TicketFilter(), sort)


def test_a_ticket_arriving_between_pages_shifts_nothing_already_read() -> None:
    first = page_of(TICKETS, TicketFilter(), Sort.TICKET_SORT_OPENED_ASC, 2)
    arrived = [ticket("t-0", 0), *TICKETS]  # sorts before the first page
    second = page_of(arrived, TicketFilter(), Sort.TICKET_SORT_OPENED_ASC, 2, first.next_page_token)
    assert [e.aggregate_id for e in second.tickets] == ["t-3", "t-4"]


def test_a_full_last_page_says_there_is_no_next() -> None:
    assert page_of(TICKETS, TicketFilter(), Sort.TICKET_SORT_OPENED_ASC, 5).next_page_token == ""
    assert page_of(TICKETS, TicketFilter(), Sort.TICKET_SORT_OPENED_ASC, 4).next_page_token != ""
    assert len(page_of(TICKETS, TicketFilter()).tickets) == 5  # 0: the default size


def _crafted(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "token",
    [
        "not-base64!",
        "eyJ4IjogMX0",
        "bm90IGpzb24",
        _crafted('{"k": [1e400], "id": "x", "q": ""}'),  # a float no int can hold
        _crafted('{"k": [Infinity], "id": "x", "q": ""}'),
        _crafted('{"k": [1.5], "id": "x", "q": ""}'),
        _crafted('{"k": 7, "id": "x", "q": ""}'),
        _crafted('{"k": [1], "id": ["x"], "q": ""}'),
        _crafted("[1, 2]"),
    ],
)
def test_a_token_this_list_did_not_give_is_refused(token: str) -> None:
    refused(lambda: page_of(TICKETS, TicketFilter(), page_token=token), InvalidArgument, "invalid-page-token")


def test_a_token_from_other_filters_or_another_sort_is_refused() -> None:
    token = page_of(TICKETS, TicketFilter(), Sort.TICKET_SORT_OPENED_ASC, 2).next_page_token
    refused(
        lambda: page_of(TICKETS, TicketFilter(), Sort.TICKET_SORT_OPENED_DESC, 2, token),
        InvalidArgument,
        "invalid-page-token",
    )
    refused(
        lambda: page_of(TICKETS, TicketFilter(group_id="tier-2"), Sort.TICKET_SORT_OPENED_ASC, 2, token),
        InvalidArgument,
        "invalid-page-token",
    )


@pytest.mark.parametrize(
    ("sort", "size"), [(99, 0), (Sort.TICKET_SORT_OPENED_ASC, 201), (Sort.TICKET_SORT_OPENED_ASC, -1)]
)
def test_an_unknown_sort_or_a_page_size_out_of_range_is_refused(sort: int, size: int) -> None:
    refused(lambda: page_of(TICKETS, TicketFilter(), sort, size), InvalidArgument, "invalid-argument")


def test_the_sla_filter_keeps_tickets_with_a_clock_in_a_state_asked_and_asks_only_for_the_rest() -> None:
    clocks = {"t-1": {"running"}, "t-2": {"breached", "met"}, "t-3": {"paused"}}
    asked: list[str] = []

    def clock_states(ticket: TicketState) -> frozenset[str]:
        asked.append(ticket.ticket_id)
        return frozenset(clocks.get(ticket.ticket_id, set()))

    def listed(matching: TicketFilter) -> list[str]:
        asked.clear()
        found = page_of(TICKETS, matching, Sort.TICKET_SORT_OPENED_ASC, 200, clock_states=clock_states)
        return [e.aggregate_id for e in found.tickets]

    assert listed(TicketFilter(sla_states=frozenset({"breached"}))) == ["t-2"]
    assert listed(TicketFilter(sla_states=frozenset({"running", "paused"}))) == ["t-1", "t-3"]
    assert listed(TicketFilter(customer_id="cu-2", sla_states=frozenset({"paused"}))) == ["t-3"]
    assert asked == ["t-3"]  # the other filters first: clocks are worked out for what they let by
    assert listed(TicketFilter()) == ["t-1", "t-2", "t-3", "t-4", "t-5"] and asked == []
    one, other = TicketFilter(sla_states=frozenset({"met"})), TicketFilter(sla_states=frozenset({"paused"}))
    assert one.fingerprint(0) != other.fingerprint(0)  # a cursor of one is not taken by the other
