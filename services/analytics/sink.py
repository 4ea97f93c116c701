"""The analytics sink: every event topic into cc.events, at least once.

A consumer group reads the event topics in batches (up to BATCH_RECORDS records, BATCH_BYTES or
BATCH_SECONDS, whichever comes first), inserts each batch with one ClickHouse insert and only then commits
the batch's offsets. ClickHouse makes the rows from the records' own bytes (see ingest). A crash between
the insert and the commit replays the batch into ClickHouse; the ReplacingMergeTree keyed by event id and
the FINAL reads make the answers exactly-once anyway.
A record that is not a readable event goes to `<topic>.dlq` and the sink goes on with the next one.
A failed insert stops the sink (and with it the process) before the commit, so nothing is skipped: the
restarted sink inserts the batch again.
With tracing on, each event stored is a span of its call's trace (stored_spans); with metrics on, the
sink measures its group's lag after a batch now and then (services/common/consumer_lag.py).
"""

import asyncio
import contextlib
import logging
from collections.abc import Sequence

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError

from services.analytics import ingest
from services.analytics.store import AnalyticsStore
from services.analytics.stored_spans import StoredSpans
from services.common import kafka
from services.common.consumer_lag import MeasuredLag
from services.common.topics import EVENT_TOPICS

log = logging.getLogger(__name__)
GROUP_ID = "analytics.sink"
# A backlog (a replay, a burst) is inserted 5,000 rows at a time: chDB costs about 40 us a row in
# inserts of 500 and 14 us in inserts of 5,000 (make bench-sink: 6,800 -> 10,500 events/s). Under light
# load a batch is whatever BATCH_SECONDS brought, so nothing waits longer for it.
BATCH_RECORDS = 5000
# And no more than this many bytes of records a batch, whatever their size (events run to 900 KiB).
BATCH_BYTES = 16 * 1024 * 1024
# An insert costs chDB about 100 ms of CPU however few its rows (through the Null table and its view into
# cc.events, and on into cc.journey; 7 rows or 35 alike), so under a steady trickle of calls the sink
# inserts once a second, not five times: the journey and statistics are at most a second later.
BATCH_SECONDS = 1.0
# A consumer that fetched nothing for this long while records wait for its group is replaced.
STALL_SECONDS = 30.0
# How long a stalled consumer's stop, or a check of the group's lag, may take.
STOP_SECONDS = 10.0


class EventSink:
    def __init__(
        self,
        store: AnalyticsStore,
        producer: AIOKafkaProducer,
        bootstrap_servers: str,
        group_id: str = GROUP_ID,
        topics: Sequence[str] = EVENT_TOPICS,
    ) -> None:
        self._store = store
        self._producer = producer
        self._bootstrap = bootstrap_servers
        self._group_id = group_id
        self._topics = list(topics)
        # Set once everything that was on the topics when the sink started is in ClickHouse (readiness).
        self.caught_up = asyncio.Event()
        self.sunk = 0
        self.dead_lettered = 0
        self._lag = MeasuredLag(group_id)

    async def run(self) -> None:
        """Sink for ever. A consumer that has stopped fetching while its partitions lag (seen once in
        five broker kills: after the broker came back, aiokafka's group consumer never fetched again)
        is replaced by a new one, which resumes from the group's last commit."""
        try:
            await self._sink_for_ever()
        finally:
            self._lag.close()

    async def _sink_for_ever(self) -> None:
        ends: dict[TopicPartition, int] | None = None
        while True:
            consumer = kafka.group_consumer(
                self._bootstrap, self._group_id, gather_ms=int(BATCH_SECONDS * 1000)
            )
            consumer.subscribe(self._topics)
            await consumer.start()
            try:
                if ends is None:
                    ends = await consumer.end_offsets(await kafka.partitions_of(consumer, self._topics))
                await self._consume(consumer, ends)
            finally:
                with contextlib.suppress(Exception, TimeoutError):
                    async with asyncio.timeout(STOP_SECONDS):
                        await consumer.stop()
            log.warning("analytics sink fetched nothing for %ss while behind: a new consumer", STALL_SECONDS)

    async def _consume(self, consumer: AIOKafkaConsumer, ends: dict[TopicPartition, int]) -> None:
        """Sink batches until the consumer stalls (nothing for STALL_SECONDS while records wait)."""
        loop = asyncio.get_running_loop()
        progressed = loop.time()
        while True:
            records, ends_of_batch = await self._next_batch(consumer)
            if records:
                await self._sink(records)
                await self._commit(consumer, ends_of_batch)
                progressed = loop.time()
            # read_committed: a partition read to its end stands at its last stable offset
            if self._lag.due():
                await self._lag.measure(consumer.assignment(), consumer.last_stable_offset, consumer.position)
            if not self.caught_up.is_set() and await self._reached(consumer, ends):
                log.info("analytics sink caught up: %d events stored", self.sunk)
                self.caught_up.set()
            if loop.time() - progressed > STALL_SECONDS:
                if await self._behind(consumer):
                    return
                progressed = loop.time()

    async def _behind(self, consumer: AIOKafkaConsumer) -> bool:
        """This member holds no partition, or records wait past its position on one it holds, as the broker
        answers now; False when the broker does not answer (then the consumer is not the one at fault)."""
        assigned = consumer.assignment()
        if not assigned:
            return True
        try:
            async with asyncio.timeout(STOP_SECONDS):
                ends = await consumer.end_offsets(list(assigned))
                for tp in assigned:
                    if await consumer.position(tp) < ends[tp]:
                        return True
        except (KafkaError, TimeoutError):
            return False
        return False

    async def _next_batch(
        self, consumer: AIOKafkaConsumer
    ) -> tuple[list[ConsumerRecord], dict[TopicPartition, int]]:
        """Gather records until the batch is full or BATCH_SECONDS have passed since the first call: the
        records, and the offset past each partition's last one (what the commit after the insert says)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + BATCH_SECONDS
        records: list[ConsumerRecord] = []
        ends: dict[TopicPartition, int] = {}
        size = 0
        while len(records) < BATCH_RECORDS and size < BATCH_BYTES:
            remaining_ms = int((deadline - loop.time()) * 1000)
            if remaining_ms <= 0:
                break
            wanted = BATCH_RECORDS - len(records)
            batches = await consumer.getmany(timeout_ms=remaining_ms, max_records=wanted)
            for tp, batch in batches.items():
                records.extend(batch)
                ends[tp] = batch[-1].offset + 1
                size += sum(len(record.value or b"") for record in batch)
        return records, ends

    async def _sink(self, records: list[ConsumerRecord]) -> None:
        """One insert of the batch's records, as ClickHouse takes them (see ingest)."""
        wrapped: list[bytes] = []
        with StoredSpans(self._group_id) as stored:
            for record in records:
                try:
                    event = ingest.readable(record.value)
                    wrapped.append(ingest.wrap(event, record.topic, record.partition, record.offset))
                except Exception as error:
                    # Not protobuf, no tenant, a timestamp no column or JSON can hold, or anything else that
                    # makes no row: park it with the reason, never loop on it.
                    await kafka.send_to_dlq(self._producer, record, f"{self._group_id}: {error!r}")
                    self.dead_lettered += 1
                    continue
                stored.add(record, event)
            await self._store.insert_records(b"".join(wrapped))
        self.sunk += len(wrapped)

    async def _commit(self, consumer: AIOKafkaConsumer, ends: dict[TopicPartition, int]) -> None:
        """Commit past the batch, for the partitions this member still owns. A rebalance during the batch
        moves a partition elsewhere; its new owner resumes from the last commit and re-inserts, harmlessly."""
        assigned = consumer.assignment()
        offsets = {tp: end for tp, end in ends.items() if tp in assigned}
        if offsets:
            await kafka.commit_offsets(consumer, offsets, "the analytics sink")  # else the batch is replayed

    @staticmethod
    async def _reached(consumer: AIOKafkaConsumer, ends: dict[TopicPartition, int]) -> bool:
        """Every partition this member owns is read up to where it ended when the sink started."""
        assigned = consumer.assignment()
        if not assigned:
            return False
        for tp in assigned:
            if await consumer.position(tp) < ends.get(tp, 0):
                return False
        return True
