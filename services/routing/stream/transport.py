"""The Kafka transport of the routing stream worker: Faust's aiokafka driver, reading committed
records only and writing with an idempotent producer.

faust-streaming 0.15.3 reads `read_committed` only under `processing_guarantee="exactly_once"`
(`AIOKafkaConsumerThread._create_worker_consumer`), which did not work here (see the README). Under
`at_least_once` its consumer reads uncommitted records, so the events of an aborted command
transaction would reach the board. The worker's consumer is therefore created as Faust creates it
and then set to `read_committed` before it starts: aiokafka reads the isolation level only when
`start()` builds its fetcher. The changelog is read by the same consumer; its records are not
transactional, so they are all committed.

Faust pauses the stream during recovery and drops what it fetches meanwhile, then seeks every stream
partition back to its committed offset. aiokafka's `seek_to_committed` seeks only to an offset above
0, so a partition nobody has committed yet kept the position past the dropped records, and those
events were lost (on a first start with events already waiting). Such a partition is sought to its
beginning instead, which is what `auto_offset_reset="earliest"` promises.

The board's changelog writes rely on the records of one partition being stored in order and
without gaps (see `services.routing.board`), which is what an idempotent producer guarantees when a
batch is retried; Faust enables idempotence only for exactly_once.
"""

from collections.abc import Collection, Mapping
from typing import Any, ClassVar

from aiokafka import AIOKafkaConsumer, TopicPartition
from faust.transport.drivers import aiokafka as driver
from faust.types import TP

READ_COMMITTED = "read_committed"


class ReadCommittedConsumerThread(driver.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: driver.Transport) -> AIOKafkaConsumer:
        consumer = super()._create_worker_consumer(transport)
        # aiokafka==0.14.0 keeps it here until start(); tests/integration/test_routing_stream.py
        # shows an aborted transaction's event never reaching the board.
        consumer._isolation_level = READ_COMMITTED
        return consumer

    async def seek_to_committed(self) -> Mapping[TP, int]:
        changelogs = self.app.tables.changelog_topics
        return await self.call_thread(seek_to_committed_or_beginning, self._ensure_consumer(), changelogs)


async def seek_to_committed_or_beginning(
    consumer: AIOKafkaConsumer, skipped_topics: Collection[str]
) -> Mapping[TopicPartition, int | None]:
    """Seek every assigned partition to its committed offset, and one with none (or 0) to its beginning,
    except the partitions of `skipped_topics` (the tables' changelogs, which Faust positions itself)."""
    committed: Mapping[TopicPartition, int | None] = await consumer.seek_to_committed()
    uncommitted = [tp for tp, offset in committed.items() if not offset and tp.topic not in skipped_topics]
    if uncommitted:
        await consumer.seek_to_beginning(*uncommitted)
    return committed


class ReadCommittedConsumer(driver.Consumer):
    def _new_consumer_thread(self) -> driver.AIOKafkaConsumerThread:
        return ReadCommittedConsumerThread(self, loop=self.loop, beacon=self.beacon)

    async def _add_gap(self, tp: TP, offset_from: int, offset_to: int) -> None:
        """faust-streaming 0.15.3 records the gap before a record up to and including the record itself,
        which is then acknowledged too: its offset is in the acknowledged list twice, and the next commit
        stops at that duplicate. A transactional source has a gap (a commit marker) after every command
        batch, so the group's offsets advanced one batch per second per partition and trailed thousands
        of records behind what had been processed (faust-streaming issue #606). The gap is the offsets
        before the record, only."""
        await super()._add_gap(tp, offset_from, offset_to - 1)


class IdempotentProducer(driver.Producer):
    def _settings_extra(self) -> Mapping[str, Any]:
        return {"acks": "all", "enable_idempotence": True}


class RoutingTransport(driver.Transport):
    Consumer: ClassVar[type[driver.Consumer]] = ReadCommittedConsumer
    Producer: ClassVar[type[driver.Producer]] = IdempotentProducer
