"""The fleet CI building blocks (pipelines/): valid for their CI systems, pinned, and running shard I/N."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from checks.tools import require_tool
from tests.helpers import ROOT, git

BIN = ROOT / ".venv" / "bin"
ACTION = ROOT / "pipelines" / "github" / "fleet" / "action.yml"
EXAMPLE = ROOT / "pipelines" / "github" / "fleet-upgrade.example.yml"
GITLAB = ROOT / "pipelines" / "gitlab" / "fleet.gitlab-ci.yml"


def run(*cmd: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(cmd), capture_output=True, text=True, check=False, timeout=120, cwd=cwd)


def test_fleet_action_passes_zizmor_and_the_actions_schema() -> None:
    audit = run(str(BIN / "zizmor"), "--offline", "--persona", "pedantic", str(ACTION))
    assert audit.returncode == 0 and "No findings" in audit.stdout, audit.stdout + audit.stderr
    schema = run(str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.github-actions", str(ACTION))
    assert schema.returncode == 0, schema.stdout
    uses = re.findall(r"(?m)^\s*(?:- )?uses:\s*(\S+)", ACTION.read_text())
    assert uses and all(re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", u) for u in uses), uses
    assert '--shard "$FLEET_SHARD"' in ACTION.read_text()


def test_example_matrix_workflow_passes_actionlint_and_zizmor(tmp_path: Path) -> None:
    workflows = tmp_path / ".github" / "workflows"
    workflows.mkdir(parents=True)
    shutil.copy(EXAMPLE, workflows / "fleet-upgrade.yml")
    git(tmp_path, "init", "--quiet")
    lint = run(str(require_tool("actionlint")), cwd=tmp_path)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    audit = run(str(BIN / "zizmor"), "--offline", "--persona", "pedantic", str(workflows / "fleet-upgrade.yml"))
    assert audit.returncode == 0 and "No findings" in audit.stdout, audit.stdout + audit.stderr
    assert "shard: ${{ matrix.shard }}/4" in EXAMPLE.read_text()


def test_gitlab_template_passes_the_gitlab_ci_schema_and_shards_by_node_index() -> None:
    schema = run(str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.gitlab-ci", str(GITLAB))
    assert schema.returncode == 0, schema.stdout
    assert '--shard "${CI_NODE_INDEX:-1}/${CI_NODE_TOTAL:-1}"' in GITLAB.read_text()
