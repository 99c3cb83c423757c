"""The fleet upgrade on a tenant rendered from this repository's own blueprint (copier.yml + blueprints/), across
a realistic second release: a new Traefik middleware (retry), a file renamed by a Copier migration, a changed default.
The fault matrix runs on the small fixture blueprint (tests/fleet/blueprint.py); this proves the real one upgrades
cleanly through the whole pipeline, gate included."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml

from tests.fleet.blueprint import commit_release
from tests.fleet.conftest import TenantRepo, write_inventory
from tests.helpers import blueprint_repo, git, make_cert, run_cli, seal_answers

RETRY = """apiVersion: traefik.io/v1alpha1
kind: Middleware
metadata:
  name: retry
spec:
  retry:
    attempts: 3
    initialInterval: 100ms
"""
MIGRATION = """---
_migrations:
  - version: v1.1.0
    when: "{{ _stage == 'before' }}"
    command: "test ! -f base/pdb.yaml || git mv base/pdb.yaml base/poddisruptionbudget.yaml"
"""
_RENDER = """
import json, sys
from copier import run_copy
a = json.loads(sys.argv[1])
run_copy(a["src"], a["dst"], data=a["data"], vcs_ref="v1.0.0", defaults=True, quiet=True)
"""


def second_release(root: Path) -> None:
    base = root / "blueprints/odoo-tenant/template/base"
    git(root, "mv", str(base / "pdb.yaml"), str(base / "poddisruptionbudget.yaml"))
    (base / "retry.yaml").write_text(RETRY)
    kustomization = base / "kustomization.yaml.jinja"
    text = kustomization.read_text()
    assert "  - pdb.yaml\n" in text and "  - middlewares.yaml\n" in text, "the blueprint's base layout changed"
    text = text.replace("  - pdb.yaml\n", "  - poddisruptionbudget.yaml\n")
    kustomization.write_text(text.replace("  - middlewares.yaml\n", "  - middlewares.yaml\n  - retry.yaml\n"))
    questions = root / "blueprints/odoo-tenant/questions.yml"
    text = questions.read_text()
    assert "  default: 20\n" in text.split("login_rate_limit:", 1)[1][:300], "login_rate_limit default changed"
    head, tail = text.split("login_rate_limit:", 1)
    questions.write_text(head + "login_rate_limit:" + tail.replace("  default: 20\n", "  default: 30\n", 1))
    with (root / "copier.yml").open("a") as fh:
        fh.write(MIGRATION)


def test_a_tenant_of_the_real_blueprint_upgrades_through_the_whole_pipeline(tmp_path: Path) -> None:
    blueprint = blueprint_repo(tmp_path / "blueprint", tag="v1.0.0")
    second_release(blueprint)
    commit_release(blueprint, "v1.1.0", "blueprint 1.1.0: retry middleware, poddisruptionbudget.yaml, 30 logins/min")
    cert, _ = make_cert(tmp_path)
    answers = seal_answers({"tenant_slug": "acme-shop"}, cert)
    checkout = tmp_path / "acme-shop"
    payload = json.dumps({"src": str(blueprint), "dst": str(checkout), "data": answers})
    subprocess.run([sys.executable, "-c", _RENDER, payload], check=True, timeout=300)
    remote = tmp_path / "remotes" / "acme-shop.git"
    remote.parent.mkdir()
    git(checkout, "init", "--quiet", "--initial-branch=main")
    git(checkout, "add", "--all")
    git(checkout, "commit", "--quiet", "-m", "render v1.0.0")
    git(remote.parent, "init", "--quiet", "--bare", "--initial-branch=main", str(remote))
    git(checkout, "remote", "add", "origin", str(remote))
    git(checkout, "push", "--quiet", "origin", "main")
    tenant = TenantRepo("acme-shop", checkout, remote)
    readme = (checkout / "README.md").read_text()
    main = tenant.edit({"README.md": readme + "\nOn-call: the shop's own escalation line.\n"})
    inventory = write_inventory(tmp_path / "fleet.yaml", [tenant])

    proc = run_cli("fleet", "upgrade", "-i", str(inventory), "--to", "v1.1.0", "--format", "json")

    report = json.loads(proc.stdout)
    (record,) = report["tenants"]
    assert (proc.returncode, record["status"]) == (0, "pushed"), record
    assert record["gate"].startswith("gate passed")
    assert tenant.remote_branches()["main"] == main
    branch = "upgrade/v1.1.0"
    assert tenant.remote_file(branch, "base/pdb.yaml") is None
    assert "PodDisruptionBudget" in (tenant.remote_file(branch, "base/poddisruptionbudget.yaml") or "")
    assert tenant.remote_file(branch, "base/retry.yaml") == RETRY
    kustomization = yaml.safe_load(tenant.remote_file(branch, "base/kustomization.yaml") or "")
    assert {"poddisruptionbudget.yaml", "retry.yaml"} <= set(kustomization["resources"])
    recorded = tenant.answers(branch)
    assert recorded["_commit"] == "v1.1.0"
    assert recorded["login_rate_limit"] == 20  # a recorded answer survives a changed default
    assert "the shop's own escalation line" in (tenant.remote_file(branch, "README.md") or "")
    for env, diff in record["diffs"].items():
        assert "+  name: retry" in diff, env
