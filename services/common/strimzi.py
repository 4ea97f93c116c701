"""The topic catalogue as Strimzi `KafkaTopic` resources, so that a cluster run by the Strimzi operator
has every topic the platform uses, with the same partitions and settings as `ensure_topics` creates
locally: the catalogue (services/common/topics.py) stays the single source.

    make k8s-topics     writes deploy/k8s/base/kafka/topics.yaml (a unit test holds the file to this)

Replicas and `min.insync.replicas` are the overlays' to set (one broker in dev, three in prod).
"""

import re
import sys
from typing import Any

import yaml

from services.common.topics import catalogue

CLUSTER = "cc"  # the Kafka resource's name in deploy/k8s/base/kafka/kafka.yaml
API_VERSION = "kafka.strimzi.io/v1beta2"
# A Kubernetes object name: a DNS subdomain, lowercase.
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")


def resource_name(topic: str) -> str:
    """The resource's name for a topic: the topic's own name, which the catalogue keeps to what
    Kubernetes accepts (lowercase letters, digits, dots and dashes)."""
    if not _NAME.match(topic):
        raise ValueError(f"topic {topic!r} cannot name a Kubernetes resource")
    return topic


def kafka_topics(partitions: int, replicas: int = 1) -> list[dict[str, Any]]:
    """One KafkaTopic per topic of the catalogue, in the catalogue's order."""
    return [
        {
            "apiVersion": API_VERSION,
            "kind": "KafkaTopic",
            "metadata": {
                "name": resource_name(topic),
                "labels": {"strimzi.io/cluster": CLUSTER, "app.kubernetes.io/part-of": "cc"},
            },
            "spec": {
                "topicName": topic,
                "partitions": spec.partitions,
                "replicas": replicas,
                # Strimzi passes these to the broker as they are: strings, as Kafka's configs are.
                "config": {name: str(value) for name, value in sorted(spec.config.items())},
            },
        }
        for topic, spec in catalogue(partitions).items()
    ]


def manifest(partitions: int) -> str:
    """The topics as one multi-document YAML file."""
    header = (
        "# Generated from services/common/topics.py by `make k8s-topics`; do not edit by hand.\n"
        f"# {partitions} partitions a keyed topic; the overlays set replicas and min.insync.replicas.\n"
    )
    return header + yaml.safe_dump_all(kafka_topics(partitions), sort_keys=False, explicit_start=True)


if __name__ == "__main__":
    sys.stdout.write(manifest(int(sys.argv[1]) if len(sys.argv) > 1 else 12))
