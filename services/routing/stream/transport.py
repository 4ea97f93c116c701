"""The Kafka transport of the routing stream worker: Faust's aiokafka driver, reading committed
records only and writing with an idempotent producer.

faust-streaming 0.15.3 reads `read_committed` only under `processing_guarantee="exactly_once"`
(`AIOKafkaConsumerThread._create_worker_consumer`), which did not work here (see the README). Under
`at_least_once` its consumer reads uncommitted records, so the events of an aborted command
transaction would reach the board. The worker's consumer is therefore created as Faust creates it
and then set to `read_committed` before it starts: aiokafka reads the isolation level only when
`start()` builds its fetcher. The changelog is read by the same consumer; its records are not
transactional, so they are all committed.

The board's changelog writes rely on the records of one partition being stored in order and
without gaps (see `services.routing.board`), which is what an idempotent producer guarantees when a
batch is retried; Faust enables idempotence only for exactly_once.
"""

from collections.abc import Mapping
from typing import Any, ClassVar

from aiokafka import AIOKafkaConsumer
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
