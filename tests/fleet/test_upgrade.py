"""`tenantforge fleet upgrade`: real blueprint releases, real tenant repos behind bare remotes, the real gate.

Every fault is a test of its own, but faults that need no release of their own share one fleet run (a module
fixture), and so do those of one bad release: each faulty tenant gets its status and keeps its content, and the
healthy tenant beside them is upgraded all the same.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.fleet.blueprint import commit_release
from tests.fleet.conftest import (
    MakeTenant,
    MultiProjectHosting,
    TenantFactory,
    TenantRepo,
    clone_blueprint,
    hosted_inventory,
    isolated_env,
    write_inventory,
)
from tests.helpers import CLI, git, run_cli

# Tests sharing a module fixture run on one xdist worker (`--dist loadgroup`), so each fleet run happens once.
FAULTS = pytest.mark.xdist_group("fleet-faults")
BAD_RELEASE = pytest.mark.xdist_group("fleet-bad-release")


def upgrade(inventory: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    proc = run_cli("fleet", "upgrade", "-i", str(inventory), "--format", "json", *args, env=env)
    assert proc.stdout.strip(), proc.stderr
    report = json.loads(proc.stdout)
    return proc.returncode, report


def by_tenant(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t["tenant"]: t for t in report["tenants"]}


def edit_cpu_limit(tenant: TenantRepo, extra: dict[str, str] | None = None) -> str:
    """The tenant edits the very line release v1.1.0 changes."""
    conf = (tenant.checkout / "base/odoo.conf").read_text().replace("limit_time_cpu = 60", "limit_time_cpu = 90")
    return tenant.edit({"base/odoo.conf": conf, **(extra or {})})


@dataclass(frozen=True)
class FleetRun:
    code: int
    report: dict[str, Any]
    tenants: dict[str, TenantRepo]
    mains: dict[str, dict[str, str]]  # remote branches of each tenant before the run
    base: Path

    def record(self, name: str) -> dict[str, Any]:
        return by_tenant(self.report)[name]


@pytest.fixture(scope="module")
def faults(
    blueprint_repo: Path, tmp_path_factory: pytest.TempPathFactory, _render_cache: dict[tuple[str, ...], Path]
) -> FleetRun:
    """One `fleet upgrade --to v1.1.0` over a healthy tenant (bolt) and one tenant per fault."""
    base = tmp_path_factory.mktemp("faults")
    with isolated_env(base / "home"):
        make = TenantFactory(base, blueprint_repo, _render_cache, tmp_path_factory)
        t = {name: make(name) for name in ("bolt", "acme", "rej", "trim", "taken", "dirty")}
        t["custom"] = make("custom", answers_file=".tenantforge/answers.yml")
        t["unset"] = make("unset", answers_file=".tenantforge/answers.yml")
        t["fresh"] = make("fresh", version="v1.1.0")
        edit_cpu_limit(t["acme"])
        edit_cpu_limit(t["rej"], {".gitignore": "*.rej\n*.orig\n"})
        t["trim"].edit({}, delete=("README.md",))
        taken = t["taken"].checkout  # someone else pushed an unrelated upgrade/v1.1.0 (not on top of main)
        git(taken, "checkout", "--quiet", "--orphan", "upgrade/v1.1.0")
        (taken / "NOTE.md").write_text("someone's branch\n")
        git(taken, "add", "NOTE.md")
        git(taken, "commit", "--quiet", "-m", "someone's work")
        git(taken, "push", "--quiet", "origin", "upgrade/v1.1.0")
        plain = base / "plain-dir"
        plain.mkdir()
        (plain / "README.md").write_text("not a repository\n")
        entries: list[TenantRepo | dict[str, Any]] = [
            *(t[n] for n in ("bolt", "acme", "rej", "trim", "taken", "dirty", "unset", "fresh")),
            {"name": "custom", "url": str(t["custom"].remote), "answers_file": ".tenantforge/answers.yml"},
            {"name": "gone", "url": str(base / "remotes" / "gone.git")},
            {"name": "plain", "url": str(plain)},
        ]
        inventory = write_inventory(base / "fleet.yaml", entries)
        assert run_cli("fleet", "status", "-i", str(inventory), "--no-drift", "-s", "dirty").returncode == 0
        clone_file = base / ".fleet" / "clones" / "dirty" / "base" / "odoo.conf"
        clone_file.write_text(clone_file.read_text() + "# someone's experiment\n")
        mains = {name: repo.remote_branches() for name, repo in t.items()}
        code, report = upgrade(inventory, "--to", "v1.1.0", "-j", "2")
    return FleetRun(code, report, t, mains, base)


@FAULTS
def test_the_healthy_tenant_is_upgraded_whatever_the_others_do(faults: FleetRun) -> None:
    assert faults.code == 1
    assert faults.report["summary"] == (
        "fleet upgrade to v1.1.0 failed: 11 tenants, 2 conflict, 1 push-rejected, 3 pushed, 3 refused, "
        "1 unreachable, 1 up-to-date"
    )
    bolt = faults.tenants["bolt"]
    assert faults.record("bolt")["status"] == "pushed"
    assert bolt.remote_branches()["main"] == faults.mains["bolt"]["main"]
    assert bolt.answers("upgrade/v1.1.0")["_commit"] == "v1.1.0"
    assert bolt.remote_file("upgrade/v1.1.0", "base/middleware.yaml") is None
    assert "security-headers" in (bolt.remote_file("upgrade/v1.1.0", "base/middlewares.yaml") or "")
    assert "rate-limit" in (bolt.remote_file("upgrade/v1.1.0", "base/rate-limit.yaml") or "")
    assert "limit_time_cpu = 120" in (bolt.remote_file("upgrade/v1.1.0", "base/odoo.conf") or "")
    message = git(bolt.remote, "log", "-1", "--format=%B", "upgrade/v1.1.0")
    assert "Blueprint-From: v1.0.0" in message and "Blueprint-To: v1.1.0" in message


@FAULTS
def test_conflict_when_the_tenant_edited_the_lines_the_release_changes(faults: FleetRun) -> None:
    record = faults.record("acme")
    assert (record["status"], record["files"], record["from_version"]) == ("conflict", ["base/odoo.conf"], "v1.0.0")
    assert faults.tenants["acme"].remote_branches() == faults.mains["acme"]
    clone = faults.base / ".fleet" / "clones" / "acme"
    assert git(clone, "status", "--porcelain", "--ignored") == ""


@FAULTS
def test_conflict_is_found_when_the_tenant_gitignores_rej_files(faults: FleetRun) -> None:
    record = faults.record("rej")
    assert (record["status"], record["files"]) == ("conflict", ["base/odoo.conf"])
    assert faults.tenants["rej"].remote_branches() == faults.mains["rej"]


@FAULTS
def test_a_rendered_file_the_tenant_deleted_stays_deleted(faults: FleetRun) -> None:
    trim = faults.tenants["trim"]
    assert faults.record("trim")["status"] == "pushed"
    assert trim.remote_file("upgrade/v1.1.0", "README.md") is None
    assert trim.remote_file("upgrade/v1.1.0", "base/rate-limit.yaml") is not None


@FAULTS
def test_custom_answers_file_path(faults: FleetRun) -> None:
    custom = faults.tenants["custom"]
    assert faults.record("custom")["status"] == "pushed"
    assert custom.answers("upgrade/v1.1.0", ".tenantforge/answers.yml")["_commit"] == "v1.1.0"
    assert custom.remote_file("upgrade/v1.1.0", ".copier-answers.yml") is None
    unset = faults.record("unset")  # the same layout, but fleet.yaml does not say where its answers are
    assert unset["status"] == "refused"
    assert unset["message"].startswith("main has no .copier-answers.yml: not rendered by Copier")


@FAULTS
def test_unreachable_remote(faults: FleetRun) -> None:
    record = faults.record("gone")
    assert record["status"] == "unreachable" and "gone.git" in record["message"]


@FAULTS
def test_not_a_git_repo(faults: FleetRun) -> None:
    record = faults.record("plain")
    assert record["status"] == "refused" and record["message"].endswith("plain-dir is not a git repository")
    assert (faults.base / "plain-dir" / "README.md").read_text() == "not a repository\n"


@FAULTS
def test_a_dirty_work_clone_is_refused_and_kept(faults: FleetRun) -> None:
    record = faults.record("dirty")
    assert record["status"] == "refused"
    assert "uncommitted changes (base/odoo.conf)" in record["message"]
    clone_file = faults.base / ".fleet" / "clones" / "dirty" / "base" / "odoo.conf"
    assert clone_file.read_text().endswith("# someone's experiment\n")
    assert faults.tenants["dirty"].remote_branches() == faults.mains["dirty"]


@FAULTS
def test_push_rejected_never_forces(faults: FleetRun) -> None:
    record = faults.record("taken")
    assert record["status"] == "push-rejected" and "never force" in record["message"]
    assert faults.tenants["taken"].remote_branches() == faults.mains["taken"]


@FAULTS
def test_a_tenant_at_the_target_is_a_no_op(faults: FleetRun) -> None:
    assert (faults.record("fresh")["status"], faults.record("fresh")["message"]) == ("up-to-date", "already at v1.1.0")
    assert faults.tenants["fresh"].remote_branches() == faults.mains["fresh"]


@pytest.fixture(scope="module")
def bad_release(
    blueprint_repo: Path, tmp_path_factory: pytest.TempPathFactory, _render_cache: dict[tuple[str, ...], Path]
) -> FleetRun:
    """v1.2.0: a migration that needs a staging overlay, the README dropped, an HPA listed but never added."""
    base = tmp_path_factory.mktemp("bad-release")
    with isolated_env(base / "home"):
        blueprint = clone_blueprint(blueprint_repo, base / "blueprint")
        git(blueprint, "checkout", "--quiet", "v1.1.0")
        with (blueprint / "copier.yml").open("a") as fh:
            fh.write(
                "  - version: v1.2.0\n"
                '    command: "test -f overlays/staging/kustomization.yaml || '
                "{ echo 'overlays/staging is missing: add it before 1.2' >&2; exit 3; }\"\n"
            )
        git(blueprint, "rm", "--quiet", "blueprints/odoo-tenant/template/README.md.jinja")
        kustomization = blueprint / "blueprints/odoo-tenant/template/base/kustomization.yaml"
        kustomization.write_text(
            kustomization.read_text().replace("  - rate-limit.yaml\n", "  - rate-limit.yaml\n  - hpa.yaml\n")
        )
        commit_release(blueprint, "v1.2.0", "staging required, no README, an HPA (the file was forgotten)")
        make = TenantFactory(base, blueprint_repo, _render_cache, tmp_path_factory)
        t = {name: make(name, blueprint=blueprint, version="v1.1.0") for name in ("nostage", "lossy", "broken")}
        for name in ("lossy", "broken"):
            config = (t[name].checkout / "tenantforge.yml").read_text()
            files = {
                "overlays/staging/kustomization.yaml": f"namespace: {name}-staging\nresources:\n  - ../../base\n",
                "tenantforge.yml": config + f"  staging: {{namespaces: [{name}-staging], threshold: critical}}\n",
            }
            if name == "lossy":
                files["README.md"] = "# lossy\n\nOn-call: +49 30 1234567 (the tenant's own runbook line)\n"
            t[name].edit(files)
        mains = {name: repo.remote_branches() for name, repo in t.items()}
        code, report = upgrade(write_inventory(base / "fleet.yaml", list(t.values())), "--to", "v1.2.0", "-j", "2")
    return FleetRun(code, report, t, mains, base)


@BAD_RELEASE
def test_a_failing_migration_stops_that_tenant(bad_release: FleetRun) -> None:
    record = bad_release.record("nostage")
    assert (bad_release.code, record["status"]) == (1, "migration-failed")
    assert "overlays/staging is missing" in record["message"]
    assert bad_release.tenants["nostage"].remote_branches() == bad_release.mains["nostage"]
    clone = bad_release.base / ".fleet" / "clones" / "nostage"
    assert git(clone, "status", "--porcelain", "--ignored") == ""


@BAD_RELEASE
def test_an_edited_file_the_release_deletes_stops_the_tenant_as_data_loss(bad_release: FleetRun) -> None:
    record = bad_release.record("lossy")
    assert (record["status"], record["files"]) == ("data-loss", ["README.md"])
    assert bad_release.tenants["lossy"].remote_branches() == bad_release.mains["lossy"]


@BAD_RELEASE
def test_gate_failure_after_update_stops_that_tenant(bad_release: FleetRun) -> None:
    record = bad_release.record("broken")  # its README was never edited: the release may delete it
    assert record["status"] == "gate-failed"
    assert record["gate"].startswith("gate failed: 3 environments, 3 failing")
    assert "TF-BUILD" in record["message"] and "hpa.yaml" in record["message"]
    assert bad_release.tenants["broken"].remote_branches() == bad_release.mains["broken"]


def test_a_newer_tenant_is_refused(make_tenant: MakeTenant, tmp_path: Path) -> None:
    acme = make_tenant("acme", version="v1.1.0")
    inventory = write_inventory(tmp_path / "fleet.yaml", [acme])

    code, report = upgrade(inventory, "--to", "v1.0.0")

    record = by_tenant(report)["acme"]
    assert (code, record["status"]) == (1, "refused")
    assert record["message"] == "at v1.1.0, newer than v1.0.0: downgrades are not supported"


def test_an_answers_file_with_a_duplicate_key_is_refused_naming_the_line(
    make_tenant: MakeTenant, tmp_path: Path
) -> None:
    acme = make_tenant("acme")
    answers = acme.answers("main")
    acme.edit(
        {
            ".copier-answers.yml": f"_commit: {answers['_commit']}\n_src_path: {answers['_src_path']}\n"
            f"tenant: acme\ntenant: other\n"
        }
    )
    inventory = write_inventory(tmp_path / "fleet.yaml", [acme])
    branches = acme.remote_branches()

    code, report = upgrade(inventory, "--to", "v1.1.0")

    record = by_tenant(report)["acme"]
    assert (code, record["status"]) == (1, "refused")
    assert record["message"] == (".copier-answers.yml on main is not valid YAML: line 4: duplicate key 'tenant'")
    assert acme.remote_branches() == branches


def test_upgrade_opens_a_merge_request_and_a_rerun_is_a_no_op(
    make_tenant: MakeTenant, tmp_path: Path, hosting: MultiProjectHosting
) -> None:
    acme = make_tenant("acme")
    main_before = acme.remote_branches()["main"]
    inventory = hosted_inventory(tmp_path / "fleet.yaml", [acme], hosting)
    token = {"GITLAB_TOKEN": hosting.token}

    proc = run_cli("fleet", "upgrade", "--to", "v1.1.0", "-i", str(inventory), env=token)

    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "fleet upgrade to v1.1.0 passed: 1 tenant, 1 proposed" in proc.stdout
    assert acme.remote_branches()["main"] == main_before
    assert acme.answers("upgrade/v1.1.0")["_commit"] == "v1.1.0"
    (mr,) = hosting.opened()["retail/acme"]
    assert mr["source_branch"] == "upgrade/v1.1.0" and mr["target_branch"] == "main"
    assert mr["title"] == "Upgrade blueprint v1.0.0 → v1.1.0"
    # the reviewer sees the rendered change per environment and the gate's verdict
    assert "<details><summary>dev:" in mr["description"] and "<details><summary>prod:" in mr["description"]
    assert "+  name: rate-limit" in mr["description"]
    assert "Gate: `gate passed" in mr["description"]
    branches = acme.remote_branches()

    code, report = upgrade(inventory, "--to", "v1.1.0", env=token)

    assert (code, by_tenant(report)["acme"]["status"]) == (0, "already-proposed")
    assert acme.remote_branches() == branches
    assert len(hosting.opened()["retail/acme"]) == 1
    # once merged, the tenant is at the target: a no-op without touching anything
    git(acme.checkout, "pull", "--quiet", "--ff-only", "origin", "upgrade/v1.1.0")
    git(acme.checkout, "push", "--quiet", "origin", "main")
    code, report = upgrade(inventory, "--to", "v1.1.0", env=token)
    assert (code, by_tenant(report)["acme"]["status"]) == (0, "up-to-date")


def test_dry_run_pushes_nothing_and_shows_the_manifest_diff(make_tenant: MakeTenant, tmp_path: Path) -> None:
    acme = make_tenant("acme")
    inventory = write_inventory(tmp_path / "fleet.yaml", [acme])

    code, report = upgrade(inventory, "--to", "v1.1.0", "--dry-run")

    record = by_tenant(report)["acme"]
    assert (code, record["status"]) == (0, "would-upgrade")
    assert set(acme.remote_branches()) == {"main"}
    assert "+  name: rate-limit" in record["diffs"]["prod"]
    assert "-    limit_time_cpu = 60" in record["diffs"]["dev"] or "limit_time_cpu = 120" in record["diffs"]["dev"]


def test_waves_hold_the_rest_when_a_canary_fails(make_tenant: MakeTenant, tmp_path: Path) -> None:
    canary, rest1, rest2 = make_tenant("acme"), make_tenant("bolt"), make_tenant("core")
    edit_cpu_limit(canary)
    inventory = write_inventory(tmp_path / "fleet.yaml", [canary, rest1, rest2])

    code, report = upgrade(inventory, "--to", "v1.1.0", "--wave", "canary=1")

    records = by_tenant(report)
    assert code == 1
    assert (records["acme"]["wave"], records["acme"]["status"]) == ("canary", "conflict")
    for name in ("bolt", "core"):
        assert records[name]["status"] == "held"
        assert records[name]["message"] == "wave canary did not pass: acme (conflict)"
    assert set(rest1.remote_branches()) == {"main"}


def test_a_run_killed_halfway_resumes_without_duplicates(
    make_tenant: MakeTenant, tmp_path: Path, hosting: MultiProjectHosting
) -> None:
    tenants = [make_tenant(name) for name in ("acme", "bolt")]
    mains = {t.name: t.remote_branches()["main"] for t in tenants}
    inventory = hosted_inventory(tmp_path / "fleet.yaml", tenants, hosting)
    env = {**os.environ, "GITLAB_TOKEN": hosting.token}
    busy = tmp_path / ".fleet" / "clones" / "bolt.busy"
    proc = subprocess.Popen(
        [str(CLI), "fleet", "upgrade", "--to", "v1.1.0", "-i", str(inventory), "-j", "1"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while not busy.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert busy.exists(), "the run never started on the second tenant"
    time.sleep(0.3)  # inside the update of bolt
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    for tenant in tenants:
        assert tenant.remote_branches()["main"] == mains[tenant.name]  # nothing half-done on a tracked branch

    code, report = upgrade(inventory, "--to", "v1.1.0", env={"GITLAB_TOKEN": hosting.token})

    records = by_tenant(report)
    assert code == 0, report
    assert records["acme"]["status"] in {"already-proposed", "proposed"}
    assert records["bolt"]["status"] == "proposed"
    for tenant in tenants:
        assert tenant.answers("upgrade/v1.1.0")["_commit"] == "v1.1.0"
        assert git(tenant.remote, "rev-list", "--count", "main..upgrade/v1.1.0").strip() == "1"
        assert len(hosting.opened()[f"retail/{tenant.name}"]) == 1


def test_without_a_token_no_branch_is_pushed_that_cannot_be_proposed(
    make_tenant: MakeTenant, tmp_path: Path, hosting: MultiProjectHosting
) -> None:
    acme = make_tenant("acme")
    inventory = hosted_inventory(tmp_path / "fleet.yaml", [acme], hosting)
    branches = acme.remote_branches()

    code, report = upgrade(inventory, "--to", "v1.1.0", env={"GITLAB_TOKEN": ""})

    record = by_tenant(report)["acme"]
    assert (code, record["status"]) == (1, "refused")
    assert record["message"] == (
        "cannot open merge requests on gitlab: GITLAB_TOKEN is not set: export a token allowed to open merge requests"
    )
    assert acme.remote_branches() == branches
    assert hosting.opened().get("retail/acme", []) == []


def test_a_tenant_whose_project_cannot_be_told_is_refused_and_the_others_are_proposed(
    make_tenant: MakeTenant, tmp_path: Path, hosting: MultiProjectHosting
) -> None:
    acme, bolt = make_tenant("acme"), make_tenant("bolt")
    hosting.add("retail/acme", acme.remote)
    entries = [{"name": "acme", "url": str(acme.remote), "project": "retail/acme"}, bolt]
    inventory = write_inventory(tmp_path / "fleet.yaml", entries, {"provider": "gitlab", "api_url": hosting.url})
    bolt_branches = bolt.remote_branches()

    code, report = upgrade(inventory, "--to", "v1.1.0", env={"GITLAB_TOKEN": hosting.token})

    records = by_tenant(report)
    assert (code, records["acme"]["status"], records["bolt"]["status"]) == (1, "proposed", "refused")
    assert records["bolt"]["message"] == (
        f"cannot open merge requests on gitlab: cannot tell the project from remote URL '{bolt.remote}': "
        "set `project:` for tenant bolt in fleet.yaml"
    )
    assert bolt.remote_branches() == bolt_branches
