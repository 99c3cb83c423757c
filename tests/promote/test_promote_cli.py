"""`tenantforge promote` end to end: real git, bare remotes, the real gate, the installed CLI."""

from __future__ import annotations

import stat

from generator.gitrepo import parse_trailers
from tests.helpers import git, run_cli, write_tree
from tests.promote.conftest import IMAGE, PROD_DIGEST, MakeTenant, Tenant

OTHER_DIGEST = "sha256:" + "c" * 64


def promote(t: Tenant, *args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = run_cli("promote", str(t.work), "--from", "staging", "--to", "prod", *args, env={**t.env, **(env or {})})
    return result.returncode, result.stdout, result.stderr


def only_promotion_branch(branches: list[str]) -> str:
    promoted = [b for b in branches if b.startswith("promote/prod/")]
    assert len(promoted) == 1, branches
    return promoted[0]


def test_passes_when_staging_is_promoted_to_prod_on_a_new_pushed_branch(make_tenant: MakeTenant) -> None:
    t = make_tenant()
    head = git(t.work, "rev-parse", "HEAD")
    files_before = t.snapshot()[0]
    code, out, err = promote(t, "--push")
    assert code == 0, out + err
    branch = only_promotion_branch(t.branches())
    assert f"  {IMAGE}: {IMAGE}@{PROD_DIGEST} -> {IMAGE}@{t.staging_digest}" in out
    assert "gate passed: 1 environment, 0 failing, 0 waived" in out
    assert f"pushed {branch} to origin" in out
    # the checkout is untouched: same branch, same HEAD, same files, no stray work tree
    assert git(t.work, "symbolic-ref", "--short", "HEAD").strip() == "main"
    assert git(t.work, "rev-parse", "HEAD") == head
    assert t.snapshot()[0] == files_before
    assert t.worktrees() == 1
    assert branch in t.remote_branches()
    assert git(t.remote, "rev-parse", branch) == git(t.work, "rev-parse", branch)
    assert git(t.work, "rev-parse", f"{branch}~1") == head
    diff = git(t.work, "diff", "--unified=0", "main", branch)
    assert diff.count("\n-") == 2 and diff.count("\n+") == 2  # the header pair and the one changed line
    assert f"-    digest: {PROD_DIGEST}" in diff and f"+    digest: {t.staging_digest}" in diff
    trailers = parse_trailers(git(t.work, "log", "-1", "--format=%B", branch))
    assert ("Promote-From", "staging") in trailers and ("Promote-To", "prod") in trailers
    assert ("Promote-Image", f"{IMAGE}={IMAGE}@{t.staging_digest}") in trailers
    assert ("Promote-Replaces", f"{IMAGE}={IMAGE}@{PROD_DIGEST}") in trailers
    assert ("Gate-Result", "passed") in trailers
    assert ("Gate-Image-Scan", "yes") in trailers


def test_running_it_again_changes_nothing_and_says_so(make_tenant: MakeTenant) -> None:
    t = make_tenant()
    assert promote(t, "--push")[0] == 0
    before = t.snapshot(), git(t.remote, "for-each-ref")
    code, out, _ = promote(t, "--push")
    assert code == 0
    assert "already committed" in out and "origin already has" in out
    assert (t.snapshot(), git(t.remote, "for-each-ref")) == before
    branch = only_promotion_branch(t.branches())
    git(t.work, "merge", "-q", "--ff-only", branch)
    code, out, _ = promote(t)
    assert code == 0
    assert f"prod already pins {IMAGE}@{t.staging_digest}: nothing to do" in out


def test_promotes_one_named_image_or_an_explicit_reference(make_tenant: MakeTenant) -> None:
    t = make_tenant()
    code, out, err = promote(
        t, "--image", f"{IMAGE}={IMAGE}@{OTHER_DIGEST}", "--branch", "hotfix/odoo", "--skip-image-scan"
    )
    assert code == 0, out + err
    assert "(image scan skipped with --skip-image-scan)" in out
    assert git(t.work, "show", "hotfix/odoo:overlays/prod/kustomization.yaml").count(OTHER_DIGEST) == 1
    trailers = parse_trailers(git(t.work, "log", "-1", "--format=%B", "hotfix/odoo"))
    assert ("Gate-Image-Scan", "skipped") in trailers
    code, out, err = promote(t, "--image", "redis")
    assert code == 1
    assert f"--image redis: overlays/staging/kustomization.yaml has no pin for 'redis' (it pins: {IMAGE})" in err


def test_fails_when_an_environment_is_unknown(make_tenant: MakeTenant) -> None:
    t = make_tenant()
    before = t.snapshot()
    result = run_cli("promote", str(t.work), "--from", "staging", "--to", "prd")
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"error: unknown environment 'prd' for --to: overlays/ of {t.work} has dev, prod, staging"
    )
    assert t.snapshot() == before


def test_fails_on_a_dirty_tree_and_keeps_the_local_change(make_tenant: MakeTenant) -> None:
    t = make_tenant()
    write_tree(t.work, {"overlays/prod/kustomization.yaml": "# my local edit\n", "notes.txt": "wip\n"})
    before = t.snapshot()
    code, _, err = promote(t, "--push")
    assert code == 1
    assert "has uncommitted changes (overlays/prod/kustomization.yaml, notes.txt)" in err
    assert err.count("\n") == 1
    assert t.snapshot() == before
    assert (t.work / "overlays/prod/kustomization.yaml").read_text() == "# my local edit\n"
    assert t.remote_branches() == ["main"]


def test_fails_when_the_source_is_pinned_by_tag_only_and_the_target_is_prod(make_tenant: MakeTenant) -> None:
    t = make_tenant(staging_pin='    newTag: "17.0-20261101"\n')
    before = t.snapshot()
    code, _, err = promote(t)
    assert code == 1
    assert err.strip() == (
        f"error: prod accepts digest pins only, but the staging overlay pins {IMAGE} ({IMAGE}:17.0-20261101) by tag: "
        "pin it by digest (digest: sha256:…) or pass --image NAME=REPO@sha256:…; nothing was changed"
    )
    assert t.snapshot() == before


def test_fails_when_the_gate_fails_and_leaves_the_repository_exactly_as_it_was(make_tenant: MakeTenant) -> None:
    t = make_tenant()
    before = t.snapshot()
    code, _, err = promote(t, "--push", "--skip-image-scan", "--image", f"{IMAGE}=evil.example.com/odoo@{OTHER_DIGEST}")
    assert code == 1
    assert "evil.example.com/odoo" in err  # the failing finding is shown
    assert err.strip().splitlines()[-1].startswith("error: gate failed: 1 environment, ")
    assert err.strip().endswith("on prod; nothing was committed")
    assert t.snapshot() == before
    assert t.worktrees() == 1
    assert t.remote_branches() == ["main"]


def test_fails_when_the_branch_exists_with_other_content(make_tenant: MakeTenant) -> None:
    t = make_tenant()
    git(t.work, "branch", "promote/mine")
    before = t.snapshot()
    code, _, err = promote(t, "--branch", "promote/mine")
    assert code == 1
    assert err.strip() == (
        "error: branch 'promote/mine' already exists with other content: delete it or pass --branch NAME; "
        "nothing was changed"
    )
    assert t.snapshot() == before
    git(t.work, "push", "-q", "origin", "main:refs/heads/promote/theirs")
    code, _, err = promote(t, "--branch", "promote/theirs", "--push")
    assert code == 1
    assert "branch 'promote/theirs' already exists on 'origin' with other content" in err
    assert "promote/theirs" not in t.branches()


def test_refuses_to_commit_on_the_tracked_branch(make_tenant: MakeTenant) -> None:
    t = make_tenant()
    before = t.snapshot()
    code, _, err = promote(t, "--branch", "main")
    assert code == 1
    assert "--branch 'main' is the tracked branch" in err
    code, _, err = promote(t, "--branch", "bad..name")
    assert code == 1
    assert err.strip() == "error: 'bad..name' is not a valid branch name"
    assert t.snapshot() == before


def test_fails_when_the_push_is_not_a_fast_forward_and_never_forces(make_tenant: MakeTenant) -> None:
    t = make_tenant()
    assert promote(t)[0] == 0  # committed locally, not pushed
    branch = only_promotion_branch(t.branches())
    theirs = git(t.work, "commit-tree", "HEAD^{tree}", "-p", "HEAD", "-m", "someone else's work").strip()
    git(t.work, "push", "-q", "origin", f"{theirs}:refs/heads/{branch}")  # the name was taken meanwhile
    remote_before = git(t.remote, "for-each-ref")
    code, _, err = promote(t, "--push")
    assert code == 1
    assert err.strip() == (
        f"error: promotion committed on local branch {branch} only: push of '{branch}' to 'origin' rejected: "
        "the remote branch has commits this one lacks (non-fast-forward); fetch it and review, tenantforge never "
        "force-pushes"
    )
    assert git(t.remote, "for-each-ref") == remote_before


def test_fails_when_the_remote_denies_the_push(make_tenant: MakeTenant) -> None:
    t = make_tenant()
    hook = t.remote / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'GH006: Protected branch update failed: permission denied' >&2\nexit 1\n")
    hook.chmod(hook.stat().st_mode | stat.S_IEXEC)
    code, _, err = promote(t, "--push")
    assert code == 1
    assert err.count("\n") == 1
    assert "refused by the remote: GH006: Protected branch update failed: permission denied" in err
    assert t.remote_branches() == ["main"]
    assert git(t.work, "symbolic-ref", "--short", "HEAD").strip() == "main"


def test_fails_when_the_image_scan_finds_a_critical_vulnerability(make_tenant: MakeTenant) -> None:
    t = make_tenant()
    before = t.snapshot()
    code, _, err = promote(t, "--push", "--image", f"{IMAGE}={IMAGE}@{t.world.vulnerable}")
    assert code == 1
    assert "CVE-2099-1001" in err
    assert err.strip().splitlines()[-1].startswith("error: gate failed: 1 environment, ")
    assert t.snapshot() == before
    assert t.remote_branches() == ["main"]
