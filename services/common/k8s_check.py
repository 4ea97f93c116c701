"""deploy/k8s's overlays checked offline, as a cluster's API server would check them before anything runs:
- each overlay renders (`kustomize build`);
- every core kind (Deployment, Service, HorizontalPodAutoscaler...) is valid against the Kubernetes API's
  own schemas, bundled in the `kubernetes-validate` package, strictly: a misspelt field is an error;
- every Strimzi resource (Kafka, KafkaNodePool, KafkaTopic, KafkaUser) is valid against the operator's own
  CRD schema, made by `make setup` from Strimzi's published artifacts (deploy/k8s/schemas/pom.xml), also
  strictly, as `kubectl apply --validate=strict` would refuse an unknown field;
- the Altinity operator's ClickHouse resources are the exception, named in UNCHECKED: its CRDs are
  published only on GitHub and in its container images, which this project's build cannot reach (no
  registry serves them: the Go module proxy refuses github.com/altinity/clickhouse-operator), so they are
  listed as not checked rather than passed.

    make k8s-check          checks every overlay and prints what it found

The policy check (checkov) runs on the same rendered documents: see tests/integration/test_k8s_overlays.py.
"""

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml

from services.common.settings import REPO_ROOT

K8S = REPO_ROOT / "deploy" / "k8s"
OVERLAYS = ("dev", "prod", "two-sites")
# The Kubernetes version the overlays are written for: the oldest the project supports (native gRPC
# probes, matchLabelKeys in topology spread constraints).
KUBERNETES_VERSION = "1.33.0"
TOOLS = REPO_ROOT / ".local"
KUSTOMIZE = Path(os.environ.get("KUSTOMIZE", TOOLS / "bin" / "kustomize"))
CRDS = TOOLS / "k8s" / "crds"
UNCHECKED = {
    ("clickhouse.altinity.com/v1", "ClickHouseInstallation"),
    ("clickhouse-keeper.altinity.com/v1", "ClickHouseKeeperInstallation"),
}


def render(overlay: str) -> list[dict[str, Any]]:
    """The overlay as `kubectl apply -k` would send it."""
    built = subprocess.run(
        [str(KUSTOMIZE), "build", str(K8S / "overlays" / overlay)], capture_output=True, text=True
    )
    if built.returncode:
        raise RuntimeError(f"kustomize build {overlay}: {built.stderr.strip()}")
    return [document for document in yaml.safe_load_all(built.stdout) if document]


def strict(schema: dict[str, Any]) -> dict[str, Any]:
    """A CRD's openAPIV3Schema as a JSON schema that refuses unknown fields: an object that lists its
    properties and does not say it keeps unknown ones gets `additionalProperties: false` (the API server
    would drop such a field without a word, which hides a typo until the operator misbehaves)."""
    if not isinstance(schema, dict):
        return schema
    out = {key: _strict_children(key, value) for key, value in schema.items()}
    if (
        "properties" in out
        and "additionalProperties" not in out
        and not out.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


def _strict_children(key: str, value: Any) -> Any:
    if key in ("properties", "patternProperties"):
        return {name: strict(child) for name, child in value.items()}
    if key in ("items", "additionalProperties", "not"):
        return strict(value) if isinstance(value, dict) else value
    if key in ("allOf", "anyOf", "oneOf"):
        return [strict(child) for child in value]
    return value


def crd_validators(directory: Path = CRDS) -> dict[tuple[str, str], jsonschema.Draft7Validator]:
    """(apiVersion, kind) -> a validator, for every served version of every CRD in the directory."""
    validators: dict[tuple[str, str], jsonschema.Draft7Validator] = {}
    paths = sorted(directory.glob("*.yaml"))
    if not paths:
        raise FileNotFoundError(f"no CRDs in {directory}: run make setup")
    for path in paths:
        crd = yaml.safe_load(path.read_text())
        group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
        for version in crd["spec"]["versions"]:
            if version.get("served"):
                schema = strict(version["schema"]["openAPIV3Schema"])
                validators[(f"{group}/{version['name']}", kind)] = jsonschema.Draft7Validator(schema)
    return validators


def name_of(resource: dict[str, Any]) -> str:
    return f"{resource.get('kind')}/{resource.get('metadata', {}).get('name')}"


def violations(
    resources: list[dict[str, Any]], crds: dict[tuple[str, str], jsonschema.Draft7Validator]
) -> Iterator[str]:
    """What the API server would refuse, one line each; a kind with no schema at all is refused too,
    so that a resource cannot pass by being of a kind nobody checks."""
    for resource in resources:
        kind = (resource.get("apiVersion", ""), resource.get("kind", ""))
        if kind in UNCHECKED:
            continue
        crd = crds.get(kind)
        if crd is not None:
            for error in crd.iter_errors(resource):
                where = "/".join(str(part) for part in error.absolute_path)
                yield f"{name_of(resource)}: {where}: {error.message}"
            continue
        try:
            kubernetes_validate.validate(resource, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.SchemaNotFoundError:
            yield f"{name_of(resource)}: no schema for {resource.get('apiVersion')} {resource.get('kind')}"
        except kubernetes_validate.ValidationError as error:
            where = "/".join(str(part) for part in error.path)
            yield f"{name_of(resource)}: {where}: {error.message}"


def main() -> int:
    crds = crd_validators()
    failed = False
    for overlay in OVERLAYS:
        resources = render(overlay)
        found = list(violations(resources, crds))
        failed = failed or bool(found)
        unchecked = [name_of(r) for r in resources if (r["apiVersion"], r["kind"]) in UNCHECKED]
        print(f"{overlay}: {len(resources)} resources, {len(found)} violations, not checked: {unchecked}")
        for line in found:
            print(f"  {line}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
