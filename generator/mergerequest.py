"""Open (or reuse) a GitHub pull request or a GitLab merge request over the providers' REST APIs (stdlib only).

Public API: `MergeRequestSpec` (what to open), `MergeRequest` (what exists), `open_merge_request(provider, spec,
project=, api_url=, token=, timeout=)`, `project_from_remote(url)`, and the two clients `GitHubClient` and
`GitLabClient` with `find(spec)` / `create(spec)` / `ensure(spec)`.

- GitHub: `GET /repos/{owner}/{repo}/pulls?head={owner}:{branch}&base=…&state=open`, then
  `POST /repos/{owner}/{repo}/pulls` {title, head, base, body}; headers `Authorization: Bearer`,
  `Accept: application/vnd.github+json`, `X-GitHub-Api-Version: 2022-11-28`. Token `GITHUB_TOKEN`; API base
  `--api-url`, else `GITHUB_API_URL` (set by GitHub Actions, also on GitHub Enterprise Server), else the public API.
- GitLab: `GET /projects/:id/merge_requests?source_branch=…&target_branch=…&state=opened`, then
  `POST /projects/:id/merge_requests` {source_branch, target_branch, title, description, remove_source_branch};
  header `PRIVATE-TOKEN`; the API version is the `/api/v4` in the base. Token `GITLAB_TOKEN`; API base `--api-url`,
  else `CI_API_V4_URL` (set by GitLab CI on every instance), else the public instance.

An open request for the same source branch is reused, never duplicated. Every HTTP failure (401, 403, 404, 409, 422,
5xx, timeout, refused connection, redirect) is a one-line `MergeRequestError` that never contains the token.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any, Protocol

from generator import __version__
from generator.errors import UserError

GITHUB_API = "https://api.github.com"
GITLAB_API = "https://gitlab.com/api/v4"
GITHUB_API_VERSION = "2022-11-28"
PROVIDERS = ("github", "gitlab")
DEFAULT_TIMEOUT = 30.0
_USER_AGENT = f"tenantforge/{__version__}"


class MergeRequestError(UserError):
    """The hosting API refused or failed; one line naming the provider, the call and what to do."""


@dataclass(frozen=True)
class MergeRequestSpec:
    source_branch: str
    target_branch: str
    title: str
    description: str


@dataclass(frozen=True)
class MergeRequest:
    number: int  # GitHub pull request number / GitLab merge request iid
    url: str  # the page a reviewer opens
    created: bool  # False when an open request for the branch already existed and was reused


class MergeRequestClient(Protocol):
    def find(self, spec: MergeRequestSpec) -> MergeRequest | None: ...
    def create(self, spec: MergeRequestSpec) -> MergeRequest: ...
    def ensure(self, spec: MergeRequestSpec) -> MergeRequest: ...


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect would resend the token to wherever it points: refuse it and let the user set the API base."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


@dataclass(frozen=True)
class _Http:
    provider: str  # "GitHub" / "GitLab", for messages
    base: str
    headers: dict[str, str]
    timeout: float

    def call(self, method: str, path: str, query: dict[str, str] | None = None, body: Any = None) -> tuple[int, Any]:
        url = self.base.rstrip("/") + path
        if query:
            url += "?" + urllib.parse.urlencode(query)
        data = json.dumps(body).encode() if body is not None else None
        headers = {"User-Agent": _USER_AGENT, **self.headers}
        if data is not None:
            headers["Content-Type"] = "application/json"
        # The scheme was checked to be http(s) in _api_base.
        request = urllib.request.Request(url, data=data, method=method, headers=headers)  # noqa: S310
        where = f"{self.provider} API {method} {url.split('?', 1)[0]}"
        try:
            with _OPENER.open(request, timeout=self.timeout) as response:
                return response.status, _json(response.read())
        except urllib.error.HTTPError as exc:
            payload = _json(exc.read())
            return exc.code, payload
        except TimeoutError as exc:
            raise MergeRequestError(f"{where}: no answer within {self.timeout:g}s (timeout)") from exc
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, TimeoutError):
                raise MergeRequestError(f"{where}: no answer within {self.timeout:g}s (timeout)") from exc
            raise MergeRequestError(f"{where}: cannot connect ({exc.reason})") from exc
        except (OSError, ValueError) as exc:
            raise MergeRequestError(f"{where}: {exc}") from exc

    def fail(self, method: str, path: str, status: int, payload: Any, hint: str = "") -> MergeRequestError:
        what = {
            401: "unauthorized: the token is missing, expired or revoked",
            403: "forbidden: the token lacks the permission for this",
            404: "not found: wrong project/repository or API base, or the token cannot see it",
        }.get(status, "")
        detail = _detail(payload)
        text = f"{self.provider} API {method} {self.base.rstrip('/')}{path} answered {status}"
        parts = [p for p in (what, detail) if p]
        if 300 <= status < 400:
            parts.append("redirects are not followed: set the API base to the final address")
        if parts:
            text += ": " + "; ".join(parts)
        if hint:
            text += f" ({hint})"
        return MergeRequestError(" ".join(text.split()))


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw.decode("utf-8")) if raw else None
    except (UnicodeDecodeError, json.JSONDecodeError):
        return raw.decode("utf-8", "replace")[:200]


def _detail(payload: Any) -> str:
    """The human part of an error body: GitHub {message, errors[{message|code}]}, GitLab {message|error}."""
    if isinstance(payload, str):
        return payload.strip()
    if not isinstance(payload, dict):
        return ""
    parts: list[str] = []
    for key in ("message", "error", "error_description"):
        value = payload.get(key)
        if isinstance(value, str):
            parts.append(value)
        elif isinstance(value, list):
            parts.extend(str(v) for v in value)
        elif isinstance(value, dict):
            parts.extend(f"{k} {', '.join(map(str, v)) if isinstance(v, list) else v}" for k, v in value.items())
    for error in payload.get("errors") or []:
        if isinstance(error, dict):
            parts.append(str(error.get("message") or f"{error.get('field', '')} {error.get('code', '')}".strip()))
        else:
            parts.append(str(error))
    return "; ".join(p for p in parts if p)


TOKEN_VARIABLES = {"github": "GITHUB_TOKEN", "gitlab": "GITLAB_TOKEN"}


def check_settings(provider: str, project: str, api_url: str | None = None) -> None:
    """Refuse now, before any work is done, what `open_merge_request` would refuse without asking the API: a missing
    token, a project not of the provider's form, an API base that is not an http(s) URL."""
    make_client(provider, project, api_url=api_url)


def _token(env_name: str, token: str | None) -> str:
    value = token if token is not None else os.environ.get(env_name, "")
    if not value.strip():
        raise MergeRequestError(f"{env_name} is not set: export a token allowed to open merge requests")
    return value.strip()


def _api_base(explicit: str | None, env_name: str, default: str) -> str:
    base = explicit or os.environ.get(env_name) or default
    parsed = urllib.parse.urlsplit(base)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise MergeRequestError(f"API base {base!r} is not an http(s) URL")
    return base.rstrip("/")


class GitHubClient:
    """Pull requests of one GitHub repository `owner/name`."""

    def __init__(self, project: str, token: str | None = None, api_url: str | None = None, timeout: float = 0):
        owner, _, name = project.partition("/")
        if not owner or not name or "/" in name:
            raise MergeRequestError(f"GitHub repository {project!r} is not of the form OWNER/NAME")
        self.owner, self.name = owner, name
        self.http = _Http(
            "GitHub",
            _api_base(api_url, "GITHUB_API_URL", GITHUB_API),
            {
                "Authorization": f"Bearer {_token(TOKEN_VARIABLES['github'], token)}",
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": GITHUB_API_VERSION,
            },
            timeout or DEFAULT_TIMEOUT,
        )

    @property
    def _pulls(self) -> str:
        return f"/repos/{urllib.parse.quote(self.owner)}/{urllib.parse.quote(self.name)}/pulls"

    def find(self, spec: MergeRequestSpec) -> MergeRequest | None:
        query = {"head": f"{self.owner}:{spec.source_branch}", "base": spec.target_branch, "state": "open"}
        status, payload = self.http.call("GET", self._pulls, query)
        if status != 200 or not isinstance(payload, list):
            raise self.http.fail("GET", self._pulls, status, payload)
        for pull in payload:
            if isinstance(pull, dict) and pull.get("head", {}).get("ref") == spec.source_branch:
                return MergeRequest(int(pull["number"]), str(pull["html_url"]), created=False)
        return None

    def create(self, spec: MergeRequestSpec) -> MergeRequest:
        body = {"title": spec.title, "head": spec.source_branch, "base": spec.target_branch, "body": spec.description}
        status, payload = self.http.call("POST", self._pulls, body=body)
        if status == 201 and isinstance(payload, dict) and "number" in payload:
            return MergeRequest(int(payload["number"]), str(payload["html_url"]), created=True)
        hint = "is the branch pushed, and does it differ from the base?" if status == 422 else ""
        raise self.http.fail("POST", self._pulls, status, payload, hint)

    def ensure(self, spec: MergeRequestSpec) -> MergeRequest:
        return _ensure(self, spec)


class GitLabClient:
    """Merge requests of one GitLab project (numeric id or `group/subgroup/name` path)."""

    def __init__(self, project: str, token: str | None = None, api_url: str | None = None, timeout: float = 0):
        if not project.strip("/"):
            raise MergeRequestError("GitLab project is empty: give its numeric id or its path group/name")
        self.project = project.strip("/")
        self.http = _Http(
            "GitLab",
            _api_base(api_url, "CI_API_V4_URL", GITLAB_API),
            {"PRIVATE-TOKEN": _token(TOKEN_VARIABLES["gitlab"], token), "Accept": "application/json"},
            timeout or DEFAULT_TIMEOUT,
        )

    @property
    def _mrs(self) -> str:
        return f"/projects/{urllib.parse.quote(self.project, safe='')}/merge_requests"

    def find(self, spec: MergeRequestSpec) -> MergeRequest | None:
        query = {"source_branch": spec.source_branch, "target_branch": spec.target_branch, "state": "opened"}
        status, payload = self.http.call("GET", self._mrs, query)
        if status != 200 or not isinstance(payload, list):
            raise self.http.fail("GET", self._mrs, status, payload)
        for mr in payload:
            if isinstance(mr, dict) and mr.get("source_branch") == spec.source_branch:
                return MergeRequest(int(mr["iid"]), str(mr["web_url"]), created=False)
        return None

    def create(self, spec: MergeRequestSpec) -> MergeRequest:
        body = {
            "source_branch": spec.source_branch,
            "target_branch": spec.target_branch,
            "title": spec.title,
            "description": spec.description,
            "remove_source_branch": True,
        }
        status, payload = self.http.call("POST", self._mrs, body=body)
        if status == 201 and isinstance(payload, dict) and "iid" in payload:
            return MergeRequest(int(payload["iid"]), str(payload["web_url"]), created=True)
        raise self.http.fail("POST", self._mrs, status, payload)

    def ensure(self, spec: MergeRequestSpec) -> MergeRequest:
        return _ensure(self, spec)


def _ensure(client: MergeRequestClient, spec: MergeRequestSpec) -> MergeRequest:
    """Reuse the open request for this branch, else create one; a creation race (GitHub 422 "already exists",
    GitLab 409) falls back to the request the other run opened."""
    found = client.find(spec)
    if found is not None:
        return found
    try:
        return client.create(spec)
    except MergeRequestError as exc:
        if "already exists" not in str(exc):
            raise
        again = client.find(spec)
        if again is None:
            raise
        return again


def make_client(
    provider: str, project: str, *, token: str | None = None, api_url: str | None = None, timeout: float = 0
) -> MergeRequestClient:
    if provider == "github":
        return GitHubClient(project, token=token, api_url=api_url, timeout=timeout)
    if provider == "gitlab":
        return GitLabClient(project, token=token, api_url=api_url, timeout=timeout)
    raise MergeRequestError(f"unknown provider {provider!r}: use one of {', '.join(PROVIDERS)}")


def open_merge_request(
    provider: str,
    spec: MergeRequestSpec,
    *,
    project: str,
    token: str | None = None,
    api_url: str | None = None,
    timeout: float = 0,
) -> MergeRequest:
    """Open a pull/merge request for `spec`, or return the open one for the same source branch."""
    return make_client(provider, project, token=token, api_url=api_url, timeout=timeout).ensure(spec)


def project_from_remote(url: str) -> str:
    """`owner/name` (GitHub) or `group/sub/name` (GitLab) from a git remote URL: https, ssh:// or scp-like."""
    text = url.strip()
    if "://" in text:
        parts = urllib.parse.urlsplit(text)
        path = parts.path if parts.scheme != "file" and parts.netloc else ""
    elif ":" in text and not text.startswith("/"):
        path = text.split(":", 1)[1]
    else:
        path = ""
    path = path.strip("/").removesuffix(".git")
    if path.count("/") < 1:
        raise MergeRequestError(f"cannot tell the project from remote URL {url!r}")
    return path


def default_project(provider: str, remote_url: str | None) -> str:
    """The project the CI run belongs to (`GITHUB_REPOSITORY`, `CI_PROJECT_ID`), else the one the remote names."""
    env = {"github": "GITHUB_REPOSITORY", "gitlab": "CI_PROJECT_ID"}.get(provider, "")
    if env and os.environ.get(env):
        return os.environ[env]
    if remote_url is None:
        raise MergeRequestError(f"cannot tell the {provider} project: set {env} or pass --project")
    try:
        return project_from_remote(remote_url)
    except MergeRequestError as exc:
        raise MergeRequestError(f"{exc}: pass --project") from None
