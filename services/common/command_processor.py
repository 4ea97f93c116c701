"""The single writers of a service's aggregate types (ARCHITECTURE: event sourcing on Kafka).

For each aggregate type, whoever owns partition p of `<context>.<aggregate>.commands.v1` is the only
writer of the aggregates keyed to p, through a `PartitionOwner`. A `CommandProcessor` holds the owners
of one aggregate type; a `CommandGroup` is the consumer-group member of a whole service: one consumer
reads every commands topic of the service and hands each partition's commands to its owner, and it
follows the group's rebalances. One group per service, rather than one per aggregate type: every
member of a group costs the broker heartbeats, fetches and commits whether commands come or not, and a
service writes up to five aggregate types (ticketing: tickets, customers, templates, numbers, groups).

Ownership does not depend on the group's name: an owner's transactional id is its aggregate's
(`<context>.<aggregate>.command-processor.<p>`), and the position it resumes from travels in its
outcomes log, so a service's aggregate types can be regrouped without losing or repeating a command.

A rebalance only starts or stops owners; loading (snapshots, then the events after them) happens in
the owner's own task while its partition is paused, so a long replay never holds up the group's
rebalance and the member is never evicted for it. A revocation waits for the batch in hand, so no batch
straddles a hand-over. An owner whose producer was fenced has lost its partition to another member:
this member then leaves and rejoins the group, so it never keeps a partition it cannot write.
"""

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any, Generic

from aiokafka import AIOKafkaProducer, ConsumerRecord, TopicPartition
from cc.common.v1 import types_pb2

from services.common import kafka
from services.common.aggregate import AggregateSpec, C, S
from services.common.command_bus import CommandBus
from services.common.librdkafka_consumers import GroupMember
from services.common.partition_owner import PartitionOwner
from services.common.settings import PlatformSettings

log = logging.getLogger(__name__)
GROUP_COMMIT_SECONDS = 2.0


class CommandProcessor(Generic[S, C]):
    """The owners of one aggregate type's partitions held by this member."""

    def __init__(
        self,
        spec: AggregateSpec[S, C],
        settings: PlatformSettings,
        producer: AIOKafkaProducer,
        bus: CommandBus | None = None,
    ) -> None:
        self.spec = spec
        self._settings = settings
        self._producer = producer  # replies and dead letters, outside any transaction
        self._bus = bus  # replies to RPCs waiting in this process skip the replies topic
        # The prefix of its owners' transactional ids, and its group's name when it runs alone.
        self.name = f"{spec.context}.{spec.aggregate_type}.command-processor"
        self.owners: dict[int, PartitionOwner[S, C]] = {}
        # Set once the partitions of the latest assignment are all loaded (cleared by a rebalance).
        self.assigned = asyncio.Event()
        self._loaded_once = asyncio.Event()
        self._announcing: asyncio.Future[None] | None = None
        self._logged_transactions = 0

    def serving(self) -> bool:
        """Able to do its job: its first assignment is loaded and no partition it owns failed to load.
        A partition moving in a rebalance does not count: its commands wait in Kafka for the new owner."""
        return self._loaded_once.is_set() and not any(
            owner.status == owner.FAILED for owner in self.owners.values()
        )

    async def run(self) -> None:
        """Serve this aggregate type alone, in a consumer group of its own."""
        await CommandGroup(self.name, [self], self._settings).run()

    def offer(self, partition: int, records: list[ConsumerRecord]) -> None:
        owner = self.owners.get(partition)
        if owner is not None:  # else revoked meanwhile: the new owner resumes from the commit
            owner.offer(records)

    def positions(self) -> dict[TopicPartition, int]:
        """Where each serving owner stands: the first command it has not decided."""
        return {
            owner.tp: owner.next_command
            for owner in self.owners.values()
            if owner.status == owner.SERVING and owner.next_command is not None
        }

    def log_batching(self) -> None:
        """How many commands shared a transaction since the last time, for operators and benchmarks."""
        commands = sum(owner.commands for owner in self.owners.values())
        transactions = sum(owner.transactions for owner in self.owners.values())
        if transactions != self._logged_transactions:
            log.info("%s: %d commands in %d transactions so far", self.name, commands, transactions)
            self._logged_transactions = transactions

    async def revoke(self, partitions: list[int]) -> None:
        self.assigned.clear()
        await self.stop_owners(partitions)

    def assign(self, partitions: list[int], consumer: GroupMember, on_lost: Callable[[], None]) -> None:
        for partition in partitions:
            if partition in self.owners:
                continue
            tp = TopicPartition(self.spec.topics.commands, partition)
            consumer.pause(tp)  # until its owner has loaded it
            owner = PartitionOwner(
                self.spec, tp, self.name, self._settings, self._producer, consumer, self._deliver
            )
            self.owners[partition] = owner
            owner.start(on_lost=lambda _: on_lost())
        self._announcing = asyncio.ensure_future(self._announce_when_loaded(list(self.owners.values())))

    async def _announce_when_loaded(self, owners: list[PartitionOwner[S, C]]) -> None:
        while any(owner.status != owner.SERVING for owner in owners):
            if any(owner.status == owner.STOPPED for owner in owners):
                return  # superseded by another rebalance
            await asyncio.sleep(0.05)
        if all(self.owners.get(owner.partition) is owner for owner in owners):
            log.info("%s: serving partitions %s", self.name, sorted(self.owners))
            self.assigned.set()
            self._loaded_once.set()

    async def stop_owners(self, partitions: list[int]) -> None:
        owners = [self.owners.pop(p) for p in partitions if p in self.owners]
        await asyncio.gather(*(owner.stop() for owner in owners))

    def _deliver(self, reply: types_pb2.CommandReply) -> bool:
        return self._bus is not None and self._bus.deliver(reply)


class CommandGroup:
    """A service's member of its command processors' consumer group: one consumer for the commands
    topics of all its aggregate types."""

    def __init__(
        self, name: str, processors: Sequence[CommandProcessor[Any, Any]], settings: PlatformSettings
    ) -> None:
        self.name = name
        self._settings = settings
        self._by_topic = {processor.spec.topics.commands: processor for processor in processors}
        self._consumer: GroupMember | None = None
        self._rejoin = asyncio.Event()

    async def run(self) -> None:
        consumer = self._consumer = GroupMember(self._settings.kafka_bootstrap_servers, self.name)
        await consumer.subscribe(list(self._by_topic), self)
        committed_at = time.monotonic()
        try:
            while True:
                batches = await consumer.getmany(100, self._settings.cc_command_batch_max_commands)
                for tp, records in batches.items():
                    self._by_topic[tp.topic].offer(tp.partition, records)
                if self._rejoin.is_set():
                    await self._leave_and_rejoin(consumer)
                if time.monotonic() - committed_at > GROUP_COMMIT_SECONDS:
                    committed_at = time.monotonic()
                    await self._commit_group_offsets(consumer)
                    for processor in self._by_topic.values():
                        processor.log_batching()
        finally:
            try:
                await self._stop_owners()
            finally:
                try:
                    await consumer.close()
                finally:
                    # A rebalance that finished while the owners stopped assigned new ones: left
                    # running, they would keep loading and starting writers, fencing the next owners.
                    await self._stop_owners()

    async def _commit_group_offsets(self, consumer: GroupMember) -> None:
        """The owners' positions as the group's offsets: for lag monitoring, and where a new owner starts
        on a partition that never committed a batch. Never ahead of what was committed."""
        offsets = {tp: offset for p in self._by_topic.values() for tp, offset in p.positions().items()}
        if offsets:  # not committed (a rebalance, the broker away): the next round commits them
            await kafka.commit_offsets(consumer, offsets, self.name)

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        await asyncio.gather(
            *(
                processor.revoke([tp.partition for tp in revoked if tp.topic == topic])
                for topic, processor in self._by_topic.items()
            )
        )

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        assert self._consumer is not None
        for topic, processor in self._by_topic.items():
            processor.assign(
                [tp.partition for tp in assigned if tp.topic == topic], self._consumer, self._lost
            )

    def _lost(self) -> None:
        self._rejoin.set()

    async def _leave_and_rejoin(self, consumer: GroupMember) -> None:
        """Give up every partition and join again, so the group hands the fenced one to a live member."""
        log.warning("%s: a partition was taken over; leaving and rejoining the group", self.name)
        for processor in self._by_topic.values():
            processor.assigned.clear()
        await self._stop_owners()
        await consumer.rejoin()
        self._rejoin.clear()

    async def _stop_owners(self) -> None:
        await asyncio.gather(*(p.stop_owners(list(p.owners)) for p in self._by_topic.values()))
