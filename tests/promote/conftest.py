"""A tenant repo to promote in: the gate's passing tenant plus a staging overlay, in real git with a bare remote,
and an offline trivy world (vulnerability DB + one clean and one vulnerable image) so the gate's image scan runs."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from tests.gate import tenant
from tests.helpers import git, make_git_repo, refs_snapshot, tree_snapshot
from tests.imagescan.trivy_fixtures import Package, image_files, write_docker_archive, write_vuln_db

PROD_DIGEST = tenant.DIGEST
IMAGE = "registry.example.net/retail/odoo"
FLEET_SPEC = Path(__file__).parents[1] / "imagescan" / "fixtures" / "fleet.yaml"

STAGING_ENV = """\
  staging:
    namespaces: [acme-shop-staging]
    hosts: [staging.acme.example]
    threshold: high
    prod: false
"""


@dataclass(frozen=True)
class ScanWorld:
    cache: Path  # db/ only; each test copies it (trivy locks its cache dir)
    image_dir: Path
    clean: str  # image id of an image with no known vulnerability
    vulnerable: str  # image id of one with a CRITICAL fixable CVE (CVE-2099-1001 in libssl3)


@pytest.fixture(scope="session")
def scan_world(tmp_path_factory: pytest.TempPathFactory) -> ScanWorld:
    root = tmp_path_factory.mktemp("promote-trivy")
    write_vuln_db(root / "cache", yaml.safe_load(FLEET_SPEC.read_text())["db"])
    images = root / "images"
    ids = {}
    for label, os_release, packages in [
        ("clean", "alpine 3.19.1", [Package("busybox", "1.36.1-r15")]),
        ("vulnerable", "debian 12.5", [Package("libssl3", "3.0.11-1~deb12u2", "openssl")]),
    ]:
        scratch = images / f"{label}.tar"
        image_id = write_docker_archive(scratch, image_files(os_release, packages))
        scratch.rename(images / f"{image_id.replace(':', '-', 1)}.tar")  # how digest pins are looked up
        ids[label] = image_id
    return ScanWorld(root / "cache", images, ids["clean"], ids["vulnerable"])


def staging_overlay(pin: str) -> str:
    return (
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: acme-shop-staging\n"
        "resources:\n  - ../../base\n  - sealed-secret.yaml\n"
        f"images:\n  # staging follows the release candidates\n  - name: {IMAGE}\n{pin}"
    )


@dataclass
class Tenant:
    work: Path
    remote: Path
    staging_digest: str
    world: ScanWorld
    env: dict[str, str] = field(default_factory=dict)

    def snapshot(self) -> tuple[dict[str, bytes], str, str]:
        """Files, refs and HEAD's branch: equal snapshots mean the promotion changed nothing at all."""
        return tree_snapshot(self.work), refs_snapshot(self.work), git(self.work, "symbolic-ref", "HEAD")

    def branches(self) -> list[str]:
        return git(self.work, "for-each-ref", "--format=%(refname:short)", "refs/heads").split()

    def remote_branches(self) -> list[str]:
        return git(self.remote, "for-each-ref", "--format=%(refname:short)", "refs/heads").split()

    def worktrees(self) -> int:
        return git(self.work, "worktree", "list", "--porcelain").count("worktree ")


MakeTenant = Callable[..., Tenant]


@pytest.fixture
def make_tenant(tmp_path: Path, scan_world: ScanWorld) -> MakeTenant:
    def make(
        *, config_extra: str = "", staging_pin: str | None = None, files: Mapping[str, str] | None = None
    ) -> Tenant:
        content = tenant.files()
        content["tenantforge.yml"] = (
            tenant.CONFIG.replace("  prod:\n", STAGING_ENV + "  prod:\n", 1)
            + f"image_scan:\n  image_dir: {scan_world.image_dir}\n"
            + config_extra
        )
        content["overlays/staging/kustomization.yaml"] = staging_overlay(
            staging_pin if staging_pin is not None else f"    digest: {scan_world.clean}\n"
        )
        content["overlays/staging/sealed-secret.yaml"] = tenant.sealed_secret("acme-shop-staging")
        content.update(files or {})
        work = make_git_repo(tmp_path / "acme-shop", content, bare_remote=tmp_path / "acme-shop.git")
        cache = tmp_path / "trivy-cache"
        shutil.copytree(scan_world.cache, cache)
        return Tenant(
            work, tmp_path / "acme-shop.git", scan_world.clean, scan_world, {"TENANTFORGE_TRIVY_CACHE": str(cache)}
        )

    return make
