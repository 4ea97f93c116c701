"""The store on a ClickHouse server (CLICKHOUSE_DSN=http://...), wherever one can be reached: name it in
CLICKHOUSE_TEST_DSN (and its cluster in CLICKHOUSE_TEST_CLUSTER to use the cluster schema). The schema
applies, twice without harm; an event inserted twice (a replayed batch) is one event in a customer's
journey. Everything else runs on chDB in the other tests, through the same store and statements."""

import os
import uuid

import pytest
from cc.common.v1 import event_pb2
from google.protobuf.timestamp_pb2 import Timestamp

from services.analytics.rows import row_of
from services.analytics.store import AnalyticsStore

DSN = os.environ.get("CLICKHOUSE_TEST_DSN", "")
pytestmark = pytest.mark.skipif(
    not DSN.startswith(("http://", "https://")), reason="no ClickHouse server named in CLICKHOUSE_TEST_DSN"
)


async def test_the_store_on_a_server_answers_exactly_once() -> None:
    cluster = os.environ.get("CLICKHOUSE_TEST_CLUSTER", "")
    tenant, customer = f"server-{uuid.uuid4().hex[:8]}", "customer-1"
    events = [
        event_pb2.Event(
            event_id=f"{tenant}-{number}",
            event_type="telephony.call.offered",
            tenant_id=tenant,
            aggregate_type="call",
            aggregate_id="call-1",
            aggregate_version=number,
            occurred_at=Timestamp(seconds=1_790_000_000 + number),
            customer_id=customer,
        )
        for number in range(3)
    ]
    rows = [row_of(event, "telephony.call.events.v1", 0, offset) for offset, event in enumerate(events)]
    for _ in range(2):  # a second start applies the schema again: nothing changes
        store = AnalyticsStore(DSN, cluster)
        await store.open()
        try:
            await store.insert_events(rows)  # the second time: the batch a crash made the sink replay
            journey = await store.journey(tenant, customer, 100)
            # A contact's journey reads the journey inside a query of it: GLOBAL on two shards or more.
            owner = await store.contact_journey(tenant, "call-1", 100)
        finally:
            await store.close()
        assert [entry.event_id for entry in journey] == [event.event_id for event in events]
        assert owner is not None and owner[0] == customer
        assert [entry.event_id for entry in owner[1]] == [event.event_id for event in events]
