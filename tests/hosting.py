"""A local stand-in for the GitHub and GitLab REST APIs (the real ones are unreachable here), on 127.0.0.1.

It records every request (method, raw path, query, headers, JSON body) and answers the way the providers document:
the status codes and bodies of "create a pull request" (GitHub) and "create a merge request" (GitLab), their list
endpoints with the `head` / `source_branch` filters, `Bad credentials` / `401 Unauthorized`, `Not Found` /
`404 Project Not Found`, 422 `Validation Failed` for a PR that already exists or whose head branch is not on the
remote, GitLab's 409 for a second open MR. A bare git remote can be attached so that "branch not pushed" is real.
`force(status, body, delay)` makes the next request answer with that instead (outages, timeouts).
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

TEST_TOKEN = "test-token-123"
GITHUB_DOCS = "https://docs.github.com/rest/pulls/pulls#create-a-pull-request"


@dataclass
class Recorded:
    method: str
    path: str  # raw, still percent-encoded, without the query
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names
    body: Any


@dataclass
class FakeHosting:
    provider: str  # "github" | "gitlab"
    project: str  # owner/name or group/name
    token: str = TEST_TOKEN
    remote: Path | None = None  # bare repo: a PR/MR for a branch it lacks is refused
    requests: list[Recorded] = field(default_factory=list)
    opened: list[dict[str, Any]] = field(default_factory=list)
    forced: list[tuple[int, Any, float]] = field(default_factory=list)
    url: str = ""

    def force(self, status: int, body: Any, delay: float = 0.0) -> None:
        self.forced.append((status, body, delay))

    # --- provider behaviour --------------------------------------------------------------------------------

    def _branch_pushed(self, branch: str) -> bool:
        if self.remote is None:
            return True
        proc = subprocess.run(
            ["git", "rev-parse", "--verify", "--quiet", f"refs/heads/{branch}"],
            cwd=self.remote,
            capture_output=True,
            check=False,
        )
        return proc.returncode == 0

    def answer(self, rec: Recorded) -> tuple[int, Any]:
        if self.provider == "github":
            return self._github(rec)
        return self._gitlab(rec)

    def _github(self, rec: Recorded) -> tuple[int, Any]:
        if rec.headers.get("authorization") != f"Bearer {self.token}":
            return 401, {
                "message": "Bad credentials",
                "documentation_url": "https://docs.github.com/rest",
                "status": "401",
            }
        if rec.path != f"/repos/{self.project}/pulls":
            return 404, {"message": "Not Found", "documentation_url": GITHUB_DOCS, "status": "404"}
        owner = self.project.split("/")[0]
        if rec.method == "GET":
            head = rec.query.get("head", [""])[0]
            base = rec.query.get("base", [None])[0]
            return 200, [
                pr
                for pr in self.opened
                if pr["state"] == "open"
                and (not head or pr["head"]["label"] == head)
                and base in (None, pr["base"]["ref"])
            ]
        body = rec.body if isinstance(rec.body, dict) else {}
        missing = [k for k in ("head", "base") if not body.get(k)]
        if missing:
            return 422, {
                "message": "Validation Failed",
                "errors": [{"resource": "PullRequest", "field": k, "code": "missing_field"} for k in missing],
                "documentation_url": GITHUB_DOCS,
                "status": "422",
            }
        label = f"{owner}:{body['head']}"
        if any(pr["head"]["label"] == label and pr["state"] == "open" for pr in self.opened):
            return 422, {
                "message": "Validation Failed",
                "errors": [
                    {
                        "resource": "PullRequest",
                        "code": "custom",
                        "message": f"A pull request already exists for {label}.",
                    }
                ],
                "documentation_url": GITHUB_DOCS,
                "status": "422",
            }
        if not self._branch_pushed(str(body["head"])):
            return 422, {
                "message": "Validation Failed",
                "errors": [{"resource": "PullRequest", "field": "head", "code": "invalid"}],
                "documentation_url": GITHUB_DOCS,
                "status": "422",
            }
        number = len(self.opened) + 1
        pr = {
            "url": f"{self.url}/repos/{self.project}/pulls/{number}",
            "id": 1000 + number,
            "html_url": f"https://github.example/{self.project}/pull/{number}",
            "number": number,
            "state": "open",
            "title": body.get("title"),
            "body": body.get("body"),
            "draft": False,
            "head": {"label": label, "ref": body["head"]},
            "base": {"label": f"{owner}:{body['base']}", "ref": body["base"]},
        }
        self.opened.append(pr)
        return 201, pr

    def _gitlab(self, rec: Recorded) -> tuple[int, Any]:
        if rec.headers.get("private-token") != self.token:
            return 401, {"message": "401 Unauthorized"}
        if rec.path != f"/api/v4/projects/{urllib.parse.quote(self.project, safe='')}/merge_requests":
            if rec.path.startswith("/api/v4/projects/") and rec.path.endswith("/merge_requests"):
                return 404, {"message": "404 Project Not Found"}
            return 404, {"error": "404 Not Found"}
        if rec.method == "GET":
            source = rec.query.get("source_branch", [None])[0]
            target = rec.query.get("target_branch", [None])[0]
            state = rec.query.get("state", [None])[0]
            return 200, [
                mr
                for mr in self.opened
                if source in (None, mr["source_branch"])
                and target in (None, mr["target_branch"])
                and state in (None, mr["state"])
            ]
        body = rec.body if isinstance(rec.body, dict) else {}
        missing = [k for k in ("source_branch", "target_branch", "title") if not body.get(k)]
        if missing:
            return 400, {"error": f"{', '.join(missing)} is missing"}
        for mr in self.opened:
            if mr["source_branch"] == body["source_branch"] and mr["state"] == "opened":
                return 409, {
                    "message": [f"Another open merge request already exists for this source branch: !{mr['iid']}"]
                }
        if not self._branch_pushed(str(body["source_branch"])):
            return 422, {"message": [f'Source branch "{body["source_branch"]}" does not exist']}
        iid = len(self.opened) + 1
        mr = {
            "id": 5000 + iid,
            "iid": iid,
            "project_id": 42,
            "title": body["title"],
            "description": body.get("description"),
            "state": "opened",
            "source_branch": body["source_branch"],
            "target_branch": body["target_branch"],
            "web_url": f"https://gitlab.example/{self.project}/-/merge_requests/{iid}",
        }
        self.opened.append(mr)
        return 201, mr


class _Handler(BaseHTTPRequestHandler):
    fake: FakeHosting

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except json.JSONDecodeError:
            body = raw.decode("utf-8", "replace")
        parsed = urllib.parse.urlsplit(self.path)
        rec = Recorded(
            method=self.command,
            path=parsed.path,
            query=urllib.parse.parse_qs(parsed.query),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
        )
        self.fake.requests.append(rec)
        if self.fake.forced:
            status, payload, delay = self.fake.forced.pop(0)
            if delay:
                time.sleep(delay)
        else:
            status, payload = self.fake.answer(rec)
        data = b"" if payload is None else json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout tests)

    do_GET = _serve
    do_POST = _serve


@contextmanager
def fake_hosting(
    provider: str, project: str, *, remote: Path | None = None, token: str = TEST_TOKEN
) -> Iterator[FakeHosting]:
    """Serve a `FakeHosting` on 127.0.0.1 (a free port) for the duration of the block."""
    fake = FakeHosting(provider=provider, project=project, token=token, remote=remote)
    handler = type("Handler", (_Handler,), {"fake": fake})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    server.block_on_close = False
    base = f"http://127.0.0.1:{server.server_address[1]}"
    fake.url = base if provider == "github" else f"{base}/api/v4"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
