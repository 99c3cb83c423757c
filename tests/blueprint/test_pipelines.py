"""The CI building blocks tenants reference (pipelines/) pass zizmor and the provider schemas, and pin every
action by full commit SHA."""

from __future__ import annotations

import re
import subprocess

from tests.helpers import ROOT

BIN = ROOT / ".venv" / "bin"
ACTION = ROOT / "pipelines" / "github" / "gate" / "action.yml"
GITLAB = ROOT / "pipelines" / "gitlab" / "gate.gitlab-ci.yml"


def run(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(cmd), capture_output=True, text=True, check=False, timeout=120, cwd=ROOT)


def test_composite_action_passes_zizmor_and_the_actions_schema() -> None:
    audit = run(str(BIN / "zizmor"), "--offline", "--persona", "pedantic", str(ACTION))
    assert audit.returncode == 0 and "No findings" in audit.stdout, audit.stdout + audit.stderr
    schema = run(str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.github-actions", str(ACTION))
    assert schema.returncode == 0, schema.stdout
    uses = re.findall(r"(?m)^\s*(?:- )?uses:\s*(\S+)", ACTION.read_text())
    assert len(uses) == 4 and all(re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", u) for u in uses), uses


def test_gitlab_template_passes_the_gitlab_ci_schema_and_publishes_reports() -> None:
    schema = run(str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.gitlab-ci", str(GITLAB))
    assert schema.returncode == 0, schema.stdout
    text = GITLAB.read_text()
    assert "junit: gate-junit.xml" in text and "codequality: gate-codequality.json" in text
    assert "--format junit --output gate-junit.xml" in text


def test_promotion_starts_by_itself_when_staging_changes_on_both_providers() -> None:
    """After a change to overlays/staging/ lands on the tracked branch, CI promotes staging to prod (issue 6)."""
    import yaml

    tenant = ROOT / "examples" / "rendered" / "nordmarkt"
    github = yaml.safe_load((tenant / ".github" / "workflows" / "promote.yml").read_text())
    triggers = github[True]  # YAML 1.1 reads the key `on` as a boolean
    assert triggers["push"] == {"branches": ["main"], "paths": ["overlays/staging/**"]}
    assert "workflow_dispatch" in triggers
    step = github["jobs"]["promote"]["steps"][-1]["with"]
    assert step["from"] == "${{ inputs.from || 'staging' }}"
    assert step["to"] == "${{ inputs.to || 'prod' }}"
    assert github["jobs"]["promote"]["permissions"] == {"contents": "write", "pull-requests": "write"}
    assert github["permissions"] == {}
    gitlab = yaml.safe_load((tenant / ".gitlab-ci.yml").read_text())
    rules = gitlab["promote-staging-to-prod"]["rules"]
    assert rules[0]["if"] == '$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH && $CI_PIPELINE_SOURCE == "push"'
    assert rules[0]["changes"] == ["overlays/staging/**/*"]
