"""`tenantforge fleet upgrade`: real blueprint releases, real tenant repos behind bare remotes, the real gate.

Each fault runs beside a healthy tenant: the faulty one gets the right status, nothing of it is lost, the other is
upgraded all the same.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from tests.fleet.blueprint import commit_release
from tests.fleet.conftest import (
    MakeTenant,
    MultiProjectHosting,
    clone_blueprint,
    hosted_inventory,
    write_inventory,
)
from tests.helpers import CLI, git, run_cli


def upgrade(inventory: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    proc = run_cli("fleet", "upgrade", "-i", str(inventory), "--format", "json", *args, env=env)
    assert proc.stdout.strip(), proc.stderr
    report = json.loads(proc.stdout)
    return proc.returncode, report


def by_tenant(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t["tenant"]: t for t in report["tenants"]}


def test_upgrade_proposes_a_merge_request_per_tenant_and_leaves_main_alone(
    make_tenant: MakeTenant, tmp_path: Path, hosting: MultiProjectHosting
) -> None:
    acme, bolt = make_tenant("acme"), make_tenant("bolt")
    main_before = {t.name: t.remote_branches()["main"] for t in (acme, bolt)}
    inventory = hosted_inventory(tmp_path / "fleet.yaml", [acme, bolt], hosting)

    proc = run_cli("fleet", "upgrade", "--to", "v1.1.0", "-i", str(inventory), env={"GITLAB_TOKEN": hosting.token})

    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "fleet upgrade to v1.1.0 passed: 2 tenants, 2 proposed" in proc.stdout
    for tenant in (acme, bolt):
        assert tenant.remote_branches()["main"] == main_before[tenant.name]
        assert tenant.answers("upgrade/v1.1.0")["_commit"] == "v1.1.0"
        assert tenant.remote_file("upgrade/v1.1.0", "base/middleware.yaml") is None
        assert "security-headers" in (tenant.remote_file("upgrade/v1.1.0", "base/middlewares.yaml") or "")
        assert "rate-limit" in (tenant.remote_file("upgrade/v1.1.0", "base/rate-limit.yaml") or "")
        assert "limit_time_cpu = 120" in (tenant.remote_file("upgrade/v1.1.0", "base/odoo.conf") or "")
        message = git(tenant.remote, "log", "-1", "--format=%B", "upgrade/v1.1.0")
        assert "Blueprint-From: v1.0.0" in message and "Blueprint-To: v1.1.0" in message
        (mr,) = hosting.opened()[f"retail/{tenant.name}"]
        assert mr["source_branch"] == "upgrade/v1.1.0" and mr["target_branch"] == "main"
        assert mr["title"] == "Upgrade blueprint v1.0.0 → v1.1.0"
        # the reviewer sees the rendered change per environment and the gate's verdict
        assert "<details><summary>dev:" in mr["description"] and "<details><summary>prod:" in mr["description"]
        assert "+  name: rate-limit" in mr["description"]
        assert "Gate: `gate passed" in mr["description"]


def test_rerun_is_a_no_op_and_reuses_the_merge_request(
    make_tenant: MakeTenant, tmp_path: Path, hosting: MultiProjectHosting
) -> None:
    acme = make_tenant("acme")
    inventory = hosted_inventory(tmp_path / "fleet.yaml", [acme], hosting)
    token = {"GITLAB_TOKEN": hosting.token}
    assert upgrade(inventory, "--to", "v1.1.0", env=token)[0] == 0
    branches = acme.remote_branches()

    code, report = upgrade(inventory, "--to", "v1.1.0", env=token)

    assert code == 0
    assert by_tenant(report)["acme"]["status"] == "already-proposed"
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


def test_conflict_when_the_tenant_edited_the_lines_the_release_changes(make_tenant: MakeTenant, tmp_path: Path) -> None:
    acme, bolt = make_tenant("acme"), make_tenant("bolt")
    conf = (acme.checkout / "base/odoo.conf").read_text().replace("limit_time_cpu = 60", "limit_time_cpu = 90")
    edited = acme.edit({"base/odoo.conf": conf})
    inventory = write_inventory(tmp_path / "fleet.yaml", [acme, bolt])

    code, report = upgrade(inventory, "--to", "v1.1.0")

    assert code == 1
    record = by_tenant(report)["acme"]
    assert record["status"] == "conflict" and record["files"] == ["base/odoo.conf"]
    assert record["from_version"] == "v1.0.0"
    assert acme.remote_branches() == {"main": edited}
    assert by_tenant(report)["bolt"]["status"] == "pushed"


def test_conflict_is_found_when_the_tenant_gitignores_rej_files(make_tenant: MakeTenant, tmp_path: Path) -> None:
    acme = make_tenant("acme")
    conf = (acme.checkout / "base/odoo.conf").read_text().replace("limit_time_cpu = 60", "limit_time_cpu = 90")
    edited = acme.edit({"base/odoo.conf": conf, ".gitignore": "*.rej\n*.orig\n"})
    inventory = write_inventory(tmp_path / "fleet.yaml", [acme])

    code, report = upgrade(inventory, "--to", "v1.1.0")

    record = by_tenant(report)["acme"]
    assert (code, record["status"]) == (1, "conflict")
    assert "base/odoo.conf" in record["files"][0]
    assert acme.remote_branches() == {"main": edited}


def test_a_rendered_file_the_tenant_deleted_stays_deleted(make_tenant: MakeTenant, tmp_path: Path) -> None:
    acme = make_tenant("acme")
    acme.edit({}, delete=("README.md",))
    inventory = write_inventory(tmp_path / "fleet.yaml", [acme])

    code, report = upgrade(inventory, "--to", "v1.1.0")

    assert (code, by_tenant(report)["acme"]["status"]) == (0, "pushed")
    assert acme.remote_file("upgrade/v1.1.0", "README.md") is None
    assert acme.remote_file("upgrade/v1.1.0", "base/rate-limit.yaml") is not None


def test_an_edited_file_the_release_deletes_stops_the_tenant_as_data_loss(
    make_tenant: MakeTenant, blueprint_repo: Path, tmp_path: Path
) -> None:
    blueprint = clone_blueprint(blueprint_repo, tmp_path / "blueprint")
    git(blueprint, "checkout", "--quiet", "v1.1.0")
    git(blueprint, "rm", "--quiet", "blueprints/odoo-tenant/template/README.md.jinja")
    commit_release(blueprint, "v1.2.0", "drop the README")
    acme = make_tenant("acme", blueprint=blueprint, version="v1.1.0")
    bolt = make_tenant("bolt", blueprint=blueprint, version="v1.1.0")
    acme_main = acme.edit({"README.md": "# acme\n\nOn-call: +49 30 1234567 (tenant's own runbook line)\n"})
    inventory = write_inventory(tmp_path / "fleet.yaml", [acme, bolt])

    code, report = upgrade(inventory, "--to", "v1.2.0")

    assert code == 1
    record = by_tenant(report)["acme"]
    assert record["status"] == "data-loss" and record["files"] == ["README.md"]
    assert acme.remote_branches() == {"main": acme_main}
    # bolt never edited its README: the release may delete it
    assert by_tenant(report)["bolt"]["status"] == "pushed"
    assert bolt.remote_file("upgrade/v1.2.0", "README.md") is None


def test_custom_answers_file_path(make_tenant: MakeTenant, tmp_path: Path) -> None:
    acme = make_tenant("acme", answers_file=".tenantforge/answers.yml")
    bolt = make_tenant("bolt")
    wrong = write_inventory(tmp_path / "wrong.yaml", [acme, bolt])
    code, report = upgrade(wrong, "--to", "v1.1.0", "--work-dir", str(tmp_path / "w1"))
    assert code == 1
    assert by_tenant(report)["acme"]["status"] == "refused"
    assert "no .copier-answers.yml" in by_tenant(report)["acme"]["message"]
    assert by_tenant(report)["bolt"]["status"] == "pushed"

    right = write_inventory(
        tmp_path / "fleet.yaml",
        [{"name": "acme", "url": str(acme.remote), "answers_file": ".tenantforge/answers.yml"}],
    )
    code, report = upgrade(right, "--to", "v1.1.0")

    assert (code, by_tenant(report)["acme"]["status"]) == (0, "pushed")
    assert acme.answers("upgrade/v1.1.0", ".tenantforge/answers.yml")["_commit"] == "v1.1.0"
    assert acme.remote_file("upgrade/v1.1.0", ".copier-answers.yml") is None


def test_unreachable_remote_and_not_a_git_repo(make_tenant: MakeTenant, tmp_path: Path) -> None:
    bolt = make_tenant("bolt")
    plain = tmp_path / "plain-dir"
    plain.mkdir()
    (plain / "README.md").write_text("not a repository\n")
    inventory = write_inventory(
        tmp_path / "fleet.yaml",
        [
            {"name": "gone", "url": str(tmp_path / "remotes" / "gone.git")},
            {"name": "plain", "url": str(plain)},
            bolt,
        ],
    )

    code, report = upgrade(inventory, "--to", "v1.1.0")

    records = by_tenant(report)
    assert code == 1
    assert records["gone"]["status"] == "unreachable" and "gone.git" in records["gone"]["message"]
    assert records["plain"]["status"] == "refused" and "is not a git repository" in records["plain"]["message"]
    assert (plain / "README.md").read_text() == "not a repository\n"
    assert records["bolt"]["status"] == "pushed"


def test_a_dirty_work_clone_is_refused_and_kept(make_tenant: MakeTenant, tmp_path: Path) -> None:
    acme, bolt = make_tenant("acme"), make_tenant("bolt")
    inventory = write_inventory(tmp_path / "fleet.yaml", [acme, bolt])
    assert run_cli("fleet", "status", "-i", str(inventory), "--no-drift").returncode == 0
    note = tmp_path / ".fleet" / "clones" / "acme" / "base" / "odoo.conf"
    note.write_text(note.read_text() + "# someone's experiment\n")

    code, report = upgrade(inventory, "--to", "v1.1.0")

    record = by_tenant(report)["acme"]
    assert (code, record["status"]) == (1, "refused")
    assert "uncommitted changes (base/odoo.conf)" in record["message"]
    assert note.read_text().endswith("# someone's experiment\n")
    assert set(acme.remote_branches()) == {"main"}
    assert by_tenant(report)["bolt"]["status"] == "pushed"


def test_a_newer_tenant_is_refused(make_tenant: MakeTenant, tmp_path: Path) -> None:
    acme = make_tenant("acme", version="v1.1.0")
    inventory = write_inventory(tmp_path / "fleet.yaml", [acme])

    code, report = upgrade(inventory, "--to", "v1.0.0")

    record = by_tenant(report)["acme"]
    assert (code, record["status"]) == (1, "refused")
    assert record["message"] == "at v1.1.0, newer than v1.0.0: downgrades are not supported"


def test_push_rejected_never_forces(make_tenant: MakeTenant, tmp_path: Path) -> None:
    acme, bolt = make_tenant("acme"), make_tenant("bolt")
    # someone else already pushed an unrelated upgrade/v1.1.0 (not on top of main)
    git(acme.checkout, "checkout", "--quiet", "--orphan", "upgrade/v1.1.0")
    (acme.checkout / "NOTE.md").write_text("someone's branch\n")
    git(acme.checkout, "add", "NOTE.md")
    git(acme.checkout, "commit", "--quiet", "-m", "someone's work")
    git(acme.checkout, "push", "--quiet", "origin", "upgrade/v1.1.0")
    theirs = acme.remote_branches()
    inventory = write_inventory(tmp_path / "fleet.yaml", [acme, bolt])

    code, report = upgrade(inventory, "--to", "v1.1.0")

    record = by_tenant(report)["acme"]
    assert (code, record["status"]) == (1, "push-rejected")
    assert "never force" in record["message"]
    assert acme.remote_branches() == theirs
    assert by_tenant(report)["bolt"]["status"] == "pushed"


def test_a_failing_migration_stops_that_tenant(make_tenant: MakeTenant, blueprint_repo: Path, tmp_path: Path) -> None:
    blueprint = clone_blueprint(blueprint_repo, tmp_path / "blueprint")
    git(blueprint, "checkout", "--quiet", "v1.1.0")
    with (blueprint / "copier.yml").open("a") as fh:
        fh.write(
            "  - version: v1.2.0\n"
            '    command: "test -f overlays/staging/kustomization.yaml || '
            "{ echo 'overlays/staging is missing: add it before 1.2' >&2; exit 3; }\"\n"
        )
    commit_release(blueprint, "v1.2.0", "require a staging overlay")
    acme = make_tenant("acme", blueprint=blueprint, version="v1.1.0")
    bolt = make_tenant("bolt", blueprint=blueprint, version="v1.1.0")
    (bolt.checkout / "overlays/staging").mkdir()
    config = (bolt.checkout / "tenantforge.yml").read_text()
    staging = "  staging: {namespaces: [bolt-staging], threshold: critical}\n"
    bolt.edit(
        {
            "overlays/staging/kustomization.yaml": "namespace: bolt-staging\nresources:\n  - ../../base\n",
            "tenantforge.yml": config + staging,
        }
    )
    acme_main = acme.remote_branches()
    inventory = write_inventory(tmp_path / "fleet.yaml", [acme, bolt])

    code, report = upgrade(inventory, "--to", "v1.2.0")

    record = by_tenant(report)["acme"]
    assert (code, record["status"]) == (1, "migration-failed")
    assert "overlays/staging is missing" in record["message"]
    assert acme.remote_branches() == acme_main
    assert by_tenant(report)["bolt"]["status"] == "pushed"
    clone = tmp_path / ".fleet" / "clones" / "acme"
    assert git(clone, "status", "--porcelain", "--ignored") == ""


def test_gate_failure_after_update_stops_that_tenant(
    make_tenant: MakeTenant, blueprint_repo: Path, tmp_path: Path
) -> None:
    blueprint = clone_blueprint(blueprint_repo, tmp_path / "blueprint")
    git(blueprint, "checkout", "--quiet", "v1.1.0")
    kustomization = blueprint / "blueprints/odoo-tenant/template/base/kustomization.yaml"
    kustomization.write_text(
        kustomization.read_text().replace("  - rate-limit.yaml\n", "  - rate-limit.yaml\n  - hpa.yaml\n")
    )
    commit_release(blueprint, "v1.2.0", "an HPA (the file was forgotten: the release does not build)")
    acme = make_tenant("acme", blueprint=blueprint, version="v1.1.0")
    acme_main = acme.remote_branches()
    inventory = write_inventory(tmp_path / "fleet.yaml", [acme])

    code, report = upgrade(inventory, "--to", "v1.2.0")

    record = by_tenant(report)["acme"]
    assert (code, record["status"]) == (1, "gate-failed")
    assert record["gate"].startswith("gate failed: 2 environments, 2 failing")
    assert "TF-BUILD" in record["message"] and "hpa.yaml" in record["message"]
    assert acme.remote_branches() == acme_main


def test_waves_hold_the_rest_when_a_canary_fails(make_tenant: MakeTenant, tmp_path: Path) -> None:
    canary, rest1, rest2 = make_tenant("acme"), make_tenant("bolt"), make_tenant("core")
    conf = (canary.checkout / "base/odoo.conf").read_text().replace("limit_time_cpu = 60", "limit_time_cpu = 90")
    canary.edit({"base/odoo.conf": conf})
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
    tenants = [make_tenant(name) for name in ("acme", "bolt", "core")]
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
    assert records["bolt"]["status"] == "proposed" and records["core"]["status"] == "proposed"
    for tenant in tenants:
        assert tenant.answers("upgrade/v1.1.0")["_commit"] == "v1.1.0"
        assert git(tenant.remote, "rev-list", "--count", "main..upgrade/v1.1.0").strip() == "1"
        assert len(hosting.opened()[f"retail/{tenant.name}"]) == 1
