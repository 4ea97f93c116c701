"""Analytics' schema on a ClickHouse cluster (CLICKHOUSE_CLUSTER): every statement the store applies has a
cluster form that ClickHouse's own parser (chDB's formatQuery) reads; the tables that hold events become
a replicated table per shard and a Distributed table over them, sharded by event id so that the copies of
an event meet on one shard (exactly-once reads); the journey's view feeds each shard's journey from that
shard's events; and with no cluster the statements are the single server's, unchanged.

No ClickHouse server can run here (no container engine; Debian's package is version 18), so the cluster
statements are parsed, not run: tests/integration/test_clickhouse_server.py runs the store on a server
wherever CLICKHOUSE_TEST_DSN names one."""

import re

import chdb
import pytest

from services.analytics import ingest, schema

STATEMENTS = (
    *schema.MIGRATIONS,
    *schema.JOURNEY_MIGRATIONS,
    *ingest.migrations(),
    schema.JOURNEY_BACKFILLED,
    schema.JOURNEY_BACKFILL,
    schema.JOURNEY_BACKFILL_DONE,
)


def parsed(statement: str) -> str:
    """ClickHouse's own reading of the statement, normalised (it raises on what it cannot parse)."""
    quoted = statement.replace("\\", "\\\\").replace("'", "\\'")
    return str(chdb.query(f"SELECT formatQuery('{quoted}')", "TSVRaw")).strip()


def test_without_a_cluster_the_statements_are_the_single_server_s() -> None:
    assert schema.clustered(STATEMENTS, "") == STATEMENTS


def test_every_cluster_statement_parses_and_runs_on_every_node() -> None:
    clustered = schema.clustered(STATEMENTS, "cc")
    for statement in clustered:
        text = parsed(statement)
        if not text.startswith(("INSERT", "EXISTS")):
            assert "ON CLUSTER cc" in text, text[:200]
    assert len(clustered) > len(STATEMENTS)  # tables and their columns are twice: local and distributed


def test_tables_of_events_are_replicated_per_shard_and_distributed_by_event_id() -> None:
    clustered = [parsed(statement) for statement in schema.clustered(STATEMENTS, "cc")]
    for table in (schema.EVENTS_TABLE, schema.JOURNEY_TABLE):
        local = next(s for s in clustered if s.startswith(f"CREATE TABLE IF NOT EXISTS {table}_local "))
        assert "ENGINE = ReplicatedReplacingMergeTree" in local
        distributed = next(s for s in clustered if s.startswith(f"CREATE TABLE IF NOT EXISTS {table} "))
        _, name = table.split(".")
        assert f"AS {table}_local" in distributed
        assert f"ENGINE = Distributed('cc', cc, {name}_local, cityHash64(event_id))" in distributed
    # A column added later reaches both parts; an index only the local table has.
    added = [s for s in clustered if "ADD COLUMN IF NOT EXISTS `payload_case`" in s]
    assert {s.split(" ON CLUSTER")[0] for s in added} == {
        f"ALTER TABLE {table}{part}"
        for table in (schema.EVENTS_TABLE, schema.JOURNEY_TABLE)
        for part in ("", "_local")
    }
    dropped = [s for s in clustered if "DROP INDEX" in s]
    assert dropped and all(s.startswith(f"ALTER TABLE {schema.EVENTS_TABLE}_local ") for s in dropped)


def test_each_shard_s_journey_comes_from_that_shard_s_events_and_the_sink_writes_through_the_cluster() -> (
    None
):
    clustered = [parsed(statement) for statement in schema.clustered(STATEMENTS, "cc")]
    journey_view = next(
        s for s in clustered if s.startswith(f"CREATE MATERIALIZED VIEW IF NOT EXISTS {schema.JOURNEY_VIEW}")
    )
    assert f"TO {schema.JOURNEY_TABLE}_local" in journey_view
    assert re.search(rf"FROM {schema.EVENTS_TABLE}_local\b", journey_view)
    ingest_view = next(
        s for s in clustered if s.startswith(f"CREATE MATERIALIZED VIEW IF NOT EXISTS {ingest.table()}_view")
    )
    assert re.search(
        rf"TO {schema.EVENTS_TABLE}\b(?!_)", ingest_view
    )  # the Distributed table shards the rows
    backfill = next(s for s in clustered if s.startswith("INSERT INTO"))
    assert (
        f"INSERT INTO {schema.JOURNEY_TABLE} (" in backfill
        and f"FROM {schema.EVENTS_TABLE}\n" in backfill + "\n"
    )


def test_a_statement_with_no_cluster_form_is_refused() -> None:
    with pytest.raises(ValueError, match="no cluster form"):
        schema.clustered(("TRUNCATE TABLE cc.events",), "cc")
