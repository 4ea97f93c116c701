"""deploy/k8s's generated manifests, so that what the platform knows stays in one place:
- `base/kafka/topics.yaml`: the topic catalogue (services/common/topics.py) as Strimzi `KafkaTopic`s,
  with the same partitions and settings as `ensure_topics` creates locally;
- `base/platform/workloads.yaml`: a Deployment per process of services/platform.py's table (the same
  module and port as `make up` runs), a Service for those that answer, a PodDisruptionBudget and a
  HorizontalPodAutoscaler for each, and the NetworkPolicy that lets only the gateway be reached.

    make k8s-manifests      writes both (a unit test holds the files to this module)

Replicas, `min.insync.replicas` and sizes are the overlays' to set (one of each in dev, more in prod).
"""

import re
import sys
from pathlib import Path
from typing import Any

import yaml

from services.common.k8s_alerts import alerts_config_map
from services.common.kafka_access import ACCESS, kafka_user
from services.common.settings import PlatformSettings
from services.common.topics import catalogue
from services.platform import SERVICES

CLUSTER = "cc"  # the Kafka resource's name in deploy/k8s/base/kafka/kafka.yaml
PARTITIONS = 12  # a keyed topic's partitions on a cluster: up to 12 instances of a service share them
IMAGE = "cc-platform"  # `make image`; the overlays pin its tag
PART_OF = {"app.kubernetes.io/part-of": "cc"}
# A Kubernetes object name: a DNS subdomain, lowercase.
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
# Loading a partition replays its snapshots and the events after them: allow a long start before the
# first readiness check counts against the pod (10 s x 60 = 10 minutes).
STARTUP_PERIOD_SECONDS, STARTUP_FAILURES = 10, 60


def default_port(field: str) -> int:
    """A port as the settings define it: the manifests must not depend on the environment they are
    generated in (a PORT variable set for a test run would change them)."""
    port = PlatformSettings.model_fields[field].default
    assert isinstance(port, int)
    return port


GATEWAY_PORT = default_port("gateway_port")
# The routing worker has no port: its readiness is a file (services/routing/stream/ready_file.py).
READY_FILE = "/tmp/ready"
HEARTBEAT_FILE = "/tmp/heartbeat"
HEARTBEAT_FRESH = f"test $(( $(date +%s) - $(stat -c %Y {HEARTBEAT_FILE}) )) -lt 60"
# Secrets arrive as files (PlatformSettings reads CC_SECRETS_DIR), never in the environment.
SECRETS_DIR = "/run/secrets/cc"
# Each process's Kafka identity: the Secret the user operator makes for its KafkaUser (user.crt,
# user.key), and the cluster CA that signed the brokers' certificates (Strimzi's <cluster>-cluster-ca-cert).
KAFKA_IDENTITY_DIR, KAFKA_CA_DIR = "/run/secrets/kafka", "/run/secrets/kafka-ca"


def resource_name(topic: str) -> str:
    """The resource's name for a topic: the topic's own name, which the catalogue keeps to what
    Kubernetes accepts (lowercase letters, digits, dots and dashes)."""
    if not _NAME.match(topic):
        raise ValueError(f"topic {topic!r} cannot name a Kubernetes resource")
    return topic


def kafka_topics(partitions: int = PARTITIONS, replicas: int = 1) -> list[dict[str, Any]]:
    """One KafkaTopic per topic of the catalogue, in the catalogue's order."""
    return [
        {
            "apiVersion": "kafka.strimzi.io/v1beta2",
            "kind": "KafkaTopic",
            "metadata": {"name": resource_name(topic), "labels": {"strimzi.io/cluster": CLUSTER, **PART_OF}},
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


def _probes(port_field: str | None, name: str) -> dict[str, Any]:
    """Ready means able to do the job: a gRPC service's health is SERVING only once its partitions are
    loaded and its read models caught up; the gateway's /readyz asks every service; the worker's file
    exists once its boards are rebuilt. Alive is only the process answering at all."""
    if name == "gateway":
        ready: dict[str, Any] = {"httpGet": {"path": "/readyz", "port": "http"}}
        alive: dict[str, Any] = {"httpGet": {"path": "/healthz", "port": "http"}}
    elif port_field is not None:
        ready = {"grpc": {"port": default_port(port_field)}}
        alive = {"tcpSocket": {"port": "grpc"}}
    else:
        ready = {"exec": {"command": ["test", "-f", READY_FILE]}}
        # Not ready during a rebalance is not dead; a heartbeat a minute old is (a stuck event loop).
        alive = {"exec": {"command": ["sh", "-c", HEARTBEAT_FRESH]}}
    probes = {
        "startupProbe": {
            **ready,
            "periodSeconds": STARTUP_PERIOD_SECONDS,
            "failureThreshold": STARTUP_FAILURES,
        },
        "readinessProbe": {**ready, "periodSeconds": 5, "failureThreshold": 2},
    }
    probes["livenessProbe"] = {**alive, "periodSeconds": 10, "failureThreshold": 6}
    return probes


def _labels(name: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": name, **PART_OF}


def _deployment(name: str, module: str, port_field: str | None) -> dict[str, Any]:
    ports = []
    if name == "gateway":
        ports = [{"name": "http", "containerPort": GATEWAY_PORT}]
    elif port_field is not None:
        ports = [{"name": "grpc", "containerPort": default_port(port_field)}]
    env = [{"name": "CC_INSTANCE_ID", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}]
    if port_field is None and name != "gateway":
        env.append({"name": "ROUTING_STREAM_READY_FILE", "value": READY_FILE})
        env.append({"name": "ROUTING_STREAM_HEARTBEAT_FILE", "value": HEARTBEAT_FILE})
    env.append({"name": "CC_SECRETS_DIR", "value": SECRETS_DIR})
    env += [
        {"name": "KAFKA_SSL_CERT_FILE", "value": f"{KAFKA_IDENTITY_DIR}/user.crt"},
        {"name": "KAFKA_SSL_KEY_FILE", "value": f"{KAFKA_IDENTITY_DIR}/user.key"},
        {"name": "KAFKA_SSL_CA_FILE", "value": f"{KAFKA_CA_DIR}/ca.crt"},
    ]
    container = {
        "name": name,
        "image": IMAGE,
        # The overlays pin the image by digest in production; Always makes a node check it.
        "imagePullPolicy": "Always",
        "args": [module],
        "ports": ports,
        "env": env,
        "envFrom": [{"configMapRef": {"name": "cc-settings"}}],
        **_probes(port_field, name),
        "resources": {
            "requests": {"cpu": "250m", "memory": "512Mi"},
            # Room for a replay after a restart (CPU-bound), without one pod taking a whole node.
            "limits": {"cpu": "2", "memory": "1Gi"},
        },
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
        # The only writable place: Faust's working directory, and scratch space.
        "volumeMounts": [
            {"name": "tmp", "mountPath": "/tmp"},
            {"name": "secrets", "mountPath": SECRETS_DIR, "readOnly": True},
            {"name": "kafka-identity", "mountPath": KAFKA_IDENTITY_DIR, "readOnly": True},
            {"name": "kafka-ca", "mountPath": KAFKA_CA_DIR, "readOnly": True},
        ],
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": _labels(name)},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": _labels(name)},
            "template": {
                "metadata": {"labels": _labels(name)},
                "spec": {
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": 10001,
                        "runAsGroup": 10001,
                        "fsGroup": 10001,  # the secret files' group: readable by the process only
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    # No process talks to the Kubernetes API: no token to steal.
                    "automountServiceAccountToken": False,
                    # A stopping service finishes its batch and leaves its consumer groups first.
                    "terminationGracePeriodSeconds": 30,
                    "containers": [container],
                    "volumes": [
                        {"name": "tmp", "emptyDir": {"sizeLimit": "1Gi"}},
                        {"name": "secrets", "secret": {"secretName": "cc-secrets", "defaultMode": 0o440}},
                        {"name": "kafka-identity", "secret": {"secretName": name, "defaultMode": 0o440}},
                        {
                            "name": "kafka-ca",
                            "secret": {"secretName": f"{CLUSTER}-cluster-ca-cert", "defaultMode": 0o444},
                        },
                    ],
                },
            },
        },
    }


def _service(name: str, port: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "labels": _labels(name)},
        "spec": {
            "selector": _labels(name),
            "ports": [{"name": port["name"], "port": port["containerPort"], "targetPort": port["name"]}],
        },
    }


def _disruption_budget(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": name, "labels": _labels(name)},
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": _labels(name)}},
    }


def _autoscaler(name: str) -> dict[str, Any]:
    """On CPU; no more instances than a keyed topic has partitions (one more would own nothing)."""
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": name, "labels": _labels(name)},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "minReplicas": 1,
            "maxReplicas": PARTITIONS,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}},
                }
            ],
        },
    }


def _network_policies() -> list[dict[str, Any]]:
    """Nothing reaches the platform's pods but what these allow: anyone the gateway's HTTP port, the
    gateway the services' gRPC ports. Kafka's pods are Strimzi's (it writes their policies)."""
    grpc_services = [name for name, _, port_field in SERVICES if port_field is not None]
    return [
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": "cc-deny-ingress", "labels": PART_OF},
            "spec": {"podSelector": {"matchLabels": PART_OF}, "policyTypes": ["Ingress"]},
        },
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": "cc-gateway-ingress", "labels": PART_OF},
            "spec": {
                "podSelector": {"matchLabels": _labels("gateway")},
                "policyTypes": ["Ingress"],
                "ingress": [{"ports": [{"port": "http"}]}],
            },
        },
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": "cc-services-from-gateway", "labels": PART_OF},
            "spec": {
                "podSelector": {
                    "matchLabels": PART_OF,
                    "matchExpressions": [
                        {"key": "app.kubernetes.io/name", "operator": "In", "values": grpc_services}
                    ],
                },
                "policyTypes": ["Ingress"],
                "ingress": [
                    {
                        "from": [{"podSelector": {"matchLabels": _labels("gateway")}}],
                        "ports": [{"port": "grpc"}],
                    }
                ],
            },
        },
    ]


def workloads() -> list[dict[str, Any]]:
    """Every process of the platform as Kubernetes resources."""
    resources: list[dict[str, Any]] = []
    for name, module, port_field in SERVICES:
        deployment = _deployment(name, module, port_field)
        resources.append(deployment)
        for port in deployment["spec"]["template"]["spec"]["containers"][0]["ports"]:
            resources.append(_service(name, port))
        resources += [_disruption_budget(name), _autoscaler(name)]
    return resources + _network_policies()


class _Dumper(yaml.SafeDumper):
    """Text of several lines (a rule file in a ConfigMap) as a block, readable in the file."""


_Dumper.add_representer(
    str,
    lambda dumper, text: dumper.represent_scalar(
        "tag:yaml.org,2002:str", text, style="|" if "\n" in text else None
    ),
)


def _file(what: str, resources: list[dict[str, Any]]) -> str:
    header = (
        f"# {what}\n# Generated by `make k8s-manifests` (services/common/k8s_manifests.py): not by hand.\n"
    )
    return header + yaml.dump_all(resources, Dumper=_Dumper, sort_keys=False, explicit_start=True)


def manifests() -> dict[str, str]:
    """The generated files, by their path under deploy/k8s."""
    return {
        "base/kafka/topics.yaml": _file(
            f"Every topic of the catalogue, {PARTITIONS} partitions a keyed one; the overlays set replicas.",
            kafka_topics(),
        ),
        "base/kafka/users.yaml": _file(
            "Each process's KafkaUser: its client certificate and ACLs (services/common/kafka_access.py).",
            [kafka_user(name, ACCESS[name], CLUSTER) for name, _, _ in SERVICES],
        ),
        "base/observability/alerts.yaml": _file(
            "The platform's alerts, a Prometheus rule file (services/common/k8s_alerts.py; README, runbook).",
            [alerts_config_map()],
        ),
        "base/platform/workloads.yaml": _file(
            "The platform's processes, their Services, budgets and autoscalers.", workloads()
        ),
    }


if __name__ == "__main__":
    root = Path(sys.argv[1])
    for path, text in manifests().items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
