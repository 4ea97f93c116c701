"""The Kafka rights table: every process has one; every aggregate is written by exactly one process,
the one of its context (the gateway's API keys by the key service); analytics reads every event stream
it stores; a reader may send a bad record to that topic's dead letters and nowhere else of another's;
and a process's KafkaUser carries exactly its rules."""

from services.common.kafka_access import ACCESS, kafka_user, rules
from services.common.topics import AGGREGATES, API_KEYS, CALLS, EVENT_TOPICS, TICKETS, dlq
from services.platform import SERVICES


def test_every_process_has_its_rights() -> None:
    assert set(ACCESS) == {name for name, _, _ in SERVICES}


def test_every_aggregate_is_written_by_the_process_of_its_context_alone() -> None:
    owners = {
        aggregate: [name for name, a in ACCESS.items() if aggregate in a.owns] for aggregate in AGGREGATES
    }
    for aggregate, names in owners.items():
        expected = "keys" if aggregate == API_KEYS else aggregate.context
        assert names == [expected], aggregate


def test_analytics_reads_every_event_stream_and_writes_only_their_dead_letters() -> None:
    analytics = rules(ACCESS["analytics"])
    read = {r.name for r in analytics if r.resource == "topic" and "Read" in r.operations}
    written = {r.name for r in analytics if r.resource == "topic" and "Write" in r.operations}
    assert set(EVENT_TOPICS) <= read
    assert written == {dlq(topic) for topic in read}
    assert not any(r.prefix for r in analytics if r.resource == "topic")


def test_telephony_owns_its_topics_and_transactional_ids_by_prefix_and_reads_others_by_name() -> None:
    telephony = rules(ACCESS["telephony"])
    owned = {(r.resource, r.name) for r in telephony if r.prefix and "Write" in r.operations}
    assert ("topic", "telephony.call.") in owned and ("transactionalId", "telephony.call.") in owned
    assert all(name.startswith("telephony.") for _, name in owned)
    others = [r.name for r in telephony if r.name.startswith("ticketing.") and "Write" in r.operations]
    assert others and all(name.endswith(".dlq") for name in others)  # a bad record of theirs, set aside
    assert CALLS.commands.startswith("telephony.call.") and not TICKETS.events.startswith("telephony.")


def test_a_kafka_user_carries_the_process_s_rules() -> None:
    user = kafka_user("analytics", ACCESS["analytics"], "cc")
    assert user["metadata"] == {"name": "analytics", "labels": {"strimzi.io/cluster": "cc"}}
    assert user["spec"]["authentication"] == {"type": "tls"}
    acls = user["spec"]["authorization"]["acls"]
    assert len(acls) == len(rules(ACCESS["analytics"]))
    assert {"resource": {"type": "cluster"}, "operations": ["IdempotentWrite"]} in acls
    assert {
        "resource": {"type": "topic", "name": CALLS.events, "patternType": "literal"},
        "operations": ["Read", "Describe"],
    } in acls
