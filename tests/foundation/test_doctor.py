"""`tenantforge doctor` and tool resolution, against the real installed tools."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from checks import tools
from tests.helpers import CLI, ROOT, run_cli


def test_doctor_finds_every_pinned_tool_at_its_version() -> None:
    result = run_cli("doctor", "--format", "json")
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] is True
    names = {t["name"] for t in report["tools"]}
    assert names == set(tools.pins())
    for tool in report["tools"]:
        assert tool["found"], tool
        assert tool["version"] == tool["pinned"], tool
        assert Path(tool["path"]).is_file()
    assert "1.33.0" in report["schemas"]["core_versions"]


def test_doctor_text_lists_each_tool() -> None:
    result = run_cli("doctor")
    assert result.returncode == 0
    for name in tools.pins():
        assert name in result.stdout


def test_override_to_missing_path_makes_doctor_fail(tmp_path: Path) -> None:
    result = run_cli("doctor", "--format", "json", env={"TENANTFORGE_KUBECONFORM": str(tmp_path / "nope")})
    assert result.returncode == 1
    report = json.loads(result.stdout)
    kubeconform = next(t for t in report["tools"] if t["name"] == "kubeconform")
    assert kubeconform["found"] is False
    assert report["ok"] is False


def test_override_is_honoured(tmp_path: Path) -> None:
    real = tools.find_tool("kustomize")
    assert real is not None
    link = tmp_path / "my-kustomize"
    link.symlink_to(real)
    result = run_cli("doctor", "--format", "json", env={"TENANTFORGE_KUSTOMIZE": str(link)})
    kustomize = next(t for t in json.loads(result.stdout)["tools"] if t["name"] == "kustomize")
    assert kustomize["path"] == str(link)
    assert kustomize["version"] == kustomize["pinned"]


def test_version_and_help() -> None:
    version = run_cli("--version")
    assert version.returncode == 0
    assert version.stdout.startswith("tenantforge ")
    assert run_cli("--help").returncode == 0
    assert "doctor" in run_cli("--help").stdout
    assert run_cli("doctor", "--help").returncode == 0


def test_setup_twice_is_fast_and_idempotent() -> None:
    proc = subprocess.run(["python3", "scripts/setup.py"], cwd=ROOT, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "building" not in proc.stdout and "installing" not in proc.stdout, proc.stdout
    assert "up to date" in proc.stdout


def test_missing_crd_schema_dir_makes_doctor_fail(tmp_path: Path) -> None:
    result = run_cli("doctor", "--format", "json", env={"TENANTFORGE_CRD_SCHEMAS": str(tmp_path / "absent")})
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["ok"] is False
    assert report["schemas"]["crd_ok"] is False
    assert "does not exist" in report["schemas"]["crd_error"]
    text = run_cli("doctor", env={"TENANTFORGE_CRD_SCHEMAS": str(tmp_path / "absent")})
    assert text.returncode == 1
    assert "does not exist" in text.stdout


def test_unreachable_crd_catalog_makes_doctor_fail() -> None:
    # Port 9 on loopback: nothing listens, the connection is refused at once.
    catalog = "http://127.0.0.1:9/{group}/{kind}_{version}.json"
    result = run_cli("doctor", "--format", "json", env={"TENANTFORGE_CRD_SCHEMAS": catalog})
    assert result.returncode == 1
    schema = json.loads(result.stdout)["schemas"]
    assert schema["crd_ok"] is False
    assert "cannot fetch http://127.0.0.1:9/traefik.io/ingressroute_v1alpha1.json" in schema["crd_error"]
    assert "TENANTFORGE_CRD_SCHEMAS" in schema["crd_error"]


def test_doctor_table_is_not_truncated_in_a_log() -> None:
    """CI logs are not terminals: tool paths must appear whole, not cut at 80 columns."""
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    result = subprocess.run([str(CLI), "doctor"], capture_output=True, text=True, env=env, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    for name in tools.pins():
        path = tools.find_tool(name)
        assert path is not None
        assert str(path) in result.stdout
