"""Bring a tenant's work clone up to date with its remote, refusing what must not be touched."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from checks.yamlsafe import YamlError, load_one
from generator.fleet.inventory import Tenant
from generator.fleet.outcome import Status
from generator.fleet.workspace import Workspace
from generator.gitrepo import GitError, GitRepo, run_git


class TenantProblem(Exception):
    """Stops the work on one tenant with a status and a one-line reason; the other tenants go on."""

    def __init__(self, status: Status, message: str, files: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.files = tuple(files)


def _shown(paths: Sequence[str], limit: int = 5) -> str:
    return ", ".join(paths[:limit]) + (f" and {len(paths) - limit} more" if len(paths) > limit else "")


def _local_path(url: str) -> Path | None:
    if url.startswith("file://"):
        return Path(url[len("file://") :])
    return Path(url) if url.startswith("/") else None


def _is_git_dir(path: Path) -> bool:
    return run_git(["rev-parse", "--git-dir"], path, check=False).returncode == 0


def sync_clone(tenant: Tenant, workspace: Workspace) -> tuple[GitRepo, str]:
    """The tenant's work clone, fetched, and the commit its tracked branch has on the remote.

    A clone holding work of an interrupted run (busy marker) is reset; one changed by someone else is refused.
    """
    dest = workspace.clone_dir(tenant.name)
    local = _local_path(tenant.url)
    if local is not None and local.is_dir() and not _is_git_dir(local):
        raise TenantProblem(Status.REFUSED, f"{tenant.url} is not a git repository")
    if dest.exists() and not (dest / ".git").exists():
        raise TenantProblem(Status.REFUSED, f"work clone {dest} is not a git repository: move it away and re-run")
    if dest.exists():
        repo = GitRepo(dest.resolve())
        marker = workspace.busy_marker(tenant.name)
        if marker.exists():
            # Our own half-done work from an interrupted run: it never reached a branch, so drop it. The run holds
            # the tenant's lock, so an index.lock left there is the killed git's, not a live one's.
            (dest / ".git" / "index.lock").unlink(missing_ok=True)
            head = repo.rev("HEAD")
            if head is not None:
                repo.discard_changes(head)
            marker.unlink()
        dirty = repo.dirty_paths()
        if dirty:
            raise TenantProblem(
                Status.REFUSED,
                f"work clone {dest} has uncommitted changes ({_shown(dirty)}) that no tenantforge run made: "
                "commit or discard them, then re-run",
                dirty,
            )
        try:
            if repo.remote_url("origin") != tenant.url:
                repo.git("remote", "set-url", "origin", tenant.url)
            repo.git("fetch", "--quiet", "--prune", "--no-tags", "origin")
        except GitError as exc:
            raise TenantProblem(Status.UNREACHABLE, f"cannot fetch {tenant.url}: {exc}") from None
    else:
        try:
            repo = GitRepo.clone(tenant.url, dest)
        except GitError as exc:
            raise TenantProblem(Status.UNREACHABLE, str(exc)) from None
    head = repo.rev(f"refs/remotes/origin/{tenant.branch}")
    if head is None:
        raise TenantProblem(Status.REFUSED, f"{tenant.url} has no branch {tenant.branch!r}")
    return repo, head


def read_answers(repo: GitRepo, ref: str, tenant: Tenant) -> dict[str, Any]:
    """The Copier answers recorded on `ref`; refuse a repo without them (not rendered by Copier)."""
    raw = repo.show_file(ref, tenant.answers_file)
    hint = "" if tenant.answers_file != ".copier-answers.yml" else " (set answers_file in fleet.yaml if it has another)"
    if raw is None:
        raise TenantProblem(
            Status.REFUSED, f"{tenant.branch} has no {tenant.answers_file}: not rendered by Copier{hint}"
        )
    try:
        data = load_one(raw.decode("utf-8"))
    except (YamlError, UnicodeDecodeError) as exc:
        raise TenantProblem(
            Status.REFUSED, f"{tenant.answers_file} on {tenant.branch} is not valid YAML: {exc}"
        ) from None
    if not isinstance(data, dict) or not data.get("_commit") or not data.get("_src_path"):
        raise TenantProblem(
            Status.REFUSED, f"{tenant.answers_file} on {tenant.branch} records no _commit/_src_path (blueprint version)"
        )
    return data
