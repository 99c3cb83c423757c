"""`fleet status`: where each tenant stands — blueprint version, latest release, drift, open upgrades, last gate."""

from __future__ import annotations

import fnmatch
import shutil
import time
from dataclasses import dataclass, field
from typing import Any

from generator.errors import UserError
from generator.fleet import copier_ops
from generator.fleet.checkout import TenantProblem, read_answers, sync_clone
from generator.fleet.inventory import Tenant
from generator.fleet.outcome import Status
from generator.fleet.upgrade import FleetContext
from generator.fleet.versions import parse_version
from generator.gitrepo import GitError, GitRepo


@dataclass(frozen=True)
class TenantStatus:
    tenant: str
    url: str
    branch: str
    labels: dict[str, str] = field(default_factory=dict)
    version: str | None = None
    latest: str | None = None
    drift: tuple[str, ...] | None = None  # "M path" / "D path"; None when it could not be computed
    upgrade_branches: tuple[str, ...] = ()
    last_gate: str | None = None
    last_upgrade: str | None = None
    problem: str | None = None  # why the tenant could not be read (status: message)
    seconds: float = 0.0

    @property
    def behind(self) -> bool:
        current, latest = parse_version(self.version or ""), parse_version(self.latest or "")
        return current is not None and latest is not None and current < latest

    @property
    def state(self) -> str:
        """One word for the table colour: error, drifted, behind, current."""
        if self.problem:
            return "error"
        if self.drift:
            return "drifted"
        return "behind" if self.behind else "current"

    def as_json(self) -> dict[str, Any]:
        return {
            "tenant": self.tenant,
            "url": self.url,
            "branch": self.branch,
            "labels": dict(self.labels),
            "version": self.version,
            "latest": self.latest,
            "behind": self.behind,
            "state": self.state,
            "drift": list(self.drift) if self.drift is not None else None,
            "upgrade_branches": list(self.upgrade_branches),
            "last_gate": self.last_gate,
            "last_upgrade": self.last_upgrade,
            "problem": self.problem,
            "seconds": round(self.seconds, 3),
        }


def tenant_status(tenant: Tenant, ctx: FleetContext, drift: bool = True) -> TenantStatus:
    """Read one tenant; never raises: a tenant that cannot be read says why in `problem`."""
    start = time.monotonic()
    state = ctx.workspace.read_state(tenant.name)
    last = state.get("last_upgrade") or {}
    gate = state.get("gate") or {}
    result = TenantStatus(
        tenant=tenant.name,
        url=tenant.url,
        branch=tenant.branch,
        labels=dict(tenant.labels),
        last_gate=f"{gate.get('version')}: {gate.get('summary')}" if gate.get("summary") else None,
        last_upgrade=f"{last.get('to_version')}: {last.get('status')}" if last.get("status") else None,
    )
    try:
        with ctx.workspace.locked(tenant.name):
            result = _read(tenant, ctx, result, drift)
    except TenantProblem as problem:
        result = _with(result, problem=f"{problem.status}: {problem.message}")
    except UserError as exc:
        result = _with(result, problem=f"error: {exc}")
    except Exception as exc:  # keep the report going; the row says what broke
        result = _with(result, problem=f"error: unexpected {type(exc).__name__}: {exc}")
    return _with(result, seconds=time.monotonic() - start)


def _with(status: TenantStatus, **changes: Any) -> TenantStatus:
    from dataclasses import replace

    return replace(status, **changes)


def _read(tenant: Tenant, ctx: FleetContext, result: TenantStatus, drift: bool) -> TenantStatus:
    repo, head = sync_clone(tenant, ctx.workspace)
    answers = read_answers(repo, head, tenant)
    version = str(answers["_commit"])
    branches = tuple(
        ref.removeprefix("refs/remotes/origin/")
        for ref in repo.git("for-each-ref", "--format=%(refname)", "refs/remotes/origin/upgrade/").split()
    )
    template = ctx.templates.get(str(answers["_src_path"]))
    try:
        releases = template.releases()
    except GitError as exc:
        return _with(result, version=version, upgrade_branches=branches, problem=f"unreachable: {exc}")
    result = _with(result, version=version, latest=releases[-1] if releases else None, upgrade_branches=branches)
    if not drift:
        return result
    return _with(result, drift=_drift(tenant, ctx, repo, head, answers))


def _drift(tenant: Tenant, ctx: FleetContext, repo: GitRepo, head: str, answers: dict[str, Any]) -> tuple[str, ...]:
    """Files whose content differs from what the recorded version renders with the recorded answers (hand edits),
    cached per (tracked commit, version) since a render costs seconds."""
    key = f"{repo.tree(head)}:{answers['_commit']}:{tenant.answers_file}"
    cached = ctx.workspace.read_state(tenant.name).get("drift")
    if isinstance(cached, dict) and cached.get("key") == key:
        return tuple(cached.get("files", []))
    scratch = ctx.workspace.scratch(f"{tenant.name}-drift-")
    try:
        rendered_dir = scratch / "render"
        try:
            skip = copier_ops.render(
                str(answers["_src_path"]),
                str(answers["_commit"]),
                answers,
                tenant.answers_file,
                rendered_dir,
                scratch=scratch,
            )
        except copier_ops.CopierFailure as failure:
            raise TenantProblem(Status.ERROR, f"cannot render {answers['_commit']} to compare: {failure}") from None
        tracked: dict[str, str] = {}
        for line in repo.git("ls-tree", "-r", "-z", head).split("\0"):
            meta, _, path = line.partition("\t")
            if path:
                tracked[path] = meta.split()[2]
        files: list[str] = []
        for file in sorted(p for p in rendered_dir.rglob("*") if p.is_file()):
            rel = file.relative_to(rendered_dir).as_posix()
            if rel == tenant.answers_file or any(fnmatch.fnmatch(rel, pattern) for pattern in skip):
                continue
            if rel not in tracked:
                files.append(f"D {rel}")
            elif tracked[rel] != copier_ops.blob_id(file.read_bytes()):
                files.append(f"M {rel}")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    ctx.workspace.update_state(tenant.name, drift={"key": key, "files": files})
    return tuple(files)
