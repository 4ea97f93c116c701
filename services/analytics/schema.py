"""The ClickHouse schema of the analytics service, applied at start. Every statement is idempotent
(IF NOT EXISTS), so applying it to an existing database changes nothing; a later column is added with
its own `ALTER TABLE ... ADD COLUMN IF NOT EXISTS` appended to MIGRATIONS, never by editing the table.

One wide table holds every event of every topic: the journey reads it by customer and the statistics
by tenant and event type. Kafka delivers at least once, so the same event can be inserted twice
(a crash between insert and offset commit replays the batch). ReplacingMergeTree keyed by
(tenant_id, event_id) collapses such copies when parts merge, and every query reads with FINAL so the
copies are collapsed at read time too, before any merge: answers are exactly-once.

There is deliberately no ENGINE=Kafka table: the sink is a plain consumer group, which works on a
ClickHouse server and on chDB alike (a Kafka engine table corrupts a chDB path).
"""

DATABASE = "cc"
EVENTS_TABLE = f"{DATABASE}.events"

# (name, type) in table order; the sink inserts every column but inserted_at.
COLUMNS: tuple[tuple[str, str], ...] = (
    ("event_id", "String"),
    ("event_type", "LowCardinality(String)"),
    ("event_version", "UInt32"),
    ("tenant_id", "LowCardinality(String)"),
    ("aggregate_type", "LowCardinality(String)"),
    ("aggregate_id", "String"),
    ("aggregate_version", "Int64"),
    ("occurred_at", "DateTime64(6, 'UTC')"),
    ("correlation_id", "String"),
    ("causation_id", "String"),
    ("customer_id", "String"),
    ("actor_type", "LowCardinality(String)"),
    ("actor_id", "String"),
    # The typed payload in the proto3 JSON mapping, field names as in the .proto files.
    ("payload_json", "String"),
    # Payload fields flattened for statistics, copied from whichever payload has a field of that name
    # and left empty otherwise; enums are stored by their value name, as in payload_json.
    ("queue_id", "String"),
    ("agent_id", "String"),
    ("contact_id", "String"),
    ("reason", "LowCardinality(String)"),
    ("abandoned", "Bool"),
    ("enqueued_at", "Nullable(DateTime64(6, 'UTC'))"),
    ("state", "LowCardinality(String)"),
    ("previous_state", "LowCardinality(String)"),
    # Where the row came from, to trace any answer back to a Kafka record.
    ("source_topic", "LowCardinality(String)"),
    ("source_partition", "UInt32"),
    ("source_offset", "Int64"),
    ("inserted_at", "DateTime64(6, 'UTC') DEFAULT now64(6)"),
)

_COLUMNS_SQL = ",\n    ".join(f"{name} {kind}" for name, kind in COLUMNS)

MIGRATIONS: tuple[str, ...] = (
    f"CREATE DATABASE IF NOT EXISTS {DATABASE}",
    f"""
CREATE TABLE IF NOT EXISTS {EVENTS_TABLE} (
    {_COLUMNS_SQL},
    -- The journey looks rows up by customer inside a tenant; the sort key is by event id.
    INDEX customer_idx customer_id TYPE bloom_filter GRANULARITY 4
)
ENGINE = ReplacingMergeTree
-- occurred_at never changes for an event_id, so the copies of an event always share a partition
-- (ReplacingMergeTree collapses rows only within one partition, and FINAL reads rely on it).
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (tenant_id, event_id)
""",
)
