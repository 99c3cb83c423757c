"""Upgrade one tenant repository to a blueprint release, safely (issue 7).

fetch → refuse (not a git repo, dirty, newer) → `copier update` (3-way, migrations) → conflicts? → silent losses?
→ render every overlay before/after → gate → commit on `upgrade/<tag>` → push (never forced) → merge request.
Anything that stops the tenant leaves its tracked branch untouched and its work clone clean.
"""

from __future__ import annotations

import difflib
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from checks.errors import GateError
from checks.gate import GateRequest
from checks.yamlsafe import YamlError, load_one
from generator.errors import UserError
from generator.fleet import copier_ops
from generator.fleet.checkout import TenantProblem, read_answers, sync_clone
from generator.fleet.gatebatch import GateBatcher
from generator.fleet.inventory import Hosting, Tenant
from generator.fleet.outcome import Outcome, Status
from generator.fleet.overlays import manifest_diffs, render_overlays
from generator.fleet.template import TemplateSources
from generator.fleet.versions import parse_version
from generator.fleet.workspace import Workspace
from generator.gitrepo import GitError, GitRepo, PushDenied, PushRejected, run_git
from generator.mergerequest import (
    MergeRequestError,
    MergeRequestSpec,
    check_settings,
    open_merge_request,
    project_from_remote,
)

_MARKER = re.compile(r"^(<{7} before updating|>{7} after updating|<{7} |>{7} )", re.MULTILINE)
_DIFF_IN_MR = 400  # lines per environment in a merge request description


def upgrade_branch(tag: str) -> str:
    return f"upgrade/{tag}"


@dataclass(frozen=True)
class FleetContext:
    """What every tenant of one run shares."""

    workspace: Workspace
    templates: TemplateSources
    hosting: Hosting | None = None
    gates: GateBatcher = field(default_factory=GateBatcher)  # tenants at the gate together share its tools


def upgrade_tenant(tenant: Tenant, target: str, ctx: FleetContext, dry_run: bool = False) -> Outcome:
    """Run the whole upgrade for one tenant; never raises: every failure becomes the tenant's `Outcome`."""
    start = time.monotonic()
    base = Outcome(tenant=tenant.name, status=Status.ERROR, to_version=target)
    try:
        with ctx.gates.participant(), ctx.workspace.locked(tenant.name):
            outcome = _TenantUpgrade(tenant, target, ctx, dry_run, base).execute()
    except TenantProblem as problem:
        outcome = base.but(status=problem.status, message=problem.message, files=problem.files)
    except UserError as exc:
        outcome = base.but(message=str(exc))
    except Exception as exc:  # one tenant's bug must not stop the fleet; its record says what broke
        outcome = base.but(message=f"unexpected {type(exc).__name__}: {exc}")
    outcome = outcome.but(seconds=time.monotonic() - start)
    ctx.workspace.update_state(
        tenant.name,
        last_upgrade={**outcome.as_json(with_diffs=False), "dry_run": dry_run, "at": time.time()},
        **({"gate": {"summary": outcome.gate, "version": target, "at": time.time()}} if outcome.gate else {}),
    )
    return outcome


class _TenantUpgrade:
    def __init__(self, tenant: Tenant, target: str, ctx: FleetContext, dry_run: bool, base: Outcome) -> None:
        self.tenant = tenant
        self.target = target
        self.ctx = ctx
        self.dry_run = dry_run
        self.outcome = base
        self.branch = upgrade_branch(target)

    def execute(self) -> Outcome:
        try:
            return self.run()
        except TenantProblem as problem:
            return self.outcome.but(status=problem.status, message=problem.message, files=problem.files)

    def run(self) -> Outcome:
        repo, head = sync_clone(self.tenant, self.ctx.workspace)
        answers = read_answers(repo, head, self.tenant)
        current = str(answers["_commit"])
        self.outcome = self.outcome.but(from_version=current)
        template = self.ctx.templates.get(str(answers["_src_path"]))
        try:
            releases = template.releases()
        except GitError as exc:
            raise TenantProblem(Status.UNREACHABLE, str(exc)) from None
        if self.target not in template.tags():
            shown = ", ".join(releases[-5:]) or "none"
            raise TenantProblem(
                Status.REFUSED, f"blueprint {template.url} has no tag {self.target} (latest releases: {shown})"
            )
        current_v, target_v = parse_version(current), parse_version(self.target)
        if current == self.target or (current_v is not None and current_v == target_v):
            return self.outcome.but(status=Status.UP_TO_DATE, message=f"already at {current}")
        if current_v is None:
            raise TenantProblem(Status.REFUSED, f"recorded blueprint version {current!r} is not a release tag")
        if target_v is not None and current_v > target_v:
            raise TenantProblem(Status.REFUSED, f"at {current}, newer than {self.target}: downgrades are not supported")
        existing = repo.rev(f"refs/remotes/origin/{self.branch}")
        if existing is not None and _is_ancestor(repo, head, existing):
            return self._already_proposed(repo, existing, current)
        self._check_merge_request_settings()
        marker = self.ctx.workspace.busy_marker(self.tenant.name)
        marker.touch()
        repo.git("checkout", "--quiet", "--force", "-B", self.branch, "--no-track", head)
        repo.discard_changes(head)
        try:
            outcome = self._update(repo, head, answers, current, template.migrations(current, self.target))
        finally:
            if repo.dirty_paths() or repo.untracked_paths(ignored=True):
                repo.discard_changes("HEAD")
            marker.unlink(missing_ok=True)
        if outcome.status is not Status.PUSHED or self.dry_run:
            return outcome
        return self._merge_request(repo, outcome, current)

    def _update(
        self, repo: GitRepo, head: str, answers: dict[str, Any], current: str, migrations: list[Any]
    ) -> Outcome:
        before = render_overlays(repo.root)
        scratch = self.ctx.workspace.scratch(f"{self.tenant.name}-")
        try:
            try:
                copier_ops.update(repo.root, self.tenant.answers_file, self.target, bool(migrations), scratch)
            except copier_ops.CopierFailure as failure:
                raise self._copier_problem(failure, migrations) from None
            after_answers = read_answers_worktree(repo.root, self.tenant.answers_file)
            if after_answers.get("_commit") != self.target:
                raise TenantProblem(
                    Status.ERROR,
                    f"copier update left {self.tenant.answers_file} at {after_answers.get('_commit')!r}, "
                    f"not {self.target}",
                )
            conflicts = find_conflicts(repo)
            if conflicts:
                raise TenantProblem(
                    Status.CONFLICT,
                    f"the release changes lines the tenant edited: resolve by hand in {_shown(conflicts)}",
                    conflicts,
                )
            losses = self._silent_losses(repo, head, answers, current, scratch)
            if losses:
                raise TenantProblem(
                    Status.DATA_LOSS,
                    f"the update would silently drop tenant edits in {_shown(losses)}: upgrade this tenant by hand",
                    losses,
                )
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        diffs = manifest_diffs(before, render_overlays(repo.root))
        self.outcome = self.outcome.but(diffs=diffs)
        try:
            result = self.ctx.gates.gate(GateRequest(repo=repo.root))
        except GateError as exc:
            raise TenantProblem(Status.GATE_ERROR, f"gate could not run: {exc}") from None
        self.outcome = self.outcome.but(gate=result.summary())
        if result.exit_code == 1:
            failing = [f for f in result.findings if f.waived_by is None]
            top = "; ".join(f"{f.rule_id} {f.env or ''} {f.resource}: {f.message}" for f in failing[:3])
            raise TenantProblem(Status.GATE_FAILED, f"{result.summary()} — {top}")
        if result.exit_code != 0:
            raise TenantProblem(Status.GATE_ERROR, result.summary())
        if self.dry_run:
            return self.outcome.but(
                status=Status.WOULD_UPGRADE, message=f"{current} → {self.target}: update, checks and gate pass"
            )
        commit = repo.commit(
            f"Upgrade blueprint {current} → {self.target}\n\n{result.summary()}",
            trailers=[("Blueprint-From", current), ("Blueprint-To", self.target)],
        )
        try:
            repo.push("origin", self.branch)
        except (PushRejected, PushDenied) as exc:
            raise TenantProblem(Status.PUSH_REJECTED, str(exc)) from None
        except GitError as exc:
            raise TenantProblem(Status.UNREACHABLE, str(exc)) from None
        return self.outcome.but(
            status=Status.PUSHED, branch=self.branch, commit=commit, message=f"{current} → {self.target}"
        )

    def _copier_problem(self, failure: copier_ops.CopierFailure, migrations: list[Any]) -> TenantProblem:
        tail = " | ".join(line for line in failure.output.splitlines()[-3:] if line.strip())
        detail = f"{failure.message}" + (f" ({tail})" if tail else "")
        if failure.kind == "task" and migrations:
            return TenantProblem(Status.MIGRATION_FAILED, f"migration to {self.target} failed: {detail}")
        if failure.kind == "refused":
            return TenantProblem(Status.REFUSED, f"copier refused: {detail}")
        if failure.kind == "unsafe":
            return TenantProblem(
                Status.ERROR, f"the blueprint needs trust beyond its migrations (tasks or extensions): {detail}"
            )
        return TenantProblem(Status.ERROR, f"copier update failed: {detail}")

    def _silent_losses(
        self, repo: GitRepo, head: str, answers: dict[str, Any], current: str, scratch: Path
    ) -> list[str]:
        """Tenant content that Copier drops without a conflict: an edited file the release deletes, an edited
        binary file reset to the template's version (copier-update.md, "silent losses")."""
        suspects: list[tuple[str, bytes]] = []
        for status, path in repo.changed_paths("HEAD"):
            before = repo.show_file(head, path)
            if before is None:
                continue
            if status == "D" or (status == "M" and _is_binary(before)):
                suspects.append((path, before))
        surviving = _lines_of_changed_files(repo)
        # Every line still somewhere in the result (a file a migration moved): nothing can be lost, no render needed.
        suspects = [
            (path, before)
            for path, before in suspects
            if _is_binary(before) or any(line not in surviving for line in _lines(before))
        ]
        if not suspects:
            return []
        old = scratch / "old-render"
        try:
            copier_ops.render(
                str(answers["_src_path"]), current, answers, self.tenant.answers_file, old, scratch=scratch
            )
        except copier_ops.CopierFailure as failure:
            raise TenantProblem(
                Status.ERROR, f"cannot render {current} to check {_shown([p for p, _ in suspects])}: {failure}"
            ) from None
        lost: list[str] = []
        for path, before in suspects:
            rendered_path = old / path
            rendered = rendered_path.read_bytes() if rendered_path.is_file() else b""
            if before == rendered:
                continue  # the tenant never edited it: the release may delete or replace it
            if _is_binary(before):
                lost.append(path)
                continue
            added = _added_lines(rendered, before)
            if any(line not in surviving for line in added):
                lost.append(path)  # not even moved elsewhere (a migration may have renamed the file)
        return lost

    def _already_proposed(self, repo: GitRepo, existing: str, current: str) -> Outcome:
        outcome = self.outcome.but(
            status=Status.ALREADY_PROPOSED,
            branch=self.branch,
            commit=existing,
            message=f"{self.branch} is already on the remote on top of {self.tenant.branch}",
        )
        if self.dry_run or self.ctx.hosting is None:
            return outcome
        return self._merge_request(repo, outcome, current)

    def _project(self) -> str:
        try:
            return self.tenant.project or project_from_remote(self.tenant.url)
        except MergeRequestError as exc:
            raise MergeRequestError(f"{exc}: set `project:` for tenant {self.tenant.name} in fleet.yaml") from None

    def _check_merge_request_settings(self) -> None:
        """What opening the merge request needs is checked before the update: a run must not push branches that
        cannot be proposed."""
        hosting = self.ctx.hosting
        if self.dry_run or hosting is None:
            return
        try:
            check_settings(hosting.provider, self._project(), hosting.api_url)
        except MergeRequestError as exc:
            raise TenantProblem(Status.REFUSED, f"cannot open merge requests on {hosting.provider}: {exc}") from None

    def _merge_request(self, repo: GitRepo, outcome: Outcome, current: str) -> Outcome:
        hosting = self.ctx.hosting
        if hosting is None:
            return outcome
        spec = MergeRequestSpec(
            source_branch=self.branch,
            target_branch=self.tenant.branch,
            title=f"Upgrade blueprint {current} → {self.target}",
            description=merge_request_body(outcome, current, self.target),
        )
        try:
            mr = open_merge_request(hosting.provider, spec, project=self._project(), api_url=hosting.api_url)
        except MergeRequestError as exc:
            return outcome.but(
                status=Status.MR_FAILED, message=f"{self.branch} pushed; opening the merge request failed: {exc}"
            )
        status = Status.PROPOSED if outcome.status is Status.PUSHED or mr.created else outcome.status
        return outcome.but(status=status, merge_request=mr.url)


def merge_request_body(outcome: Outcome, current: str, target: str) -> str:
    parts = [
        f"Blueprint upgrade **{current} → {target}**, prepared by `tenantforge fleet upgrade`.",
        "",
        f"Gate: `{outcome.gate}`" if outcome.gate else "Gate: not run",
        "",
        "### Rendered manifests per environment",
    ]
    if not outcome.diffs:
        parts.append("No environment's rendered manifests change.")
    for env, diff in sorted(outcome.diffs.items()):
        lines = diff.splitlines()
        shown = "\n".join(lines[:_DIFF_IN_MR]) + (
            f"\n… {len(lines) - _DIFF_IN_MR} more lines" if len(lines) > _DIFF_IN_MR else ""
        )
        parts += [
            "",
            f"<details><summary>{env}: {len(lines)} diff lines</summary>",
            "",
            "```diff",
            shown,
            "```",
            "</details>",
        ]
    return "\n".join(parts) + "\n"


def read_answers_worktree(root: Path, answers_file: str) -> dict[str, Any]:
    try:
        data = load_one((root / answers_file).read_text(encoding="utf-8"))
    except (OSError, YamlError, UnicodeDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def find_conflicts(repo: GitRepo) -> list[str]:
    """Every sign of a conflicted update: unmerged index entries, `.rej` files (ignored ones too), and
    conflict markers in changed or new files — Copier exits 0 in all of these cases."""
    found = set(repo.unmerged_paths())
    untracked = repo.untracked_paths() + repo.untracked_paths(ignored=True)
    found.update(p for p in untracked if p.endswith(".rej"))
    candidates = {p for s, p in repo.changed_paths("HEAD") if s != "D"} | set(untracked)
    for path in sorted(candidates - found):
        file = repo.root / path
        try:
            data = file.read_bytes()
        except OSError:
            continue
        if not _is_binary(data) and _MARKER.search(data.decode("utf-8", "replace")):
            found.add(path)
    return sorted(found)


def _is_ancestor(repo: GitRepo, ancestor: str, descendant: str) -> bool:
    return run_git(["merge-base", "--is-ancestor", ancestor, descendant], repo.root, check=False).returncode == 0


def _is_binary(data: bytes) -> bool:
    return b"\0" in data[:8000]


def _added_lines(old: bytes, new: bytes) -> list[str]:
    old_lines = old.decode("utf-8", "replace").splitlines()
    new_lines = new.decode("utf-8", "replace").splitlines()
    return [
        line[1:].strip()
        for line in difflib.unified_diff(old_lines, new_lines, lineterm="", n=0)
        if line.startswith("+") and not line.startswith("+++") and line[1:].strip()
    ]


def _lines(data: bytes) -> list[str]:
    return [line.strip() for line in data.decode("utf-8", "replace").splitlines() if line.strip()]


def _lines_of_changed_files(repo: GitRepo) -> set[str]:
    paths = {p for s, p in repo.changed_paths("HEAD") if s != "D"} | set(repo.untracked_paths())
    lines: set[str] = set()
    for path in paths:
        try:
            data = (repo.root / path).read_bytes()
        except OSError:
            continue
        if not _is_binary(data):
            lines.update(line.strip() for line in data.decode("utf-8", "replace").splitlines())
    return lines


def _shown(paths: list[str], limit: int = 5) -> str:
    return ", ".join(paths[:limit]) + (f" and {len(paths) - limit} more" if len(paths) > limit else "")
