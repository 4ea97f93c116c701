"""The ClickHouse schema of the analytics service, applied at start. Every statement is idempotent
(IF NOT EXISTS), so applying it to an existing database changes nothing; a later column is added with
its own `ALTER TABLE ... ADD COLUMN IF NOT EXISTS` appended to MIGRATIONS, never by editing the table.

One wide table holds every event of every topic, read by the statistics by tenant and event type.
Kafka delivers at least once, so the same event can be inserted twice (a crash between insert and
offset commit replays the batch). ReplacingMergeTree keyed by (tenant_id, event_id) collapses such
copies when parts merge, and every query collapses them at read time too, before any merge (FINAL, or
LIMIT 1 BY event_id where FINAL costs more: the journey and the exports): answers are exactly-once.

The journey (AN-1) reads by customer, which an event-id order cannot serve: at 10M events a lookup
through a bloom filter on customer_id read most granules (p95 0.8 s). So a materialized view copies
every event that has a customer into cc.journey, ordered by (tenant, customer, time): a lookup reads
one key range. The view fires on every insert into cc.events, so the sink still writes one table,
and a replayed batch gives cc.journey the same copies, which its own ReplacingMergeTree (keyed by
the whole sort key, which an event's copies share) and the journey's LIMIT 1 BY collapse likewise.
The table also holds the contact each event belongs to (a call's and a routed contact's id, a
ticket's call at its opening), so a contact's and a ticket's journey are filters inside their
customer's key range.

There is deliberately no ENGINE=Kafka table: the sink is a plain consumer group, which works on a
ClickHouse server and on chDB alike (a Kafka engine table corrupts a chDB path).
"""

import re

DATABASE = "cc"
EVENTS_TABLE = f"{DATABASE}.events"

# The payload fields the statistics read, each in a column `payload_<name>` filled from whichever payload
# has a field of that name and a type of that kind (a string or an enum's value name for String, an
# integer for Int64), NULL when the payload does not carry it: exactly when its JSON would leave the
# field out (a default value, an unset optional), so `IS NOT NULL` is the JSON's "has". Rows stored
# before these columns existed compute them from their payload_json (the columns' DEFAULT).
PAYLOAD_FIELDS: tuple[tuple[str, str], ...] = (
    ("callback_attempt", "Int64"),
    ("consulted", "Bool"),
    ("hold_seconds", "Float64"),
    ("site_id", "String"),
    ("line_id", "String"),
    ("call_id", "String"),
    ("customer_id", "String"),
    ("channel", "String"),
    ("category", "String"),
    ("kind", "String"),
    ("claim", "String"),
    ("subject", "String"),
    ("priority", "String"),
    ("status", "String"),
    ("from_status", "String"),
    ("to_status", "String"),
    ("assignee_agent_id", "String"),
    ("to_agent_id", "String"),
    ("group_id", "String"),
    ("to_group_id", "String"),
    ("automatic", "Bool"),
    ("score", "Int64"),
)


def _from_json(name: str, kind: str) -> str:
    """The column's value in a row stored with its payload as JSON only (NULL where the JSON has no such
    field, or one of another kind)."""
    if kind == "String":
        text = f"JSONExtractString(payload_json, '{name}')"
        return f"if(JSONType(payload_json, '{name}') = 'String', {text}, NULL)"
    return f"JSONExtract(payload_json, '{name}', 'Nullable({kind})')"


# Which payload the event carries (the name of its field in Event's oneof, '' for none or one newer than
# the build that stored it) and that payload's protobuf bytes: a journey or an export renders the JSON
# when it is read, so the sink makes none (issue P2: it was a fifth of the sink's time). Then
# PAYLOAD_FIELDS. All added to a table made before them (MIGRATIONS).
_PAYLOAD_COLUMNS: tuple[tuple[str, str], ...] = (
    ("payload_case", "LowCardinality(String) DEFAULT ''"),
    ("payload", "String DEFAULT ''"),
    *(
        (f"payload_{name}", f"Nullable({kind}) DEFAULT {_from_json(name, kind)}")
        for name, kind in PAYLOAD_FIELDS
    ),
)

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
    # The payload as stored before PAYLOAD_FIELDS (the proto3 JSON mapping); '' in rows stored since,
    # which keep the payload's protobuf bytes instead (rows.payload_json renders either).
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
    *_PAYLOAD_COLUMNS,
)

_COLUMNS_SQL = ",\n    ".join(f"{name} {kind}" for name, kind in COLUMNS)

MIGRATIONS: tuple[str, ...] = (
    f"CREATE DATABASE IF NOT EXISTS {DATABASE}",
    f"""
CREATE TABLE IF NOT EXISTS {EVENTS_TABLE} (
    {_COLUMNS_SQL}
)
ENGINE = ReplacingMergeTree
-- occurred_at never changes for an event_id, so the copies of an event always share a partition
-- (ReplacingMergeTree collapses rows only within one partition, and FINAL reads rely on it).
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (tenant_id, event_id)
""",
    # The journey's bloom filter of earlier versions: cc.journey serves that read now.
    f"ALTER TABLE {EVENTS_TABLE} DROP INDEX IF EXISTS customer_idx",
    # The payload's bytes and the statistics' payload columns, in a table made before them.
    f"ALTER TABLE {EVENTS_TABLE} "
    + ", ".join(f"ADD COLUMN IF NOT EXISTS {name} {kind}" for name, kind in _PAYLOAD_COLUMNS),
)

JOURNEY_TABLE = f"{DATABASE}.journey"
# The view of each version of cc.journey's columns: a start makes its own and then drops the older one,
# so no insert in between misses both (one caught by both is a copy, collapsed like any other).
JOURNEY_VIEW = f"{DATABASE}.journey_view_2"
_OLDER_JOURNEY_VIEWS = (f"{DATABASE}.journey_view",)
# cc.journey's columns beyond the sort key are the ones a journey answers with.
JOURNEY_COLUMNS = (
    "tenant_id, customer_id, occurred_at, aggregate_version, event_id, event_type, aggregate_type, "
    "aggregate_id, contact_id, correlation_id, actor_type, actor_id, payload_json, payload_case, payload"
)
# The contact an event belongs to: a call's own id (a routed contact has its call's id), else the
# contact its payload names, or the call a ticket records (only its opening event names it).
_JOURNEY_SELECT = f"""
SELECT tenant_id, customer_id, occurred_at, aggregate_version, event_id, event_type, aggregate_type,
    aggregate_id,
    multiIf(
        aggregate_type IN ('call', 'contact'), aggregate_id,
        event_type = 'ticketing.ticket.opened', ifNull(payload_call_id, ''),
        contact_id
    ) AS contact_id,
    correlation_id, actor_type, actor_id, payload_json, payload_case, payload
FROM {EVENTS_TABLE}
WHERE customer_id != ''
"""
JOURNEY_MIGRATIONS: tuple[str, ...] = (
    f"""
CREATE TABLE IF NOT EXISTS {JOURNEY_TABLE} (
    tenant_id LowCardinality(String),
    customer_id String,
    occurred_at DateTime64(6, 'UTC'),
    aggregate_version Int64,
    event_id String,
    event_type LowCardinality(String),
    aggregate_type LowCardinality(String),
    aggregate_id String,
    contact_id String,
    correlation_id String,
    actor_type LowCardinality(String),
    actor_id String,
    payload_json String,
    -- A contact's or a ticket's journey first finds its customer by these.
    INDEX aggregate_idx aggregate_id TYPE bloom_filter GRANULARITY 1,
    INDEX contact_idx contact_id TYPE bloom_filter GRANULARITY 1
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (tenant_id, customer_id, occurred_at, aggregate_version, event_id)
""",
    f"ALTER TABLE {JOURNEY_TABLE} ADD COLUMN IF NOT EXISTS payload_case LowCardinality(String) DEFAULT '', "
    "ADD COLUMN IF NOT EXISTS payload String DEFAULT ''",
    f"CREATE MATERIALIZED VIEW IF NOT EXISTS {JOURNEY_VIEW} TO {JOURNEY_TABLE} AS {_JOURNEY_SELECT}",
    *(f"DROP VIEW IF EXISTS {older}" for older in _OLDER_JOURNEY_VIEWS),
)
# Fills cc.journey from the events stored before it existed. Run after the view is in place, so no
# insert falls between the two; a row both copy is collapsed like any other copy. Only a finished
# backfill creates its marker table, so a start that stopped half way (or a second replica starting
# meanwhile) backfills again rather than leaving older events out of every journey.
JOURNEY_BACKFILL = f"INSERT INTO {JOURNEY_TABLE} ({JOURNEY_COLUMNS}) {_JOURNEY_SELECT}"
JOURNEY_BACKFILL_MARKER = f"{DATABASE}.journey_backfilled"
JOURNEY_BACKFILLED = f"EXISTS TABLE {JOURNEY_BACKFILL_MARKER}"
JOURNEY_BACKFILL_DONE = f"CREATE TABLE IF NOT EXISTS {JOURNEY_BACKFILL_MARKER} (done UInt8) ENGINE = TinyLog"

# Where analytics runs on a ClickHouse cluster (CLICKHOUSE_CLUSTER names it, as the server's remote_servers
# do; deploy/k8s's ClickHouseInstallation), every table above is two: `<name>_local`, a replicated table on
# each shard (ReplicatedReplacingMergeTree, its replicas kept in step through ClickHouse Keeper), and
# `<name>` itself, a Distributed table over them, which the sink inserts into and the queries read, so
# nothing else changes. Rows go to a shard by their event id: the copies of an event that a replayed batch
# inserts land on one shard, where ReplacingMergeTree and FINAL collapse them as on one server, so answers
# stay exactly-once. The statements are the single server's, rewritten; one this does not know is refused,
# so a migration added later cannot reach a cluster in its single-server form.
SHARDING_KEY = "cityHash64(event_id)"
_CREATE_TABLE = re.compile(r"^\s*CREATE TABLE IF NOT EXISTS (cc\.\w+) \((.*)\)\s*ENGINE = (\w+)(.*)$", re.S)
_CREATE_VIEW = re.compile(r"^\s*CREATE MATERIALIZED VIEW IF NOT EXISTS (cc\.\w+) TO (cc\.\w+) AS(.*)$", re.S)
_ALTER_TABLE = re.compile(r"^\s*ALTER TABLE (cc\.\w+) (.*)$", re.S)
_SIMPLE = re.compile(r"^\s*(CREATE DATABASE IF NOT EXISTS \w+|DROP VIEW IF EXISTS cc\.\w+)\s*$")
# The tables with a local and a distributed part: those that hold events.
_SHARDED = (EVENTS_TABLE, JOURNEY_TABLE)


def clustered(statements: tuple[str, ...], cluster: str) -> tuple[str, ...]:
    """The statements for `cluster`; for none (one server, chDB), the statements as they are."""
    if not cluster:
        return statements
    on = f"ON CLUSTER '{cluster}'"
    out: list[str] = []
    for statement in statements:
        if simple := _SIMPLE.match(statement):
            out.append(f"{simple.group(1)} {on}")
        elif table := _CREATE_TABLE.match(statement):
            name, columns, engine, rest = table.groups()
            if name not in _SHARDED:
                out.append(f"CREATE TABLE IF NOT EXISTS {name} {on} ({columns}) ENGINE = {engine}{rest}")
                continue
            local = f"{name}_local"
            out.append(
                f"CREATE TABLE IF NOT EXISTS {local} {on} ({columns}) ENGINE = Replicated{engine}{rest}"
            )
            database, table_name = local.split(".")
            out.append(
                f"CREATE TABLE IF NOT EXISTS {name} {on} AS {local} "
                f"ENGINE = Distributed('{cluster}', {database}, {table_name}, {SHARDING_KEY})"
            )
        elif view := _CREATE_VIEW.match(statement):
            name, target, select = view.groups()
            source = f"FROM {EVENTS_TABLE}\n"
            if target in _SHARDED and source in select:
                # One shard's events feed that shard's journey: the copies of an event stay together.
                target, select = f"{target}_local", select.replace(source, f"FROM {EVENTS_TABLE}_local\n")
            out.append(f"CREATE MATERIALIZED VIEW IF NOT EXISTS {name} {on} TO {target} AS{select}")
        elif alter := _ALTER_TABLE.match(statement):
            name, change = alter.groups()
            if name not in _SHARDED:
                out.append(f"ALTER TABLE {name} {on} {change}")
                continue
            out.append(f"ALTER TABLE {name}_local {on} {change}")
            if "COLUMN" in change:  # the Distributed table shows the columns; indexes are the local table's
                out.append(f"ALTER TABLE {name} {on} {change}")
        elif statement.startswith(("INSERT INTO", "EXISTS TABLE")):
            out.append(statement)  # through the Distributed tables, like the sink's inserts
        else:
            raise ValueError(f"no cluster form for: {statement.strip()[:80]}")
    return tuple(out)
