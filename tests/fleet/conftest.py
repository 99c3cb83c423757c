"""Fleet fixtures: a blueprint repository with two releases, tenant repos rendered from it behind bare remotes.

Renders are cached per session (a Copier render costs about a second); every test gets its own git repos.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import urllib.parse
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import CRD_SCHEMAS
from tests.fleet.blueprint import build_blueprint
from tests.helpers import git, write_tree
from tests.hosting import TEST_TOKEN, FakeHosting, _Handler


@pytest.fixture(scope="session")
def blueprint_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The blueprint repository with releases v1.0.0 and v1.1.0 (tests must not modify it: clone it)."""
    return build_blueprint(tmp_path_factory.mktemp("blueprint") / "blueprint")


def clone_blueprint(blueprint_repo: Path, dest: Path) -> Path:
    """A private copy of the blueprint (with its tags) a test may add releases to."""
    git(dest.parent, "clone", "--quiet", str(blueprint_repo), str(dest))
    return dest


_RENDER = """
import json, sys
from copier import run_copy
a = json.loads(sys.argv[1])
run_copy(a["src"], a["dst"], data=a["data"], vcs_ref=a["ref"], answers_file=a["answers_file"], defaults=True,
         quiet=True, unsafe=True)
"""


@dataclass(frozen=True)
class TenantRepo:
    name: str
    checkout: Path  # a developer's clone, for making edits and reading results
    remote: Path  # the bare "hosted" repository the inventory points at

    def edit(self, files: Mapping[str, str], message: str = "tenant edit", delete: tuple[str, ...] = ()) -> str:
        write_tree(self.checkout, files)
        for path in delete:
            git(self.checkout, "rm", "--quiet", path)
        git(self.checkout, "add", "--all")
        git(self.checkout, "commit", "--quiet", "-m", message)
        git(self.checkout, "push", "--quiet", "origin", "main")
        return git(self.checkout, "rev-parse", "HEAD").strip()

    def remote_file(self, ref: str, path: str) -> str | None:
        proc = subprocess.run(
            ["git", "show", f"{ref}:{path}"], cwd=self.remote, capture_output=True, text=True, check=False
        )
        return proc.stdout if proc.returncode == 0 else None

    def remote_branches(self) -> dict[str, str]:
        out = git(self.remote, "for-each-ref", "--format=%(refname:short) %(objectname)", "refs/heads/")
        return dict(line.split() for line in out.splitlines())

    def answers(self, ref: str, answers_file: str = ".copier-answers.yml") -> dict[str, Any]:
        text = self.remote_file(ref, answers_file)
        assert text is not None, f"{answers_file} missing on {ref}"
        data: dict[str, Any] = yaml.safe_load(text)
        return data


class TenantFactory:
    """`factory(name, version="v1.0.0", answers_file=..., blueprint=..., data=...)`: a tenant rendered at `version`
    (renders cached per session), committed, and pushed to its own bare remote under `base`."""

    def __init__(
        self, base: Path, blueprint: Path, cache: dict[tuple[str, ...], Path], scratch: pytest.TempPathFactory
    ) -> None:
        self.base, self.blueprint, self.cache, self.scratch = base, blueprint, cache, scratch

    def __call__(
        self,
        name: str,
        version: str = "v1.0.0",
        answers_file: str = ".copier-answers.yml",
        blueprint: Path | None = None,
        data: Mapping[str, Any] | None = None,
    ) -> TenantRepo:
        src = blueprint or self.blueprint
        answers = {"tenant": name, **(data or {})}
        key = (str(src), name, version, answers_file, repr(sorted(answers.items())))
        if key not in self.cache:
            out = self.scratch.mktemp("render") / name
            payload = {"src": str(src), "dst": str(out), "data": answers, "ref": version, "answers_file": answers_file}
            subprocess.run([sys.executable, "-c", _RENDER, json.dumps(payload)], check=True, timeout=120)
            self.cache[key] = out
        checkout = self.base / "checkouts" / name
        remote = self.base / "remotes" / f"{name}.git"
        shutil.copytree(self.cache[key], checkout)
        git(checkout, "init", "--quiet", "--initial-branch=main")
        git(checkout, "add", "--all")
        git(checkout, "commit", "--quiet", "-m", f"render {version}")
        remote.parent.mkdir(parents=True, exist_ok=True)
        git(remote.parent, "init", "--quiet", "--bare", "--initial-branch=main", str(remote))
        git(checkout, "remote", "add", "origin", str(remote))
        git(checkout, "push", "--quiet", "--set-upstream", "origin", "main")
        return TenantRepo(name=name, checkout=checkout, remote=remote)


MakeTenant = TenantFactory


@pytest.fixture(scope="session")
def _render_cache() -> dict[tuple[str, ...], Path]:
    return {}


@pytest.fixture
def make_tenant(
    blueprint_repo: Path,
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
    _render_cache: dict[tuple[str, ...], Path],
) -> TenantFactory:
    return TenantFactory(tmp_path, blueprint_repo, _render_cache, tmp_path_factory)


@contextmanager
def isolated_env(home: Path) -> Iterator[None]:
    """For module-scoped fixtures, which run before the per-test isolation of tests/conftest.py: the same settings."""
    home.mkdir(parents=True, exist_ok=True)
    (home / ".gitconfig").write_text('[init]\n\tdefaultBranch = main\n[protocol "file"]\n\tallow = always\n')
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HOME", str(home))
        mp.setenv("XDG_CACHE_HOME", str(home / ".cache"))
        mp.setenv("GIT_CONFIG_GLOBAL", str(home / ".gitconfig"))
        mp.setenv("GIT_CONFIG_NOSYSTEM", "1")
        for var in ("GIT_AUTHOR_NAME", "GIT_COMMITTER_NAME"):
            mp.setenv(var, "Test Author")
        for var in ("GIT_AUTHOR_EMAIL", "GIT_COMMITTER_EMAIL"):
            mp.setenv(var, "author@example.test")
        mp.setenv("COPIER_CACHE_DIR", str(home / ".cache" / "copier"))
        if CRD_SCHEMAS.is_dir():
            mp.setenv("TENANTFORGE_CRD_SCHEMAS", str(CRD_SCHEMAS))
        for key in list(os.environ):
            if key.startswith("TENANTFORGE_") and key != "TENANTFORGE_CRD_SCHEMAS":
                mp.delenv(key)
        yield


def write_inventory(
    path: Path, tenants: list[TenantRepo | dict[str, Any]], hosting: Mapping[str, str] | None = None
) -> Path:
    entries: list[dict[str, Any]] = []
    for t in tenants:
        entries.append({"name": t.name, "url": str(t.remote)} if isinstance(t, TenantRepo) else t)
    data: dict[str, Any] = {"version": 1, "tenants": entries}
    if hosting:
        data["hosting"] = dict(hosting)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


class MultiProjectHosting:
    """The promote helper's `FakeHosting` (tests/hosting.py), one per project, behind one local server: a fleet
    opens merge requests in many projects of one GitLab/GitHub instance."""

    def __init__(self, provider: str) -> None:
        self.provider = provider
        self.projects: dict[str, FakeHosting] = {}
        self.requests: list[Any] = []
        self.forced: list[tuple[int, Any, float]] = []
        self.token = TEST_TOKEN
        self.url = ""

    def add(self, project: str, remote: Path) -> None:
        fake = FakeHosting(provider=self.provider, project=project, token=self.token, remote=remote)
        fake.url = self.url
        self.projects[project] = fake

    def opened(self) -> dict[str, list[dict[str, Any]]]:
        return {name: fake.opened for name, fake in self.projects.items()}

    def answer(self, rec: Any) -> tuple[int, Any]:
        for name, fake in self.projects.items():
            if urllib.parse.quote(name, safe="") in rec.path or f"/repos/{name}/" in rec.path + "/":
                return fake.answer(rec)
        return 404, {"message": "404 Project Not Found"}


@pytest.fixture
def hosting() -> Iterator[MultiProjectHosting]:
    multi = MultiProjectHosting("gitlab")
    handler = type("Handler", (_Handler,), {"fake": multi})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    multi.url = f"http://127.0.0.1:{server.server_address[1]}/api/v4"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield multi
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def hosted_inventory(path: Path, tenants: list[TenantRepo], hosting: MultiProjectHosting) -> Path:
    """An inventory whose tenants each have a GitLab project on the fake hosting."""
    entries: list[TenantRepo | dict[str, Any]] = []
    for t in tenants:
        hosting.add(f"retail/{t.name}", t.remote)
        entries.append({"name": t.name, "url": str(t.remote), "project": f"retail/{t.name}"})
    return write_inventory(path, entries, {"provider": "gitlab", "api_url": hosting.url})
