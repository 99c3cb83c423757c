"""Images come from the rendered overlay (after kustomize's `images:` transformer), with what it did not reach."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from checks import tools
from checks.finding import Severity
from checks.imagescan.refs import (
    ImageRef,
    image_pins,
    images_in_object,
    images_in_objects,
    implicit_image_findings,
    pin_findings,
)
from checks.imagescan.stage import fails
from tests.helpers import write_tree

BASE = {
    "base/kustomization.yaml": "resources: [odoo.yaml, cron.yaml, db.yaml]\n",
    "base/odoo.yaml": """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: odoo-web}
spec:
  selector: {matchLabels: {app: odoo}}
  template:
    metadata: {labels: {app: odoo}}
    spec:
      initContainers:
        - {name: migrate, image: "registry.example.net/retail/odoo:16.0"}
      containers:
        - {name: odoo, image: "registry.example.net/retail/odoo:16.0"}
        - {name: exporter, image: "registry.example.net/retail/exporter:1.2"}
""",
    "base/cron.yaml": """\
apiVersion: batch/v1
kind: CronJob
metadata: {name: odoo-cron}
spec:
  schedule: "*/5 * * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: Never
          containers:
            - {name: cron, image: "registry.example.net/retail/odoo:16.0"}
""",
    "base/db.yaml": """\
apiVersion: postgresql.cnpg.io/v1
kind: Cluster
metadata: {name: db}
spec:
  instances: 1
  imageName: registry.example.net/retail/postgresql:16.0
  storage: {size: 1Gi}
""",
    "overlays/prod/kustomization.yaml": """\
namespace: shop-prod
resources: [../../base]
images:
  - name: registry.example.net/retail/odoo
    newTag: "17.0"
    digest: sha256:1111111111111111111111111111111111111111111111111111111111111111
  - name: registry.example.net/retail/postgresql
    newTag: "16.4"
  - name: registry.example.net/retail/exporterr
    newTag: "1.3"
""",
}


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, object]]]:
    repo = write_tree(tmp_path_factory.mktemp("repo"), BASE)
    proc = subprocess.run(
        [str(tools.require_tool("kustomize")), "build", str(repo / "overlays" / "prod")],
        capture_output=True,
        text=True,
        check=True,
    )
    return repo, [d for d in yaml.safe_load_all(proc.stdout) if d]


def test_every_image_field_of_the_rendered_overlay(rendered: tuple[Path, list[dict[str, object]]]) -> None:
    _, objects = rendered
    found = sorted((u.resource, u.field, u.ref) for u in images_in_objects(objects, "prod"))
    odoo = "registry.example.net/retail/odoo:17.0@sha256:" + "1" * 64
    assert found == [
        ("Cluster/shop-prod/db", "spec.imageName", "registry.example.net/retail/postgresql:16.0"),
        ("CronJob/shop-prod/odoo-cron", "spec.jobTemplate.spec.template.spec.containers[cron].image", odoo),
        (
            "Deployment/shop-prod/odoo-web",
            "spec.template.spec.containers[exporter].image",
            "registry.example.net/retail/exporter:1.2",
        ),
        ("Deployment/shop-prod/odoo-web", "spec.template.spec.containers[odoo].image", odoo),
        ("Deployment/shop-prod/odoo-web", "spec.template.spec.initContainers[migrate].image", odoo),
    ]


def test_pins_the_transformer_did_not_reach_are_reported(rendered: tuple[Path, list[dict[str, object]]]) -> None:
    repo, objects = rendered
    pins = image_pins(repo / "overlays" / "prod", display_root=repo)
    assert [(p.name, p.file, p.line) for p in pins] == [
        ("registry.example.net/retail/odoo", "overlays/prod/kustomization.yaml", 4),
        ("registry.example.net/retail/postgresql", "overlays/prod/kustomization.yaml", 7),
        ("registry.example.net/retail/exporterr", "overlays/prod/kustomization.yaml", 9),
    ]
    findings = pin_findings("prod", pins, images_in_objects(objects, "prod"))
    assert sorted((f.rule_id, f.resource, f.line) for f in findings) == [
        ("TF-IMAGE-PIN-UNUSED", "Kustomization", 9),
        ("TF-IMAGE-UNREACHED", "Cluster/shop-prod/db", 7),
    ]
    unreached = next(f for f in findings if f.rule_id == "TF-IMAGE-UNREACHED")
    assert "spec.imageName still runs registry.example.net/retail/postgresql:16.0" in unreached.message


@pytest.mark.parametrize(
    ("raw", "repository", "tag", "digest"),
    [
        ("odoo", "odoo", None, None),
        ("odoo:17", "odoo", "17", None),
        ("localhost:5000/odoo", "localhost:5000/odoo", None, None),
        ("localhost:5000/odoo:17@sha256:" + "a" * 64, "localhost:5000/odoo", "17", "sha256:" + "a" * 64),
        ("r.example.net/a/b@sha256:" + "b" * 64, "r.example.net/a/b", None, "sha256:" + "b" * 64),
    ],
)
def test_image_reference_parsing(raw: str, repository: str, tag: str | None, digest: str | None) -> None:
    ref = ImageRef.parse(raw)
    assert (ref.repository, ref.tag, ref.digest) == (repository, tag, digest)


def test_cnpg_cluster_without_an_image_is_reported_as_unscannable() -> None:
    cluster = {
        "apiVersion": "postgresql.cnpg.io/v1",
        "kind": "Cluster",
        "metadata": {"name": "db", "namespace": "shop-prod"},
        "spec": {"instances": 2},
    }
    (note,) = implicit_image_findings(cluster, "prod", "base/database.yaml", 3)
    assert (note.rule_id, note.severity, note.resource, note.file, note.line) == (
        "TF-IMAGE-IMPLICIT", Severity.INFO, "Cluster/shop-prod/db", "base/database.yaml", 3,
    )  # fmt: skip
    assert images_in_object(cluster, "prod") == []
    pinned = {**cluster, "spec": {"imageName": "registry.example.net/retail/postgresql:16.4"}}
    catalog = {**cluster, "spec": {"imageCatalogRef": {"kind": "ImageCatalog", "name": "pg", "major": 16}}}
    assert implicit_image_findings(pinned, "prod") == implicit_image_findings(catalog, "prod") == []
    assert not fails(note, Severity.INFO)
