"""Bad input, one test each: a clear finding or a one-line error, never a traceback, never exit 0."""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path

import pytest

from checks.errors import ConfigError
from checks.gate import GateRequest, GateResult, run_gate
from tests.helpers import run_cli, write_tree


def _gate(repo: Path, *envs: str, overlays: tuple[Path, ...] = ()) -> GateResult:
    return run_gate(GateRequest(repo=repo, envs=envs, overlays=overlays))


def _ids(result: GateResult) -> set[str]:
    return {f.rule_id for f in result.findings if result.failing(f)}


def _only(result: GateResult, rule_id: str) -> list[str]:
    return [f"{f.file}:{f.line} {f.message}" for f in result.findings if f.rule_id == rule_id]


def test_invalid_yaml_is_a_build_finding_on_the_overlay(repo: Path) -> None:
    (repo / "base" / "service.yaml").write_text("apiVersion: v1\nkind: Service\nmetadata: {name: odoo-web\n")
    result = _gate(repo, "dev")
    assert result.exit_code == 1
    (message,) = _only(result, "TF-BUILD")
    assert message.startswith("overlays/dev/kustomization.yaml:1 overlay does not build: ")
    assert "service.yaml" in message and "MalformedYAMLError" in message


def test_a_remote_base_that_cannot_be_fetched_says_why(repo: Path, tmp_path: Path) -> None:
    kustomization = repo / "overlays" / "dev" / "kustomization.yaml"
    missing = tmp_path / "nowhere.git"
    kustomization.write_text(kustomization.read_text() + f"  - file://{missing}//base?ref=v1\n")
    result = _gate(repo, "dev")
    assert result.exit_code == 1
    (message,) = _only(result, "TF-BUILD")
    assert f"'{missing}' does not appear to be a git repository" in message
    assert message.endswith(": exit status 128") and "\n" not in message


def test_duplicate_keys_are_a_build_finding(repo: Path) -> None:
    service = repo / "base" / "service.yaml"
    service.write_text(service.read_text().replace("  name: odoo-web\n", "  name: odoo-web\n  name: odoo-www\n"))
    result = _gate(repo, "dev")
    assert result.exit_code == 1
    (message,) = _only(result, "TF-BUILD")
    assert 'mapping key "name" already defined' in message


def test_kustomization_pointing_at_a_missing_file(repo: Path) -> None:
    (repo / "overlays" / "dev" / "sealed-secret.yaml").unlink()
    result = _gate(repo, "dev")
    assert result.exit_code == 1
    (message,) = _only(result, "TF-BUILD")
    assert "sealed-secret.yaml" in message


def test_empty_documents_are_ignored(repo: Path, good_result: GateResult) -> None:
    service = repo / "base" / "service.yaml"
    service.write_text("---\n---\n" + service.read_text() + "---\n\n---\n")
    result = _gate(repo)
    assert result.exit_code == 0, _ids(result)
    assert result.objects == good_result.objects


def test_kind_list_items_are_gated_one_by_one(repo: Path) -> None:
    (repo / "overlays" / "dev" / "extra.yaml").write_text(
        "apiVersion: v1\nkind: List\nitems:\n"
        "- {apiVersion: v1, kind: ConfigMap, metadata: {name: a}, data: {k: v}}\n"
        "- {apiVersion: v1, kind: Secret, metadata: {name: leaked}, stringData: {password: hunter22}}\n"
    )
    kustomization = repo / "overlays" / "dev" / "kustomization.yaml"
    kustomization.write_text(
        kustomization.read_text().replace("  - routes.yaml\n", "  - routes.yaml\n  - extra.yaml\n")
    )
    result = _gate(repo, "dev")
    assert result.exit_code == 1
    (secret,) = [f for f in result.findings if f.rule_id == "TF-SEC-001"]
    assert (secret.kind, secret.name, secret.file) == ("Secret", "leaked", "overlays/dev/extra.yaml")


UNKNOWN_KIND = "apiVersion: example.net/v1\nkind: Gizmo\nmetadata: {name: g}\nspec: {size: 1}\n"


def test_unknown_kind_cannot_be_decided(repo: Path) -> None:
    (repo / "overlays" / "dev" / "gizmo.yaml").write_text(UNKNOWN_KIND)
    kustomization = repo / "overlays" / "dev" / "kustomization.yaml"
    kustomization.write_text(
        kustomization.read_text().replace("  - routes.yaml\n", "  - routes.yaml\n  - gizmo.yaml\n")
    )
    result = _gate(repo, "dev")
    assert result.exit_code == 2
    (message,) = _only(result, "TF-SCHEMA-MISSING")
    assert message.startswith("overlays/dev/gizmo.yaml:1 no schema for example.net/v1/Gizmo")
    assert result.summary().startswith("gate could not decide: 1 environment, 1 failing")

    config = repo / "tenantforge.yml"
    config.write_text(config.read_text() + "schemas:\n  allow_missing: [example.net/v1/Gizmo]\n")
    assert _gate(repo, "dev").exit_code == 0


def test_object_without_namespace(tmp_path: Path) -> None:
    overlay = write_tree(
        tmp_path / "k8s" / "prod",
        {
            "kustomization.yaml": "resources: [cm.yaml]\n",
            "cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {mode: fast}\n",
        },
    )
    result = _gate(tmp_path, overlays=(overlay,))
    assert result.envs == ("prod",)
    assert result.exit_code == 1
    assert _only(result, "TF-ISO-001") == ["k8s/prod/cm.yaml:1 ConfigMap 'settings' has no namespace"]


def test_schema_invalid_object_points_at_its_source(repo: Path) -> None:
    service = repo / "base" / "service.yaml"
    service.write_text(service.read_text().replace("  ports:", "  portz:"))
    result = _gate(repo, "dev")
    assert result.exit_code == 1
    (message,) = _only(result, "TF-SCHEMA-INVALID")
    assert message.startswith("base/service.yaml:1 v1/Service does not match its schema at /spec")
    assert "portz" in message


def test_multi_gigabyte_file_is_refused_before_rendering(repo: Path) -> None:
    with (repo / "base" / "dump.yaml").open("wb") as fh:
        fh.truncate(3 << 30)  # sparse: 3 GiB that cost no disk
    started = time.perf_counter()
    result = _gate(repo)
    assert time.perf_counter() - started < 10
    assert result.exit_code == 2
    (message,) = _only(result, "TF-GATE-INPUT")
    assert message.startswith("base/dump.yaml:None 3,221,225,472 bytes is more than the 64 MiB")
    assert result.objects == 0


def test_billion_laughs_is_refused_before_kustomize_chokes_on_it(repo: Path) -> None:
    lines = ['  a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 10):
        prev, cur = chr(ord("a") + i - 1), chr(ord("a") + i)
        lines.append(f"  {cur}: &{cur} [*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev}]")
    (repo / "base" / "lol.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: lol}\ndata:\n" + "\n".join(lines)
    )
    started = time.perf_counter()
    result = _gate(repo)
    assert time.perf_counter() - started < 10
    assert result.exit_code == 2
    (message,) = _only(result, "TF-GATE-INPUT")
    assert "alias bomb" in message


def test_unknown_key_in_config_exits_2_naming_it(repo: Path) -> None:
    (repo / "tenantforge.yml").write_text("version: 1\nenvironments:\n  dev: {thresold: high}\n")
    result = run_cli("check", str(repo))
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "error: tenantforge.yml: environments.dev.thresold: unknown key "
        "(allowed: namespaces, hosts, threshold, prod, images)"
    )


def test_no_overlays_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"no overlays/\*/kustomization\.yaml found"):
        _gate(tmp_path)


WAIVER = """\
waivers:
  - rule: TF-IMG-003
    select: {{env: dev, kind: Deployment, name: odoo-*}}
    reason: dev follows the nightly tag by design
    owner: platform@acme.example
    expires: {expires}
"""


@pytest.mark.parametrize(("expires", "code"), [("2999-12-31", 0), ("2020-01-31", 1)])
def test_waivers_cover_findings_until_they_expire(repo: Path, expires: str, code: int) -> None:
    deployment = repo / "base" / "deployment.yaml"
    deployment.write_text(deployment.read_text().replace("odoo:17.0-20250101", "odoo:nightly"))
    config = repo / "tenantforge.yml"
    config.write_text(config.read_text().replace("waivers: []\n", WAIVER.format(expires=expires)))
    result = run_gate(GateRequest(repo=repo, envs=("dev",)), today=date(2026, 12, 3))
    assert result.exit_code == code
    (finding,) = [f for f in result.findings if f.rule_id == "TF-IMG-003"]
    if code == 0:
        assert finding.waived_by == "waivers[0] (platform@acme.example, until 2999-12-31)"
        assert result.summary().startswith("gate passed: 1 environment, 0 failing, 1 waived")
    else:
        assert finding.waived_by is None and result.failing(finding)
        (expired,) = [f for f in result.findings if f.rule_id == "TF-WAIVER-EXPIRED"]
        assert expired.env == "dev" and result.failing(expired)
        assert "expired on 2020-01-31" in expired.message
