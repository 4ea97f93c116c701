"""What each process of the platform may do on Kafka: the one table the Strimzi KafkaUsers of deploy/k8s
(`make k8s-manifests`) and the test broker's ACLs (tests/e2e/platform.py) are both made from, so the
whole end-to-end suite runs with every process held to exactly these rights.

A process writes only its own topics: those of the aggregates it owns (their commands, events, replies,
outcomes, snapshots and dead letters, under the aggregate's prefix, where its transactional ids are too)
and the few streams it alone produces; it reads only what it consumes, each topic named; its consumer
groups are under its own prefix. Every process may see which topics exist and how they are configured
(Describe, DescribeConfigs on all): it checks at start that the catalogue is there (`ensure_topics`)
and creates none of them; on a cluster the topic operator does, from the KafkaTopics.

The table was first learned from the broker (deploy/local/kafka.sh's KAFKA_ACL_AUDIT logs every
decision), and is held to it since: a right missing here fails the end-to-end tests that need it.
"""

from dataclasses import dataclass
from typing import Any

from services.common.topics import (
    AGENT_PRESENCE,
    AGENTS,
    API_KEYS,
    CALLS,
    CAMPAIGNS,
    CONTACTS,
    CUSTOMERS,
    EVENT_TOPICS,
    LINES,
    LISTED_NUMBERS,
    QUEUE_METRICS,
    QUEUES,
    REPLY_TEMPLATES,
    ROUTING_DECISIONS,
    TICKET_GROUPS,
    TICKET_NUMBERS,
    TICKETS,
    AggregateTopics,
    dlq,
)

# A reader outside any group still needs a group id for librdkafka; it never joins nor commits it.
READER_GROUPS = "reader-"
# Who may read the API keys: every process that answers calls checks the caller's key.
KEYS = (API_KEYS.events, API_KEYS.snapshots)


@dataclass(frozen=True)
class Access:
    # The aggregates whose topics and transactional ids the process owns (prefix `<context>.<aggregate>.`).
    owns: tuple[AggregateTopics, ...] = ()
    # Streams the process alone produces, beyond its aggregates'.
    writes: tuple[str, ...] = ()
    # Other processes' topics it consumes (and may send a bad record of to that topic's dead letters).
    reads: tuple[str, ...] = ()
    # The prefix of its consumer groups.
    groups: str = ""
    # A prefix under which it creates, reads and writes topics of its own (Faust's changelogs).
    internal: str = ""


ACCESS: dict[str, Access] = {
    "telephony": Access(
        owns=(CALLS, LINES, LISTED_NUMBERS, CAMPAIGNS),
        reads=(*KEYS, AGENTS.events, AGENTS.snapshots, ROUTING_DECISIONS, CUSTOMERS.events),
        groups="telephony.",
    ),
    "routing": Access(
        owns=(AGENTS, QUEUES, CONTACTS),
        writes=(AGENT_PRESENCE,),
        reads=(*KEYS, AGENT_PRESENCE, ROUTING_DECISIONS, CALLS.events),
        groups="routing.",
    ),
    "routing-stream": Access(
        writes=(ROUTING_DECISIONS, QUEUE_METRICS),
        reads=(AGENTS.events, QUEUES.events, CONTACTS.events, CALLS.events),
        groups="routing-stream",
        internal="routing-stream-",
    ),
    "ticketing": Access(
        owns=(TICKETS, CUSTOMERS, REPLY_TEMPLATES, TICKET_NUMBERS, TICKET_GROUPS),
        reads=(*KEYS, CALLS.events, LINES.events),
        groups="ticketing.",
    ),
    "analytics": Access(reads=(*KEYS, *EVENT_TOPICS), groups="analytics."),
    "keys": Access(owns=(API_KEYS,), groups="keys."),
    "gateway": Access(reads=(*KEYS, QUEUE_METRICS, CALLS.events), groups="gateway-"),
}


@dataclass(frozen=True)
class Rule:
    """One ACL: operations on a resource, by literal name or by prefix."""

    resource: str  # topic, group, transactionalId, cluster
    name: str
    prefix: bool
    operations: tuple[str, ...]


READ = ("Read", "Describe")
OWN = ("Read", "Write", "Describe", "DescribeConfigs")


def rules(access: Access) -> list[Rule]:
    out = [
        Rule("topic", "*", False, ("Describe", "DescribeConfigs")),
        Rule("cluster", "kafka-cluster", False, ("IdempotentWrite",)),
        Rule("group", READER_GROUPS, True, READ),
        Rule("group", access.groups, True, READ),
    ]
    for aggregate in access.owns:
        prefix = f"{aggregate.context}.{aggregate.aggregate}."
        out.append(Rule("topic", prefix, True, OWN))
        out.append(Rule("transactionalId", prefix, True, ("Write", "Describe")))
    for topic in access.writes:
        out.append(Rule("topic", topic, False, ("Write", "Describe")))
    for topic in dict.fromkeys(access.reads):
        out.append(Rule("topic", topic, False, READ))
        out.append(Rule("topic", dlq(topic), False, ("Write", "Describe")))
    if access.internal:
        out.append(Rule("topic", access.internal, True, ("Create", *OWN)))
    return out


def kafka_user(name: str, access: Access, cluster: str) -> dict[str, Any]:
    """The process's Strimzi KafkaUser: a client certificate (CN=<name>) and its ACLs."""
    acls = []
    for rule in rules(access):
        resource: dict[str, Any] = {"type": rule.resource}
        if rule.resource != "cluster":
            resource |= {"name": rule.name, "patternType": "prefix" if rule.prefix else "literal"}
        acls.append({"resource": resource, "operations": list(rule.operations)})
    return {
        "apiVersion": "kafka.strimzi.io/v1beta2",
        "kind": "KafkaUser",
        "metadata": {"name": name, "labels": {"strimzi.io/cluster": cluster}},
        "spec": {"authentication": {"type": "tls"}, "authorization": {"type": "simple", "acls": acls}},
    }
