"""Blueprint fixtures: a tagged blueprint repository, a throwaway sealing key pair, and rendered tenants (each
rendered once per test session and worker; tests of one tenant share an xdist group)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from checks import tools
from checks.schemas import core_schema_location, crd_schema_location
from tests.helpers import EXAMPLES, ROOT, blueprint_repo, make_cert, render_example, run_cli, seal_answers

K8S_VERSION = "1.33.0"
CRD_SCHEMAS = ROOT.parent / "shared" / "crd-schemas"

# A covering set over tenancy x database x attachments x sessions x CI x Odoo version (every value of every
# dimension appears; the three examples add more combinations). Answers not given take the blueprint defaults.
MATRIX: dict[str, dict[str, Any]] = {
    "shared-cnpg-s3-redis-github-16": {"tenant_slug": "m-one", "tenancy": "shared", "odoo_version": "16.0"},
    "dedicated-external-rwx-fs-gitlab-17": {
        "tenant_slug": "m-two",
        "tenancy": "dedicated",
        "database": "external",
        "attachment_storage": "rwx-pvc",
        "sessions": "filesystem",
        "ci_provider": "gitlab",
        "odoo_version": "17.0",
        "admin_cidrs": ["192.0.2.0/28"],
    },
    "shared-external-s3-redis-both-18": {
        "tenant_slug": "m-three",
        "tenancy": "shared",
        "database": "external",
        "ci_provider": "both",
        "odoo_version": "18.0",
        "tls_mode": "secret",
        "monitoring": False,
        "environments": ["qa", "production"],
    },
    "dedicated-cnpg-rwx-redis-github-18": {
        "tenant_slug": "m-four",
        "tenancy": "dedicated",
        "attachment_storage": "rwx-pvc",
        "odoo_version": "18.0",
        "freeze_windows": [
            {
                "name": "year-end",
                "schedule": "0 0 20 12 *",
                "duration": "288h",
                "timezone": "UTC",
                "environments": ["prod"],
            },
        ],
    },
}
TENANTFORGE_REF = "a1141461ccac2ea01efc07802dd81adc80380ca2"
EXAMPLE_NAMES = sorted(p.stem for p in EXAMPLES.glob("*.yml"))
ALL_TENANTS = EXAMPLE_NAMES + sorted(MATRIX)


@dataclass(frozen=True)
class Rendered:
    name: str
    root: Path
    manifests: dict[str, str]  # env -> kustomize build output
    built: Path  # directory with one <env>.yaml per overlay

    @property
    def answers(self) -> dict[str, Any]:
        data: dict[str, Any] = yaml.safe_load((self.root / ".copier-answers.yml").read_text())
        return data

    def files(self) -> list[Path]:
        return sorted(p for p in self.root.rglob("*") if p.is_file())


@pytest.fixture(scope="session")
def blueprint_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return blueprint_repo(tmp_path_factory.mktemp("blueprint") / "tenantforge")


@pytest.fixture(scope="session")
def sealing_pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_cert(tmp_path_factory.mktemp("sealing"))


@pytest.fixture(scope="session")
def answers_for(sealing_pair: tuple[Path, Path]) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """Complete answers for a tenant: the given ones plus real sealed values and a pinned tenantforge commit."""

    def make(given: dict[str, Any]) -> dict[str, Any]:
        return seal_answers({"tenantforge_ref": TENANTFORGE_REF, **given}, sealing_pair[0])

    return make


def kustomize_build(overlay: Path) -> str:
    proc = subprocess.run(
        [str(tools.require_tool("kustomize")), "build", str(overlay)], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, f"kustomize build {overlay} failed: {proc.stderr}"
    return proc.stdout


def _render(name: str, tmp: Path, source: Path, answers_for: Callable[[dict[str, Any]], dict[str, Any]]) -> Path:
    if name in EXAMPLE_NAMES:
        return render_example(EXAMPLES / f"{name}.yml", tmp / name, source)
    answers = tmp / f"{name}.answers.yml"
    answers.write_text(yaml.safe_dump(answers_for(MATRIX[name])))
    result = run_cli(
        "new", str(tmp / name), "--answers", str(answers), "--template", str(source), "--vcs-ref", "v0.1.0"
    )
    assert result.returncode == 0, result.stderr
    return tmp / name


@pytest.fixture(scope="session")
def rendered(
    tmp_path_factory: pytest.TempPathFactory,
    blueprint_source: Path,
    answers_for: Callable[[dict[str, Any]], dict[str, Any]],
) -> Callable[[str], Rendered]:
    cache: dict[str, Rendered] = {}

    def get(name: str) -> Rendered:
        if name not in cache:
            tmp = tmp_path_factory.mktemp(f"render-{name}")
            root = _render(name, tmp, blueprint_source, answers_for)
            built = tmp / "built"
            built.mkdir()
            manifests = {}
            for overlay in sorted((root / "overlays").iterdir()):
                manifests[overlay.name] = kustomize_build(overlay)
                (built / f"{overlay.name}.yaml").write_text(manifests[overlay.name])
            cache[name] = Rendered(name=name, root=root, manifests=manifests, built=built)
        return cache[name]

    return get


def kubeconform(paths: list[Path]) -> dict[str, Any]:
    """kubeconform -strict over core and CRD schemas; the parsed JSON report (every resource listed)."""
    proc = subprocess.run(
        [
            str(tools.require_tool("kubeconform")),
            "-strict",
            "-summary",
            "-verbose",
            "-output",
            "json",
            "-kubernetes-version",
            K8S_VERSION,
            "-schema-location",
            core_schema_location(K8S_VERSION),
            "-schema-location",
            crd_schema_location(str(CRD_SCHEMAS)),
            *map(str, paths),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    report: dict[str, Any] = json.loads(proc.stdout)
    return report


def trivy_config(directory: Path, output: Path) -> list[dict[str, Any]]:
    """Failed misconfigurations of one `trivy config` run over a directory of built manifests."""
    proc = subprocess.run(
        [
            str(tools.require_tool("trivy")),
            "config",
            "--skip-check-update",
            "--skip-version-check",
            "--disable-telemetry",
            "--cache-dir",
            str(output.parent / "trivy-cache"),
            "--format",
            "json",
            "--output",
            str(output),
            str(directory),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(output.read_text())
    return [
        m
        for result in report.get("Results") or []
        for m in result.get("Misconfigurations") or []
        if m.get("Status") == "FAIL"
    ]


@pytest.fixture(scope="module")
def valid_answers(answers_for: Callable[[dict[str, Any]], dict[str, Any]]) -> dict[str, Any]:
    """Answers for a valid tenant `acme-shop`: start from these and change one thing."""
    return answers_for({"tenant_slug": "acme-shop"})
