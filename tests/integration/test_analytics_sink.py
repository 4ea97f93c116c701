"""The analytics sink on a real Kafka broker and a real ClickHouse engine (chDB): events from every
event topic land in cc.events, the journey reads them back in time order, a replay after a crash
before the offset commit changes no answer, unreadable records are dead-lettered without stopping the
sink, and the queue statistics follow Amazon Connect's definitions.

Every test uses its own tenant and consumer group, so it reads correctly on a broker that other tests
(or earlier runs) have already written to."""

import asyncio
import contextlib
import csv
import io
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pyarrow.parquet as pq
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from cc.analytics.v1 import analytics_pb2, analytics_pb2_grpc
from cc.common.v1 import event_pb2, types_pb2
from cc.routing.v1 import events_pb2 as routing_events
from cc.telephony.v1 import events_pb2 as call_events
from cc.ticketing.v1 import events_pb2 as ticket_events
from google.protobuf.message import Message

from services.analytics import schema
from services.analytics import servicer as servicer_module
from services.analytics.rows import row_of
from services.analytics.servicer import AnalyticsServicer
from services.analytics.sink import EventSink
from services.analytics.store import AnalyticsStore, CallStats, JourneyEntry, QueueStats
from services.common import kafka
from services.common.access import parse_api_keys
from services.common.envelope import aggregate_key, build_event, new_id, timestamp, to_datetime
from services.common.grpc_server import API_KEY_HEADER, TenantAndErrorsInterceptor
from services.common.settings import PlatformSettings
from services.common.topics import AGENTS, CALLS, ROUTING_DECISIONS, TICKETS, dlq, ensure_topics
from tests.conftest import records_with_key

pytestmark = pytest.mark.integration

T0 = datetime(2025, 6, 2, 9, 0, tzinfo=UTC)
SYSTEM = types_pb2.Actor(type=types_pb2.ACTOR_TYPE_SYSTEM)
CALLER = types_pb2.Actor(type=types_pb2.ACTOR_TYPE_CUSTOMER, id="caller")
# Every test finishes well within this; a hang fails the test instead of the whole run.
TEST_SECONDS = 120.0
WAIT_SECONDS = 60.0
WRAP_UP = routing_events.AGENT_STATE_WRAP_UP
ON_CONTACT = routing_events.AGENT_STATE_ON_CONTACT
READY = routing_events.AGENT_STATE_READY


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


# -- fixtures ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
async def producer(kafka_bootstrap: str) -> AsyncIterator[AIOKafkaProducer]:
    await ensure_topics(kafka_bootstrap, PlatformSettings().cc_partitions)
    client = kafka.idempotent_producer(kafka_bootstrap)
    await client.start()
    try:
        yield client
    finally:
        await client.stop()


@pytest.fixture(scope="module")
async def store(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[AnalyticsStore]:
    """chDB on a path of this module's own; closed at the end so the process can open another path."""
    path = tmp_path_factory.mktemp("analytics-chdb") / "analytics"
    analytics = AnalyticsStore(f"chdb://{path}")
    await analytics.open()
    try:
        yield analytics
    finally:
        await analytics.close()


@dataclass
class RunningSink:
    sink: EventSink
    task: "asyncio.Task[None]"
    group_id: str

    async def until(self, check: Callable[[], Awaitable[bool]]) -> None:
        """Poll `check` until it holds (for WAIT_SECONDS at most); a sink that died fails at once."""
        async with asyncio.timeout(WAIT_SECONDS):
            while not await check():
                if self.task.done():
                    self.task.result()
                    raise AssertionError("the sink stopped")
                await asyncio.sleep(0.1)


@contextlib.asynccontextmanager
async def running_sink(
    store: AnalyticsStore, producer: AIOKafkaProducer, bootstrap: str
) -> AsyncIterator[RunningSink]:
    """A sink in a consumer group of its own that has never committed: it reads every topic from the start."""
    group_id = f"analytics.sink.test-{new_id()}"
    sink = EventSink(store, producer, bootstrap, group_id=group_id)
    running = RunningSink(sink, asyncio.create_task(sink.run()), group_id)
    try:
        yield running
    finally:
        running.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running.task


# -- building and producing events ---------------------------------------------------------------------
@dataclass
class History:
    """Events of one tenant as the owning services would append them: per-aggregate versions, the
    aggregate's topic and key."""

    tenant_id: str = field(default_factory=lambda: f"tenant-{new_id()}")
    versions: dict[str, int] = field(default_factory=dict)
    records: list[tuple[str, bytes, event_pb2.Event]] = field(default_factory=list)

    def add(
        self,
        topic: str,
        context: str,
        aggregate_type: str,
        aggregate_id: str,
        seconds: float,
        payload: Message,
        customer_id: str = "",
        actor: types_pb2.Actor = SYSTEM,
    ) -> event_pb2.Event:
        version = self.versions[aggregate_id] = self.versions.get(aggregate_id, 0) + 1
        event = build_event(
            payload,
            context=context,
            aggregate_type=aggregate_type,
            aggregate_id=aggregate_id,
            aggregate_version=version,
            tenant_id=self.tenant_id,
            occurred_at=at(seconds),
            correlation_id=aggregate_id,
            causation_id=new_id(),
            customer_id=customer_id,
            actor=actor,
        )
        self.records.append((topic, aggregate_key(self.tenant_id, aggregate_id), event))
        return event

    def call(self, call_id: str, seconds: float, payload: Message, customer_id: str = "") -> event_pb2.Event:
        return self.add(CALLS.events, "telephony", "call", call_id, seconds, payload, customer_id)

    def agent(self, agent_id: str, seconds: float, payload: Message) -> event_pb2.Event:
        actor = types_pb2.Actor(type=types_pb2.ACTOR_TYPE_AGENT, id=agent_id)
        return self.add(AGENTS.events, "routing", "agent", agent_id, seconds, payload, actor=actor)

    async def produce(self, producer: AIOKafkaProducer) -> None:
        for topic, key, event in self.records:
            await producer.send_and_wait(topic, value=event.SerializeToString(), key=key)


def queued(queue_id: str, first_enqueued_seconds: float, reason: str = "menu-choice") -> Message:
    first_enqueue = timestamp(at(first_enqueued_seconds))
    return call_events.CallQueued(queue_id=queue_id, enqueued_at=first_enqueue, reason=reason)


def answered(queue_id: str, agent_id: str, first_enqueued_seconds: float) -> Message:
    return call_events.CallAnswered(
        queue_id=queue_id, agent_id=agent_id, enqueued_at=timestamp(at(first_enqueued_seconds))
    )


def ended(
    reason: "call_events.EndReason.ValueType",
    queue_id: str = "",
    abandoned: bool = False,
    hold_seconds: float = 0,
    agent_id: str = "",
) -> Message:
    return call_events.CallEnded(
        queue_id=queue_id,
        agent_id=agent_id,
        ended_by=call_events.PARTY_CALLER,
        reason=reason,
        abandoned=abandoned,
        hold_seconds=hold_seconds,
    )


def agent_state(
    state: "routing_events.AgentState.ValueType",
    previous: "routing_events.AgentState.ValueType",
    contact_id: str,
) -> Message:
    return routing_events.AgentStateChanged(state=state, previous_state=previous, contact_id=contact_id)


def statistics_scenario(history: History) -> None:
    """q-support: A answered after 10 s (talk 60 s, 12.5 s of it on hold, + wrap-up 10 s), B rang an
    agent who rejected it (at 12 s) and one who did not answer (RONA at 15 s), each time back in the
    queue keeping its first
    enqueue, and was answered after 30 s in total (talk 70 s, then the agent logged out 20 s into
    wrap-up), C abandoned after 5 s.
    q-sales: D is still waiting.
    Each aggregate's history starts with its creating event, as the owners append it: other consumers of
    the shared topics (read models, policies) fold these events too."""
    support = "q-support"
    skills = [routing_events.Skill(name="support", proficiency=5)]
    for agent_id, site_id in (("agent-1", "seoul"), ("agent-2", "busan")):
        history.agent(
            agent_id, -600, routing_events.AgentLoggedIn(site_id=site_id, skills=skills, initial_state=READY)
        )
    for call_id, line_id in (("A", "cards"), ("B", "cards"), ("C", "loans"), ("D", "")):
        history.call(
            call_id, -30, call_events.CallOffered(ani="+15550100", dnis="+15550199", line_id=line_id)
        )
    for call_id in ("A", "B", "C"):
        history.call(call_id, 0, queued(support, 0))
    history.call("A", 10, answered(support, "agent-1", 0))
    history.agent("agent-1", 10, agent_state(ON_CONTACT, READY, "A"))
    history.call(
        "A", 70, ended(call_events.END_REASON_NORMAL_CLEARING, support, hold_seconds=12.5, agent_id="agent-1")
    )
    history.agent("agent-1", 70, agent_state(WRAP_UP, ON_CONTACT, "A"))
    history.agent("agent-1", 80, agent_state(READY, WRAP_UP, "A"))
    history.call("B", 12, call_events.CallRejected(queue_id=support, agent_id="agent-8"))
    history.call("B", 12, queued(support, 0, reason="rejected"))
    history.call("B", 15, call_events.CallRingNoAnswer(queue_id=support, agent_id="agent-9"))
    history.call("B", 15, queued(support, 0, reason="ring-no-answer"))
    history.call("B", 30, answered(support, "agent-2", 0))
    history.agent("agent-2", 30, agent_state(ON_CONTACT, READY, "B"))
    history.agent("agent-2", 100, agent_state(WRAP_UP, ON_CONTACT, "B"))
    history.agent("agent-2", 120, routing_events.AgentLoggedOut(previous_state=WRAP_UP))
    history.call("C", 5, ended(call_events.END_REASON_ABANDONED_IN_QUEUE, support, abandoned=True))
    history.call("D", 3, queued("q-sales", 3))


# offered 3 (B's re-queues are the same contact), SL = A (10 s) and C (5 s) of 3 removed within 20 s,
# ASA = (10 + 30) / 2, AHT = ((80 - 10) + (120 - 30)) / 2.
SUPPORT_AT_20 = QueueStats(
    "q-support",
    offered=3,
    answered=2,
    abandoned=1,
    service_level_percent=66.67,
    average_speed_of_answer_seconds=20.0,
    average_handle_time_seconds=80.0,
    held=1,
    average_hold_time_seconds=12.5,
)
SALES = QueueStats(
    "q-sales",
    offered=1,
    answered=0,
    abandoned=0,
    service_level_percent=None,
    average_speed_of_answer_seconds=None,
    average_handle_time_seconds=None,
)


async def scenario_stored(store: AnalyticsStore, tenant_id: str) -> bool:
    return await store.queue_statistics(tenant_id, None, None, 20) == [SALES, SUPPORT_AT_20]


async def _is_set(event: asyncio.Event) -> bool:
    return event.is_set()


# -- tests ---------------------------------------------------------------------------------------------
async def test_a_customer_journey_spans_calls_routing_and_tickets_in_time_order(
    store: AnalyticsStore, producer: AIOKafkaProducer, kafka_bootstrap: str
) -> None:
    async with asyncio.timeout(TEST_SECONDS):
        history, customer = History(), f"customer-{new_id()}"
        call_id, ticket_id = f"call-{new_id()}", f"ticket-{new_id()}"
        queue = "q-support"
        routed = routing_events.ContactRouted(
            decision_id=new_id(), contact_id=call_id, queue_id=queue, agent_id="agent-1"
        )
        opened = ticket_events.TicketOpened(
            subject="Voice call",
            customer_id=customer,
            queue_id=queue,
            call_id=call_id,
            status=ticket_events.TICKET_STATUS_OPEN,
        )
        solved = ticket_events.TicketStatusChanged(
            from_status=ticket_events.TICKET_STATUS_OPEN, to_status=ticket_events.TICKET_STATUS_SOLVED
        )
        expected = [
            history.call(call_id, 0, call_events.CallOffered(ani="+15550100", dnis="+15550199"), customer),
            history.call(call_id, 4, queued(queue, 4), customer),
            history.add(ROUTING_DECISIONS, "routing", "contact", call_id, 5, routed, customer),
            history.call(call_id, 12, answered(queue, "agent-1", 4), customer),
            history.add(TICKETS.events, "ticketing", "ticket", ticket_id, 13, opened, customer),
            history.call(call_id, 90, ended(call_events.END_REASON_NORMAL_CLEARING, queue), customer),
            history.add(TICKETS.events, "ticketing", "ticket", ticket_id, 95, solved, customer, actor=CALLER),
        ]
        # Someone else's events: another customer of the tenant, and the same customer id in another tenant.
        history.call(f"call-{new_id()}", 1, call_events.CallOffered(ani="+15550111"), f"customer-{new_id()}")
        other = History()
        other.call(f"call-{new_id()}", 2, call_events.CallOffered(ani="+15550122"), customer)
        # Produced out of time order and topic by topic: the journey's order comes from occurred_at.
        history.records.sort(key=lambda record: (record[0] != TICKETS.events, record[0]))
        await history.produce(producer)
        await other.produce(producer)

        async with running_sink(store, producer, kafka_bootstrap) as running:

            async def complete() -> bool:
                return len(await store.journey(history.tenant_id, customer, 100)) >= len(expected) and bool(
                    await store.journey(other.tenant_id, customer, 100)
                )

            await running.until(complete)

        journey = await store.journey(history.tenant_id, customer, 100)
        assert [entry.event_id for entry in journey] == [event.event_id for event in expected]
        assert [entry.event_type for entry in journey] == [
            "telephony.call.offered",
            "telephony.call.queued",
            "routing.contact.routed",
            "telephony.call.answered",
            "ticketing.ticket.opened",
            "telephony.call.ended",
            "ticketing.ticket.status_changed",
        ]
        assert [entry.occurred_at for entry in journey] == sorted(entry.occurred_at for entry in journey)
        assert journey[1].payload_json == (
            '{"queue_id": "q-support", "enqueued_at": "2025-06-02T09:00:04Z", "reason": "menu-choice"}'
        )
        assert (journey[-1].actor_type, journey[-1].actor_id) == ("customer", "caller")
        assert len(await store.journey(other.tenant_id, customer, 100)) == 1  # tenant scoping (ORG-1)
        assert len(await store.journey(history.tenant_id, customer, 3)) == 3


async def test_a_contact_and_a_ticket_have_journeys_of_their_own_inside_their_customer(
    store: AnalyticsStore, producer: AIOKafkaProducer, kafka_bootstrap: str
) -> None:
    async with asyncio.timeout(TEST_SECONDS):
        history, customer = History(), f"customer-{new_id()}"
        call_id, later_call_id = f"call-{new_id()}", f"call-{new_id()}"
        ticket_id, sibling_id, mail_id = (f"ticket-{new_id()}" for _ in range(3))

        def opened(call: str) -> Message:
            return ticket_events.TicketOpened(subject="s", customer_id=customer, call_id=call)

        def ticket(ticket: str, seconds: float, payload: Message) -> event_pb2.Event:
            return history.add(TICKETS.events, "ticketing", "ticket", ticket, seconds, payload, customer)

        routed = routing_events.ContactRouted(decision_id=new_id(), contact_id=call_id, agent_id="agent-1")
        solved = ticket_events.TicketStatusChanged(to_status=ticket_events.TICKET_STATUS_SOLVED)
        offered = history.call(call_id, 0, call_events.CallOffered(ani="+15550100"), customer)
        routing = history.add(ROUTING_DECISIONS, "routing", "contact", call_id, 5, routed, customer)
        first_opened = ticket(ticket_id, 13, opened(call_id))
        sibling_opened = ticket(sibling_id, 14, opened(call_id))
        ended_call = history.call(call_id, 90, ended(call_events.END_REASON_NORMAL_CLEARING, "q"), customer)
        first_solved = ticket(ticket_id, 95, solved)
        later = history.call(later_call_id, 200, call_events.CallOffered(ani="+15550100"), customer)
        mail_opened = ticket(mail_id, 300, opened(""))
        # The same call id in another tenant is another contact.
        other = History()
        other.call(call_id, 2, call_events.CallOffered(ani="+15550122"), customer)
        await history.produce(producer)
        await other.produce(producer)

        async with running_sink(store, producer, kafka_bootstrap) as running:

            async def complete() -> bool:
                return len(await store.journey(history.tenant_id, customer, 100)) == 8 and bool(
                    await store.journey(other.tenant_id, customer, 100)
                )

            await running.until(complete)

        def ids(found: tuple[str, list[JourneyEntry]] | None) -> tuple[str, list[str]]:
            assert found is not None
            return found[0], [entry.event_id for entry in found[1]]

        tenant = history.tenant_id
        contact = [offered, routing, first_opened, sibling_opened, ended_call, first_solved]
        assert ids(await store.contact_journey(tenant, call_id, 100)) == (
            customer,
            [e.event_id for e in contact],
        )
        assert ids(await store.contact_journey(tenant, later_call_id, 100)) == (customer, [later.event_id])
        # A ticket's journey holds its contact's call and routing, not another ticket on that contact.
        assert ids(await store.ticket_journey(tenant, ticket_id, 100)) == (
            customer,
            [e.event_id for e in (offered, routing, first_opened, ended_call, first_solved)],
        )
        assert ids(await store.ticket_journey(tenant, mail_id, 100)) == (customer, [mail_opened.event_id])
        assert ids(await store.contact_journey(tenant, call_id, 2)) == (
            customer,
            [offered.event_id, routing.event_id],
        )
        assert await store.contact_journey(tenant, f"call-{new_id()}", 100) is None
        assert await store.ticket_journey(tenant, f"ticket-{new_id()}", 100) is None
        # Tenant scoping (ORG-1): the other tenant's call of that id is its own, and no ticket of ours.
        assert ids(await store.contact_journey(other.tenant_id, call_id, 100))[1] == [
            other.records[0][2].event_id
        ]
        assert await store.ticket_journey(other.tenant_id, ticket_id, 100) is None


async def test_a_store_from_before_the_journey_table_fills_it_from_the_events_once(
    store: AnalyticsStore,
) -> None:
    """One chDB path per process: the module's store is turned into one of an earlier version (events
    only, no journey view), whose first start with the journey stopped after creating the table, then
    started again."""
    history, customer = History(), f"customer-{new_id()}"
    offered = history.call("call-1", 0, call_events.CallOffered(ani="+15550100"), customer)
    queued_event = history.call("call-1", 4, queued("q", 4), customer)
    rows = [row_of(event, CALLS.events, 0, offset) for offset, (_, _, event) in enumerate(history.records)]
    await store._command(f"DROP VIEW {schema.JOURNEY_VIEW}")
    await store._command(f"DROP TABLE {schema.JOURNEY_TABLE}")
    await store.insert_events(rows)
    # A start that created the table and stopped before its backfill was done.
    await store._command(schema.JOURNEY_MIGRATIONS[0])
    await store._command(f"DROP TABLE {schema.JOURNEY_BACKFILL_MARKER}")
    count = f"SELECT count() FROM {schema.JOURNEY_TABLE} WHERE tenant_id = {{tenant_id:String}}"
    for _ in range(2):  # The second start must not copy the events again.
        await store.close()
        await store.open()
        journey = await store.journey(history.tenant_id, customer, 100)
        assert [entry.event_id for entry in journey] == [offered.event_id, queued_event.event_id]
        assert (await store._query(count, {"tenant_id": history.tenant_id}))[0][0] == 2
    # A replayed batch: the view copies it again, and every journey still holds each event once.
    await store.insert_events(rows)
    journey = await store.journey(history.tenant_id, customer, 100)
    assert [entry.event_id for entry in journey] == [offered.event_id, queued_event.event_id]
    found = await store.contact_journey(history.tenant_id, "call-1", 100)
    assert found is not None and [entry.event_id for entry in found[1]] == [
        e.event_id for e in (offered, queued_event)
    ]


class CrashBeforeCommit(Exception):
    pass


class SinkThatCrashesBeforeCommitting(EventSink):
    """Dies between inserting the batch that holds one tenant's events and committing that batch's
    offsets, as a process killed at that moment would."""

    def __init__(self, tenant_id: str, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._tenant = f"{tenant_id}/".encode()
        self.inserted_the_tenants_events = False

    async def _sink(self, records: list[ConsumerRecord]) -> None:
        await super()._sink(records)
        self.inserted_the_tenants_events = any((r.key or b"").startswith(self._tenant) for r in records)

    async def _commit(self, consumer: AIOKafkaConsumer, ends: dict[TopicPartition, int]) -> None:
        if self.inserted_the_tenants_events:
            raise CrashBeforeCommit("killed after the insert, before the commit")
        await super()._commit(consumer, ends)


async def test_a_replay_after_a_crash_before_the_commit_changes_no_answer(
    store: AnalyticsStore, producer: AIOKafkaProducer, kafka_bootstrap: str
) -> None:
    async with asyncio.timeout(TEST_SECONDS):
        history = History()
        statistics_scenario(history)
        customer = f"customer-{new_id()}"
        history.call("E", 200, call_events.CallOffered(ani="+15550133"), customer)
        history.call("E", 201, ended(call_events.END_REASON_CALLER_LEFT_IVR), customer)
        await history.produce(producer)

        # One group throughout: the crashed member's successor resumes from the group's last commit.
        group_id = f"analytics.sink.test-{new_id()}"
        crashing = SinkThatCrashesBeforeCommitting(
            history.tenant_id, store, producer, kafka_bootstrap, group_id=group_id
        )
        with pytest.raises(CrashBeforeCommit):
            await crashing.run()
        assert crashing.inserted_the_tenants_events  # in ClickHouse, its offsets not committed

        replay = EventSink(store, producer, kafka_bootstrap, group_id=group_id)
        running = RunningSink(replay, asyncio.create_task(replay.run()), group_id)
        try:
            await running.until(lambda: _is_set(replay.caught_up))
            assert replay.sunk >= len(history.records)  # the crashed batch came again
        finally:
            running.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await running.task
        # The crashed batch was inserted twice; ClickHouse's answers count each event once.
        journey = await store.journey(history.tenant_id, customer, 100)
        assert [entry.event_type for entry in journey] == ["telephony.call.offered", "telephony.call.ended"]
        assert await store.queue_statistics(history.tenant_id, None, None, 20) == [SALES, SUPPORT_AT_20]


async def test_an_unreadable_record_is_dead_lettered_and_the_events_after_it_are_stored(
    store: AnalyticsStore, producer: AIOKafkaProducer, kafka_bootstrap: str
) -> None:
    async with asyncio.timeout(TEST_SECONDS):
        history, customer, call_id = History(), f"customer-{new_id()}", f"call-{new_id()}"
        key = aggregate_key(history.tenant_id, call_id)  # one key: one partition, so "after" is well defined
        tenantless = event_pb2.Event(
            event_id=new_id(),
            event_type="telephony.call.offered",
            call_offered=call_events.CallOffered(ani="+15550144"),
        )
        # A readable event whose payload no JSON can hold (a timestamp past year 9999): it crash-looped the
        # sink when only decoding errors were parked.
        far_future = event_pb2.Event(
            event_id=new_id(),
            tenant_id=history.tenant_id,
            event_type="telephony.call.queued",
            aggregate_type="call",
            aggregate_id=call_id,
            call_queued=call_events.CallQueued(queue_id="general"),
        )
        far_future.occurred_at.GetCurrentTime()
        far_future.call_queued.enqueued_at.seconds = 10**13
        await producer.send_and_wait(CALLS.events, value=b"not-a-protobuf", key=key)
        await producer.send_and_wait(CALLS.events, value=tenantless.SerializeToString(), key=key)
        await producer.send_and_wait(CALLS.events, value=far_future.SerializeToString(), key=key)
        history.call(call_id, 0, call_events.CallOffered(ani="+15550155"), customer)
        history.call(call_id, 1, ended(call_events.END_REASON_CALLER_LEFT_IVR), customer)
        await history.produce(producer)

        async with running_sink(store, producer, kafka_bootstrap) as running:

            async def stored() -> bool:
                return len(await store.journey(history.tenant_id, customer, 100)) == 2

            await running.until(stored)
            assert running.sink.dead_lettered >= 3

            # Other consumers of the topic (other services' policies) may park the same records: keep ours.
            ours: list[ConsumerRecord] = []

            async def dead_lettered() -> bool:
                parked = await records_with_key(kafka_bootstrap, dlq(CALLS.events), key)
                ours[:] = [
                    record
                    for record in parked
                    if dict(record.headers)["dlq-reason"].startswith(running.group_id.encode())
                ]
                return len(ours) >= 3

            await running.until(dead_lettered)
        assert [record.value for record in ours] == [
            b"not-a-protobuf",
            tenantless.SerializeToString(),
            far_future.SerializeToString(),
        ]
        assert dict(ours[0].headers)["dlq-source"].startswith(CALLS.events.encode())
        assert b"without event_id or tenant_id" in dict(ours[1].headers)["dlq-reason"]
        assert b"Timestamp is not valid" in dict(ours[2].headers)["dlq-reason"]


async def test_queue_statistics_follow_the_amazon_connect_definitions(
    store: AnalyticsStore, producer: AIOKafkaProducer, kafka_bootstrap: str
) -> None:
    async with asyncio.timeout(TEST_SECONDS):
        history = History()
        statistics_scenario(history)
        await history.produce(producer)

        async with running_sink(store, producer, kafka_bootstrap) as running:
            await running.until(lambda: scenario_stored(store, history.tenant_id))

        # A stricter threshold: only C (abandoned after 5 s) left the queue within 5 s.
        strict = await store.queue_statistics(history.tenant_id, None, None, 5)
        assert [row.service_level_percent for row in strict] == [None, 33.33]
        # From T0 + 20 s: only B's answer (30 s after its first enqueue), both wrap-up ends and A's end
        # (12.5 s on hold) fall in range.
        later = await store.queue_statistics(history.tenant_id, at(20), None, 20)
        assert later == [
            QueueStats(
                "q-support",
                offered=0,
                answered=1,
                abandoned=0,
                service_level_percent=0.0,
                average_speed_of_answer_seconds=30.0,
                average_handle_time_seconds=80.0,
                held=1,
                average_hold_time_seconds=12.5,
            )
        ]
        assert await store.queue_statistics(history.tenant_id, at(0), at(10), 20) == [
            QueueStats("q-sales", 1, 0, 0, None, None, None),
            QueueStats("q-support", 3, 0, 1, 100.0, None, None),
        ]
        assert await store.queue_statistics(f"tenant-{new_id()}", None, None, 20) == []


def transfer_scenario(history: History) -> None:
    """T is answered in q-support after 5 s by agent-1, who transfers it to q-sales after 30 s of talk
    and wraps up for 10 s; there agent-2 answers it after 15 s, talks 30 s and wraps up for 10 s."""
    history.call("T", 195, call_events.CallOffered(ani="+15550177", dnis="+15550199"))
    history.call("T", 200, queued("q-support", 200))
    history.call("T", 205, answered("q-support", "agent-1", 200))
    history.agent("agent-1", 205, agent_state(ON_CONTACT, READY, "T"))
    transferred = call_events.CallTransferred(
        agent_id="agent-1", queue_id="q-support", target=call_events.TRANSFER_TARGET_QUEUE, to="q-sales"
    )
    history.call("T", 235, transferred)
    history.call("T", 235, queued("q-sales", 235, reason="transferred"))
    history.agent("agent-1", 235, agent_state(WRAP_UP, ON_CONTACT, "T"))
    history.agent("agent-1", 245, agent_state(READY, WRAP_UP, "T"))
    history.call("T", 250, answered("q-sales", "agent-2", 235))
    history.agent("agent-2", 250, agent_state(ON_CONTACT, READY, "T"))
    history.call("T", 280, ended(call_events.END_REASON_NORMAL_CLEARING, "q-sales"))
    history.agent("agent-2", 280, agent_state(WRAP_UP, ON_CONTACT, "T"))
    history.agent("agent-2", 290, agent_state(READY, WRAP_UP, "T"))


async def test_call_statistics_cut_the_same_facts_by_agent_site_and_period(
    store: AnalyticsStore, producer: AIOKafkaProducer, kafka_bootstrap: str
) -> None:
    """AN-3 over the queue statistics' scenario: by agent, each answer, handling and hold is its agent's
    (offers and abandons, which no agent took, under the empty key); by site, its agent's site; by
    queue over the whole period, the queue statistics themselves (AN-5: one definition)."""
    async with asyncio.timeout(TEST_SECONDS):
        history = History()
        statistics_scenario(history)
        await history.produce(producer)
        async with running_sink(store, producer, kafka_bootstrap) as running:
            await running.until(lambda: scenario_stored(store, history.tenant_id))

        async def table(by: str, bucket: str = "", time_zone: str = "UTC") -> list[CallStats]:
            return await store.call_statistics(history.tenant_id, None, None, 20, bucket, by, time_zone)

        nobody = CallStats(None, "", 4, 0, 1, 0, 100.0, None, None, 0, None)  # C abandoned after 5 s
        kim = CallStats(None, "agent-1", 0, 1, 0, 1, 100.0, 10.0, 70.0, 1, 12.5)
        lee = CallStats(None, "agent-2", 0, 1, 0, 1, 0.0, 30.0, 90.0, 0, None)
        assert await table("agent") == [nobody, kim, lee]
        assert await table("site") == [nobody, replace(lee, key="busan"), replace(kim, key="seoul")]
        # By line of business (TEL-3): A and B came in on cards, C (abandoned) on loans, D on the default.
        assert await table("line") == [
            CallStats(None, "", 1, 0, 0, 0, None, None, None, 0, None),
            CallStats(None, "cards", 2, 2, 0, 2, 50.0, 20.0, 80.0, 1, 12.5),
            CallStats(None, "loans", 1, 0, 1, 0, 100.0, None, None, 0, None),
        ]
        by_queue = [
            (row.key, row.offered, row.answered, row.abandoned, row.handled) for row in await table("queue")
        ]
        assert by_queue == [("q-sales", 1, 0, 0, 0), ("q-support", 3, 2, 1, 2)]
        # Hours cut in India's time zone (UTC+5:30) start at half past the UTC hour.
        [hour] = await table("", bucket="hour", time_zone="Asia/Kolkata")
        assert hour.bucket_start == datetime(2025, 6, 2, 8, 30, tzinfo=UTC)
        assert (hour.offered, hour.answered, hour.abandoned, hour.handled) == (4, 2, 1, 2)


async def test_a_transferred_call_is_an_offer_in_each_queue_and_handled_once_by_each_agent(
    store: AnalyticsStore, producer: AIOKafkaProducer, kafka_bootstrap: str
) -> None:
    async with asyncio.timeout(TEST_SECONDS):
        history = History()
        transfer_scenario(history)
        await history.produce(producer)
        expected = [
            # 40 s of agent-2's handling, its wait measured from the transfer
            QueueStats("q-sales", 1, 1, 0, 100.0, 15.0, 40.0),
            # 40 s of agent-1's: its answer to the end of its own wrap-up, not agent-2's
            QueueStats("q-support", 1, 1, 0, 100.0, 5.0, 40.0),
        ]

        async def stored() -> bool:
            return await store.queue_statistics(history.tenant_id, None, None, 20) == expected

        async with running_sink(store, producer, kafka_bootstrap) as running:
            await running.until(stored)


def callback_scenario(history: History) -> None:
    """K waits in q-support from 300 and accepts a callback at 310, keeping its place; agent-1 answers at
    320 (attempt 1), nobody picks up, she wraps up until 335; the retry goes back to its place at 400,
    agent-2 answers at 410 (attempt 2), they talk and he wraps up until 450."""
    history.call("K", 295, call_events.CallOffered(ani="+15550188", dnis="+15550199"))
    history.call("K", 300, queued("q-support", 300))
    history.call("K", 310, call_events.CallbackRequested(number="+15550188", queue_id="q-support"))
    history.call("K", 320, answered("q-support", "agent-1", 300))
    history.agent("agent-1", 320, agent_state(ON_CONTACT, READY, "K"))
    failed = call_events.CallbackAttemptFailed(agent_id="agent-1", attempt=1, queue_id="q-support")
    failed.retry_at.FromDatetime(at(400))
    history.call("K", 330, failed)
    history.agent("agent-1", 330, agent_state(WRAP_UP, ON_CONTACT, "K"))
    history.agent("agent-1", 335, agent_state(READY, WRAP_UP, "K"))
    history.call("K", 400, queued("q-support", 300, reason="callback-retry"))
    retry = answered("q-support", "agent-2", 300)
    retry.callback_attempt = 2
    history.call("K", 410, retry)
    history.agent("agent-2", 410, agent_state(ON_CONTACT, READY, "K"))
    history.call("K", 440, ended(call_events.END_REASON_NORMAL_CLEARING, "q-support"))
    history.agent("agent-2", 440, agent_state(WRAP_UP, ON_CONTACT, "K"))
    history.agent("agent-2", 450, agent_state(READY, WRAP_UP, "K"))


async def test_a_callback_is_one_offer_and_one_answer_however_many_attempts_it_takes(
    store: AnalyticsStore, producer: AIOKafkaProducer, kafka_bootstrap: str
) -> None:
    async with asyncio.timeout(TEST_SECONDS):
        history = History()
        callback_scenario(history)
        await history.produce(producer)
        # answered after 20 s from its enqueue; each attempt's agent handled it: (335 - 320 + 450 - 410) / 2
        expected = [QueueStats("q-support", 1, 1, 0, 100.0, 20.0, 27.5)]

        async def stored() -> bool:
            return await store.queue_statistics(history.tenant_id, None, None, 20) == expected

        async with running_sink(store, producer, kafka_bootstrap) as running:
            await running.until(stored)


def consult_transfer_scenario(history: History) -> None:
    """C waits in q-support from 0; agent-1 answers at 10, consults agent-2 from 20 and leaves the call
    to it at 40 (a consult transfer, TEL-1), wrapping up until 50; agent-2 talks until 70 and wraps up
    until 80."""
    history.call("C", 0, call_events.CallOffered(ani="+15550177", dnis="+15550199"))
    history.call("C", 0, queued("q-support", 0))
    history.call("C", 10, answered("q-support", "agent-1", 0))
    history.agent("agent-1", 10, agent_state(ON_CONTACT, READY, "C"))
    history.call("C", 20, call_events.CallConsultStarted(agent_id="agent-1", consulted_agent_id="agent-2"))
    history.agent("agent-2", 20, agent_state(ON_CONTACT, READY, "C"))
    history.call(
        "C",
        40,
        call_events.CallTransferred(
            agent_id="agent-1", queue_id="q-support", target=call_events.TRANSFER_TARGET_AGENT, to="agent-2"
        ),
    )
    taken_over = answered("q-support", "agent-2", 0)
    taken_over.taken_over = taken_over.consulted = True
    history.call("C", 40, taken_over)
    history.agent("agent-1", 40, agent_state(WRAP_UP, ON_CONTACT, "C"))
    history.agent("agent-1", 50, agent_state(READY, WRAP_UP, "C"))
    history.call("C", 70, ended(call_events.END_REASON_NORMAL_CLEARING, "q-support", agent_id="agent-2"))
    history.agent("agent-2", 70, agent_state(WRAP_UP, ON_CONTACT, "C"))
    history.agent("agent-2", 80, agent_state(READY, WRAP_UP, "C"))


async def test_a_consult_transfer_to_an_agent_is_one_answer_handled_by_each_agent(
    store: AnalyticsStore, producer: AIOKafkaProducer, kafka_bootstrap: str
) -> None:
    async with asyncio.timeout(TEST_SECONDS):
        history = History()
        consult_transfer_scenario(history)
        await history.produce(producer)
        # answered once, after 10 s; agent-1 handled it 10 -> 50, agent-2 from taking it over, 40 -> 80
        expected = [QueueStats("q-support", 1, 1, 0, 100.0, 10.0, 40.0)]

        async def stored() -> bool:
            return await store.queue_statistics(history.tenant_id, None, None, 20) == expected

        async with running_sink(store, producer, kafka_bootstrap) as running:
            await running.until(stored)


def outbound_scenario(history: History) -> None:
    """An inbound call I waits 10 s in q-support for agent-1, who talks and wraps up until 100; then
    agent-1 calls O out (TEL-8) from line cards at 200, the customer answers at 205, they talk until
    230 and she wraps up until 240."""
    history.call("I", 0, call_events.CallOffered(ani="+15550101", dnis="+15550199", line_id="cards"))
    history.call("I", 10, queued("q-support", 10))
    history.call("I", 20, answered("q-support", "agent-1", 10))
    history.agent("agent-1", 20, agent_state(ON_CONTACT, READY, "I"))
    history.call("I", 80, ended(call_events.END_REASON_NORMAL_CLEARING, "q-support"))
    history.agent("agent-1", 80, agent_state(WRAP_UP, ON_CONTACT, "I"))
    history.agent("agent-1", 100, agent_state(READY, WRAP_UP, "I"))
    placed = call_events.OutboundCallPlaced(
        agent_id="agent-1", number="15550102", caller_id="15771000", line_id="cards"
    )
    history.call("O", 200, placed)
    history.agent("agent-1", 200, agent_state(ON_CONTACT, READY, "O"))
    history.call("O", 205, call_events.OutboundCallConnected(agent_id="agent-1", line_id="cards"))
    history.call("O", 230, ended(call_events.END_REASON_NORMAL_CLEARING, "", agent_id="agent-1"))
    history.agent("agent-1", 230, agent_state(WRAP_UP, ON_CONTACT, "O"))
    history.agent("agent-1", 240, agent_state(READY, WRAP_UP, "O"))


async def test_outbound_calls_count_by_direction_and_leave_the_service_level_to_inbound_ones(
    store: AnalyticsStore, producer: AIOKafkaProducer, kafka_bootstrap: str
) -> None:
    async with asyncio.timeout(TEST_SECONDS):
        history = History()
        outbound_scenario(history)
        await history.produce(producer)
        inbound = CallStats(None, "inbound", 1, 1, 0, 1, 100.0, 10.0, 80.0, 0, None)
        # placed, answered and handled (205 -> 240), in no queue: no service level, no speed of answer
        outbound = CallStats(None, "outbound", 1, 1, 0, 1, None, None, 35.0, 0, None)

        async def stored() -> bool:
            return await store.call_statistics(history.tenant_id, None, None, 20, "", "direction", "UTC") == [
                inbound,
                outbound,
            ]

        async with running_sink(store, producer, kafka_bootstrap) as running:
            await running.until(stored)
        [everything] = await store.call_statistics(history.tenant_id, None, None, 20, "", "", "UTC")
        assert (everything.offered, everything.answered, everything.handled) == (2, 2, 2)
        assert (everything.service_level_percent, everything.average_speed_of_answer_seconds) == (100.0, 10.0)
        # the outbound call is its agent's offer, and its line's
        by_agent = await store.call_statistics(history.tenant_id, None, None, 20, "", "agent", "UTC")
        assert [(row.key, row.offered, row.answered) for row in by_agent] == [("", 1, 0), ("agent-1", 1, 2)]
        [cards] = await store.call_statistics(history.tenant_id, None, None, 20, "", "line", "UTC")
        assert (cards.key, cards.offered, cards.answered) == ("cards", 2, 2)


async def test_the_grpc_service_answers_for_the_callers_tenant_only(
    store: AnalyticsStore, producer: AIOKafkaProducer, kafka_bootstrap: str
) -> None:
    async with asyncio.timeout(TEST_SECONDS):
        history, customer = History(), f"customer-{new_id()}"
        statistics_scenario(history)
        history.call("E", 0.5, call_events.CallOffered(ani="+15550166"), customer)
        await history.produce(producer)
        async with running_sink(store, producer, kafka_bootstrap) as running:
            await running.until(lambda: scenario_stored(store, history.tenant_id))

        keys = parse_api_keys(f"key-a:{history.tenant_id},key-b:someone-else")
        server = grpc.aio.server(interceptors=[TenantAndErrorsInterceptor(keys.get, lambda: True)])
        analytics_pb2_grpc.add_AnalyticsServiceServicer_to_server(AnalyticsServicer(store), server)
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                stub = analytics_pb2_grpc.AnalyticsServiceStub(channel)
                tenant_a = ((API_KEY_HEADER, "key-a"),)
                journey = await stub.GetCustomerJourney(
                    analytics_pb2.GetCustomerJourneyRequest(customer_id=customer), metadata=tenant_a
                )
                assert [event.event_type for event in journey.events] == ["telephony.call.offered"]
                assert journey.events[0].occurred_at.ToDatetime(tzinfo=UTC) == at(0.5)
                statistics = await stub.GetQueueStatistics(
                    analytics_pb2.GetQueueStatisticsRequest(), metadata=tenant_a
                )
                assert statistics.service_level_threshold_seconds == 20
                support = {row.queue_id: row for row in statistics.queues}["q-support"]
                assert (support.offered, support.answered, support.abandoned) == (3, 2, 1)
                assert support.service_level_percent == pytest.approx(66.67)
                assert support.average_speed_of_answer_seconds == pytest.approx(20.0)
                sales = {row.queue_id: row for row in statistics.queues}["q-sales"]
                assert not sales.HasField("service_level_percent")
                assert not sales.HasField("average_handle_time_seconds")

                other = await stub.GetQueueStatistics(
                    analytics_pb2.GetQueueStatisticsRequest(), metadata=((API_KEY_HEADER, "key-b"),)
                )
                assert list(other.queues) == []
                with pytest.raises(grpc.aio.AioRpcError) as refused:
                    await stub.GetCustomerJourney(
                        analytics_pb2.GetCustomerJourneyRequest(limit=5), metadata=tenant_a
                    )
                assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
                assert "customer_id" in (refused.value.details() or "")
        finally:
            await server.stop(grace=None)


async def test_exports_stream_every_event_and_ticket_of_the_tenant_page_by_page(
    store: AnalyticsStore, producer: AIOKafkaProducer, kafka_bootstrap: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """AN-6 over gRPC: pages of 3 rows, so that every export spans several pages and row groups."""
    monkeypatch.setattr(servicer_module, "EXPORT_PAGE_ROWS", 3)
    async with asyncio.timeout(TEST_SECONDS):
        history, customer = History(), f"customer-{new_id()}"
        statistics_scenario(history)
        refund = ticket_events.TicketOpened(
            subject="Refund",
            channel=types_pb2.CHANNEL_EMAIL,
            customer_id=customer,
            status=ticket_events.TICKET_STATUS_OPEN,
            priority=ticket_events.TICKET_PRIORITY_HIGH,
            category="billing/refund",
        )
        solved = ticket_events.TicketStatusChanged(
            from_status=ticket_events.TICKET_STATUS_OPEN, to_status=ticket_events.TICKET_STATUS_SOLVED
        )
        history.add(TICKETS.events, "ticketing", "ticket", "T-1", 30, refund, customer)
        history.add(TICKETS.events, "ticketing", "ticket", "T-1", 50, solved, customer)
        history.add(
            TICKETS.events, "ticketing", "ticket", "T-2", 60, ticket_events.TicketOpened(subject="Hi")
        )
        await history.produce(producer)
        async with running_sink(store, producer, kafka_bootstrap) as running:

            async def stored() -> bool:
                found = await store.export_tickets(history.tenant_id, None, None, "", 10)
                return await scenario_stored(store, history.tenant_id) and len(found) == 2

            await running.until(stored)
        # A replayed batch: every event stored twice; the exports still hold each once.
        replayed = [row_of(event, topic, 0, n) for n, (topic, _, event) in enumerate(history.records)]
        await store.insert_events(replayed)

        keys = parse_api_keys(
            f"key-a:{history.tenant_id},key-b:someone-else,key-k:{history.tenant_id}:agent:kim"
        )
        server = grpc.aio.server(interceptors=[TenantAndErrorsInterceptor(keys.get, lambda: True)])
        analytics_pb2_grpc.add_AnalyticsServiceServicer_to_server(AnalyticsServicer(store), server)
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                stub = analytics_pb2_grpc.AnalyticsServiceStub(channel)

                async def file(method: str, request: Message, key: str = "key-a") -> bytes:
                    call = getattr(stub, method)(request, metadata=((API_KEY_HEADER, key),))
                    return b"".join([chunk.data async for chunk in call])

                every = sorted(event.event_id for _, _, event in history.records)
                events = list(
                    csv.DictReader(
                        io.StringIO(
                            (await file("ExportEvents", analytics_pb2.ExportEventsRequest())).decode()
                        )
                    )
                )
                assert [row["event_id"] for row in events] == every
                first = next(row for row in events if row["event_id"] == history.records[0][2].event_id)
                assert (
                    first["occurred_at"].endswith("Z")
                    and first["aggregate_type"] == history.records[0][2].aggregate_type
                )

                early = analytics_pb2.ExportEventsRequest(
                    from_time=timestamp(at(0)),
                    to_time=timestamp(at(10)),
                    format=analytics_pb2.EXPORT_FORMAT_PARQUET,
                )
                window = pq.read_table(io.BytesIO(await file("ExportEvents", early)))
                in_window = sorted(
                    e.event_id for _, _, e in history.records if at(0) <= to_datetime(e.occurred_at) < at(10)
                )
                assert window.column("event_id").to_pylist() == in_window and 0 < len(in_window) < len(every)

                tickets = pq.read_table(
                    io.BytesIO(
                        await file(
                            "ExportTickets",
                            analytics_pb2.ExportTicketsRequest(format=analytics_pb2.EXPORT_FORMAT_PARQUET),
                        )
                    )
                ).to_pylist()
                assert [(t["ticket_id"], t["status"], t["subject"]) for t in tickets] == [
                    ("T-1", "TICKET_STATUS_SOLVED", "Refund"),
                    ("T-2", "", "Hi"),
                ]
                assert (tickets[0]["category"], tickets[0]["priority"], tickets[0]["customer_id"]) == (
                    "billing/refund",
                    "TICKET_PRIORITY_HIGH",
                    customer,
                )
                assert (tickets[0]["opened_at"], tickets[0]["solved_at"]) == (at(30), at(50))

                by_queue = analytics_pb2.GetCallStatisticsRequest(by="queue")
                statistics = list(
                    csv.reader(
                        io.StringIO(
                            (
                                await file(
                                    "ExportCallStatistics",
                                    analytics_pb2.ExportCallStatisticsRequest(statistics=by_queue),
                                )
                            ).decode()
                        )
                    )
                )
                expected = await store.call_statistics(history.tenant_id, None, None, 20, "", "queue", "UTC")
                assert [row[1:5] for row in statistics[1:]] == [
                    [s.key, str(s.offered), str(s.answered), str(s.abandoned)] for s in expected
                ]

                # Another tenant's export has the columns and none of these rows.
                assert (await file("ExportEvents", analytics_pb2.ExportEventsRequest(), "key-b")).count(
                    b"\r\n"
                ) == 1
                for request, key, code in [
                    (analytics_pb2.ExportEventsRequest(format=9), "key-a", grpc.StatusCode.INVALID_ARGUMENT),
                    (analytics_pb2.ExportEventsRequest(), "key-k", grpc.StatusCode.PERMISSION_DENIED),
                    (analytics_pb2.ExportEventsRequest(), "nobody", grpc.StatusCode.UNAUTHENTICATED),
                ]:
                    with pytest.raises(grpc.aio.AioRpcError) as refused:
                        await file("ExportEvents", request, key)
                    assert refused.value.code() == code
                bad_zone = analytics_pb2.GetTicketStatisticsRequest(time_zone="Mars/Olympus")
                with pytest.raises(grpc.aio.AioRpcError) as refused:
                    await file(
                        "ExportTicketStatistics",
                        analytics_pb2.ExportTicketStatisticsRequest(statistics=bad_zone),
                    )
                assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        finally:
            await server.stop(grace=None)
