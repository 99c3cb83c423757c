"""The promotion building blocks in pipelines/: provider schemas and zizmor, and their promote scripts run for
real (everything after `make setup`, with the checkout's tenantforge as `.tenantforge`) against a tenant repo with
a bare remote and the local stand-in for the hosting API."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import yaml

from tests.helpers import ROOT, git
from tests.hosting import TEST_TOKEN, fake_hosting
from tests.promote.conftest import MakeTenant, Tenant
from tests.promote.test_promote_cli import only_promotion_branch

BIN = ROOT / ".venv" / "bin"
ACTION = ROOT / "pipelines" / "github" / "promote" / "action.yml"
GITLAB = ROOT / "pipelines" / "gitlab" / "promote.gitlab-ci.yml"


def run(*cmd: str, cwd: Path = ROOT, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(cmd), capture_output=True, text=True, check=False, timeout=300, cwd=cwd, env=env)


def test_blocks_pass_zizmor_and_the_provider_schemas_and_pin_actions_by_sha() -> None:
    audit = run(str(BIN / "zizmor"), "--offline", "--persona", "pedantic", str(ACTION))
    assert audit.returncode == 0 and "No findings" in audit.stdout, audit.stdout + audit.stderr
    assert run(str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.github-actions", str(ACTION)).returncode == 0
    assert run(str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.gitlab-ci", str(GITLAB)).returncode == 0
    uses = re.findall(r"(?m)^\s*(?:- )?uses:\s*(\S+)", ACTION.read_text())
    assert uses and all(re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", u) for u in uses), uses


def _ci_env(t: Tenant, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_AUTHOR", "GIT_COMMITTER"))}
    env.update(t.env)
    env.update(extra)
    (t.work / ".tenantforge").symlink_to(ROOT)  # what the setup steps leave behind, without building the tools
    return env


def test_github_promote_step_pushes_and_opens_a_pull_request(make_tenant: MakeTenant) -> None:
    t = make_tenant()
    step = next(s for s in yaml.safe_load(ACTION.read_text())["runs"]["steps"] if s["name"] == "Promote")
    with fake_hosting("github", "acme/shop", remote=t.remote) as api:
        env = _ci_env(
            t,
            GITHUB_TOKEN=TEST_TOKEN,
            PROMOTE_FROM="staging",
            PROMOTE_TO="prod",
            TENANT_PATH=".",
            SERVER_URL="https://github.example",
            GITHUB_API_URL=api.url,
            GITHUB_REPOSITORY="acme/shop",
        )
        result = run("bash", "-eo", "pipefail", "-c", step["run"], cwd=t.work, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    branch = only_promotion_branch(t.branches())
    assert branch in t.remote_branches()
    assert git(t.work, "log", "-1", "--format=%an", branch).strip() == "tenantforge promote"
    assert [r.method for r in api.requests] == ["GET", "POST"]
    assert api.opened[0]["head"]["ref"] == branch


def test_gitlab_promote_script_pushes_and_opens_a_merge_request(make_tenant: MakeTenant) -> None:
    t = make_tenant()
    job = yaml.safe_load(GITLAB.read_text())[".tenantforge-promote"]
    after_setup = job["script"][job["script"].index("make -C .tenantforge setup") + 1 :]
    git(t.work, "checkout", "-q", "--detach")  # GitLab CI checks out a detached commit
    with fake_hosting("gitlab", "42", remote=t.remote) as api:
        env = _ci_env(
            t,
            GITLAB_TOKEN=TEST_TOKEN,
            CI_SERVER_URL="https://gitlab.example",
            CI_PROJECT_URL=str(t.remote.with_suffix("")),
            CI_API_V4_URL=api.url,
            CI_PROJECT_ID="42",
            GITLAB_USER_EMAIL="ci@example.net",
            **job["variables"],
        )
        result = run("bash", "-eo", "pipefail", "-c", "\n".join(after_setup), cwd=t.work, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    branch = only_promotion_branch(t.branches())
    assert branch in t.remote_branches()
    assert api.opened[0]["source_branch"] == branch
    assert api.opened[0]["target_branch"] == "main"  # the remote's default branch: the job runs detached
