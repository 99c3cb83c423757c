"""A tenant repo to promote in: the gate's passing tenant plus a staging overlay, in real git with a bare remote."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.gate import tenant
from tests.helpers import git, make_git_repo, refs_snapshot, tree_snapshot

PROD_DIGEST = tenant.DIGEST
STAGING_DIGEST = "sha256:" + "b" * 64
IMAGE = "registry.example.net/retail/odoo"

STAGING_ENV = """\
  staging:
    namespaces: [acme-shop-staging]
    hosts: [staging.acme.example]
    threshold: high
    prod: false
"""


def staging_overlay(pin: str = f"    digest: {STAGING_DIGEST}\n") -> str:
    return (
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: acme-shop-staging\n"
        "resources:\n  - ../../base\n  - sealed-secret.yaml\n"
        f"images:\n  # staging follows the release candidates\n  - name: {IMAGE}\n{pin}"
    )


def tenant_files(*, config_extra: str = "", staging: str | None = None) -> dict[str, str]:
    files = tenant.files()
    files["tenantforge.yml"] = tenant.CONFIG.replace("  prod:\n", STAGING_ENV + "  prod:\n", 1) + config_extra
    files["overlays/staging/kustomization.yaml"] = staging if staging is not None else staging_overlay()
    files["overlays/staging/sealed-secret.yaml"] = tenant.sealed_secret("acme-shop-staging")
    return files


@dataclass
class Tenant:
    work: Path
    remote: Path

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
def make_tenant(tmp_path: Path) -> MakeTenant:
    def make(files: Mapping[str, str] | None = None, **kwargs: str) -> Tenant:
        work = make_git_repo(
            tmp_path / "acme-shop", files or tenant_files(**kwargs), bare_remote=tmp_path / "acme-shop.git"
        )
        return Tenant(work, tmp_path / "acme-shop.git")

    return make
