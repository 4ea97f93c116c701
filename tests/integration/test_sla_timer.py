"""The SLA timer on a real broker (TKT-6): a ticket whose clock has passed its target gets one
TicketSlaBreached event, decided by the ticket's own writer; later changes do not record it again. The
line's terms come from its event on the lines topic, read by ticketing's line directory."""

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime

from cc.common.v1 import event_pb2, types_pb2
from cc.telephony.v1 import events_pb2 as line_events
from cc.ticketing.v1 import commands_pb2

from services.common import kafka
from services.common.command_bus import CommandBus, command_meta
from services.common.command_processor import CommandProcessor
from services.common.deadlines import Deadlines
from services.common.envelope import aggregate_key, new_id
from services.common.projection import Projection
from services.common.settings import PlatformSettings
from services.common.topics import LINES, TICKETS, ensure_topics
from services.ticketing.app import ticket_spec
from services.ticketing.domain import TicketRules
from services.ticketing.lines import LineDirectory
from services.ticketing.sla_timer import SlaTimer
from tests.conftest import records_with_key
from tests.unit.support import envelope


async def _until(predicate: Callable[[], bool], timeout: float = 30.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.05)


async def test_a_clock_past_its_target_is_recorded_as_one_breach_event(kafka_bootstrap: str) -> None:
    await ensure_topics(kafka_bootstrap, PlatformSettings().cc_partitions)
    tenant, line_id, ticket_id = f"t-{new_id()}", "cards", new_id()
    producer = kafka.idempotent_producer(kafka_bootstrap)
    await producer.start()
    # A line whose first-response target is zero minutes (the API takes at least one): every ticket on
    # it is past its target from the moment it opens, so the test need not wait out a minute.
    settings_with_sla = line_events.LineSettings(
        display_name="Cards", ticket_sla=line_events.TicketSla(first_response_minutes={"normal": 0})
    )
    defined = envelope(
        line_events.LineDefined(settings=settings_with_sla),
        context="telephony",
        aggregate_type="line",
        aggregate_id=line_id,
        version=1,
        when=datetime.now(UTC),
        tenant_id=tenant,
    )
    await producer.send_and_wait(
        LINES.events, defined.SerializeToString(), key=aggregate_key(tenant, line_id)
    )

    bus = CommandBus(kafka_bootstrap, producer, f"test-{new_id()}", timeout_seconds=20)
    lines = LineDirectory(kafka_bootstrap)
    timer = SlaTimer(lines, tick=0.05)
    spec = ticket_spec(TicketRules(sla_terms=lines.sla_terms))
    processor = CommandProcessor(
        spec, PlatformSettings(kafka_bootstrap_servers=kafka_bootstrap), producer, bus
    )
    tickets = Projection(spec, kafka_bootstrap)
    deadlines = Deadlines()
    tickets.observe(timer.timer(deadlines))
    tasks = [
        asyncio.create_task(work)
        for work in (
            bus.listen([TICKETS.replies]),
            lines.run(),
            timer.run(),
            processor.run(),
            tickets.run(),
            deadlines.run(bus, tickets.caught_up),
        )
    ]
    try:
        await asyncio.wait_for(bus.listening.wait(), 30)
        await asyncio.wait_for(processor.assigned.wait(), 60)
        await _until(lambda: lines.sla_terms(tenant, line_id) is not None)

        opening = commands_pb2.OpenTicket(
            subject="Card not arrived", channel=types_pb2.CHANNEL_EMAIL, customer_id="cu-1", line_id=line_id
        )
        meta = command_meta(tenant_id=tenant, aggregate_id=ticket_id)
        meta.command_id = new_id()
        await bus.send(TICKETS, commands_pb2.TicketCommand(meta=meta, open_ticket=opening))
        await _until(lambda: (t := tickets.get(tenant, ticket_id)) is not None and bool(t.state.sla_breaches))
        assert tickets.get(tenant, ticket_id).state.sla_breaches == ("first_response",)  # type: ignore[union-attr]

        # A later change re-arms the timer; the breach it finds is recorded already, so nothing new.
        note_meta = command_meta(tenant_id=tenant, aggregate_id=ticket_id)
        note_meta.command_id = new_id()
        note = commands_pb2.AddTicketNote(body="called the courier")
        await bus.send(TICKETS, commands_pb2.TicketCommand(meta=note_meta, add_note=note))
        records = await records_with_key(kafka_bootstrap, TICKETS.events, aggregate_key(tenant, ticket_id), 3)
        assert [event_pb2.Event.FromString(r.value).event_type for r in records] == [
            "ticketing.ticket.opened",
            "ticketing.ticket.sla_breached",
            "ticketing.ticket.note_added",
        ]
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await producer.stop()
