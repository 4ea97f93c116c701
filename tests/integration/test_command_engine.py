"""The command engine on a real broker: batches commit whole or not at all, outcomes (refusals too)
outlive restarts and memory, snapshots shorten replays without changing what they rebuild, and the
faults of the command path (a failed replay, a fenced producer, a rebalance during a long replay)
never leave a partition served wrongly or not at all."""

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import grpc
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError
from cc.common.v1 import event_pb2
from cc.telephony.v1 import commands_pb2, telephony_pb2, telephony_pb2_grpc

from services.common import command_processor, kafka, partition_owner
from services.common.access import parse_api_keys
from services.common.command_bus import CommandBus, command_meta
from services.common.command_processor import CommandProcessor
from services.common.envelope import aggregate_key, new_id
from services.common.errors import InvalidArgument, NotFound, Unavailable
from services.common.grpc_server import TenantAndErrorsInterceptor
from services.common.partition_owner import PartitionOwner
from services.common.projection import Projection
from services.common.settings import PlatformSettings
from services.common.topics import CALLS, ensure_topics
from services.telephony.app import LINE_SPEC, LISTED_NUMBER_SPEC, call_spec, campaign_spec
from services.telephony.campaigns import CampaignRules
from services.telephony.customers import CustomerDirectory
from services.telephony.domain import TelephonyRules
from services.telephony.servicer import TelephonyServicer
from tests.conftest import records_with_key

# What an offer writes on the default line: the offer, the welcome announcement, the menu.
OFFER_EVENTS = [
    "telephony.call.offered",
    "telephony.call.ivr_announcement_played",
    "telephony.call.ivr_menu_entered",
]

SPEC = call_spec(TelephonyRules())
Processor = CommandProcessor[Any, commands_pb2.CallCommand]


@dataclass
class Members:
    """Command processors of the calls group on the session broker, started and killed at will."""

    bootstrap: str
    producer: AIOKafkaProducer
    bus: CommandBus
    running: dict[int, tuple[Processor, asyncio.Task[None]]] = field(default_factory=dict)

    def start(self, **settings: Any) -> Processor:
        processor: Processor = CommandProcessor(
            SPEC,
            PlatformSettings(kafka_bootstrap_servers=self.bootstrap, **settings),
            self.producer,
            self.bus,
        )
        self.running[id(processor)] = (processor, asyncio.create_task(processor.run()))
        return processor

    async def kill(self, processor: Processor) -> None:
        _, task = self.running.pop(id(processor))
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    async def restart(self, processor: Processor, **settings: Any) -> Processor:
        await self.kill(processor)
        again = self.start(**settings)
        await asyncio.wait_for(again.assigned.wait(), 60)
        return again


@pytest.fixture
async def members(kafka_bootstrap: str) -> AsyncIterator[Members]:
    await ensure_topics(kafka_bootstrap, PlatformSettings().cc_partitions)
    producer = kafka.idempotent_producer(kafka_bootstrap)
    await producer.start()
    bus = CommandBus(kafka_bootstrap, producer, f"test-{new_id()}", timeout_seconds=20)
    listening = asyncio.create_task(bus.listen([CALLS.replies]))
    await asyncio.wait_for(bus.listening.wait(), 30)
    group = Members(kafka_bootstrap, producer, bus)
    try:
        yield group
    finally:
        for processor, _ in list(group.running.values()):
            await group.kill(processor)
        listening.cancel()
        await asyncio.gather(listening, return_exceptions=True)
        await producer.stop()


def offer(tenant: str, call_id: str, command_id: str = "", ani: str = "+8210") -> commands_pb2.CallCommand:
    meta = command_meta(tenant_id=tenant, aggregate_id=call_id)
    meta.command_id = command_id or new_id()
    return commands_pb2.CallCommand(meta=meta, offer_call=commands_pb2.OfferCall(ani=ani, dnis="1588"))


def digits(tenant: str, call_id: str, pressed: str, command_id: str = "") -> commands_pb2.CallCommand:
    meta = command_meta(tenant_id=tenant, aggregate_id=call_id)
    meta.command_id = command_id or new_id()
    return commands_pb2.CallCommand(meta=meta, send_digits=commands_pb2.SendDigits(digits=pressed))


def partition_of(tenant: str, call_id: str) -> int:
    from aiokafka.partitioner import DefaultPartitioner

    every = list(range(PlatformSettings().cc_partitions))
    return int(DefaultPartitioner()(aggregate_key(tenant, call_id), every, every))


def calls_on(tenant: str, partition: int, count: int) -> list[str]:
    """Fresh call ids whose commands land on one partition, so they can share a batch."""
    found: list[str] = []
    while len(found) < count:
        call_id = new_id()
        if partition_of(tenant, call_id) == partition:
            found.append(call_id)
    return found


async def events_of(bootstrap: str, tenant: str, call_id: str, at_least: int = 0) -> list[event_pb2.Event]:
    records = await records_with_key(bootstrap, CALLS.events, aggregate_key(tenant, call_id), at_least)
    return [event_pb2.Event.FromString(record.value) for record in records]


async def until(predicate: Callable[[], bool], timeout: float = 30.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.05)


def owner_of(processor: Processor, partition: int) -> PartitionOwner[Any, Any]:
    return processor.owners[partition]


async def waiting_together(owner: PartitionOwner[Any, Any], sends: list[Awaitable[None]]) -> None:
    """Send commands while the owner's partition is not fetched, so they wait there together and the
    owner takes them as one batch.

    A fetch already in flight when the partition is paused could still come back with the first few
    commands and be handed out after the resume, splitting the batch; so the sends start only once such
    a fetch has had many times the consumer's fetch wait to come back empty."""
    owner._consumer.pause(owner.tp)
    try:
        await asyncio.sleep(1.0)
        await asyncio.gather(*sends)
    finally:
        owner._consumer.resume(owner.tp)


# ---- batches ---------------------------------------------------------------------------------------


async def test_a_batch_that_fails_midway_leaves_nothing_and_a_new_owner_writes_it_all_once(
    members: Members, kafka_bootstrap: str
) -> None:
    tenant = f"t-{new_id()}"
    partition = partition_of(tenant, "anchor")
    call_ids = calls_on(tenant, partition, 5)
    first = members.start()
    await asyncio.wait_for(first.assigned.wait(), 60)
    owner = owner_of(first, partition)
    writer = owner._writer
    assert writer is not None
    real_send, sent, died = writer.send, [], asyncio.Event()
    never = asyncio.Event()

    async def dies_on_the_sixth_record(topic: str, **kwargs: Any) -> Any:
        sent.append(topic)
        if len(sent) == 6:
            died.set()
            raise KafkaConnectionError("the broker connection drops in the middle of the batch")
        return await real_send(topic, **kwargs)

    async def stuck() -> None:
        await never.wait()  # the process is dying: it never gets to retry

    writer.send = dies_on_the_sixth_record  # type: ignore[method-assign]
    owner._renew_writer = stuck  # type: ignore[method-assign]
    commands = [offer(tenant, call_id) for call_id in call_ids]
    await waiting_together(owner, [members.bus.post(CALLS, command) for command in commands])
    await asyncio.wait_for(died.wait(), 30)
    for call_id in call_ids:  # none of the batch is visible: its transaction never committed
        assert await events_of(kafka_bootstrap, tenant, call_id) == []

    second = await members.restart(first)

    replies = [await members.bus.send(CALLS, command) for command in commands]
    for call_id, reply in zip(call_ids, replies, strict=True):
        events = await events_of(kafka_bootstrap, tenant, call_id, at_least=3)
        assert [e.event_type for e in events] == OFFER_EVENTS
        assert reply.duplicate and list(reply.event_ids) == [e.event_id for e in events]
    assert owner_of(second, partition).transactions >= 1


async def test_commands_waiting_together_share_one_transaction(members: Members) -> None:
    tenant = f"t-{new_id()}"
    partition = partition_of(tenant, "anchor")
    processor = members.start()
    await asyncio.wait_for(processor.assigned.wait(), 60)
    owner = owner_of(processor, partition)
    # A partition loaded without snapshots writes them first, in transactions of their own.
    await until(lambda: not owner.snapshotting)
    before = owner.transactions
    call_ids = calls_on(tenant, partition, 8)

    await waiting_together(owner, [members.bus.post(CALLS, offer(tenant, c)) for c in call_ids])
    await until(lambda: owner.commands >= 8)

    assert owner.transactions - before == 1
    for call_id in call_ids:
        entry = owner.entries[(tenant, call_id)]
        assert entry.version == 3


async def test_the_linger_holds_back_only_a_busy_partition(members: Members) -> None:
    tenant = f"t-{new_id()}"
    partition = partition_of(tenant, "anchor")
    processor = members.start(cc_command_batch_linger_ms=5000)
    await asyncio.wait_for(processor.assigned.wait(), 60)
    owner = owner_of(processor, partition)
    lone, *busy = calls_on(tenant, partition, 4)

    started = time.monotonic()
    await members.bus.send(CALLS, offer(tenant, lone))
    assert time.monotonic() - started < 4.0  # alone: committed at once (a loaded machine is slow)

    await waiting_together(owner, [members.bus.post(CALLS, offer(tenant, c)) for c in busy[:2]])
    await until(lambda: owner.commands >= 3)
    started = time.monotonic()
    await members.bus.send(CALLS, offer(tenant, busy[2]))  # right after a batch of two: it lingers
    assert time.monotonic() - started >= 4.5


async def test_a_command_whose_event_would_not_fit_is_refused_and_the_partition_goes_on(
    members: Members, kafka_bootstrap: str
) -> None:
    tenant = f"t-{new_id()}"
    processor = members.start()
    await asyncio.wait_for(processor.assigned.wait(), 60)
    huge, after = calls_on(tenant, partition_of(tenant, "anchor"), 2)

    with pytest.raises(InvalidArgument) as refused:
        await members.bus.send(CALLS, offer(tenant, huge, ani="9" * (950 * 1024)))
    reply = await members.bus.send(CALLS, offer(tenant, after))

    assert refused.value.error_id == "event-too-large"
    assert reply.aggregate_version == 3
    assert await events_of(kafka_bootstrap, tenant, huge) == []


# ---- outcomes --------------------------------------------------------------------------------------


async def test_a_refused_command_keeps_its_answer_across_a_restart(members: Members) -> None:
    tenant, call_id, early = f"t-{new_id()}", new_id(), new_id()
    processor = members.start()
    await asyncio.wait_for(processor.assigned.wait(), 60)
    with pytest.raises(NotFound):  # digits for a call that is not offered yet
        await members.bus.send(CALLS, digits(tenant, call_id, "1", command_id=early))
    await members.bus.send(CALLS, offer(tenant, call_id))

    await members.restart(processor)

    with pytest.raises(NotFound):  # the retry gets the first answer, not a decision on today's call
        await members.bus.send(CALLS, digits(tenant, call_id, "1", command_id=early))
    again = await members.bus.send(CALLS, digits(tenant, call_id, "1"))
    assert again.aggregate_version == 5


async def test_an_outcome_no_longer_in_memory_is_read_back_from_its_topic(
    members: Members, kafka_bootstrap: str
) -> None:
    tenant, call_id, command_id = f"t-{new_id()}", new_id(), new_id()
    processor = members.start(cc_outcomes_in_memory=1)
    await asyncio.wait_for(processor.assigned.wait(), 60)
    first = await members.bus.send(CALLS, offer(tenant, call_id, command_id))
    for other in calls_on(tenant, partition_of(tenant, call_id), 3):  # push it out of memory
        await members.bus.send(CALLS, offer(tenant, other))
    assert owner_of(processor, partition_of(tenant, call_id)).recent.get(command_id) is None

    again = await members.bus.send(CALLS, offer(tenant, call_id, command_id))

    assert again.duplicate and list(again.event_ids) == list(first.event_ids)
    assert len(await events_of(kafka_bootstrap, tenant, call_id, at_least=3)) == 3


# ---- snapshots -------------------------------------------------------------------------------------


@pytest.mark.parametrize("per_step", [1000, 2], ids=["one-step rounds", "rounds over many batches"])
async def test_a_restart_from_snapshots_rebuilds_what_the_writer_held_and_replays_only_the_tail(
    members: Members, monkeypatch: pytest.MonkeyPatch, per_step: int
) -> None:
    monkeypatch.setattr(partition_owner, "SNAPSHOTS_PER_STEP", per_step)
    tenant = f"t-{new_id()}"
    # A round starts after 40 events and outcomes: by then at least 3 of the partition's calls (each
    # writes 4 to 13) wait for a snapshot beyond the batch's own, more than a step of 2 takes.
    processor = members.start(cc_snapshot_every_events=40)
    await asyncio.wait_for(processor.assigned.wait(), 60)
    call_ids = calls_on(tenant, 0, 8) + calls_on(tenant, 1, 8)
    for index, call_id in enumerate(call_ids):
        await members.bus.send(CALLS, offer(tenant, call_id))
        for pressed in ("7", "8", "1")[: index % 4]:
            await members.bus.send(CALLS, digits(tenant, call_id, pressed))
    await until(lambda: not any(owner.snapshotting for owner in processor.owners.values()))
    ours = [processor.owners[0], processor.owners[1]]
    held = {k: (e.state, e.version) for o in ours for k, e in o.entries.items() if k[0] == tenant}
    assert all(owner.checkpoints for owner in ours)
    if per_step == 2:  # a round's snapshots were spread over several transactions
        assert sum(o.snapshot_steps for o in ours) > sum(o.checkpoints for o in ours)

    again = await members.restart(processor, cc_snapshot_every_events=40)

    reloaded = [again.owners[0], again.owners[1]]
    assert {k: (e.state, e.version) for o in reloaded for k, e in o.entries.items() if k[0] == tenant} == held
    assert all(owner.loaded_from_snapshots for owner in reloaded)
    assert sum(owner.replayed for owner in reloaded) < sum(version for _, version in held.values())


async def test_an_aggregate_swept_away_and_back_in_one_round_keeps_its_snapshot(
    members: Members, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An aggregate with no state and no outcome left in the window is forgotten when a snapshot round
    starts, and tombstoned in the snapshots topic. If a command brings it back in that very batch, its
    snapshot must survive the round: the checkpoint comes later, so its events are not replayed."""
    monkeypatch.setattr(partition_owner, "SWEEP_SECONDS", 0.0)
    monkeypatch.setattr(partition_owner, "SNAPSHOTS_PER_STEP", 1)  # the round spans several steps
    settings = {"cc_outcome_window_hours": 1e-7}  # every outcome is out of the window at once
    tenant = f"t-{new_id()}"
    processor = members.start(**settings)
    await asyncio.wait_for(processor.assigned.wait(), 60)
    owner = owner_of(processor, 0)
    await until(lambda: not owner.snapshotting)
    returning, *others = calls_on(tenant, 0, 5)
    with pytest.raises(NotFound):  # leaves an aggregate with no state, only a refusal
        await members.bus.send(CALLS, digits(tenant, returning, "1"))
    for call_id in others:
        await members.bus.send(CALLS, offer(tenant, call_id))
    owner._every = owner._written_since_checkpoint + 1  # the next batch starts a round
    checkpoints = owner.checkpoints

    await members.bus.send(CALLS, offer(tenant, returning))
    await until(lambda: owner.checkpoints > checkpoints and not owner.snapshotting)

    again = await members.restart(processor, **settings)
    reloaded = owner_of(again, 0)
    assert reloaded.loaded_from_snapshots
    entry = reloaded.entries.get((tenant, returning))
    assert entry is not None and entry.version == 3


async def test_a_partition_idle_past_the_window_starts_after_its_last_command(
    members: Members, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no outcome left in the window, a new owner starts after the last batch's command, found in
    the outcomes log, not at the group's offset (committed only every few seconds, here never): it
    never decides a command twice. Before, a refused digits command ran again on the call offered after
    it, and the call moved on to version 5."""
    monkeypatch.setattr(command_processor, "GROUP_COMMIT_SECONDS", 3600.0)
    settings = {"cc_outcome_window_hours": 1e-7}  # every outcome is out of the window at once
    tenant = f"t-{new_id()}"
    processor = members.start(**settings)
    await asyncio.wait_for(processor.assigned.wait(), 60)
    early, later = calls_on(tenant, 0, 2)
    with pytest.raises(NotFound):  # refused: the call is not offered yet
        await members.bus.send(CALLS, digits(tenant, early, "1"))
    await members.bus.send(CALLS, offer(tenant, early))

    again = await members.restart(processor, **settings)
    await members.bus.send(CALLS, offer(tenant, later))  # decided after anything the restart re-read

    entry = owner_of(again, 0).entries.get((tenant, early))
    assert entry is not None and entry.version == 3


async def test_a_read_model_loads_the_snapshots_then_follows_the_events(
    members: Members, kafka_bootstrap: str
) -> None:
    tenant = f"t-{new_id()}"
    processor = members.start(cc_snapshot_every_events=4)
    await asyncio.wait_for(processor.assigned.wait(), 60)
    call_ids = [new_id() for _ in range(6)]
    for call_id in call_ids:
        await members.bus.send(CALLS, offer(tenant, call_id))
        await members.bus.send(CALLS, digits(tenant, call_id, "7"))  # not a menu option: replayed

    calls: Projection[Any, Any] = Projection(SPEC, kafka_bootstrap)
    reading = asyncio.create_task(calls.run())
    try:
        await asyncio.wait_for(calls.caught_up.wait(), 60)
        held = {k: (e.state, e.version) for o in processor.owners.values() for k, e in o.entries.items()}
        for call_id in call_ids:
            entry = calls.get(tenant, call_id)
            assert entry is not None and (entry.state, entry.version) == held[(tenant, call_id)]
        await members.bus.send(CALLS, digits(tenant, call_ids[0], "1"))  # and it keeps following
        assert (await calls.wait_for(tenant, call_ids[0], 5)) is not None
    finally:
        reading.cancel()
        await asyncio.gather(reading, return_exceptions=True)


# ---- faults of the command path --------------------------------------------------------------------


async def test_a_failed_replay_answers_unavailable_then_recovers(
    members: Members, kafka_bootstrap: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant, call_id, command_id = f"t-{new_id()}", new_id(), new_id()
    failing = asyncio.Event()
    failing.set()
    real_load = PartitionOwner._load

    async def load(owner: PartitionOwner[Any, Any]) -> None:
        if failing.is_set():
            raise KafkaConnectionError("the snapshots topic cannot be read")
        await real_load(owner)

    monkeypatch.setattr(PartitionOwner, "_load", load)
    processor = members.start()
    calls: Projection[Any, Any] = Projection(SPEC, kafka_bootstrap)
    reading = asyncio.create_task(calls.run())
    server = grpc.aio.server(
        interceptors=[
            TenantAndErrorsInterceptor(
                parse_api_keys(f"key:{tenant}").get, lambda: processor.serving() and calls.caught_up.is_set()
            )
        ]
    )
    # not read: the call is on the default line, its caller is on no list and no customer
    lines, listed = Projection(LINE_SPEC, kafka_bootstrap), Projection(LISTED_NUMBER_SPEC, kafka_bootstrap)
    rules = TelephonyRules()
    campaigns = Projection(campaign_spec(CampaignRules(rules.lines, rules.callers)), kafka_bootstrap)
    customers = CustomerDirectory(kafka_bootstrap)
    servicer = TelephonyServicer(members.bus, calls, lines, listed, campaigns, rules, customers)
    telephony_pb2_grpc.add_TelephonyServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        await until(lambda: any(o.status == o.FAILED for o in processor.owners.values()))
        assert not processor.serving()
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = telephony_pb2_grpc.TelephonyServiceStub(channel)
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await stub.OfferCall(
                    telephony_pb2.OfferCallRequest(ani="+8210", dnis="1588"), metadata=(("x-api-key", "key"),)
                )
            assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
        quick = CommandBus(kafka_bootstrap, members.producer, members.bus.instance_id, timeout_seconds=2)
        with pytest.raises(
            Unavailable
        ):  # a command for a partition nobody can serve yet waits, then times out
            await quick.send(CALLS, offer(tenant, call_id, command_id))

        failing.clear()
        await asyncio.wait_for(processor.assigned.wait(), 60)
        await until(processor.serving)

        # The retry gets the outcome of the command sent while the partition could not be served (it
        # waited in Kafka and was decided once the partition recovered).
        reply = await members.bus.send(CALLS, offer(tenant, call_id, command_id))
        events = await events_of(kafka_bootstrap, tenant, call_id, at_least=3)
        assert reply.aggregate_version == 3 and list(reply.event_ids) == [e.event_id for e in events]
    finally:
        await server.stop(None)
        reading.cancel()
        await asyncio.gather(reading, return_exceptions=True)


@pytest.mark.parametrize("fence_shows", ["on the first record", "between records"])
async def test_a_fenced_owner_gives_its_partition_to_a_live_member(
    members: Members, fence_shows: str
) -> None:
    tenant = f"t-{new_id()}"
    first = members.start()
    await asyncio.wait_for(first.assigned.wait(), 60)
    second = members.start()
    await until(lambda: first.assigned.is_set() and second.assigned.is_set() and bool(second.owners), 60)
    partition = next(iter(first.owners))
    (call_id,) = calls_on(tenant, partition, 1)
    if fence_shows == "between records":
        # The producer learns of the fence while the batch is still being written: the records it holds
        # fail, and it refuses the next one with IllegalOperation, which alone does not say "fenced".
        writer = owner_of(first, partition)._writer
        assert writer is not None
        real_send = writer.send

        async def fenced_in_between(topic: str, **record: Any) -> Any:
            future = await real_send(topic, **record)
            await asyncio.wait([future], timeout=30)
            return future

        writer.send = fenced_in_between  # type: ignore[method-assign]
    # A zombie's view: someone else starts the partition's transactional producer, fencing first's.
    usurper = kafka.transactional_producer(members.bootstrap, f"{first.name}.{partition}")
    await usurper.start()
    await usurper.stop()

    reply = await members.bus.send(CALLS, offer(tenant, call_id))

    assert reply.aggregate_version == 3
    serving = [p for p in (first, second) if partition in p.owners]
    assert len(serving) == 1 and serving[0].owners[partition].status == PartitionOwner.SERVING
    assert await members.bus.send(CALLS, digits(tenant, call_id, "1"))


async def test_a_commit_whose_answer_is_lost_is_not_decided_twice(
    members: Members, kafka_bootstrap: str
) -> None:
    tenant = f"t-{new_id()}"
    processor = members.start()
    await asyncio.wait_for(processor.assigned.wait(), 60)
    (call_id,) = calls_on(tenant, 0, 1)
    owner = owner_of(processor, 0)
    writer = owner._writer
    assert writer is not None
    real_commit = writer.commit_transaction

    async def committed_but_the_answer_is_lost() -> None:
        await real_commit()
        raise KafkaConnectionError("the connection dropped before the commit was answered")

    writer.commit_transaction = committed_but_the_answer_is_lost  # type: ignore[method-assign]

    reply = await members.bus.send(CALLS, offer(tenant, call_id))

    # The retry found the batch already in the log: the same events, once, and the same outcome.
    events = await events_of(kafka_bootstrap, tenant, call_id, at_least=3)
    assert [e.event_type for e in events] == OFFER_EVENTS
    assert reply.aggregate_version == 3 and list(reply.event_ids) == [e.event_id for e in events]
    assert owner.entries[(tenant, call_id)].version == 3 and owner.status == PartitionOwner.SERVING


async def test_a_long_replay_does_not_hold_up_the_group(
    members: Members, monkeypatch: pytest.MonkeyPatch
) -> None:
    slow = asyncio.Event()
    slow.set()
    real_load = PartitionOwner._load

    async def load(owner: PartitionOwner[Any, Any]) -> None:
        while slow.is_set():  # a replay far longer than the group's 10 s rebalance timeout
            await asyncio.sleep(0.1)
        await real_load(owner)

    monkeypatch.setattr(PartitionOwner, "_load", load)
    first = members.start()
    await until(lambda: len(first.owners) == PlatformSettings().cc_partitions)

    second = members.start()  # joins while the first is still replaying: the group rebalances at once
    await until(lambda: bool(second.owners) and bool(first.owners), timeout=8)
    slow.clear()

    await asyncio.wait_for(first.assigned.wait(), 30)
    await asyncio.wait_for(second.assigned.wait(), 30)
    assert sorted([*first.owners, *second.owners]) == list(range(PlatformSettings().cc_partitions))
