"""The event store's rules on a real broker (ARCHITECTURE: event sourcing on Kafka): one writer per
aggregate, expected_version -> ABORTED, command_id idempotency, rebuild after restart, dead letters."""

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from cc.common.v1 import event_pb2
from cc.telephony.v1 import commands_pb2

from services.common import kafka
from services.common.command_bus import CommandBus, command_meta
from services.common.command_processor import CommandProcessor
from services.common.envelope import aggregate_key, new_id
from services.common.errors import IllegalTransition, VersionConflict
from services.common.projection import Projection
from services.common.settings import PlatformSettings
from services.common.topics import CALLS, dlq, ensure_topics
from services.telephony.app import call_spec
from services.telephony.domain import TelephonyRules
from tests.conftest import records_with_key

# What an offer writes on the default line: the offer, the welcome announcement, the menu.
OFFER_EVENTS = [
    "telephony.call.offered",
    "telephony.call.ivr_announcement_played",
    "telephony.call.ivr_menu_entered",
]

SPEC = call_spec(TelephonyRules())


@dataclass
class Store:
    bus: CommandBus
    processor: CommandProcessor  # type: ignore[type-arg]
    calls: Projection  # type: ignore[type-arg]
    restart: Callable[[], Awaitable[None]]


async def _until(predicate: Callable[[], bool], timeout: float = 15.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.05)


@pytest.fixture
async def store(kafka_bootstrap: str) -> AsyncIterator[Store]:
    await ensure_topics(kafka_bootstrap, PlatformSettings().cc_partitions)
    producer = kafka.idempotent_producer(kafka_bootstrap)
    await producer.start()
    bus = CommandBus(kafka_bootstrap, producer, f"test-{new_id()}", timeout_seconds=20)
    tasks: list[asyncio.Task[None]] = [asyncio.create_task(bus.listen([CALLS.replies]))]

    settings = PlatformSettings(kafka_bootstrap_servers=kafka_bootstrap)

    def start_owner() -> tuple[CommandProcessor, Projection]:  # type: ignore[type-arg]
        processor = CommandProcessor(SPEC, settings, producer, bus)
        calls = Projection(SPEC, kafka_bootstrap)
        tasks.extend([asyncio.create_task(processor.run()), asyncio.create_task(calls.run())])
        return processor, calls

    processor, calls = start_owner()
    fixture = Store(bus, processor, calls, restart=lambda: asyncio.sleep(0))

    async def restart() -> None:
        """Kill the owner (no graceful hand-over) and start a new one that must rebuild from the log."""
        for task in tasks[1:]:
            task.cancel()
        await asyncio.gather(*tasks[1:], return_exceptions=True)
        del tasks[1:]
        fixture.processor, fixture.calls = start_owner()
        await asyncio.wait_for(fixture.processor.assigned.wait(), 60)
        await asyncio.wait_for(fixture.calls.caught_up.wait(), 60)

    fixture.restart = restart
    await asyncio.wait_for(bus.listening.wait(), 30)
    await asyncio.wait_for(processor.assigned.wait(), 60)
    await asyncio.wait_for(calls.caught_up.wait(), 60)
    try:
        yield fixture
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await producer.stop()


def offer(tenant: str, call_id: str, command_id: str = "") -> commands_pb2.CallCommand:
    meta = command_meta(tenant_id=tenant, aggregate_id=call_id)
    if command_id:
        meta.command_id = command_id
    return commands_pb2.CallCommand(meta=meta, offer_call=commands_pb2.OfferCall(ani="+8210", dnis="1588"))


def digits(
    tenant: str, call_id: str, pressed: str, expected_version: int | None = None
) -> commands_pb2.CallCommand:
    meta = command_meta(tenant_id=tenant, aggregate_id=call_id, expected_version=expected_version)
    return commands_pb2.CallCommand(meta=meta, send_digits=commands_pb2.SendDigits(digits=pressed))


async def events_of(bootstrap: str, tenant: str, call_id: str, at_least: int = 0) -> list[event_pb2.Event]:
    records = await records_with_key(bootstrap, CALLS.events, aggregate_key(tenant, call_id), at_least)
    return [event_pb2.Event.FromString(record.value) for record in records]


def written_state(processor: CommandProcessor, tenant: str) -> dict[tuple[str, str], tuple[object, int]]:  # type: ignore[type-arg]
    """What the single writers hold of a tenant's calls: state and version per call."""
    return {
        key: (entry.state, entry.version)
        for owner in processor.owners.values()
        for key, entry in owner.entries.items()
        if key[0] == tenant and entry.state is not None
    }


async def test_two_concurrent_conflicting_commands_one_wins_one_is_aborted(store: Store) -> None:
    tenant, call_id = f"t-{new_id()}", new_id()
    offered = await store.bus.send(CALLS, offer(tenant, call_id))
    results = await asyncio.gather(
        store.bus.send(CALLS, digits(tenant, call_id, "1", expected_version=offered.aggregate_version)),
        store.bus.send(CALLS, digits(tenant, call_id, "2", expected_version=offered.aggregate_version)),
        return_exceptions=True,
    )
    won = [r for r in results if not isinstance(r, BaseException)]
    lost = [r for r in results if isinstance(r, BaseException)]
    assert len(won) == 1 and len(lost) == 1
    assert isinstance(lost[0], VersionConflict)
    assert lost[0].error_id == "version-conflict"
    assert won[0].aggregate_version == offered.aggregate_version + 2  # digits received + queued


async def test_the_same_command_id_twice_appends_once_and_answers_the_same(
    store: Store, kafka_bootstrap: str
) -> None:
    tenant, call_id, command_id = f"t-{new_id()}", new_id(), new_id()
    first = await store.bus.send(CALLS, offer(tenant, call_id, command_id))
    second = await store.bus.send(CALLS, offer(tenant, call_id, command_id))
    assert not first.duplicate and second.duplicate
    assert (second.aggregate_version, list(second.event_ids)) == (
        first.aggregate_version,
        list(first.event_ids),
    )
    events = await events_of(kafka_bootstrap, tenant, call_id, at_least=3)
    assert [e.event_type for e in events] == OFFER_EVENTS
    assert [e.event_id for e in events] == list(first.event_ids)


async def test_an_illegal_command_is_refused_and_appends_nothing(store: Store, kafka_bootstrap: str) -> None:
    tenant, call_id = f"t-{new_id()}", new_id()
    await store.bus.send(CALLS, offer(tenant, call_id))
    with pytest.raises(IllegalTransition, match="already offered"):
        await store.bus.send(CALLS, offer(tenant, call_id))
    assert len(await events_of(kafka_bootstrap, tenant, call_id, at_least=3)) == 3


async def test_a_killed_owner_rebuilds_identical_state_from_the_log(store: Store) -> None:
    tenant = f"t-{new_id()}"
    calls = [new_id() for _ in range(5)]
    for index, call_id in enumerate(calls):
        await store.bus.send(CALLS, offer(tenant, call_id))
        for pressed in ("7", "8", "1")[: index % 4]:
            await store.bus.send(CALLS, digits(tenant, call_id, pressed))
    before_write = written_state(store.processor, tenant)
    await _until(lambda: all(store.calls.get(tenant, c) is not None for c in calls))
    before_read = {k: v for k, v in store.calls.entries.items() if k[0] == tenant}

    await store.restart()

    assert written_state(store.processor, tenant) == before_write
    assert {k: v for k, v in store.calls.entries.items() if k[0] == tenant} == before_read
    # The rebuilt owner goes on from the right version and still knows the commands it handled.
    reply = await store.bus.send(CALLS, digits(tenant, calls[0], "9", expected_version=3))
    assert reply.aggregate_version == 5


async def test_a_malformed_command_goes_to_the_dead_letter_topic_and_the_owner_goes_on(
    store: Store, kafka_bootstrap: str
) -> None:
    tenant, call_id = f"t-{new_id()}", new_id()
    marker = f"garbage-{new_id()}".encode()
    producer = kafka.idempotent_producer(kafka_bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(
            CALLS.commands, value=b"\xff\xfe" + marker, key=aggregate_key(tenant, call_id)
        )
    finally:
        await producer.stop()
    reply = await store.bus.send(CALLS, offer(tenant, call_id))  # same partition, after the garbage
    assert reply.aggregate_version == 3

    consumer = AIOKafkaConsumer(bootstrap_servers=kafka_bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    try:
        consumer.assign([TopicPartition(dlq(CALLS.commands), 0)])
        found = None
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(15):
                while found is None:
                    batch = await consumer.getmany(timeout_ms=500)
                    found = next((r for rs in batch.values() for r in rs if marker in (r.value or b"")), None)
        assert found is not None, "the malformed command did not reach the DLQ"
        assert dict(found.headers)["dlq-reason"].startswith(b"unreadable command")
    finally:
        await consumer.stop()
