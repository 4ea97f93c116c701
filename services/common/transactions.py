"""A partition owner's transactional producer, on librdkafka (confluent-kafka).

The command path writes one Kafka transaction per batch, so the client's cost per transaction is paid
by every command. `make bench-kafka-clients` measured librdkafka against aiokafka on the same broker:
a quarter to a third of the client CPU, and 30-45 % less broker CPU per transaction (aiokafka's
produce requests are refused for a moment by Kafka 4's transaction verification and retried). So the
owner's writer is librdkafka, behind the small asyncio interface the owner needs: begin, send (a future
of where the record landed), commit or abort.

librdkafka does its network work on its own threads, and hands back delivery reports when polled. A
poll thread per writer serves them and settles the records' futures on the event loop, one wake-up for
all the reports of a poll, not one per record. Calls that wait on the broker (init, commit, abort) run
on a pool of the writers' own, so that they never block the loop and a service's thirty writers
committing at once never wait on the loop's small default pool.

A fence (another producer took the transactional id) is remembered by the writer, however it showed:
raised by a call, reported on a record, or raised by a poll. librdkafka keeps the records of a fenced
producer until they time out, so the writer fails them at once.
"""

import asyncio
import logging
import threading
import time
import warnings
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from functools import partial
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from services.common import kafka_security

log = logging.getLogger(__name__)
# A call that waits on the broker (init, commit, abort) gives up after this long; the owner then loads
# the partition afresh with a new writer, which settles the transaction either way.
BROKER_CALL_SECONDS = 10.0
# How long the poll thread waits for a report before it looks at whether it should stop.
POLL_SECONDS = 0.2
# How long stop() waits for the producer to close. librdkafka's close aborts an open transaction with
# no deadline, so with the broker away it would hold a rebalance; it finishes on its own thread.
CLOSE_WAIT_SECONDS = 2.0
# The pause before asking a broker again to register the transactional id (see start()).
INIT_RETRY_SECONDS = 0.1
# A fenced producer reports one of these (after a fence, every call on it fails with _FATAL).
FENCED = frozenset(
    {KafkaError._FENCED, KafkaError.PRODUCER_FENCED, KafkaError.INVALID_PRODUCER_EPOCH, KafkaError._FATAL}
)
# The largest record (and produce request): aiokafka's default, which the owners' size bounds assume.
MAX_RECORD_BYTES = 1024 * 1024
_calls = ThreadPoolExecutor(max_workers=64, thread_name_prefix="transactional-writer")
# Closing a fenced writer, librdkafka's close tries to abort its transaction and warns that it cannot:
# the fence is already logged, and nothing is left to abort.
warnings.filterwarnings("ignore", "Producer abort_transaction failed during close", RuntimeWarning)


@dataclass(frozen=True)
class Delivered:
    """Where a record landed: what the owner's outcome ledger keeps."""

    offset: int
    timestamp: int  # ms since the epoch, as the producer stamped it


class WriteFailed(Exception):
    """The broker did not take a transactional write. `fenced`: the producer can never write again
    (another producer took its transactional id, or a fatal error), so its owner gives the partition up."""

    def __init__(self, error: KafkaError, doing: str) -> None:
        super().__init__(f"{doing}: {error.str()} ({error.name()})")
        self.fenced = error.code() in FENCED or error.fatal()
        self.retriable = error.retriable()


class TransactionalWriter:
    """One transactional id's producer: a second writer with the same id fences this one."""

    def __init__(self, bootstrap_servers: str, transactional_id: str) -> None:
        self._id = transactional_id
        self._producer = Producer(
            {
                "bootstrap.servers": bootstrap_servers,
                **kafka_security.librdkafka(),
                "client.id": transactional_id,
                "transactional.id": transactional_id,
                "enable.idempotence": True,
                "acks": "all",
                "linger.ms": 0,
                "message.max.bytes": MAX_RECORD_BYTES,
                # Right after a commit the coordinator answers CONCURRENT_TRANSACTIONS until its
                # markers are written (about a millisecond): retry soon, as the aiokafka writer did.
                "retry.backoff.ms": 2,
                "retry.backoff.max.ms": 100,
                # A broker that comes back is found within a second (chaos: recovery after a kill).
                "reconnect.backoff.max.ms": 1000,
                # A record waits this long for a broker that is away before its transaction fails and
                # the owner loads the partition afresh. As long as a command's own deadline: longer, and
                # a broker back after a kill found the partition still waiting on records librdkafka
                # never resent (chaos: recovery 7.9 s with 30 s, against 2.7 s with aiokafka).
                "message.timeout.ms": int(BROKER_CALL_SECONDS * 1000),
                "logger": logging.getLogger("librdkafka"),
            }
        )
        self.fenced = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._polling: threading.Thread | None = None
        self._stopping = threading.Event()
        self._settled: list[Callable[[], None]] = []
        self._settled_lock = threading.Lock()
        self._unsettled: set[asyncio.Future[Delivered]] = set()  # sent, not yet reported

    async def start(self) -> None:
        """Register the transactional id: fences any earlier producer with it and aborts its open
        transaction, so the partition's logs end where they will stay."""
        self._loop = asyncio.get_running_loop()
        self._polling = threading.Thread(target=self._poll, name=f"poll {self._id}", daemon=True)
        self._polling.start()
        # A broker back from a restart answers "coordinator load in progress" for a while: ask again
        # soon rather than fail the load, which the owner retries only after a growing pause.
        deadline = time.monotonic() + BROKER_CALL_SECONDS
        while True:
            try:
                await self._blocking("init_transactions", self._producer.init_transactions)
                return
            except WriteFailed as error:
                if not error.retriable or time.monotonic() > deadline:
                    raise
            await asyncio.sleep(INIT_RETRY_SECONDS)

    async def stop(self) -> None:
        """Close the producer, dropping what an unfinished transaction held. The close runs on a thread
        of its own, started before anything here can be cancelled: a writer left open would live on,
        and could later bump its epoch and fence the partition's next writer."""
        self._stopping.set()
        closed = threading.Event()
        threading.Thread(target=self._close, args=(closed,), name=f"close {self._id}", daemon=True).start()
        for _ in range(int(CLOSE_WAIT_SECONDS / 0.05)):
            if closed.is_set():
                return
            await asyncio.sleep(0.05)
        log.warning("%s: still closing (the broker is away); it goes on in the background", self._id)

    def _close(self, closed: threading.Event) -> None:
        try:
            if self._polling is not None:
                self._polling.join()
            self._producer.purge(in_queue=True, in_flight=True, blocking=False)
            self._serve_reports(0)  # the purged records' reports: their futures fail
            self._producer.close()
        except Exception:  # a fatal error raised by close's own flush: the producer is gone either way
            log.warning("%s: closed with an error", self._id, exc_info=True)
        finally:
            closed.set()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        """Commit what the block sent, or abort it when the block raises. A fence found on the way out
        is raised as such, whatever else went wrong first."""
        self._call("begin_transaction", self._producer.begin_transaction)
        try:
            yield
        except BaseException as error:
            if not self.fenced:  # a fenced producer cannot abort
                await self.abort_transaction()
            if self.fenced and not (isinstance(error, WriteFailed) and error.fenced):
                raise WriteFailed(KafkaError(KafkaError._FENCED), "writing") from error
            raise
        await self.commit_transaction()

    async def commit_transaction(self) -> None:
        await self._blocking("commit_transaction", self._producer.commit_transaction)

    async def abort_transaction(self) -> None:
        """Best effort: a writer whose abort fails is replaced, and its successor's start aborts it.
        A fence it finds is remembered (see transaction())."""
        try:
            await self._blocking("abort_transaction", self._producer.abort_transaction)
        except WriteFailed as error:
            log.warning("%s: abort failed (%s); the next writer settles it", self._id, error)

    async def send(
        self, topic: str, *, value: bytes | None, key: bytes, partition: int, headers: Any = None
    ) -> "asyncio.Future[Delivered]":
        """Queue a record in the open transaction; the future settles when the broker has it."""
        if self._loop is None:
            raise RuntimeError("the writer is not started")
        future: asyncio.Future[Delivered] = self._loop.create_future()
        produce = partial(
            self._producer.produce,
            topic,
            value,
            key,
            partition=partition,
            headers=headers or None,
            on_delivery=partial(self._report, future),
        )
        self._call("produce", produce)
        self._unsettled.add(future)
        future.add_done_callback(self._unsettled.discard)
        return future

    # -- librdkafka's threads --------------------------------------------------------------------------
    def _poll(self) -> None:
        while not self._stopping.is_set():
            self._serve_reports(POLL_SECONDS)

    def _serve_reports(self, timeout: float) -> None:
        try:
            self._producer.poll(timeout)
        except KafkaException as error:  # a fatal error (a fence) is raised by the poll that finds it
            self._failed(WriteFailed(error.args[0], "writing"))
        except Exception:  # never the poll thread's end: the owner would wait for its records for ever
            log.exception("%s: serving delivery reports failed", self._id)

    def _report(
        self, future: "asyncio.Future[Delivered]", error: KafkaError | None, message: Message
    ) -> None:
        """A delivery report, on whichever thread polled: settled on the loop with the others of its poll."""
        offset, (_, timestamp) = message.offset(), message.timestamp()
        if error is not None:
            failed = WriteFailed(error, f"delivering to {message.topic()}")
            self.fenced = self.fenced or failed.fenced
            settle = partial(_fail, future, failed)
        elif offset is None or offset < 0:
            # A retried produce the broker had already (DUPLICATE_SEQUENCE_NUMBER) reports no offset;
            # the outcome ledger needs one, so the batch is decided again after a reload instead.
            not_known = KafkaError(KafkaError._UNKNOWN_PARTITION, "delivered without an offset")
            settle = partial(_fail, future, WriteFailed(not_known, f"delivering to {message.topic()}"))
        else:
            settle = partial(_resolve, future, Delivered(offset, timestamp))
        self._on_loop(settle)

    def _failed(self, error: WriteFailed) -> None:
        """A fatal error ends the producer: fail every record still waiting for its report."""
        self.fenced = self.fenced or error.fenced
        self._on_loop(partial(self._fail_unsettled, error))

    def _fail_unsettled(self, error: WriteFailed) -> None:
        for future in list(self._unsettled):
            _fail(future, error)

    def _on_loop(self, settle: Callable[[], None]) -> None:
        with self._settled_lock:
            self._settled.append(settle)
            first = len(self._settled) == 1
        if first and self._loop is not None:
            with suppress(RuntimeError):  # a closed loop: nobody waits for the record any more
                self._loop.call_soon_threadsafe(self._settle)

    def _settle(self) -> None:
        with self._settled_lock:
            settled, self._settled = self._settled, []
        for settle in settled:
            settle()

    def _call(self, doing: str, call: Callable[[], Any]) -> None:
        try:
            call()
        except KafkaException as error:
            failed = WriteFailed(error.args[0], doing)
            self.fenced = self.fenced or failed.fenced
            raise failed from error
        except BufferError as error:  # librdkafka's queue is full: far beyond a batch's bound
            raise WriteFailed(KafkaError(KafkaError._QUEUE_FULL), doing) from error

    async def _blocking(self, doing: str, call: Callable[[float], None]) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(_calls, self._call, doing, partial(call, BROKER_CALL_SECONDS))


def _resolve(future: "asyncio.Future[Delivered]", delivered: Delivered) -> None:
    if not future.done():
        future.set_result(delivered)


def _fail(future: "asyncio.Future[Delivered]", error: WriteFailed) -> None:
    if not future.done():
        future.set_exception(error)
        # A failed record fails its transaction, which is what its owner acts on (a fence included: the
        # writer remembers it), so nobody need read each record's error: asyncio would log it as unread.
        future.exception()
