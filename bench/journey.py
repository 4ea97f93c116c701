"""How fast a customer's journey is read at 10M stored events (AN-1), against a raw keyed lookup.

    make bench-journey           (BENCH_EVENTS=10000000, BENCH_LOOKUPS=200)

Fills a fresh chDB store through the analytics schema (cc.events, whose materialized view fills
cc.journey, as the sink's inserts do) with BENCH_EVENTS events of whole contacts: a call's offer,
queue, routing, ringing, answer and end, and the voice ticket opened on it with a note and two status
changes, about 50 events per customer, 90 % of them in one tenant, over three months. Then it reads
BENCH_LOOKUPS customers' journeys the way the analytics service does (AnalyticsStore.journey: one copy
of each event by LIMIT 1 BY, the tenant and the customer bound), and as the raw baseline the same rows
by the same key from a plain MergeTree table ordered by (tenant, customer, time) with no deduplication,
through the same client, alternating the two so that both see the same background merges. A contact's
and a ticket's journey are timed too. Prints percentiles in milliseconds, the journey's p95 against the
raw p95 (target: at most 1.5x), and the process's CPU-seconds (chDB runs inside it).
"""

import asyncio
import os
import random
import resource
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from bench.support import percentile, percentiles
from services.analytics import schema
from services.analytics.store import AnalyticsStore

EVENTS = int(os.environ.get("BENCH_EVENTS", "10000000"))
LOOKUPS = int(os.environ.get("BENCH_LOOKUPS", "200"))
EVENTS_PER_CONTACT = 10
CONTACTS_PER_CUSTOMER = 5
CHUNK = 1_000_000
RAW_TABLE = "cc.raw_journey"

# The n-th event of the whole fill, as SQL over numbers(): contact n / 10, its customer a hash of the
# contact, each contact starting at its own second of a three-month span, its events a few seconds apart.
_FILL = """
INSERT INTO {table} (event_id, event_type, event_version, tenant_id, aggregate_type,
    aggregate_id, aggregate_version, occurred_at, correlation_id, causation_id, customer_id, actor_type,
    actor_id, payload_json, queue_id, agent_id, contact_id, reason, abandoned, enqueued_at, state,
    previous_state, source_topic, source_partition, source_offset)
WITH
    intDiv(number, {per_contact}) AS contact,
    number % {per_contact} AS step,
    step >= 6 AS on_ticket,
    concat('call-', toString(contact)) AS call_id,
    ['telephony.call.offered', 'telephony.call.queued', 'routing.contact.routed', 'telephony.call.ringing',
     'telephony.call.answered', 'telephony.call.ended', 'ticketing.ticket.opened',
     'ticketing.ticket.note_added', 'ticketing.ticket.status_changed',
     'ticketing.ticket.status_changed'][step + 1] AS kind
SELECT
    toString(generateUUIDv7(number)), kind, 1, if(contact % 10 = 0, 'globex', 'acme'),
    multiIf(on_ticket, 'ticket', step = 2, 'contact', 'call'),
    if(on_ticket, concat('ticket-', toString(contact)), call_id),
    if(on_ticket, step - 5, step + 1),
    toDateTime64('2026-01-01 00:00:00', 6, 'UTC')
        + toIntervalSecond(intDiv(contact * 7776000, {contacts}) + step * 30),
    call_id, '', concat('customer-', toString(cityHash64(contact) % {customers})), 'agent',
    'agent-7',
    multiIf(
        step = 6, concat('{{"subject": "Voice call", "call_id": "', call_id, '", "queue_id": "member"}}'),
        step = 7, '{{"body": "The customer asked for a refund of the second payment of the month."}}',
        step >= 8, '{{"from_status": "TICKET_STATUS_OPEN", "to_status": "TICKET_STATUS_SOLVED"}}',
        concat('{{"call_id": "', call_id, '", "queue_id": "member", "ani": "+8210',
               toString(10000000 + contact % 90000000), '", "dnis": "1588-1234"}}')),
    'member', if(step >= 3, 'agent-7', ''), if(step = 2, call_id, ''), '', false, NULL, '', '',
    if(on_ticket, 'ticketing.ticket.v1', 'telephony.call.v1'), toUInt32(contact % 6), toInt64(number)
FROM numbers({start}, {count})
"""

_SELECTED = (
    "event_id, event_type, occurred_at, aggregate_type, aggregate_id, aggregate_version, correlation_id, "
    "actor_type, actor_id, payload_json"
)
_RAW_LOOKUP = f"""
SELECT {_SELECTED} FROM {RAW_TABLE}
WHERE tenant_id = {{tenant_id:String}} AND customer_id = {{customer_id:String}}
ORDER BY occurred_at, aggregate_version, event_id
LIMIT {{limit:UInt32}}
"""


async def fill(store: AnalyticsStore, total: int) -> None:
    contacts = max(1, total // EVENTS_PER_CONTACT)
    customers = max(1, contacts // CONTACTS_PER_CUSTOMER)
    started = time.perf_counter()
    for start in range(0, total, CHUNK):
        count = min(CHUNK, total - start)
        sql = _FILL.format(
            table=schema.EVENTS_TABLE,
            per_contact=EVENTS_PER_CONTACT,
            start=start,
            count=count,
            contacts=contacts,
            customers=customers,
        )
        await store._command(sql)
    elapsed = time.perf_counter() - started
    print(f"  stored {total:,} events (and their journey rows) in {elapsed:.0f} s = {total / elapsed:,.0f}/s")
    await store._command(
        f"CREATE TABLE {RAW_TABLE} ENGINE = MergeTree ORDER BY (tenant_id, customer_id, occurred_at) "
        f"AS SELECT * FROM {schema.JOURNEY_TABLE}"
    )


async def settled(store: AnalyticsStore, seconds: float = 300) -> None:
    """Wait (a while at most) for the background merges of the fill, which would skew either side."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        running = await store._query("SELECT count() FROM system.merges", {})
        if not running[0][0]:
            return
        await asyncio.sleep(1)


async def timed(lookup: Callable[[], Awaitable[Any]]) -> tuple[float, Any]:
    """Milliseconds the lookup took, and what it found."""
    started = time.perf_counter()
    found = await lookup()
    return 1000 * (time.perf_counter() - started), found


async def measure(store: AnalyticsStore) -> None:
    sample = await store._query(
        f"SELECT DISTINCT customer_id FROM {schema.JOURNEY_TABLE} WHERE tenant_id = 'acme' "
        f"ORDER BY cityHash64(customer_id) LIMIT {LOOKUPS}",
        {},
    )
    customers = [row[0] for row in sample]
    random.Random(7).shuffle(customers)
    journey: list[float] = []
    raw: list[float] = []
    rows = 0
    for n, customer in enumerate(customers * 2):
        parameters = {"tenant_id": "acme", "customer_id": customer, "limit": 1000}
        ours, found = await timed(lambda c=customer: store.journey("acme", c, 1000))  # type: ignore[misc]
        theirs, same = await timed(lambda p=parameters: store._query(_RAW_LOOKUP, p))  # type: ignore[misc]
        if [entry.event_id for entry in found] != [row[0] for row in same]:
            raise AssertionError(f"the journey and the raw lookup of {customer} differ")
        if n >= len(customers):  # the first round warms both up
            journey.append(ours)
            raw.append(theirs)
            rows += len(found)
    print(f"  {rows / len(journey):.0f} events per journey on average, the same rows on both sides")
    print(f"  journey by customer (ms)  {percentiles(journey)}")
    print(f"  raw keyed lookup (ms)     {percentiles(raw)}")
    ratio = percentile(sorted(journey), 0.95) / percentile(sorted(raw), 0.95)
    print(f"  journey p95 / raw p95 = {ratio:.2f}x (target: at most 1.5x)")
    contacts: list[float] = []
    tickets: list[float] = []
    every = max(1, EVENTS // EVENTS_PER_CONTACT // LOOKUPS)
    for n in range(1, EVENTS // EVENTS_PER_CONTACT, every):
        if n % 10 == 0:
            continue  # the other tenant's
        contacts.append((await timed(lambda n=n: store.contact_journey("acme", f"call-{n}", 1000)))[0])  # type: ignore[misc]
        tickets.append((await timed(lambda n=n: store.ticket_journey("acme", f"ticket-{n}", 1000)))[0])  # type: ignore[misc]
    print(f"  journey by contact (ms)   {percentiles(contacts)}")
    print(f"  journey by ticket (ms)    {percentiles(tickets)}")


async def run(where: Path) -> None:
    store = AnalyticsStore(f"chdb://{where}")
    await store.open()
    try:
        await fill(store, EVENTS)
        await settled(store)
        cpu = time.process_time()
        await measure(store)
        print(f"  CPU-seconds of the lookups (this process, chDB inside it): {time.process_time() - cpu:.1f}")
    finally:
        await store.close()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"  peak memory of the process: {peak:,.0f} MiB")


def main() -> None:
    print(f"journey at {EVENTS:,} events, {LOOKUPS} customers looked up")
    with tempfile.TemporaryDirectory(prefix="bench-journey-") as scratch:
        asyncio.run(run(Path(scratch) / "analytics"))


if __name__ == "__main__":
    main()
