"""Fleet fixtures: a blueprint repository with two releases, tenant repos rendered from it behind bare remotes.

Renders are cached per session (a Copier render costs about a second); every test gets its own git repos.
"""

from __future__ import annotations

import shutil
import subprocess
import threading
import urllib.parse
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helpers import git, write_tree
from tests.hosting import TEST_TOKEN, FakeHosting, _Handler

TEMPLATE_V1: dict[str, str] = {
    "copier.yml": (
        "_subdirectory: blueprints/odoo-tenant/template\n"
        "_answers_file: .copier-answers.yml\n"
        "_templates_suffix: .jinja\n"
        "---\n"
        "!include blueprints/odoo-tenant/questions.yml\n"
    ),
    "blueprints/odoo-tenant/questions.yml": (
        "tenant:\n  type: str\n  help: tenant name\n"
        "domain:\n  type: str\n  default: '{{ tenant }}.shop.example'\n"
        "replicas:\n  type: int\n  default: 2\n"
    ),
    "blueprints/odoo-tenant/template/{{_copier_conf.answers_file}}.jinja": (
        "# Changes here will be overwritten by Copier\n{{ _copier_answers|to_nice_yaml -}}\n"
    ),
    "blueprints/odoo-tenant/template/base/kustomization.yaml": (
        "resources:\n  - deployment.yaml\n  - middleware.yaml\n"
        "configMapGenerator:\n  - name: odoo-conf\n    files: [odoo.conf]\n"
    ),
    "blueprints/odoo-tenant/template/base/odoo.conf.jinja": (
        "[options]\nproxy_mode = True\nworkers = 2\nlimit_time_cpu = 60\nlist_db = False\n"
    ),
    "blueprints/odoo-tenant/template/base/deployment.yaml.jinja": (
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: odoo-web\nspec:\n"
        "  replicas: {{ replicas }}\n  selector:\n    matchLabels: {app: odoo-web}\n  template:\n"
        "    metadata:\n      labels: {app: odoo-web}\n    spec:\n      containers:\n        - name: odoo\n"
        "          image: registry.example.net/retail/odoo:17.0\n"
    ),
    "blueprints/odoo-tenant/template/base/middleware.yaml": (
        "apiVersion: traefik.io/v1alpha1\nkind: Middleware\nmetadata:\n  name: security-headers\nspec:\n"
        "  headers:\n    frameDeny: true\n    browserXssFilter: true\n"
    ),
    "blueprints/odoo-tenant/template/overlays/dev/kustomization.yaml.jinja": (
        "namespace: {{ tenant }}-dev\nresources:\n  - ../../base\n"
    ),
    "blueprints/odoo-tenant/template/overlays/prod/kustomization.yaml.jinja": (
        "namespace: {{ tenant }}-prod\nresources:\n  - ../../base\n"
    ),
    "blueprints/odoo-tenant/template/README.md.jinja": "# {{ tenant }}\n\nRunbook of {{ domain }}.\n",
    # a small fixture blueprint, not hardened: only critical findings (a broken build) fail its gate
    "blueprints/odoo-tenant/template/tenantforge.yml.jinja": (
        "version: 1\ntenant: {{ tenant }}\nenvironments:\n"
        "  dev: {namespaces: [{{ tenant }}-dev], threshold: critical}\n"
        "  prod: {namespaces: [{{ tenant }}-prod], threshold: critical}\n"
    ),
}

# v1.1.0: a new middleware, a renamed file (with a migration), a changed default.
RATE_LIMIT = (
    "apiVersion: traefik.io/v1alpha1\nkind: Middleware\nmetadata:\n  name: rate-limit\nspec:\n"
    "  rateLimit:\n    average: 100\n    burst: 50\n"
)


def release_v1_1(root: Path) -> None:
    tpl = root / "blueprints/odoo-tenant/template"
    git(root, "mv", "blueprints/odoo-tenant/template/base/middleware.yaml", str(tpl / "base/middlewares.yaml"))
    (tpl / "base/rate-limit.yaml").write_text(RATE_LIMIT)
    (tpl / "base/kustomization.yaml").write_text(
        "resources:\n  - deployment.yaml\n  - middlewares.yaml\n  - rate-limit.yaml\n"
        "configMapGenerator:\n  - name: odoo-conf\n    files: [odoo.conf]\n"
    )
    conf = tpl / "base/odoo.conf.jinja"
    conf.write_text(conf.read_text().replace("limit_time_cpu = 60", "limit_time_cpu = 120"))
    with (root / "copier.yml").open("a") as fh:
        fh.write(
            "---\n_migrations:\n"
            "  - version: v1.1.0\n"
            "    when: \"{{ _stage == 'before' }}\"\n"
            '    command: "test ! -f base/middleware.yaml || git mv base/middleware.yaml base/middlewares.yaml"\n'
        )


def commit_release(root: Path, tag: str, message: str) -> None:
    git(root, "add", "--all")
    git(root, "commit", "--quiet", "-m", message)
    git(root, "tag", "-a", tag, "-m", f"release {tag}")


@pytest.fixture(scope="session")
def blueprint_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The blueprint repository with releases v1.0.0 and v1.1.0 (tests must not modify it: clone it)."""
    root = tmp_path_factory.mktemp("blueprint") / "blueprint"
    root.mkdir()
    git(root, "init", "--quiet", "--initial-branch=main")
    write_tree(root, TEMPLATE_V1)
    commit_release(root, "v1.0.0", "blueprint 1.0.0")
    release_v1_1(root)
    commit_release(root, "v1.1.0", "blueprint 1.1.0: rate limit, middlewares.yaml, longer cpu limit")
    return root


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


MakeTenant = Callable[..., TenantRepo]


@pytest.fixture(scope="session")
def _render_cache(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, ...], Path]:
    return {}


@pytest.fixture
def make_tenant(
    blueprint_repo: Path,
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
    _render_cache: dict[tuple[str, ...], Path],
) -> MakeTenant:
    """`make_tenant(name, version="v1.0.0", answers_file=..., blueprint=...)`: a tenant rendered at `version`,
    committed, and pushed to its own bare remote under this test's tmp dir."""

    def make(
        name: str,
        version: str = "v1.0.0",
        answers_file: str = ".copier-answers.yml",
        blueprint: Path | None = None,
        data: Mapping[str, Any] | None = None,
    ) -> TenantRepo:
        src = blueprint or blueprint_repo
        answers = {"tenant": name, **(data or {})}
        key = (str(src), name, version, answers_file, repr(sorted(answers.items())))
        if key not in _render_cache:
            out = tmp_path_factory.mktemp("render") / name
            payload = {
                "src": str(src),
                "dst": str(out),
                "data": answers,
                "ref": version,
                "answers_file": answers_file,
            }
            import json
            import sys

            subprocess.run([sys.executable, "-c", _RENDER, json.dumps(payload)], check=True, timeout=120)
            _render_cache[key] = out
        checkout = tmp_path / "checkouts" / name
        remote = tmp_path / "remotes" / f"{name}.git"
        shutil.copytree(_render_cache[key], checkout)
        git(checkout, "init", "--quiet", "--initial-branch=main")
        git(checkout, "add", "--all")
        git(checkout, "commit", "--quiet", "-m", f"render {version}")
        remote.parent.mkdir(parents=True, exist_ok=True)
        git(remote.parent, "init", "--quiet", "--bare", "--initial-branch=main", str(remote))
        git(checkout, "remote", "add", "origin", str(remote))
        git(checkout, "push", "--quiet", "--set-upstream", "origin", "main")
        return TenantRepo(name=name, checkout=checkout, remote=remote)

    return make


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
