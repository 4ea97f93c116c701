"""deploy/k8s: the generated files are the generator's (a topic or a service added without `make
k8s-manifests` fails here); every topic of the catalogue is a KafkaTopic; every process of the platform
runs non-root on a read-only root filesystem with probes that mean able to do the job; only the gateway
can be reached from outside. The overlays, rendered by kustomize: tests/integration/test_k8s_overlays.py."""

from pathlib import Path
from typing import Any

import pytest
import yaml

from services.common.k8s_manifests import (
    HEARTBEAT_FRESH,
    PARTITIONS,
    SECRETS_DIR,
    kafka_topics,
    manifests,
    resource_name,
    workloads,
)
from services.common.settings import REPO_ROOT
from services.common.topics import AGGREGATES, catalogue, dlq
from services.platform import SERVICES

K8S = REPO_ROOT / "deploy" / "k8s"


def documents(path: Path) -> list[dict[str, Any]]:
    return [document for document in yaml.safe_load_all(path.read_text()) if document]


def test_the_committed_files_are_the_generator_s() -> None:
    for path, text in manifests().items():
        assert (K8S / path).read_text() == text, f"{path}: run make k8s-manifests"


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


def test_every_process_runs_locked_down_with_probes_that_mean_ready() -> None:
    resources = workloads()
    deployments = {r["metadata"]["name"]: r for r in resources if r["kind"] == "Deployment"}
    assert set(deployments) == {name for name, _, _ in SERVICES}
    for name, module, port_field in SERVICES:
        pod = deployments[name]["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        assert container["args"] == [module]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
        assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]
        assert container["resources"]["limits"]["memory"]
        ready = container["readinessProbe"]
        assert (
            container["startupProbe"]["failureThreshold"] * container["startupProbe"]["periodSeconds"] >= 600
        )
        if name == "gateway":
            assert ready["httpGet"]["path"] == "/readyz"
        elif port_field is not None:
            assert ready["grpc"]["port"] == container["ports"][0]["containerPort"]
            assert "tcpSocket" in container["livenessProbe"]  # alive, not ready: a replay is no death
        else:
            assert ready["exec"]["command"] == ["test", "-f", "/tmp/ready"]
            assert {"name": "ROUTING_STREAM_READY_FILE", "value": "/tmp/ready"} in container["env"]
            assert container["livenessProbe"]["exec"]["command"] == ["sh", "-c", HEARTBEAT_FRESH]
        # Secrets as files only: nothing of cc-secrets in the environment, the volume read-only.
        assert container["envFrom"] == [{"configMapRef": {"name": "cc-settings"}}]
        assert {"name": "CC_SECRETS_DIR", "value": SECRETS_DIR} in container["env"]
        assert {"name": "secrets", "mountPath": SECRETS_DIR, "readOnly": True} in container["volumeMounts"]
        assert pod["automountServiceAccountToken"] is False
    kinds = {(r["kind"], r["metadata"]["name"]) for r in resources}
    for name, _, port_field in SERVICES:
        assert ("PodDisruptionBudget", name) in kinds and ("HorizontalPodAutoscaler", name) in kinds
        assert (("Service", name) in kinds) == (port_field is not None or name == "gateway")
    scalers = {r["metadata"]["name"]: r["spec"] for r in resources if r["kind"] == "HorizontalPodAutoscaler"}
    assert scalers["telephony"]["maxReplicas"] == PARTITIONS
    assert scalers["analytics"]["maxReplicas"] == PARTITIONS  # its rows are in the ClickHouse cluster


def test_only_the_gateway_is_reached_from_outside_and_the_services_only_from_it() -> None:
    policies = {r["metadata"]["name"]: r["spec"] for r in workloads() if r["kind"] == "NetworkPolicy"}
    deny = policies["cc-deny-ingress"]
    assert (
        deny["podSelector"] == {"matchLabels": {"app.kubernetes.io/part-of": "cc"}} and "ingress" not in deny
    )
    (gateway_rule,) = policies["cc-gateway-ingress"]["ingress"]
    assert gateway_rule == {"ports": [{"port": "http"}]}  # from anywhere, to its HTTP port only
    services = policies["cc-services-from-gateway"]
    (expression,) = services["podSelector"]["matchExpressions"]
    assert set(expression["values"]) == {name for name, _, port in SERVICES if port is not None}
    (rule,) = services["ingress"]
    assert rule["from"] == [
        {
            "podSelector": {
                "matchLabels": {"app.kubernetes.io/name": "gateway", "app.kubernetes.io/part-of": "cc"}
            }
        }
    ]
