"""deploy/k8s's overlays as a cluster would receive them: each renders with kustomize, every resource is
valid against Kubernetes' or Strimzi's own schema (strictly: an unknown field fails), and checkov's
Kubernetes policies find nothing but what deploy/k8s/checkov.yaml skips for a stated reason."""

import copy
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from services.common.k8s_check import K8S, OVERLAYS, UNCHECKED, crd_validators, render, violations
from services.common.settings import REPO_ROOT

Rendered = tuple[str, list[dict[str, Any]]]
CHECKOV = REPO_ROOT / ".local" / "checkov" / "bin" / "checkov"
# Offline (no guideline download from the vendor), results only, as JSON.
CHECKOV_OUTPUT = ("--skip-download", "--quiet", "--compact", "-o", "json")


@pytest.fixture(scope="module")
def crds() -> Any:
    return crd_validators()


@pytest.fixture(scope="module", params=OVERLAYS)
def rendered(request: pytest.FixtureRequest) -> Rendered:
    return request.param, render(request.param)


def test_every_resource_of_every_overlay_is_valid(rendered: Rendered, crds: Any) -> None:
    overlay, resources = rendered
    kinds = {resource["kind"] for resource in resources}
    # What the platform needs is there: the cluster and its topics and users, and every process.
    assert {"Namespace", "Kafka", "KafkaNodePool", "KafkaTopic", "Deployment", "Service"} <= kinds
    assert list(violations(resources, crds)) == [], overlay
    namespaced = [resource for resource in resources if resource["kind"] != "Namespace"]
    assert {resource["metadata"].get("namespace") for resource in namespaced} == {"cc"}


def test_every_resource_is_checked_but_the_clickhouse_operator_s(rendered: Rendered) -> None:
    _, resources = rendered
    unchecked = {(r["apiVersion"], r["kind"]) for r in resources if (r["apiVersion"], r["kind"]) in UNCHECKED}
    assert unchecked == UNCHECKED  # both are there, and nothing else escapes the schemas


def of_kind(resources: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [resource for resource in resources if resource["kind"] == kind]


def test_dev_runs_one_of_everything_and_prod_survives_a_zone() -> None:
    for overlay, brokers, in_sync, at_least, shards in (("dev", 1, 1, 1, 1), ("prod", 3, 2, 2, 2)):
        resources = render(overlay)
        (pool,) = of_kind(resources, "KafkaNodePool")
        (cluster,) = of_kind(resources, "Kafka")
        topics = of_kind(resources, "KafkaTopic")
        assert pool["spec"]["replicas"] == brokers
        config = cluster["spec"]["kafka"]["config"]
        assert config["transaction.state.log.replication.factor"] == brokers
        assert config["min.insync.replicas"] == in_sync
        assert config["auto.create.topics.enable"] is False
        assert {t["spec"]["replicas"] for t in topics} == {brokers}
        (settings,) = [r for r in of_kind(resources, "ConfigMap") if r["metadata"]["name"] == "cc-settings"]
        assert settings["data"]["CC_REPLICATION_FACTOR"] == str(brokers)
        assert settings["data"]["CLICKHOUSE_CLUSTER"] == "cc"
        scalers = {r["metadata"]["name"]: r["spec"] for r in of_kind(resources, "HorizontalPodAutoscaler")}
        for deployment in of_kind(resources, "Deployment"):
            name = deployment["metadata"]["name"]
            if name not in scalers:
                continue  # not a process of the platform (the collector)
            assert deployment["spec"]["replicas"] == scalers[name]["minReplicas"] == at_least, name
            assert scalers[name]["minReplicas"] <= scalers[name]["maxReplicas"]
        (clickhouse,) = of_kind(resources, "ClickHouseInstallation")
        (layout,) = [
            c["layout"] for c in clickhouse["spec"]["configuration"]["clusters"] if c["name"] == "cc"
        ]
        assert layout == {"shardsCount": shards, "replicasCount": at_least}
        (keeper,) = of_kind(resources, "ClickHouseKeeperInstallation")
        assert keeper["spec"]["configuration"]["clusters"][0]["layout"]["replicasCount"] == brokers
        (zookeeper,) = clickhouse["spec"]["configuration"]["zookeeper"]["nodes"]
        assert zookeeper == {"host": "keeper-cc", "port": 9181}  # the operator's Keeper client port
        # Strimzi runs Cruise Control only with two brokers or more.
        assert ("cruiseControl" in cluster["spec"]) == (brokers > 1)
        if overlay == "prod":
            telephony = next(
                d for d in of_kind(resources, "Deployment") if d["metadata"]["name"] == "telephony"
            )
            spread = telephony["spec"]["template"]["spec"]["topologySpreadConstraints"]
            assert spread[0]["topologyKey"] == "topology.kubernetes.io/zone"
            assert {t["spec"]["config"]["min.insync.replicas"] for t in topics} == {"2"}
            affinity = pool["spec"]["template"]["pod"]["affinity"]["podAntiAffinity"]
            (rule,) = affinity["requiredDuringSchedulingIgnoredDuringExecution"]
            assert rule["topologyKey"] == "topology.kubernetes.io/zone"
            (distribution,) = clickhouse["spec"]["templates"]["podTemplates"][0]["podDistribution"]
            assert distribution == {"type": "ShardAntiAffinity", "topologyKey": "topology.kubernetes.io/zone"}


def test_two_sites_lose_neither_an_acknowledged_event_nor_the_platform_with_a_site() -> None:
    resources = render("two-sites")
    pools = {pool["metadata"]["name"]: pool["spec"] for pool in of_kind(resources, "KafkaNodePool")}
    assert pools["controllers"]["roles"] == ["controller"] and pools["controllers"]["replicas"] == 3
    assert pools["dual-role"]["roles"] == ["broker"] and pools["dual-role"]["replicas"] == 4
    for pool in pools.values():
        spread = pool["template"]["pod"]["topologySpreadConstraints"][0]
        assert (spread["topologyKey"], spread["whenUnsatisfiable"]) == (
            "topology.kubernetes.io/region",
            "DoNotSchedule",
        )
    (cluster,) = of_kind(resources, "Kafka")
    assert cluster["spec"]["kafka"]["rack"] == {"topologyKey": "topology.kubernetes.io/region"}
    # Four copies, two per site; two in sync to write: a site lost leaves two.
    assert {
        (t["spec"]["replicas"], t["spec"]["config"]["min.insync.replicas"])
        for t in of_kind(resources, "KafkaTopic")
    } == {(4, "2")}
    config = cluster["spec"]["kafka"]["config"]
    assert (config["transaction.state.log.replication.factor"], config["transaction.state.log.min.isr"]) == (
        4,
        2,
    )
    for deployment in of_kind(resources, "Deployment"):
        keys = {c["topologyKey"] for c in deployment["spec"]["template"]["spec"]["topologySpreadConstraints"]}
        assert keys == {"topology.kubernetes.io/zone", "topology.kubernetes.io/region"}, deployment[
            "metadata"
        ]["name"]
    (clickhouse,) = of_kind(resources, "ClickHouseInstallation")
    (distribution,) = clickhouse["spec"]["templates"]["podTemplates"][0]["podDistribution"]
    assert distribution == {"type": "ShardAntiAffinity", "topologyKey": "topology.kubernetes.io/region"}
    (keeper,) = of_kind(resources, "ClickHouseKeeperInstallation")
    (spread,) = keeper["spec"]["templates"]["podTemplates"][0]["podDistribution"]
    assert spread["topologyKey"] == "topology.kubernetes.io/region"  # Keeper's quorum survives a site


def first(resources: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    return copy.deepcopy(next(resource for resource in resources if resource["kind"] == kind))


def test_a_misspelt_or_mistyped_field_is_refused(rendered: Rendered, crds: Any) -> None:
    _, resources = rendered
    kafka = first(resources, "Kafka")
    kafka["spec"]["kafka"]["listenrs"] = []
    topic = first(resources, "KafkaTopic")
    topic["spec"]["partitions"] = "12"
    deployment = first(resources, "Deployment")
    deployment["spec"]["template"]["spec"]["containers"][0]["imagePullPolice"] = "Always"
    service = first(resources, "Service")
    service["spec"]["ports"][0]["port"] = "grpc"
    unknown = {"apiVersion": "example.com/v1", "kind": "Gadget", "metadata": {"name": "g"}}
    found = list(violations([kafka, topic, deployment, service, unknown], crds))
    assert len(found) == 5, found
    assert "'listenrs' was unexpected" in found[0]
    assert found[1].startswith("KafkaTopic/") and "spec/partitions" in found[1]
    assert "'imagePullPolice' was unexpected" in found[2]
    assert "spec/ports/0/port" in found[3]
    assert "no schema" in found[4]


def test_the_policy_check_finds_nothing(rendered: Rendered, tmp_path: Path) -> None:
    overlay, resources = rendered
    manifest = tmp_path / f"{overlay}.yaml"
    manifest.write_text("---\n".join(json.dumps(resource) + "\n" for resource in resources))
    result = run_checkov(manifest)
    assert result["summary"]["resource_count"] >= len(resources)
    failed = [f"{r['check_id']} {r['check_name']}: {r['resource']}" for r in failed_checks(result)]
    assert failed == [], overlay


def test_the_policy_check_can_fail(rendered: Rendered, tmp_path: Path) -> None:
    """The same check on a deployment whose process may gain privileges and write its root filesystem."""
    _, resources = rendered
    deployment = first(resources, "Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    container["securityContext"]["allowPrivilegeEscalation"] = True
    container["securityContext"]["readOnlyRootFilesystem"] = False
    manifest = tmp_path / "mutated.yaml"
    manifest.write_text(json.dumps(deployment))
    failed = {r["check_id"] for r in failed_checks(run_checkov(manifest))}
    assert {"CKV_K8S_20", "CKV_K8S_22"} <= failed, failed


def run_checkov(manifest: Path) -> dict[str, Any]:
    finished = subprocess.run(
        [str(CHECKOV), "--config-file", str(K8S / "checkov.yaml"), "-f", str(manifest), *CHECKOV_OUTPUT],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert finished.returncode in (0, 1), finished.stderr[-2000:]  # 1: checks failed
    result = json.loads(finished.stdout)
    return result[0] if isinstance(result, list) else result


def failed_checks(result: dict[str, Any]) -> list[dict[str, Any]]:
    failed: list[dict[str, Any]] = result["results"]["failed_checks"]
    return failed
