"""tenantforge.yml keys that can never match (an environment with no overlay, a waiver for no rule) are refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import run_cli


def _rename_prod_env(repo: Path) -> None:
    config = repo / "tenantforge.yml"
    config.write_text(config.read_text().replace("  prod:\n    namespaces", "  production:\n    namespaces"))


def test_an_environment_key_without_an_overlay_is_a_config_error(repo: Path) -> None:
    _rename_prod_env(repo)
    result = run_cli("check", str(repo), "--env", "dev")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "error: tenantforge.yml: environments.production: no overlay of that name (overlays found: dev, prod); "
        "keys are overlays/<env> directory names"
    )


def test_explicit_overlays_may_leave_environment_keys_unused(repo: Path) -> None:
    _rename_prod_env(repo)
    result = run_cli("check", str(repo), "--overlay", str(repo / "overlays" / "dev"))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("rule", ["TF-POD-999", "CVE-2024-1234", "ksv-0014"])
def test_a_waiver_for_no_known_rule_is_a_config_error(repo: Path, rule: str) -> None:
    config = repo / "tenantforge.yml"
    config.write_text(
        config.read_text().replace(
            "waivers: []", f"waivers:\n- {{rule: {rule}, reason: r, owner: o, expires: 2099-01-01}}"
        )
    )
    result = run_cli("check", str(repo), "--env", "dev")
    assert result.returncode == 2
    assert result.stderr.startswith(f"error: tenantforge.yml: waivers[0].rule: '{rule}' is neither"), result.stderr
    assert "--format json" in result.stderr


def test_an_expired_vulnerability_waiver_fails_the_gate_without_images(repo: Path) -> None:
    config = repo / "tenantforge.yml"
    config.write_text(
        config.read_text()
        + "vulnerability_waivers:\n- {id: CVE-2024-12345, reason: unreachable, owner: sec@acme.example, "
        "expires: 2020-01-01}\n"
    )
    result = run_cli("check", str(repo), "--env", "dev")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "TF-WAIVER-EXPIRED tenantforge.yml: vulnerability waiver for CVE-2024-12345 on * " in result.stdout
