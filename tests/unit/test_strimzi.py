"""deploy/k8s's Kafka: the KafkaTopic resources are the topic catalogue's (a topic added to the catalogue
without `make k8s-topics` fails here), and the overlays' patches land on paths the base has, giving prod
three replicas of everything and at least two in sync."""

from pathlib import Path
from typing import Any

import pytest
import yaml

from services.common.settings import REPO_ROOT
from services.common.strimzi import kafka_topics, manifest, resource_name
from services.common.topics import AGGREGATES, catalogue, dlq

K8S = REPO_ROOT / "deploy" / "k8s"
PARTITIONS = 12  # what `make k8s-topics` writes


def documents(path: Path) -> list[dict[str, Any]]:
    return [document for document in yaml.safe_load_all(path.read_text()) if document]


def test_the_committed_topics_are_the_catalogue_s() -> None:
    assert (K8S / "base" / "kafka" / "topics.yaml").read_text() == manifest(PARTITIONS)


def test_every_topic_of_the_catalogue_is_a_kafka_topic_with_its_partitions_and_settings() -> None:
    resources = {r["spec"]["topicName"]: r for r in kafka_topics(PARTITIONS)}
    wanted = catalogue(PARTITIONS)
    assert list(resources) == list(wanted)
    for topic, spec in wanted.items():
        resource = resources[topic]
        assert resource["metadata"]["labels"]["strimzi.io/cluster"] == "cc"
        assert resource["spec"]["partitions"] == spec.partitions
        assert resource["spec"]["config"] == {k: str(v) for k, v in spec.config.items()}
    calls = AGGREGATES[0]
    assert resources[calls.snapshots]["spec"]["config"]["cleanup.policy"] == "compact"
    assert resources[calls.events]["spec"]["config"]["retention.ms"] == "-1"
    assert resources[dlq(calls.commands)]["spec"]["partitions"] == 1


def test_a_topic_kubernetes_cannot_name_is_refused() -> None:
    assert resource_name("telephony.call.events.v1") == "telephony.call.events.v1"
    for bad in ("Telephony.calls", "telephony_call", "-leading", "trailing.", ""):
        with pytest.raises(ValueError, match="cannot name"):
            resource_name(bad)


def apply(patch: list[dict[str, Any]], resource: dict[str, Any]) -> None:
    """A JSON patch's `add` and `replace` as kustomize applies them: `replace` needs the path to exist."""
    for operation in patch:
        *parents, last = [part.replace("~1", "/") for part in operation["path"].strip("/").split("/")]
        target = resource
        for part in parents:
            target = target[part]  # KeyError: a path the base does not have
        if operation["op"] == "replace" and last not in target:
            raise KeyError(operation["path"])
        target[last] = operation["value"]


def built(overlay: str) -> list[dict[str, Any]]:
    """The overlay's resources: the base's, with the overlay's patches applied to their targets."""
    resources = documents(K8S / "base" / "kafka" / "kafka.yaml") + documents(
        K8S / "base" / "kafka" / "topics.yaml"
    )
    kustomization = documents(K8S / "overlays" / overlay / "kustomization.yaml")[0]
    for entry in kustomization.get("patches", []):
        target = entry["target"]
        matched = [
            r
            for r in resources
            if r["kind"] == target["kind"]
            and target.get("name", r["metadata"]["name"]) == r["metadata"]["name"]
        ]
        assert matched, f"a patch matches nothing: {target}"
        for resource in matched:
            apply(yaml.safe_load(entry["patch"]), resource)
    return resources


def test_dev_runs_one_broker_and_prod_three_with_two_in_sync() -> None:
    for overlay, replicas, in_sync in (("dev", 1, 1), ("prod", 3, 2)):
        resources = built(overlay)
        (pool,) = [r for r in resources if r["kind"] == "KafkaNodePool"]
        (cluster,) = [r for r in resources if r["kind"] == "Kafka"]
        topics = [r for r in resources if r["kind"] == "KafkaTopic"]
        assert pool["spec"]["replicas"] == replicas
        config = cluster["spec"]["kafka"]["config"]
        assert config["transaction.state.log.replication.factor"] == replicas
        assert config["min.insync.replicas"] == in_sync
        assert config["auto.create.topics.enable"] is False
        assert {t["spec"]["replicas"] for t in topics} == {replicas}
        if overlay == "prod":
            assert {t["spec"]["config"]["min.insync.replicas"] for t in topics} == {"2"}
            affinity = pool["spec"]["template"]["pod"]["affinity"]["podAntiAffinity"]
            (rule,) = affinity["requiredDuringSchedulingIgnoredDuringExecution"]
            assert rule["topologyKey"] == "topology.kubernetes.io/zone"
