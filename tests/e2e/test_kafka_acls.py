"""The platform's processes run on the session's broker as on a cluster: over TLS, each with its own
certificate, held to the ACLs of services/common/kafka_access.py (the same rules as their KafkaUsers).
Every other end-to-end test passing proves the rules are enough; these prove they are no more: a process
cannot write another's topic, nor read what it does not consume, and the refusal loses nothing."""

import os
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition

from services.common.topics import CALLS, TICKETS
from services.platform import Platform


@pytest.fixture
def platform_on_tls(platform: Platform) -> Platform:
    if not os.environ.get("CC_TEST_KAFKA_TLS"):
        pytest.skip("the session's broker is not this session's own (KAFKA_BOOTSTRAP_SERVERS)")
    return platform


def identity(name: str) -> dict[str, str]:
    directory = Path(os.environ["CC_TEST_KAFKA_IDENTITIES"])
    return {
        "bootstrap.servers": os.environ["CC_TEST_KAFKA_TLS"],
        "security.protocol": "ssl",
        "ssl.ca.location": str(directory / "ca.crt"),
        "ssl.certificate.location": str(directory / f"{name}.crt"),
        "ssl.key.location": str(directory / f"{name}.key"),
    }


def delivery_error(name: str, topic: str) -> KafkaError | None:
    """What the broker says to `name` writing one record to `topic`."""
    producer = Producer({**identity(name), "message.timeout.ms": 20_000})
    outcome: list[KafkaError | None] = []
    producer.produce(
        topic, b"not an event", key=b"acl-test", on_delivery=lambda error, _: outcome.append(error)
    )
    producer.flush(30)
    assert outcome, f"no answer to {name} writing {topic}"
    return outcome[0]


def read_error(name: str, topic: str) -> KafkaError | None:
    """What the broker says to `name` reading `topic`'s first partition (None: it may)."""
    consumer = Consumer(
        {**identity(name), "group.id": f"reader-acl-test-{name}", "enable.auto.commit": False}
    )
    try:
        consumer.assign([TopicPartition(topic, 0, 0)])
        for _ in range(20):
            message = consumer.poll(1.0)
            if message is None:
                continue
            error = message.error()
            if error is None:
                return None  # a record: it may read
            if error.code() != KafkaError._PARTITION_EOF:
                return error
        return None
    except KafkaException as refused:
        refusal: KafkaError = refused.args[0]
        return refusal
    finally:
        consumer.close()


def test_a_process_cannot_write_another_s_topic(platform_on_tls: Platform) -> None:
    error = delivery_error("telephony", TICKETS.events)
    assert error is not None and error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    error = delivery_error("analytics", CALLS.events)
    assert error is not None and error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED


def test_a_process_reads_what_it_consumes_and_nothing_else(platform_on_tls: Platform) -> None:
    assert read_error("analytics", CALLS.events) is None
    refused = read_error("gateway", CALLS.commands)
    assert refused is not None and refused.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
