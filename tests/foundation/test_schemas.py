"""Offline schema resolution with the real kubeconform: core kinds from kubernetes-validate, CRDs from a dir."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from checks import schemas, tools
from checks.errors import ConfigError

VALID = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: "odoo:17.0"}]
"""
INVALID = VALID.replace('image: "odoo:17.0"}', 'image: "odoo:17.0", imagePullPolcy: Always}').replace(
    "selector:", "replicas: two\n  selector:"
)
ROUTE = """\
apiVersion: traefik.io/v1alpha1
kind: IngressRoute
metadata: {name: web, namespace: shop}
spec:
  entryPoints: [websecure]
  routes:
    - kind: Rule
      match: Host(`shop.example.com`)
      services: [{name: web, port: 8069}]
"""


def kubeconform(manifest: Path, *locations: str) -> dict[str, object]:
    cmd = [
        str(tools.require_tool("kubeconform")),
        "-strict",
        "-output",
        "json",
        "-verbose",
        "-kubernetes-version",
        "1.33.0",
    ]
    for loc in locations:
        cmd += ["-schema-location", loc]
    proc = subprocess.run([*cmd, str(manifest)], capture_output=True, text=True, check=False)
    result: dict[str, object] = json.loads(proc.stdout)
    return result


def statuses(report: dict[str, object]) -> dict[str, str]:
    resources = report["resources"]
    assert isinstance(resources, list)
    return {r["name"]: r["status"] for r in resources}


def test_core_schemas_validate_offline(tmp_path: Path) -> None:
    manifest = tmp_path / "m.yaml"
    manifest.write_text(VALID + "---\n" + INVALID.replace("name: web, namespace", "name: bad, namespace"))
    report = kubeconform(manifest, schemas.core_schema_location("1.33.0"))
    assert statuses(report) == {"web": "statusValid", "bad": "statusInvalid"}
    bad = next(r for r in report["resources"] if r["name"] == "bad")  # type: ignore[attr-defined]
    assert "imagePullPolcy" in bad["msg"] and "replicas" in bad["msg"]


def test_prepared_schemas_are_self_contained() -> None:
    root = schemas.ensure_core_schemas("1.33.0")
    text = (root / "v1.33.0-local-strict" / "deployment-apps-v1.json").read_text()
    assert "_definitions.json" not in text
    assert '"#/$defs/io.k8s.api.apps.v1.DeploymentSpec"' in text


def test_traefik_ingressroute_validates_against_crd_schema(tmp_path: Path, crd_schemas: Path) -> None:
    manifest = tmp_path / "route.yaml"
    manifest.write_text(
        ROUTE
        + "---\n"
        + ROUTE.replace("name: web,", "name: broken,").replace("kind: Rule", "kind: Rule\n      bogus: true")
    )
    report = kubeconform(
        manifest, schemas.core_schema_location("1.33.0"), schemas.crd_schema_location(str(crd_schemas))
    )
    assert statuses(report) == {"web": "statusValid", "broken": "statusInvalid"}


def test_unknown_kubernetes_version_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match=r"no core schemas for Kubernetes 1\.2\.3; available: 1\.25\.0"):
        schemas.ensure_core_schemas("1.2.3")
    with pytest.raises(ConfigError, match=r"must look like X\.Y\.Z"):
        schemas.ensure_core_schemas("1.29")


def test_missing_crd_dir_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        schemas.crd_schema_location(str(tmp_path / "absent"))
