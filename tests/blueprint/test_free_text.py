"""Free text (the display name) with quotes, colons, '#', newlines, unicode and `${{ … }}` renders as valid YAML,
round-trips exactly, and never reaches the CI workflows."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from checks import tools
from tests.helpers import ROOT, run_cli

NASTY = "Ünïcödé \"Shop\": #1 'quoted'\nsecond line ${{ github.token }} {{ .db_password }} {% raw %} &anchor *alias"


@pytest.mark.xdist_group("free-text")
def test_nasty_display_name_is_valid_yaml_everywhere_and_absent_from_ci(
    answers_for: Callable[[dict[str, Any]], dict[str, Any]], blueprint_source: Path, tmp_path: Path
) -> None:
    answers = answers_for({"tenant_slug": "nasty", "tenant_name": NASTY, "ci_provider": "both"})
    path = tmp_path / "answers.yml"
    path.write_text(yaml.safe_dump(answers, allow_unicode=True))
    dest = tmp_path / "tenant"
    result = run_cli("new", str(dest), "--answers", str(path), "--template", str(blueprint_source))
    assert result.returncode == 0, result.stderr
    for file in sorted(dest.rglob("*")):
        if file.suffix in {".yml", ".yaml"}:
            list(yaml.safe_load_all(file.read_text()))
    project = yaml.safe_load((dest / "argocd" / "project.yaml").read_text())
    assert project["spec"]["description"] == f"Odoo tenant {NASTY}"
    assert yaml.safe_load((dest / ".copier-answers.yml").read_text())["tenant_name"] == NASTY
    ci = [dest / ".gitlab-ci.yml", *sorted((dest / ".github" / "workflows").glob("*.yml"))]
    for file in ci:
        text = file.read_text()
        assert "github.token" not in text and "Shop" not in text and "db_password" not in text
    workflow = ci[1].relative_to(dest)
    lint = subprocess.run([str(tools.require_tool("actionlint")), str(workflow)], cwd=dest, capture_output=True,
                          text=True, check=False)  # fmt: skip
    assert lint.returncode == 0, lint.stdout
    audit = subprocess.run([str(ROOT / ".venv" / "bin" / "zizmor"), "--offline", str(workflow)], cwd=dest,
                           capture_output=True, text=True, check=False)  # fmt: skip
    assert audit.returncode == 0 and "No findings" in audit.stdout, audit.stdout
