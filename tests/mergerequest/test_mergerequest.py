"""Contract tests of the GitHub/GitLab clients against a local server that answers as the providers document."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from generator.mergerequest import (
    GITHUB_API_VERSION,
    GitHubClient,
    GitLabClient,
    MergeRequestError,
    MergeRequestSpec,
    default_project,
    open_merge_request,
    project_from_remote,
)
from tests.helpers import git, make_git_repo
from tests.hosting import TEST_TOKEN, fake_hosting

SPEC = MergeRequestSpec(
    source_branch="promote/prod/1a2b3c4d",
    target_branch="main",
    title="Promote staging to prod",
    description="gate passed: 1 environment, 0 failing",
)
TOKEN = TEST_TOKEN


def test_github_opens_a_pull_request_with_the_documented_request() -> None:
    with fake_hosting("github", "acme/shop") as api:
        mr = GitHubClient("acme/shop", token=TOKEN, api_url=api.url).ensure(SPEC)
    assert (mr.number, mr.url, mr.created) == (1, "https://github.example/acme/shop/pull/1", True)
    find, create = api.requests
    assert (find.method, find.path) == ("GET", "/repos/acme/shop/pulls")
    assert find.query == {"head": ["acme:promote/prod/1a2b3c4d"], "base": ["main"], "state": ["open"]}
    assert (create.method, create.path) == ("POST", "/repos/acme/shop/pulls")
    assert create.body == {
        "title": "Promote staging to prod",
        "head": "promote/prod/1a2b3c4d",
        "base": "main",
        "body": "gate passed: 1 environment, 0 failing",
    }
    for rec in (find, create):
        assert rec.headers["authorization"] == f"Bearer {TOKEN}"
        assert rec.headers["accept"] == "application/vnd.github+json"
        assert rec.headers["x-github-api-version"] == GITHUB_API_VERSION == "2022-11-28"
        assert rec.headers["user-agent"].startswith("tenantforge/")
        assert "private-token" not in rec.headers
    assert create.headers["content-type"] == "application/json"


def test_github_reuses_the_open_pull_request_for_the_branch() -> None:
    with fake_hosting("github", "acme/shop") as api:
        first = open_merge_request("github", SPEC, project="acme/shop", token=TOKEN, api_url=api.url)
        again = open_merge_request("github", SPEC, project="acme/shop", token=TOKEN, api_url=api.url)
    assert first.created and not again.created
    assert again.number == first.number and again.url == first.url
    assert [r.method for r in api.requests] == ["GET", "POST", "GET"]
    assert len(api.opened) == 1


def test_github_creation_race_falls_back_to_the_other_runs_pull_request() -> None:
    with fake_hosting("github", "acme/shop") as api:
        GitHubClient("acme/shop", token=TOKEN, api_url=api.url).create(SPEC)
        api.force(200, [])  # our lookup ran before the other run's POST landed
        mr = GitHubClient("acme/shop", token=TOKEN, api_url=api.url).ensure(SPEC)
    assert (mr.number, mr.created) == (1, False)
    assert [r.method for r in api.requests] == ["POST", "GET", "POST", "GET"]


def test_github_bad_token_is_one_line_and_never_shows_the_token() -> None:
    with fake_hosting("github", "acme/shop") as api, pytest.raises(MergeRequestError) as info:
        GitHubClient("acme/shop", token="wrong-secret", api_url=api.url).ensure(SPEC)
    text = str(info.value)
    assert text == (
        f"GitHub API GET {api.url}/repos/acme/shop/pulls answered 401: "
        "unauthorized: the token is missing, expired or revoked; Bad credentials"
    )
    assert "wrong-secret" not in text


def test_github_unknown_repository_is_404() -> None:
    with (
        fake_hosting("github", "acme/shop") as api,
        pytest.raises(MergeRequestError, match=r"answered 404: not found: wrong project.*; Not Found$"),
    ):
        GitHubClient("acme/other", token=TOKEN, api_url=api.url).ensure(SPEC)


def test_github_branch_not_pushed_is_422_with_a_hint(tmp_path: Path) -> None:
    work = make_git_repo(tmp_path / "work", {"a": "b"}, bare_remote=tmp_path / "remote.git")
    with fake_hosting("github", "acme/shop", remote=tmp_path / "remote.git") as api:
        with pytest.raises(MergeRequestError) as info:
            GitHubClient("acme/shop", token=TOKEN, api_url=api.url).ensure(SPEC)
        assert str(info.value).endswith(
            "answered 422: Validation Failed; head invalid (is the branch pushed, and does it differ from the base?)"
        )
        git(work, "push", "-q", "origin", f"main:refs/heads/{SPEC.source_branch}")
        assert GitHubClient("acme/shop", token=TOKEN, api_url=api.url).ensure(SPEC).created


def test_github_api_base_comes_from_the_ci_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    with fake_hosting("github", "acme/shop") as api:
        monkeypatch.setenv("GITHUB_API_URL", api.url)
        monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
        monkeypatch.setenv("GITHUB_REPOSITORY", "acme/shop")
        mr = open_merge_request("github", SPEC, project=default_project("github", None))
    assert mr.created and api.requests


def test_missing_token_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    monkeypatch.delenv("GITLAB_TOKEN", raising=False)
    with pytest.raises(MergeRequestError, match=r"^GITHUB_TOKEN is not set"):
        GitHubClient("acme/shop")
    with pytest.raises(MergeRequestError, match=r"^GITLAB_TOKEN is not set"):
        GitLabClient("group/shop")


@pytest.mark.parametrize("provider", ["github", "gitlab"])
def test_timeout_is_one_line_and_bounded(provider: str) -> None:
    project = "acme/shop"
    with fake_hosting(provider, project) as api:
        api.force(200, [], delay=2.0)
        started = time.monotonic()
        with pytest.raises(MergeRequestError, match=r"API GET .* no answer within 0.3s \(timeout\)$"):
            open_merge_request(provider, SPEC, project=project, token=TOKEN, api_url=api.url, timeout=0.3)
        assert time.monotonic() - started < 1.5


def test_unreachable_api_is_one_line() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(
        MergeRequestError, match=r"^GitLab API GET http://127.0.0.1:\d+/api/v4/projects/.*cannot connect"
    ):
        open_merge_request("gitlab", SPEC, project="g/s", token=TOKEN, api_url=f"http://127.0.0.1:{port}/api/v4")


def test_redirects_are_not_followed_with_the_token() -> None:
    with fake_hosting("github", "acme/shop") as api:
        api.force(301, {"message": "Moved Permanently", "url": "https://elsewhere.example/"})
        with pytest.raises(MergeRequestError, match=r"answered 301: Moved Permanently; redirects are not followed"):
            GitHubClient("acme/shop", token=TOKEN, api_url=api.url).ensure(SPEC)
    assert len(api.requests) == 1


def test_bad_provider_project_and_api_base() -> None:
    with pytest.raises(MergeRequestError, match=r"unknown provider 'bitbucket': use one of github, gitlab"):
        open_merge_request("bitbucket", SPEC, project="a/b", token=TOKEN)
    with pytest.raises(MergeRequestError, match=r"GitHub repository 'shop' is not of the form OWNER/NAME"):
        GitHubClient("shop", token=TOKEN)
    with pytest.raises(MergeRequestError, match=r"API base 'ftp://x' is not an http\(s\) URL"):
        GitLabClient("g/s", token=TOKEN, api_url="ftp://x")


def test_gitlab_opens_a_merge_request_with_the_documented_request() -> None:
    with fake_hosting("gitlab", "retail/tenants/acme-shop") as api:
        mr = GitLabClient("retail/tenants/acme-shop", token=TOKEN, api_url=api.url).ensure(SPEC)
    assert (mr.number, mr.created) == (1, True)
    assert mr.url == "https://gitlab.example/retail/tenants/acme-shop/-/merge_requests/1"
    find, create = api.requests
    assert find.path == create.path == "/api/v4/projects/retail%2Ftenants%2Facme-shop/merge_requests"
    assert find.method == "GET"
    assert find.query == {"source_branch": [SPEC.source_branch], "target_branch": ["main"], "state": ["opened"]}
    assert create.method == "POST"
    assert create.body == {
        "source_branch": "promote/prod/1a2b3c4d",
        "target_branch": "main",
        "title": "Promote staging to prod",
        "description": "gate passed: 1 environment, 0 failing",
        "remove_source_branch": True,
    }
    for rec in (find, create):
        assert rec.headers["private-token"] == TOKEN
        assert "authorization" not in rec.headers
        assert rec.headers["accept"] == "application/json"
    assert create.headers["content-type"] == "application/json"


def test_gitlab_reuses_and_survives_the_409_race(monkeypatch: pytest.MonkeyPatch) -> None:
    with fake_hosting("gitlab", "retail/acme-shop") as api:
        monkeypatch.setenv("CI_API_V4_URL", api.url)
        monkeypatch.setenv("GITLAB_TOKEN", TOKEN)
        first = open_merge_request("gitlab", SPEC, project="retail/acme-shop")
        again = open_merge_request("gitlab", SPEC, project="retail/acme-shop")
        api.force(200, [])
        raced = open_merge_request("gitlab", SPEC, project="retail/acme-shop")
    assert first.created and not again.created and not raced.created
    assert first.number == again.number == raced.number == 1
    assert [r.method for r in api.requests] == ["GET", "POST", "GET", "GET", "POST", "GET"]


@pytest.mark.parametrize(
    ("project", "token", "forced", "expected"),
    [
        ("retail/acme-shop", "nope", None, r"answered 401: unauthorized: .*; 401 Unauthorized$"),
        ("retail/other", TOKEN, None, r"answered 404: not found: .*; 404 Project Not Found$"),
        ("retail/acme-shop", TOKEN, (422, {"message": ["Source branch is invalid"]}), r"answered 422: Source branch"),
        ("retail/acme-shop", TOKEN, (500, "<html>oops</html>"), r"answered 500: <html>oops</html>$"),
    ],
)
def test_gitlab_errors_are_one_line(project: str, token: str, forced: tuple[int, object] | None, expected: str) -> None:
    with fake_hosting("gitlab", "retail/acme-shop") as api:
        if forced:
            api.force(200, [])
            api.force(*forced)
        with pytest.raises(MergeRequestError, match=expected) as info:
            GitLabClient(project, token=token, api_url=api.url).ensure(SPEC)
    assert "\n" not in str(info.value) and "nope" not in str(info.value)


@pytest.mark.parametrize(
    ("url", "project"),
    [
        ("https://github.com/acme/shop.git", "acme/shop"),
        ("git@github.com:acme/shop.git", "acme/shop"),
        ("ssh://git@gitlab.example:2222/retail/tenants/acme-shop.git", "retail/tenants/acme-shop"),
        ("https://gitlab.example/retail/acme-shop", "retail/acme-shop"),
    ],
)
def test_project_from_remote(url: str, project: str) -> None:
    assert project_from_remote(url) == project


def test_project_from_a_local_path_needs_to_be_given() -> None:
    with pytest.raises(MergeRequestError, match=r"cannot tell the project from remote URL '/srv/x.git'"):
        project_from_remote("/srv/x.git")
