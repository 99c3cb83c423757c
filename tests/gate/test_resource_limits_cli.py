"""TF-RES-004 end to end: a request above its limit (the API server rejects the pod) fails the gate."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import run_cli


def test_a_request_above_its_limit_fails_the_gate(repo: Path) -> None:
    deployment = repo / "base" / "deployment.yaml"
    deployment.write_text(
        deployment.read_text().replace("requests: {cpu: 250m, memory: 512Mi}", "requests: {cpu: '4', memory: 8Gi}")
    )
    result = run_cli("check", str(repo), "--env", "dev")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "TF-RES-004 Deployment/acme-shop-dev/odoo-web (base/deployment.yaml:" in result.stdout
    assert "requests cpu 4 above its limit 1" in result.stdout
    assert "requests memory 8Gi above its limit 1Gi" in result.stdout
