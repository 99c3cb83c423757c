"""`tenantforge check` end to end: real kustomize, kubeconform and trivy on real repos; exact exit codes."""

from __future__ import annotations

import json
import os
from pathlib import Path

from checks.gate import GateResult
from tests.helpers import run_cli


def _json(repo: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, dict[str, object], str]:
    result = run_cli("check", str(repo), "--format", "json", *args, env=env)
    assert "Traceback" not in result.stderr, result.stderr
    data = json.loads(result.stdout) if result.stdout.strip() else {}
    return result.returncode, data, result.stderr


def test_passes_on_a_hardened_tenant(good_result: GateResult) -> None:
    assert good_result.exit_code == 0, [f for f in good_result.findings if good_result.failing(f)]
    assert good_result.envs == ("dev", "prod", "argocd")
    assert good_result.summary().startswith("gate passed: 2 environments + argocd, 0 failing, 0 waived, ")
    assert good_result.objects == 38
    assert {f.rule_id for f in good_result.findings} <= {"KSV-0020", "KSV-0021"}  # uid 101 is Odoo's image user


def test_fails_when_an_image_floats_and_points_at_the_source_line(repo: Path) -> None:
    deployment = repo / "base" / "deployment.yaml"
    deployment.write_text("# web tier\n" + deployment.read_text().replace("odoo:17.0-20250101", "odoo:latest"))
    code, report, _ = _json(repo, "--env", "dev")
    assert code == 1
    (finding,) = [f for f in report["findings"] if f["rule_id"] == "TF-IMG-003"]  # type: ignore[union-attr,index]
    assert finding["file"] == "base/deployment.yaml"
    assert finding["line"] == 2
    assert finding["env"] == "dev" and finding["failing"] is True
    assert finding["name"] == "odoo-web" and finding["namespace"] == "acme-shop-dev"


def test_text_report_and_summary_line(repo: Path) -> None:
    (repo / "overlays" / "dev" / "sealed-secret.yaml").write_text(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: odoo-config\nstringData:\n  db_password: hunter22\n"
    )
    result = run_cli("check", str(repo), "--env", "dev")
    assert result.returncode == 1
    assert "TF-SEC-001 Secret/acme-shop-dev/odoo-config (overlays/dev/sealed-secret.yaml:1)" in result.stdout
    # The Secret also lacks the odoo.conf web and cron read (TF-ODOO-001 twice).
    assert result.stdout.strip().splitlines()[-1].startswith("gate failed: 1 environment, 3 failing, 0 waived, ")
    assert "\x1b[" not in result.stdout  # no colour when not on a terminal


def test_missing_tool_exits_2_naming_make_setup(repo: Path, tmp_path: Path) -> None:
    code, report, _ = _json(repo, env={"TENANTFORGE_TRIVY": str(tmp_path / "no-trivy")})
    assert code == 2
    tool = [f for f in report["findings"] if f["rule_id"] == "TF-GATE-TOOL"]  # type: ignore[union-attr,index]
    assert tool and "make setup" in tool[0]["message"]
    assert report["status"] == "error"


def test_tool_printing_garbage_exits_2(repo: Path, tmp_path: Path) -> None:
    fake = tmp_path / "kubeconform"
    fake.write_text("#!/bin/sh\necho 'segmentation fault (core dumped)'\nexit 1\n")
    fake.chmod(0o755)
    code, report, _ = _json(repo, env={"TENANTFORGE_KUBECONFORM": str(fake)})
    assert code == 2
    messages = [f["message"] for f in report["findings"] if f["rule_id"] == "TF-GATE-TOOL"]  # type: ignore[union-attr,index]
    assert any("kubeconform exited 1 without a usable JSON report" in m for m in messages)


def test_tool_exiting_non_zero_with_a_clean_report_exits_2(repo: Path, tmp_path: Path) -> None:
    fake = tmp_path / "trivy"
    fake.write_text("#!/bin/sh\necho 'FATAL: cache may be corrupted' >&2\nexit 1\n")
    fake.chmod(0o755)
    code, report, _ = _json(repo, env={"TENANTFORGE_TRIVY": str(fake)})
    assert code == 2
    messages = [f["message"] for f in report["findings"] if f["rule_id"] == "TF-GATE-TOOL"]  # type: ignore[union-attr,index]
    assert messages == ["trivy config exited 1: FATAL: cache may be corrupted"]


def test_invalid_config_exits_2_with_one_line(repo: Path) -> None:
    (repo / "tenantforge.yml").write_text(
        "version: 1\nwaivers:\n- {rule: X, reason: r, owner: o, expires: 2026-13-01}\n"
    )
    result = run_cli("check", str(repo))
    assert result.returncode == 2
    assert (
        result.stderr.strip() == "error: tenantforge.yml: waivers[0].expires: '2026-13-01' is not a date (YYYY-MM-DD)"
    )
    assert result.stdout == ""


def test_unknown_env_exits_2(repo: Path) -> None:
    result = run_cli("check", str(repo), "--env", "staging")
    assert result.returncode == 2
    assert "--env staging: no such overlay (available: dev, prod)" in result.stderr


def test_several_formats_in_one_run(repo: Path, tmp_path: Path) -> None:
    sarif, junit = tmp_path / "out" / "gate.sarif", tmp_path / "out" / "gate.xml"
    sarif.parent.mkdir()
    result = run_cli(
        "check",
        str(repo),
        "--env",
        "prod",
        "--format",
        "sarif",
        "--output",
        str(sarif),
        "--format",
        "junit",
        "--output",
        str(junit),
        "--format",
        "text",
    )
    assert result.returncode == 0, result.stdout
    assert json.loads(sarif.read_text())["version"] == "2.1.0"
    assert junit.read_text().startswith('<?xml version="1.0" encoding="UTF-8"?>')
    assert result.stdout.strip().splitlines()[-1].startswith("gate passed: 1 environment")
    assert not [p for p in os.listdir(tmp_path / "out") if p.startswith(".")]


def test_missing_kustomize_exits_2_before_anything_else_runs(repo: Path, tmp_path: Path) -> None:
    result = run_cli("check", str(repo), env={"TENANTFORGE_KUSTOMIZE": str(tmp_path / "no-kustomize")})
    assert result.returncode == 2
    assert "TF-GATE-TOOL" in result.stdout and "required tool kustomize is missing" in result.stdout
    assert "make setup" in result.stdout
    assert result.stdout.strip().splitlines()[-1].startswith("gate could not decide:")


def test_two_reports_for_one_file_are_refused_before_the_gate_runs(repo: Path, tmp_path: Path) -> None:
    same = tmp_path / "report.out"
    result = run_cli(
        "check", str(repo), "--format", "json", "--output", str(same), "--format", "sarif", "--output", str(same)
    )
    assert (result.returncode, result.stderr.strip()) == (
        2,
        f"error: --output {same} is given for --format json and --format sarif: each report needs its own file",
    )
    assert not same.exists()
