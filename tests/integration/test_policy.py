"""Policies on a real broker (issue 6): a record a policy cannot read, or cannot react to, is parked in
the dead-letter topic with its reason; the policy acts on the next one and commits past both."""

import asyncio

from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import TopicPartition
from cc.common.v1 import event_pb2
from cc.telephony.v1 import commands_pb2

from services.common import kafka
from services.common.command_bus import CommandBus, caused_by
from services.common.envelope import aggregate_key, new_id
from services.common.policy import Policy, PolicyGroup, Reaction
from services.common.settings import PlatformSettings
from services.common.topics import AggregateTopics, TopicSpec, dlq, ensure_topics
from tests.conftest import records_with_key


async def test_a_record_a_policy_cannot_react_to_is_parked_and_the_next_is_acted_on(
    kafka_bootstrap: str,
) -> None:
    suffix, source, target = await policy_topics(kafka_bootstrap, "policy")
    tenant, key = f"t-{suffix}", aggregate_key(f"t-{suffix}", "call-1")

    def react(event: event_pb2.Event) -> list[tuple[AggregateTopics, commands_pb2.CallCommand]]:
        if event.event_type == "test.poison":
            raise RuntimeError("a reaction bug")
        meta = caused_by(event.event_id, "offer", tenant, "call-2", event.correlation_id)
        offer = commands_pb2.OfferCall(ani="+8210", dnis="1588")
        return [(target, commands_pb2.CallCommand(meta=meta, offer_call=offer))]

    poison = event_pb2.Event(event_id=new_id(), tenant_id=tenant, event_type="test.poison")
    good = event_pb2.Event(event_id=new_id(), tenant_id=tenant, event_type="test.good")
    producer = kafka.idempotent_producer(kafka_bootstrap)
    await producer.start()
    name = f"test.policy-{suffix}"
    bus = CommandBus(kafka_bootstrap, producer, name, timeout_seconds=10)
    policy = Policy(name, [source], react, bus, producer, kafka_bootstrap)
    running = asyncio.create_task(policy.run())
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        for value in (b"\xff not an event", poison.SerializeToString(), good.SerializeToString()):
            await producer.send_and_wait(source, value=value, key=key)

        posted = await records_with_key(kafka_bootstrap, target.commands, aggregate_key(tenant, "call-2"), 1)
        command = commands_pb2.CallCommand.FromString(posted[0].value)
        assert command.meta.causation_id == good.event_id and len(posted) == 1
        parked = await records_with_key(kafka_bootstrap, dlq(source), key, 2)
        reasons = [dict(record.headers)["dlq-reason"].decode() for record in parked]
        assert [record.value for record in parked] == [b"\xff not an event", poison.SerializeToString()]
        assert reasons[0].startswith(f"{name}: DecodeError") and "a reaction bug" in reasons[1]

        async def committed() -> int:
            offsets = await admin.list_consumer_group_offsets(name)
            found = offsets.get(TopicPartition(source, 0))
            return found.offset if found is not None else -1

        async with asyncio.timeout(30):  # commits past all three: nothing is read again on restart
            while await committed() < 3:
                await asyncio.sleep(0.2)
        assert not running.done() and policy.dead_lettered == 2
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        await admin.close()
        await producer.stop()


async def test_a_policy_group_hands_each_event_to_every_policy_of_its_topic_from_where_their_groups_stood(
    kafka_bootstrap: str,
) -> None:
    """A service's policies share one group: each event reaches every policy that reads its topic, a
    reaction that fails parks the event under that policy's name only, and a group replacing the
    policies' own groups starts at the earliest offset they had committed (nothing before it again)."""
    suffix, source, target = await policy_topics(kafka_bootstrap, "policies")
    tenant, key = f"t-{suffix}", aggregate_key(f"t-{suffix}", "call-1")

    def reacting_as(who: str) -> Reaction:
        def react(event: event_pb2.Event) -> list[tuple[AggregateTopics, commands_pb2.CallCommand]]:
            if who == "picky" and event.event_type == "test.poison":
                raise RuntimeError("a reaction bug")
            meta = caused_by(event.event_id, who, tenant, "call-2", event.correlation_id)
            return [(target, commands_pb2.CallCommand(meta=meta, offer_call=commands_pb2.OfferCall(ani=who)))]

        return react

    events = [event_pb2.Event(event_id=new_id(), tenant_id=tenant, event_type=f"test.{n}") for n in range(3)]
    poison = event_pb2.Event(event_id=new_id(), tenant_id=tenant, event_type="test.poison")
    producer = kafka.idempotent_producer(kafka_bootstrap)
    await producer.start()
    names = {who: f"test.{who}-{suffix}" for who in ("eager", "picky")}
    for event in events[:2]:
        await producer.send_and_wait(source, value=event.SerializeToString(), key=key)
    # The policies' former groups had read two events and one; eager's reaction ran in a group of
    # another name later, which had read further than its own (its furthest counts).
    older = f"test.older-{suffix}"
    for group, offset in ((names["eager"], 0), (older, 2), (names["picky"], 1)):
        await commit(kafka_bootstrap, group, TopicPartition(source, 0), offset)
    bus = CommandBus(kafka_bootstrap, producer, f"test.policies-{suffix}", timeout_seconds=10)
    policies = [
        Policy(names["eager"], [source], reacting_as("eager"), bus, producer, kafka_bootstrap, [older]),
        Policy(names["picky"], [source], reacting_as("picky"), bus, producer, kafka_bootstrap),
    ]
    running = asyncio.create_task(
        PolicyGroup(f"test.group-{suffix}", policies, producer, kafka_bootstrap).run()
    )
    try:
        for event in (poison, events[2]):
            await producer.send_and_wait(source, value=event.SerializeToString(), key=key)
        # Events are handled in order: once the last event's two commands are there, so is all before.
        posted = await records_with_key(kafka_bootstrap, target.commands, aggregate_key(tenant, "call-2"), 5)
        reactions = set()
        for record in posted:
            command = commands_pb2.CallCommand.FromString(record.value)
            reactions.add((command.offer_call.ani, command.meta.causation_id))
        assert reactions == {
            (who, event.event_id)
            for who in names
            for event in (events[1], events[2], poison)
            if (who, event) != ("picky", poison)
        }
        [parked] = await records_with_key(kafka_bootstrap, dlq(source), key, 1)
        assert parked.value == poison.SerializeToString()
        assert dict(parked.headers)["dlq-reason"].decode().startswith(f"{names['picky']}: RuntimeError")
        assert [policy.dead_lettered for policy in policies] == [0, 1] and not running.done()

        # Restarted once it has committed its own offsets, the group starts where it stood itself,
        # whatever its policies' former groups say now: it reacts to nothing again.
        group = f"test.group-{suffix}"
        await committed_up_to(kafka_bootstrap, group, TopicPartition(source, 0), 4)
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        for former_group in (names["eager"], older, names["picky"]):
            await commit(kafka_bootstrap, former_group, TopicPartition(source, 0), 0)
        running = asyncio.create_task(PolicyGroup(group, policies, producer, kafka_bootstrap).run())
        last = event_pb2.Event(event_id=new_id(), tenant_id=tenant, event_type="test.last")
        await producer.send_and_wait(source, value=last.SerializeToString(), key=key)
        posted = await records_with_key(kafka_bootstrap, target.commands, aggregate_key(tenant, "call-2"), 7)
        after = {commands_pb2.CallCommand.FromString(r.value).meta.causation_id for r in posted[5:]}
        assert (len(posted), after) == (7, {last.event_id})
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        await producer.stop()


async def policy_topics(bootstrap: str, name: str) -> tuple[str, str, AggregateTopics]:
    """A fresh suffix, a source events topic (with its dead letters) and the commands topic reacted to."""
    suffix = new_id().replace("-", "")
    source, target = f"test.{name}-{suffix}.events.v1", AggregateTopics("test", f"{name}{suffix}")
    await ensure_topics(
        bootstrap,
        PlatformSettings().cc_partitions,
        extra={source: TopicSpec(1), dlq(source): TopicSpec(1), target.commands: TopicSpec(1)},
    )
    return suffix, source, target


async def commit(bootstrap: str, group: str, tp: TopicPartition, offset: int) -> None:
    committing = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await committing.start()
    committing.assign([tp])
    await committing.commit({tp: offset})
    await committing.stop()


async def committed_up_to(bootstrap: str, group: str, tp: TopicPartition, offset: int) -> None:
    """Wait (30 s at most) for the group to have committed `offset` on `tp`: it commits in rounds."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        async with asyncio.timeout(30):
            while (await admin.list_consumer_group_offsets(group)).get(
                tp, kafka.NOT_COMMITTED
            ).offset < offset:
                await asyncio.sleep(0.2)
    finally:
        await admin.close()
