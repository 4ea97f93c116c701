"""Ticket statistics in ClickHouse (AN-2): created, solved, reopened, escalated, replied and breached
tickets, with first-response and resolution times and satisfaction survey answers (TKT-9), by channel,
category, agent, group or status, in hour, day, week or month buckets cut in a line of business's time
zone. Real chDB; the events are inserted as the analytics sink would have stored them."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from cc.common.v1 import types_pb2
from cc.ticketing.v1 import events_pb2 as ticket_events
from google.protobuf.message import Message

from services.analytics.rows import row_of
from services.analytics.store import AnalyticsStore, TicketStats
from services.common.envelope import build_event, new_id
from services.common.topics import TICKETS

# 23:30 UTC on Sunday 1 March 2026 is 08:30 on Monday 2 March in Seoul.
T0 = datetime(2026, 3, 1, 23, 30, tzinfo=UTC)
KST_MARCH_2 = datetime(2026, 3, 1, 15, 0, tzinfo=UTC)  # Seoul's midnight starting 2 March, in UTC
KST_MARCH_3 = KST_MARCH_2 + timedelta(days=1)
S = ticket_events.TicketStatus


@pytest.fixture(scope="module")
async def store(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[AnalyticsStore]:
    analytics = AnalyticsStore(f"chdb://{tmp_path_factory.mktemp('tickets-chdb') / 'analytics'}")
    await analytics.open()
    try:
        yield analytics
    finally:
        await analytics.close()


class Tickets:
    def __init__(self) -> None:
        self.tenant_id = f"tenant-{new_id()}"
        self.versions: dict[str, int] = {}
        self.rows: list = []  # type: ignore[type-arg]

    def add(self, ticket_id: str, seconds: float, payload: Message) -> None:
        version = self.versions[ticket_id] = self.versions.get(ticket_id, 0) + 1
        event = build_event(
            payload,
            context="ticketing",
            aggregate_type="ticket",
            aggregate_id=ticket_id,
            aggregate_version=version,
            tenant_id=self.tenant_id,
            occurred_at=T0 + timedelta(seconds=seconds),
            correlation_id=ticket_id,
            causation_id=new_id(),
            customer_id="cu-1",
            actor=types_pb2.Actor(type=types_pb2.ACTOR_TYPE_SYSTEM),
        )
        self.rows.append(row_of(event, TICKETS.events, 0, len(self.rows)))


def moved(from_status: int, to_status: int) -> ticket_events.TicketStatusChanged:
    return ticket_events.TicketStatusChanged(from_status=from_status, to_status=to_status)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
async def scenario(store: AnalyticsStore) -> Tickets:
    tickets = Tickets()
    email, chat = types_pb2.CHANNEL_EMAIL, types_pb2.CHANNEL_CHAT
    opened = ticket_events.TicketOpened
    # t1: an email about a refund; acknowledged automatically, answered after 10 minutes, solved after
    # an hour, reopened, solved again after 2.5 hours in all.
    tickets.add(
        "t1",
        0,
        opened(
            subject="Refund",
            channel=email,
            category="billing/refund",
            group_id="tier-1",
            status=S.TICKET_STATUS_NEW,
        ),
    )
    tickets.add("t1", 1, ticket_events.TicketReplied(reply_id="r0", body="Got it", automatic=True))
    tickets.add("t1", 600, ticket_events.TicketAssigned(to_agent_id="kim", to_group_id="tier-1"))
    tickets.add("t1", 600, ticket_events.TicketReplied(reply_id="r1", body="Refunded"))
    tickets.add("t1", 3600, moved(S.TICKET_STATUS_OPEN, S.TICKET_STATUS_SOLVED))
    # Each solve's survey answered (TKT-9): unhappy with the first, happy with the second.
    tickets.add("t1", 3700, ticket_events.TicketRated(score=2, survey_token="s1"))
    tickets.add("t1", 7200, moved(S.TICKET_STATUS_SOLVED, S.TICKET_STATUS_OPEN))
    tickets.add("t1", 9000, moved(S.TICKET_STATUS_OPEN, S.TICKET_STATUS_SOLVED))
    tickets.add("t1", 9100, ticket_events.TicketRated(score=5, comment="thanks", survey_token="s2"))
    # t2: a chat six hours later, escalated to tier 2, its first response breached.
    tickets.add(
        "t2",
        6 * 3600,
        opened(subject="Card", channel=chat, assignee_agent_id="lee", status=S.TICKET_STATUS_OPEN),
    )
    tickets.add(
        "t2",
        7 * 3600,
        ticket_events.TicketEscalated(from_tier=1, to_tier=2, to_group_id="tier-2", reason="bank"),
    )
    tickets.add("t2", 8 * 3600, ticket_events.TicketSlaBreached(metric="first_response", target_seconds=3600))
    # A 4 counts as satisfied (CSAT's top two boxes), a 3 does not.
    tickets.add("t2", 9 * 3600, ticket_events.TicketRated(score=4, survey_token="s3"))
    # t3: another email the next Seoul day.
    tickets.add(
        "t3",
        26 * 3600,
        opened(subject="Address", channel=email, category="delivery", status=S.TICKET_STATUS_NEW),
    )
    tickets.add("t3", 27 * 3600, ticket_events.TicketRated(score=3, survey_token="s4"))
    await store.insert_events(tickets.rows)
    return tickets


async def test_by_channel_per_day_in_seoul(store: AnalyticsStore, scenario: Tickets) -> None:
    rows = await store.ticket_statistics(scenario.tenant_id, None, None, "day", "channel", "Asia/Seoul")
    assert rows == [
        TicketStats(KST_MARCH_2, "chat", 1, 0, 0, 1, 0, 1, None, None, 1, 4.0, 100.0),
        TicketStats(KST_MARCH_2, "email", 1, 2, 1, 0, 1, 0, 600.0, 6300.0, 2, 3.5, 50.0),
        TicketStats(KST_MARCH_3, "email", 1, 0, 0, 0, 0, 0, None, None, 1, 3.0, 0.0),
    ]


async def test_the_same_day_cut_in_utc_puts_the_first_ticket_a_day_earlier(
    store: AnalyticsStore, scenario: Tickets
) -> None:
    rows = await store.ticket_statistics(scenario.tenant_id, None, None, "day", "", "UTC")
    assert [(r.bucket_start, r.created) for r in rows] == [
        (datetime(2026, 3, 1, tzinfo=UTC), 1),  # t1 at 23:30 UTC: the 2nd in Seoul, with t2
        (datetime(2026, 3, 2, tzinfo=UTC), 1),
        (datetime(2026, 3, 3, tzinfo=UTC), 1),
    ]


async def test_keys_are_each_tickets_as_it_is_now(store: AnalyticsStore, scenario: Tickets) -> None:
    by_status = await store.ticket_statistics(scenario.tenant_id, None, None, "", "status", "UTC")
    assert [(r.key, r.created) for r in by_status] == [("new", 1), ("open", 1), ("solved", 1)]
    by_agent = await store.ticket_statistics(scenario.tenant_id, None, None, "", "agent", "UTC")
    # t2 left lee when it went up a tier without a tier-2 agent
    assert [(r.key, r.created, r.solved) for r in by_agent] == [("", 2, 0), ("kim", 1, 2)]
    # Tickets opened before kinds existed (no kind in their events) are requests (TKT-11).
    by_kind = await store.ticket_statistics(scenario.tenant_id, None, None, "", "kind", "UTC")
    assert [(r.key, r.created) for r in by_kind] == [("request", 3)]
    by_group = await store.ticket_statistics(scenario.tenant_id, None, None, "", "group", "UTC")
    assert [(r.key, r.created) for r in by_group] == [("", 1), ("tier-1", 1), ("tier-2", 1)]
    by_category = await store.ticket_statistics(
        scenario.tenant_id, None, None, "month", "category", "Asia/Seoul"
    )
    assert [(r.bucket_start, r.key, r.created) for r in by_category] == [
        (datetime(2026, 2, 28, 15, tzinfo=UTC), "", 1),
        (datetime(2026, 2, 28, 15, tzinfo=UTC), "billing/refund", 1),
        (datetime(2026, 2, 28, 15, tzinfo=UTC), "delivery", 1),
    ]


async def test_a_period_counts_each_fact_where_its_event_happened(
    store: AnalyticsStore, scenario: Tickets
) -> None:
    second_hour = await store.ticket_statistics(
        scenario.tenant_id, T0 + timedelta(hours=1), T0 + timedelta(hours=2), "hour", "", "UTC"
    )
    # t1's first solve, 3,600 s after it opened; its reopen at the period's end falls outside
    assert second_hour == [
        TicketStats(datetime(2026, 3, 2, 0, tzinfo=UTC), "", 0, 1, 0, 0, 0, 0, None, 3600.0, 1, 2.0, 0.0)
    ]
    assert await store.ticket_statistics(f"tenant-{new_id()}", None, None, "day", "channel", "UTC") == []
