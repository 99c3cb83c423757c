"""Promotion between environments: copy image pins from one overlay into another, gate, commit on a new branch.

`promote(request)` refuses early (unknown environment, dirty tree, tag pin into prod, active freeze, branch that
holds other content), then works in a throw-away git work tree: the edit, the gate and the commit happen there, so
the user's checkout and its current branch are never touched and a failing gate leaves the repository exactly as it
was. Only a commit that passed the gate gets a branch name; pushing never forces; an open merge request for the
branch is reused. Running it again with nothing new changes nothing and says so.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from checks import freeze
from checks.config import CONFIG_NAME, Config, load_config
from checks.errors import GateError
from checks.finding import Finding
from checks.gate import GateRequest, GateResult, run_gate
from generator import __version__
from generator.errors import UserError
from generator.gitrepo import GitError, GitRepo, single_line
from generator.mergerequest import (
    MergeRequest,
    MergeRequestSpec,
    check_settings,
    default_project,
    open_merge_request,
)
from generator.overlays import (
    ImagePin,
    kustomization_file,
    load_kustomization,
    overlay_dirs,
    parse_image_ref,
    read_pins,
    set_pins,
)

Status = Literal["noop", "committed", "reused"]


@dataclass(frozen=True)
class PromoteRequest:
    repo: Path  # the tenant repository (or a directory inside a larger git repository)
    source: str
    target: str
    images: tuple[tuple[str, str | None], ...] = ()  # --image NAME[=REF]; empty: every pin of the source
    reason: str | None = None
    emergency: bool = False
    branch: str | None = None
    push: str | None = None  # remote name
    open_mr: str | None = None  # github | gitlab
    mr_project: str | None = None
    api_url: str | None = None
    config_path: Path | None = None
    schemas_dir: str | None = None
    scan_images: bool = True  # the gate's trivy image stage; off only with --skip-image-scan (recorded)
    image_dir: Path | None = None
    pull_images: bool | None = None
    api_timeout: float = 30.0
    now: datetime | None = None  # when freeze windows are evaluated (tests); default: now


@dataclass(frozen=True)
class ImageChange:
    name: str
    old: ImagePin | None
    new: ImagePin

    def describe(self) -> str:
        return f"{self.name}: {self.old.ref if self.old else '(not pinned)'} -> {self.new.ref}"


@dataclass(frozen=True)
class PromoteResult:
    status: Status
    source: str
    target: str
    changes: tuple[ImageChange, ...]
    branch: str | None = None
    commit: str | None = None
    gate: GateResult | None = None
    pushed_to: str | None = None
    merge_request: MergeRequest | None = None
    freeze_overrides: tuple[freeze.ActiveFreeze, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)


class GateFailed(UserError):
    """The gate found failing findings on the target environment; nothing was committed."""

    def __init__(self, message: str, result: GateResult) -> None:
        super().__init__(message)
        self.result = result


class GateUndecided(GateError):
    """The gate could not run on the target environment (exit 2); nothing was committed."""

    def __init__(self, message: str, result: GateResult) -> None:
        super().__init__(message)
        self.result = result


def promote(request: PromoteRequest, log: Callable[[str], None] = lambda _: None) -> PromoteResult:
    """Promote `request.source`'s image pins into `request.target`; see the module docstring."""
    return _Promotion(request, log).run()


class _Promotion:
    def __init__(self, request: PromoteRequest, log: Callable[[str], None]) -> None:
        # The reason goes into the commit message and the merge request: one line, so it cannot forge trailers.
        reason = single_line(request.reason) if request.reason is not None else None
        self.req = replace(request, reason=reason or None)
        self.log = log

    # --- guard clauses -----------------------------------------------------------------------------------

    def _check_options(self) -> None:
        req = self.req
        if req.emergency and not req.reason:
            raise UserError("--emergency needs --reason TEXT: the reason is recorded in the commit for the audit")
        if req.open_mr and not req.push:
            raise UserError("--open-mr needs --push: a merge request is opened for a pushed branch")
        if req.source == req.target:
            raise UserError(f"--from and --to are both {req.source!r}: promote between two environments")

    def _overlay(self, tenant: Path, env: str, option: str) -> Path:
        overlays = overlay_dirs(tenant)
        if env not in overlays:
            known = ", ".join(overlays) or "none"
            raise UserError(f"unknown environment {env!r} for {option}: overlays/ of {tenant} has {known}")
        path = kustomization_file(overlays[env])
        if path is None:  # overlay_dirs only lists overlays with a kustomization
            raise UserError(f"overlays/{env} has no kustomization")
        return path

    def _selected(self, source_pins: dict[str, ImagePin], source_label: str) -> list[ImagePin]:
        if not self.req.images:
            if not source_pins:
                raise UserError(f"{source_label} pins no images (no images: entries): nothing to promote")
            return list(source_pins.values())
        chosen: list[ImagePin] = []
        for name, ref in self.req.images:
            if ref is None:
                if name not in source_pins:
                    known = ", ".join(source_pins) or "none"
                    raise UserError(f"--image {name}: {source_label} has no pin for {name!r} (it pins: {known})")
                chosen.append(source_pins[name])
            else:
                chosen.append(parse_image_ref(name, ref))
        names = [p.name for p in chosen]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise UserError(f"--image given twice for {', '.join(duplicates)}")
        return chosen

    def _check_prod(self, config: Config, pins: Sequence[ImagePin]) -> None:
        if not config.environment(self.req.target).prod:
            return
        tagged = [p for p in pins if not p.digest]
        if tagged:
            where = "--image" if self.req.images else f"the {self.req.source} overlay"
            listed = ", ".join(f"{p.name} ({p.ref})" for p in tagged)
            raise UserError(
                f"{self.req.target} accepts digest pins only, but {where} pins {listed} by tag: pin it by digest "
                f"(digest: sha256:…) or pass --image NAME=REPO@sha256:…; nothing was changed"
            )

    def _check_freeze(self, config: Config) -> tuple[freeze.ActiveFreeze, ...]:
        label = self.req.config_path.name if self.req.config_path else CONFIG_NAME
        freeze.validate(config.freeze_windows, label)
        active = tuple(freeze.active_freezes(config.freeze_windows, self.req.target, self.req.now))
        if not active:
            return ()
        windows = "; ".join(a.describe() for a in active)
        if not self.req.emergency:
            raise UserError(
                f"{self.req.target} is frozen: {windows}; promote only with --emergency --reason TEXT "
                "(recorded in the commit); nothing was changed"
            )
        self.log(f"freeze overridden (emergency): {windows}")
        return active

    def _branch_name(self, repo: GitRepo, pins: Sequence[ImagePin]) -> str:
        if self.req.branch:
            name = self.req.branch
            repo.check_branch_name(name)
        else:
            # Same base and same pins -> same branch, so a re-run finds its own earlier work.
            seed = "\n".join([repo.tree("HEAD") or "", self.req.target, *sorted(p.ref for p in pins)])
            name = f"promote/{self.req.target}/{hashlib.sha256(seed.encode()).hexdigest()[:8]}"
        tracked = {repo.current_branch(), *(self._remote_default(repo) or ())}
        tracked.discard(None)
        if name in tracked:
            raise UserError(
                f"--branch {name!r} is the tracked branch: promotions are committed on a new branch for review, "
                "never on the branch Argo CD syncs"
            )
        return name

    def _remote_default(self, repo: GitRepo) -> tuple[str, ...]:
        if not self.req.push:
            return ()
        repo.remote_url(self.req.push)
        default = repo.default_branch(self.req.push)
        return (default,) if default else ()

    # --- the work ----------------------------------------------------------------------------------------

    def run(self) -> PromoteResult:
        req = self.req
        self._check_options()
        repo = GitRepo.open(req.repo)
        mr_target = self._merge_request_target(repo)
        tenant = req.repo.resolve()
        rel = tenant.relative_to(repo.root)
        source_path = self._overlay(tenant, req.source, "--from")
        target_path = self._overlay(tenant, req.target, "--to")
        source_label = str(source_path.relative_to(tenant))
        target_label = str(target_path.relative_to(tenant))
        repo.require_clean("promoting")
        config = load_config(req.config_path or tenant / CONFIG_NAME, required=req.config_path is not None)

        source_pins = read_pins(load_kustomization(source_path, source_label), source_label)
        pins = self._selected(source_pins, source_label)
        self._check_prod(config, pins)
        target_text = target_path.read_text(encoding="utf-8")
        target_pins = read_pins(load_kustomization(target_path, target_label), target_label)
        changes = tuple(
            ImageChange(p.name, target_pins.get(p.name), p) for p in pins if not p.same_target(target_pins.get(p.name))
        )
        if not changes:
            self.log(f"{req.target} already pins {', '.join(p.ref for p in pins)}: nothing to do")
            return PromoteResult("noop", req.source, req.target, ())
        new_text = set_pins(target_text, pins, target_label)
        self.log(f"promote {req.source} -> {req.target}:")
        for change in changes:
            self.log(f"  {change.describe()}")
        overrides = self._check_freeze(config)
        branch = self._branch_name(repo, pins)

        with repo.worktree("HEAD") as wt:
            wt_tenant = wt.root / rel
            (wt_tenant / target_path.relative_to(tenant)).write_text(new_text, encoding="utf-8")
            file_in_repo = str((rel / target_path.relative_to(tenant)).as_posix())
            wt.git("add", "--", file_in_repo)
            tree = wt.git("write-tree").strip()
            existing = self._existing(repo, branch, tree)
            gate = self._gate(wt_tenant, tenant)
            if existing is None:
                message, trailers = _commit_message(req, changes, target_label, gate, overrides)
                commit = wt.commit(message, trailers, paths=[])
            else:
                commit = existing
        status: Status = "reused" if existing is not None else "committed"
        if not repo.branch_exists(branch):
            repo.create_branch(branch, commit)
        self.log(
            f"{'committed' if status == 'committed' else 'already committed'} {commit[:12]} on branch {branch} "
            f"(your checkout is unchanged{', still on ' + str(repo.current_branch()) if repo.current_branch() else ''})"
        )
        pushed = self._push(repo, branch, commit)
        mr = self._open_mr(mr_target, branch, changes, gate, target_label) if mr_target else None
        return PromoteResult(status, req.source, req.target, changes, branch, commit, gate, pushed, mr, overrides)

    def _existing(self, repo: GitRepo, branch: str, tree: str) -> str | None:
        """The commit of an existing branch that already holds exactly this promotion, else None; a branch of
        that name with other content (here or on the push remote) is an error."""
        local = repo.rev(f"refs/heads/{branch}")
        if local is not None:
            if repo.tree(local) != tree:
                raise UserError(
                    f"branch {branch!r} already exists with other content: delete it or pass --branch NAME; "
                    "nothing was changed"
                )
            return local
        if self.req.push:
            remote_sha = repo.remote_branch(self.req.push, branch)
            if remote_sha is not None:
                repo.fetch(self.req.push, f"refs/heads/{branch}")
                if repo.tree(remote_sha) != tree:
                    raise UserError(
                        f"branch {branch!r} already exists on {self.req.push!r} with other content: pass --branch "
                        "NAME or have it removed there; nothing was changed"
                    )
                return remote_sha
        return None

    def _gate(self, wt_tenant: Path, tenant: Path) -> GateResult:
        config_path = self.req.config_path
        if config_path is not None:
            resolved = config_path.resolve()
            if resolved.is_relative_to(tenant):
                config_path = wt_tenant / resolved.relative_to(tenant)
        result = run_gate(
            GateRequest(
                repo=wt_tenant,
                envs=(self.req.target,),
                config_path=config_path,
                schemas_dir=self.req.schemas_dir,
                images=self.req.scan_images,
                image_dir=self.req.image_dir,
                pull_images=self.req.pull_images,
            )
        )
        summary = result.summary()
        if result.exit_code == 2:
            raise GateUndecided(f"{summary} on {self.req.target}; nothing was committed", result)
        if result.exit_code != 0:
            raise GateFailed(f"{summary} on {self.req.target}; nothing was committed", result)
        self.log(summary + _scan_note(self.req))
        return result

    def _push(self, repo: GitRepo, branch: str, commit: str) -> str | None:
        remote = self.req.push
        if remote is None:
            return None
        if repo.remote_branch(remote, branch) == commit:
            self.log(f"{remote} already has {branch} at {commit[:12]}")
            return remote
        try:
            repo.push(remote, branch)
        except GitError as exc:
            raise type(exc)(f"promotion committed on local branch {branch} only: {exc}") from exc
        self.log(f"pushed {branch} to {remote}")
        return remote

    def _merge_request_target(self, repo: GitRepo) -> tuple[str, str, str] | None:
        """(provider, project, base branch) of the merge request `--open-mr` asks for, settled before anything is
        gated, committed or pushed: a missing token or an unknown project must not leave a pushed branch behind."""
        req = self.req
        if req.open_mr is None or req.push is None:  # _check_options refuses --open-mr without --push
            return None
        base = repo.current_branch() or repo.default_branch(req.push)
        if base is None:
            raise UserError(
                "cannot tell which branch the merge request targets: check out the tracked branch; nothing was changed"
            )
        try:
            project = req.mr_project or default_project(req.open_mr, repo.remote_url(req.push))
            check_settings(req.open_mr, project, req.api_url)
        except UserError as exc:
            raise UserError(f"--open-mr {req.open_mr}: {exc}; nothing was changed") from exc
        return req.open_mr, project, base

    def _open_mr(
        self,
        target: tuple[str, str, str],
        branch: str,
        changes: Sequence[ImageChange],
        gate: GateResult,
        target_label: str,
    ) -> MergeRequest:
        req = self.req
        provider, project, base = target
        lines = [
            f"Promotes the image pins of **{req.source}** into `{target_label}` (**{req.target}**).",
            "",
            *[f"- `{c.name}`: `{c.old.ref if c.old else '(not pinned)'}` → `{c.new.ref}`" for c in changes],
            "",
            f"**{gate.summary()}**" + _scan_note(req),
        ]
        if req.reason:
            lines += ["", f"Reason: {req.reason}"]
        if req.emergency:
            lines += ["", "⚠ Emergency promotion during a change freeze."]
        lines += ["", f"Opened by tenantforge {__version__}."]
        spec = MergeRequestSpec(
            source_branch=branch,
            target_branch=base,
            title=_title(req, changes),
            description="\n".join(lines),
        )
        try:
            mr = open_merge_request(provider, spec, project=project, api_url=req.api_url, timeout=req.api_timeout)
        except UserError as exc:
            raise UserError(f"branch {branch} is pushed, but the merge request was not opened: {exc}") from exc
        self.log(f"{'opened' if mr.created else 'reused open'} merge request #{mr.number}: {mr.url}")
        return mr


def _scan_note(req: PromoteRequest) -> str:
    return "" if req.scan_images else " (image scan skipped with --skip-image-scan)"


def _title(req: PromoteRequest, changes: Sequence[ImageChange]) -> str:
    return f"promote {req.source} -> {req.target}: {', '.join(c.name for c in changes)}"


def _commit_message(
    req: PromoteRequest,
    changes: Sequence[ImageChange],
    target_label: str,
    gate: GateResult,
    overrides: Sequence[freeze.ActiveFreeze],
) -> tuple[str, list[tuple[str, str]]]:
    """A message a reviewer reads, plus trailers an audit parses (`git log --format='%(trailers:key=…)'`)."""
    body = [
        _title(req, changes),
        "",
        f"Promote the image pins of {req.source} into {target_label}.",
        "",
        *[f"  {c.describe()}" for c in changes],
        "",
        gate.summary() + _scan_note(req),
    ]
    if req.reason:
        body += ["", f"Reason: {req.reason}"]
    for active in overrides:
        body += ["", f"EMERGENCY: {active.describe()}, overridden."]
    trailers: list[tuple[str, str]] = [("Promote-From", req.source), ("Promote-To", req.target)]
    trailers += [("Promote-Image", f"{c.name}={c.new.ref}") for c in changes]
    trailers += [("Promote-Replaces", f"{c.name}={c.old.ref}") for c in changes if c.old]
    trailers += [
        ("Gate-Result", {0: "passed", 1: "failed", 2: "could-not-run"}[gate.exit_code]),
        ("Gate-Summary", gate.summary()),
        ("Gate-Image-Scan", "yes" if req.scan_images else "skipped"),
    ]
    if req.reason:
        trailers.append(("Promote-Reason", req.reason))
    if req.emergency:
        trailers.append(("Promote-Emergency", "yes"))
    trailers += [
        (
            "Freeze-Override",
            f"{a.name} {a.started.isoformat(timespec='minutes')}/{a.ends.isoformat(timespec='minutes')}",
        )
        for a in overrides
    ]
    trailers.append(("Promoted-By", f"tenantforge {__version__}"))
    trailers.append(("Promoted-At", (req.now or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="seconds")))
    return "\n".join(body), trailers


def failing_findings(result: GateResult) -> list[Finding]:
    return [f for f in result.findings if result.failing(f)]
