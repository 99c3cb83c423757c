"""The integrity stages inside the gate: `tenantforge check` runs them, `--routes` adds the real Traefik."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from checks import integrity
from checks.adapters import kustomize
from checks.config import load_config
from checks.gate import GateResult
from tests.helpers import EXAMPLES, run_cli


@pytest.fixture
def repo(good_repo: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(good_repo, tmp_path / "repo"))


def test_the_hardened_tenant_passes_the_integrity_stages(good_result: GateResult) -> None:
    assert [f for f in good_result.findings if f.tool in {"references", "netpol", "odoo-conf"}] == []
    assert "integrity" in good_result.timings


def test_check_routes_passes_and_prints_the_route_table(good_repo: Path) -> None:
    result = run_cli("check", str(good_repo), "--env", "dev", "--routes", env={"COLUMNS": "200"})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "routes proven in Traefik" in result.stdout
    assert "/websocket reaches the gevent port" in result.stdout
    assert "200 from port 8072" in result.stdout
    assert "IngressRoute odoo routes[1]" in result.stdout
    assert result.stdout.strip().splitlines()[-1].startswith("gate passed: 1 environment, 0 failing, 0 waived, ")


def test_check_routes_fails_when_websocket_goes_to_8069(repo: Path) -> None:
    routes = repo / "overlays" / "dev" / "routes.yaml"
    routes.write_text(
        routes.read_text().replace(
            "services: [{name: odoo-web, port: 8072}]", "services: [{name: odoo-web, port: 8069}]"
        )
    )
    result = run_cli("check", str(repo), "--env", "dev", "--routes", "--format", "json")
    assert result.returncode == 1, result.stderr
    failing = {(f["rule_id"], f["tool"]) for f in json.loads(result.stdout)["findings"] if f["failing"]}
    assert failing == {("TF-ROUTE-004", "traefik"), ("TF-ODOO-004", "odoo-conf")}


def test_integrity_findings_are_waivable(repo: Path) -> None:
    policies = repo / "base" / "networkpolicies.yaml"
    policies.write_text(policies.read_text().replace("{protocol: UDP, port: 53}, ", ""))
    config = repo / "tenantforge.yml"
    result = run_cli("check", str(repo), "--env", "dev", "--format", "json")
    assert result.returncode == 1
    failing = [(f["rule_id"], f["message"]) for f in json.loads(result.stdout)["findings"] if f["failing"]]
    assert failing == [
        (
            "TF-NET-001",
            f"Odoo {role} (Deployment/odoo-{role}) cannot reach DNS on UDP 53: no egress rule of allow-dns, "
            "default-deny, odoo-egress admits UDP 53",
        )
        for role in ("cron", "web")
    ]
    config.write_text(
        config.read_text().replace(
            "waivers: []\n",
            "waivers:\n  - rule: TF-NET-001\n    select: {env: dev}\n    reason: node-local DNS cache\n"
            "    owner: platform@acme.example\n    expires: 2099-01-01\n",
        )
    )
    result = run_cli("check", str(repo), "--env", "dev", "--format", "json")
    assert result.returncode == 0, result.stdout


def test_check_routes_without_traefik_exits_2_naming_make_setup(good_repo: Path, tmp_path: Path) -> None:
    result = run_cli(
        "check",
        str(good_repo),
        "--env",
        "dev",
        "--routes",
        "--format",
        "json",
        env={"TENANTFORGE_TRAEFIK": str(tmp_path / "no-traefik")},
    )
    assert result.returncode == 2
    [tool] = [f for f in json.loads(result.stdout)["findings"] if f["rule_id"] == "TF-GATE-TOOL"]
    assert tool["tool"] == "traefik" and "make setup" in tool["message"]


@pytest.mark.parametrize("name", ["city-outfitters", "corner-bakery", "nordmarkt"])
def test_bundled_examples_pass_every_integrity_stage_including_traefik(name: str) -> None:
    repo = EXAMPLES / "rendered" / name
    config = load_config(repo / "tenantforge.yml", required=True)
    overlays = sorted(p for p in (repo / "overlays").iterdir() if p.is_dir())
    assert len(overlays) >= 2
    for overlay in overlays:
        rendered = kustomize.render(overlay, overlay.name, repo)
        assert rendered.failure is None
        result = integrity.evaluate(rendered.objects, config.environment(overlay.name), config, routes=True)
        assert result.findings == [], (overlay.name, [f.message for f in result.findings])
        assert {r.check for r in result.routes if r.ok} >= {"/ reaches Odoo web", "/websocket reaches the gevent port"}
        assert all(r.ok for r in result.routes)
