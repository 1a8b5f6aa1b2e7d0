"""deploy/k8s: every manifest validates offline against the Kubernetes API schemas (strict:
a misspelt field fails), and the pieces that make a rolling deploy safe are wired together:
probes on the right endpoints, a PodDisruptionBudget and an autoscaler that select the
Deployment's pods, a drain window longer than the preStop sleep. No cluster, no network:
kubernetes-validate ships the schemas."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

K8S = Path(__file__).resolve().parent.parent / "deploy" / "k8s"
# The oldest Kubernetes we claim (PDB policy/v1, HPA autoscaling/v2 and ingressClassName
# are all older) and the newest the package knows.
VERSIONS = ("1.29.0", kubernetes_validate.latest_version())


def load(name: str) -> dict[str, Any]:
    return yaml.safe_load((K8S / name).read_text())


def kustomization() -> dict[str, Any]:
    return load("kustomization.yaml")


def resources() -> dict[str, dict[str, Any]]:
    """kind -> document, for every file kustomize applies."""
    docs = [
        doc for name in kustomization()["resources"] for doc in yaml.safe_load_all((K8S / name).read_text())
    ]
    by_kind = {doc["kind"]: doc for doc in docs}
    assert len(by_kind) == len(docs), "one document per kind is what these checks assume"
    return by_kind


def test_kustomization_lists_every_manifest() -> None:
    manifests = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kustomization()["resources"]) == manifests


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("name", sorted(p.name for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml"))
def test_manifest_validates_strictly(name: str, version: str) -> None:
    for doc in yaml.safe_load_all((K8S / name).read_text()):
        kubernetes_validate.validate(doc, version, strict=True)


def test_strict_validation_catches_a_misspelt_field() -> None:
    """The check above is worth something: a typo in a probe is an error, not ignored."""
    deployment = resources()["Deployment"]
    deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["timeoutSecond"] = 3
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, VERSIONS[-1], strict=True)


def test_probes_point_at_readyz_and_healthz() -> None:
    container = resources()["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["readinessProbe"]["timeoutSeconds"] == 3
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        assert ports[container[probe]["httpGet"]["port"]] == 8000
    assert (
        "--port" in container["args"] and container["args"][container["args"].index("--port") + 1] == "8000"
    )


def test_pod_drains_before_it_stops() -> None:
    pod = resources()["Deployment"]["spec"]["template"]["spec"]
    container = pod["containers"][0]
    command = container["lifecycle"]["preStop"]["exec"]["command"]
    assert command[0] == "sleep"
    # The grace period covers the preStop sleep and then uvicorn's own shutdown.
    assert pod["terminationGracePeriodSeconds"] >= int(command[1]) + 20
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert pod["securityContext"]["runAsNonRoot"] is True
    secrets = {e["name"] for e in container["env"] if "secretKeyRef" in e.get("valueFrom", {})}
    assert secrets == {"SECRET_KEY", "DATABASE_URL", "REDIS_URL", "SMTP_URL"}


def test_pdb_hpa_and_service_select_the_deployment() -> None:
    by_kind = resources()
    deployment = by_kind["Deployment"]
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]

    def selects(selector: dict[str, str]) -> bool:
        return all(pod_labels.get(k) == v for k, v in selector.items())

    assert deployment["spec"]["replicas"] >= 2
    pdb = by_kind["PodDisruptionBudget"]
    assert pdb["spec"]["minAvailable"] == 1
    assert selects(pdb["spec"]["selector"]["matchLabels"])
    assert selects(by_kind["Service"]["spec"]["selector"])

    hpa = by_kind["HorizontalPodAutoscaler"]
    assert hpa["apiVersion"] == "autoscaling/v2"
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["apiVersion"], target["kind"], target["name"]) == ("apps/v1", "Deployment", "ccr")
    assert target["name"] == deployment["metadata"]["name"]
    assert hpa["spec"]["minReplicas"] >= 2  # never below what the PDB needs to allow a drain
    assert [m["resource"]["name"] for m in hpa["spec"]["metrics"]] == ["cpu"]

    backend = by_kind["Ingress"]["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend["name"] == by_kind["Service"]["metadata"]["name"]
    annotations = by_kind["Ingress"]["metadata"]["annotations"]
    assert int(annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"]) >= 3600
