"""The gate fails closed: an overlay that yields nothing to check is exit 2, never "gate passed"."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from checks.adapters import kustomize as kustomize_adapter
from tests.helpers import ROOT, run_cli


def test_a_kustomize_that_prints_nothing_cannot_pass(repo: Path) -> None:
    result = run_cli("check", str(repo), "--env", "prod", env={"TENANTFORGE_KUSTOMIZE": "/bin/true"})
    assert result.returncode == 2, result.stdout
    assert "TF-BUILD-EMPTY overlays/prod: kustomize build produced no objects" in result.stdout


def test_an_overlay_with_no_resources_cannot_pass(repo: Path) -> None:
    (repo / "overlays" / "dev" / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: []\n"
    )
    result = run_cli("check", str(repo), "--format", "text")
    assert result.returncode == 2, result.stdout
    assert "TF-BUILD-EMPTY overlays/dev: kustomize build produced no objects" in result.stdout
    assert "TF-BUILD-EMPTY overlays/prod" not in result.stdout


def test_a_kustomization_that_is_a_directory_is_refused_not_skipped(repo: Path) -> None:
    kustomization = repo / "overlays" / "prod" / "kustomization.yaml"
    kustomization.unlink()
    kustomization.mkdir()
    result = run_cli("check", str(repo))
    assert result.returncode == 2, result.stdout
    assert result.stderr.startswith("error: overlays/prod/kustomization.yaml: not a regular file;"), result.stderr


def test_every_kustomization_file_name_kustomize_accepts_is_discovered(repo: Path) -> None:
    overlays = repo / "overlays"
    (overlays / "dev" / "kustomization.yaml").rename(overlays / "dev" / "Kustomization")
    (overlays / "prod" / "kustomization.yaml").rename(overlays / "prod" / "kustomization.yml")
    result = run_cli("check", str(repo), "--format", "json")
    assert result.returncode == 0, result.stdout
    assert [e["name"] for e in json.loads(result.stdout)["environments"]] == ["dev", "prod", "argocd"]


def test_gate_tools_collect_garbage_less_often_unless_the_caller_says_otherwise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The real kustomize, as the gate runs it, with Go's GC trace on: the gate's GOGC default reaches the process
    (far fewer collections) and a GOGC the caller set wins over it."""
    overlay = ROOT / "examples" / "rendered" / "city-outfitters" / "overlays" / "prod"
    monkeypatch.setenv("GODEBUG", "gctrace=1")
    monkeypatch.delenv("GOGC", raising=False)
    monkeypatch.delenv("GOMEMLIMIT", raising=False)

    def collections() -> int:
        code, _, stderr = kustomize_adapter._run(overlay)
        assert code == 0, stderr
        return sum(1 for line in stderr.splitlines() if line.startswith("gc "))

    ours = collections()
    monkeypatch.setenv("GOGC", "100")
    assert ours * 3 <= collections()
