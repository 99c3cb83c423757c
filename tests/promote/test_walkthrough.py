"""The README's promotion walkthrough, run as written: blueprint render, staging change, promote, pull request."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.helpers import ROOT, git
from tests.hosting import TEST_TOKEN, fake_hosting

HEADING = "### Walkthrough: render a tenant, change staging, promote to prod, open the pull request"


def walkthrough() -> str:
    section = (ROOT / "README.md").read_text().split(HEADING, 1)[1]
    return section.split("```sh\n", 1)[1].split("```", 1)[0]


def test_the_readme_walkthrough_runs_as_written(tmp_path: Path) -> None:
    with fake_hosting("github", "acme/corner-bakery", remote=tmp_path / "corner-bakery.git") as api:
        result = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", walkthrough()],
            cwd=ROOT,
            env={
                **os.environ,
                "WORK": str(tmp_path),
                "GITHUB_TOKEN": TEST_TOKEN,
                "GITHUB_API_URL": api.url,
            },
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "opened merge request #1" in result.stdout and "reused open merge request #1" in result.stdout
    assert "Promote-Image: odoo=registry.example.net/retail/odoo:17.0-20261201@sha256:2a0e42" in result.stdout
    assert len(api.opened) == 1 and api.opened[0]["base"]["ref"] == "main"
    tenant = tmp_path / "corner-bakery"
    branch = api.opened[0]["head"]["ref"]
    assert git(tenant, "rev-parse", "HEAD") == git(tenant, "rev-parse", "main")
    diff = git(tenant, "diff", "--stat", "main", branch)
    assert diff.strip().startswith("overlays/prod/kustomization.yaml | ")
