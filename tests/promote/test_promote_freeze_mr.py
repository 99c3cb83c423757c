"""`tenantforge promote` under change freezes, and opening merge requests against a local stand-in API."""

from __future__ import annotations

import pytest

from generator.gitrepo import parse_trailers
from tests.helpers import git
from tests.hosting import TEST_TOKEN, fake_hosting
from tests.promote.conftest import MakeTenant
from tests.promote.test_promote_cli import only_promotion_branch, promote

ALWAYS_FROZEN = """\
freeze_windows:
  - name: peak-season
    schedule: "* * * * *"     # starts every minute and lasts an hour: always active
    duration: 1h
    timezone: Europe/Berlin
    environments: [prod]
"""


def test_fails_when_a_freeze_window_is_active(make_tenant: MakeTenant) -> None:
    t = make_tenant(config_extra=ALWAYS_FROZEN)
    before = t.snapshot()
    code, _, err = promote(t, "--push")
    assert code == 1
    assert err.startswith("error: prod is frozen: freeze window 'peak-season' is active from ")
    assert err.strip().endswith(
        "promote only with --emergency --reason TEXT (recorded in the commit); nothing was changed"
    )
    code, _, err = promote(t, "--emergency")
    assert code == 1
    assert err.strip() == "error: --emergency needs --reason TEXT: the reason is recorded in the commit for the audit"
    assert t.snapshot() == before
    assert t.remote_branches() == ["main"]


def test_passes_in_a_freeze_with_an_emergency_reason_recorded_in_the_trailers(make_tenant: MakeTenant) -> None:
    t = make_tenant(config_extra=ALWAYS_FROZEN)
    code, out, err = promote(t, "--emergency", "--reason", "CVE-2026-0001: patched image")
    assert code == 0, out + err
    assert "freeze overridden (emergency): freeze window 'peak-season' is active" in out
    message = git(t.work, "log", "-1", "--format=%B", only_promotion_branch(t.branches()))
    trailers = dict(parse_trailers(message))
    assert trailers["Promote-Emergency"] == "yes"
    assert trailers["Promote-Reason"] == "CVE-2026-0001: patched image"
    assert trailers["Freeze-Override"].startswith("peak-season ")
    assert "EMERGENCY: freeze window 'peak-season' is active" in message


@pytest.mark.parametrize(
    ("window", "message"),
    [
        (
            '  - {name: w, schedule: "99 * * * *", duration: 1h, environments: [prod]}\n',
            "error: tenantforge.yml: freeze_windows[0].schedule: '99 * * * *' has a value out of range",
        ),
        (
            '  - {name: w, schedule: "0 0 * * *", duration: 5 days, environments: [prod]}\n',
            "error: tenantforge.yml: freeze_windows[0].duration: '5 days' is not a duration",
        ),
    ],
)
def test_fails_on_a_malformed_freeze_window(make_tenant: MakeTenant, window: str, message: str) -> None:
    t = make_tenant(config_extra="freeze_windows:\n" + window)
    before = t.snapshot()
    code, _, err = promote(t)
    assert code == 2
    assert err.startswith(message)
    assert err.count("\n") == 1
    assert t.snapshot() == before


def test_opens_a_pull_request_and_reuses_it_on_the_next_run(make_tenant: MakeTenant) -> None:
    t = make_tenant()
    with fake_hosting("github", "acme/shop", remote=t.remote) as api:
        env = {"GITHUB_TOKEN": TEST_TOKEN, "GITHUB_API_URL": api.url, "GITHUB_REPOSITORY": "acme/shop"}
        code, out, err = promote(t, "--push", "--open-mr", "github", "--reason", "release 42", env=env)
        assert code == 0, out + err
        assert "opened merge request #1: https://github.example/acme/shop/pull/1" in out
        code, out, _ = promote(t, "--push", "--open-mr", "github", env=env)
        assert code == 0
        assert "reused open merge request #1" in out
    branch = only_promotion_branch(t.branches())
    created = next(r for r in api.requests if r.method == "POST")
    assert created.path == "/repos/acme/shop/pulls"
    assert created.headers["authorization"] == f"Bearer {TEST_TOKEN}"
    assert created.body["head"] == branch and created.body["base"] == "main"
    assert created.body["title"] == "promote staging -> prod: registry.example.net/retail/odoo"
    assert "gate passed: 1 environment, 0 failing" in created.body["body"]
    assert "Reason: release 42" in created.body["body"]
    assert len(api.opened) == 1


def test_opens_a_gitlab_merge_request_from_ci_variables(make_tenant: MakeTenant) -> None:
    t = make_tenant()
    with fake_hosting("gitlab", "42", remote=t.remote) as api:
        env = {"GITLAB_TOKEN": TEST_TOKEN, "CI_API_V4_URL": api.url, "CI_PROJECT_ID": "42"}
        code, out, err = promote(t, "--push", "--open-mr", "gitlab", env=env)
    assert code == 0, out + err
    assert "opened merge request #1: https://gitlab.example/42/-/merge_requests/1" in out
    created = next(r for r in api.requests if r.method == "POST")
    assert created.path == "/api/v4/projects/42/merge_requests"
    assert created.headers["private-token"] == TEST_TOKEN
    assert created.body["source_branch"] == only_promotion_branch(t.branches())
    assert created.body["target_branch"] == "main"


@pytest.mark.parametrize(
    ("provider", "setup", "expected"),
    [
        ("github", "bad-token", "GitHub API GET {url}/repos/acme/shop/pulls answered 401: unauthorized"),
        ("gitlab", "timeout", "GitLab API GET {url}/projects/acme%2Fshop/merge_requests: no answer within 0.3s"),
    ],
)
def test_fails_with_one_line_when_the_merge_request_api_fails(  # 404 and 422: tests/mergerequest
    make_tenant: MakeTenant, provider: str, setup: str, expected: str
) -> None:
    t = make_tenant()
    with fake_hosting(provider, "acme/shop", remote=t.remote) as api:
        token = "revoked-0000" if setup == "bad-token" else TEST_TOKEN
        if setup == "timeout":
            api.force(200, [], delay=2.0)
        variable = "GITHUB_TOKEN" if provider == "github" else "GITLAB_TOKEN"
        code, _, err = promote(
            t,
            "--push",
            "--open-mr",
            provider,
            "--project",
            "acme/shop",
            "--api-url",
            api.url,
            "--api-timeout",
            "0.3",
            env={variable: token},
        )
    branch = only_promotion_branch(t.branches())
    assert code == 1
    assert err.count("\n") == 1
    assert err.startswith(f"error: branch {branch} is pushed, but the merge request was not opened: ")
    assert expected.format(url=api.url) in err
    assert "revoked-0000" not in err
    assert branch in t.remote_branches()


@pytest.mark.parametrize(("provider", "variable"), [("github", "GITHUB_TOKEN"), ("gitlab", "GITLAB_TOKEN")])
def test_without_a_token_open_mr_is_refused_before_anything_is_gated_or_pushed(
    make_tenant: MakeTenant, provider: str, variable: str
) -> None:
    t = make_tenant()
    before = (t.snapshot(), t.branches(), t.remote_branches())
    code, _, err = promote(t, "--push", "--open-mr", provider, "--project", "acme/shop", env={variable: ""})
    assert (code, err.strip()) == (
        1,
        f"error: --open-mr {provider}: {variable} is not set: export a token allowed to open merge requests; "
        "nothing was changed",
    )
    assert (t.snapshot(), t.branches(), t.remote_branches()) == before


def test_a_remote_that_names_no_hosted_project_is_refused_before_anything_is_pushed(make_tenant: MakeTenant) -> None:
    t = make_tenant()
    git(t.work, "remote", "add", "filer", f"file://{t.remote}")
    before = (t.snapshot(), t.branches(), t.remote_branches())
    code, _, err = promote(t, "--push", "filer", "--open-mr", "github", env={"GITHUB_TOKEN": TEST_TOKEN})
    assert (code, err.strip()) == (
        1,
        f"error: --open-mr github: cannot tell the project from remote URL 'file://{t.remote}': pass --project; "
        "nothing was changed",
    )
    assert (t.snapshot(), t.branches(), t.remote_branches()) == before
