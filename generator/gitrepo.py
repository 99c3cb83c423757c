"""The one module that talks to git (promote and fleet go through it; nothing else runs git).

It drives the git CLI rather than GitPython: GitPython shells out to the same binary, but hides the exact stderr we
need to tell a non-fast-forward from a permission error, and is untyped under mypy strict.

Public API (small on purpose; extend it here rather than running git elsewhere):

- `GitRepo.open(path)` — the work tree containing `path`; `GitRepo.clone(url, dest, branch=None)`.
- `repo.git(*args)` — run any git command in the work tree; failures raise `GitError` with git's own reason.
- state: `dirty_paths()`, `require_clean(action)`, `current_branch()`, `rev(ref)`, `tree(ref)`, `branch_exists(name)`,
  `remote_branch(remote, name)`, `remote_url(remote)`, `default_branch(remote)`.
- changes: `check_branch_name(name)`, `create_branch(name, start)`, `switch(name)`,
  `commit(message, trailers, paths, allow_empty)`, `worktree(ref)` (a throw-away detached work tree),
  `fetch(remote, *refspecs)`, `push(remote, branch)`.
- inspecting an update (fleet): `unmerged_paths()`, `untracked_paths(ignored)`, `changed_paths(ref)`,
  `show_file(ref, path)`, and `discard_changes(ref)` for clones tenantforge owns.
- `parse_trailers(message)` — what `git interpret-trailers --parse` reads back from a commit message.

Every failure is a `GitError` (a `UserError`: one line, exit 1). `push` never forces: a non-fast-forward is
`PushRejected`, a refusal by the server (permissions, protected branch, hook) is `PushDenied`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import unicodedata
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from generator.errors import UserError

# Git must never stop to ask for a password in CI, and its messages must be parseable whatever the locale.
_GIT_ENV = {"GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C", "LANGUAGE": "C", "GIT_ASKPASS": "", "SSH_ASKPASS": ""}
_TIMEOUT = 300.0


class GitError(UserError):
    """A git operation failed or was refused; the message is one line naming the repo and the reason."""


class PushRejected(GitError):
    """The remote branch has commits the local one lacks (non-fast-forward); we never force."""


class PushDenied(GitError):
    """The remote refused the push: no permission, protected branch, or a server-side hook."""


def single_line(text: str) -> str:
    """Free text made safe for one line of a commit message or merge request: every run of whitespace or control
    characters (newlines included) becomes one space, so the text cannot start a line, a paragraph or a trailer."""
    return " ".join("".join(" " if unicodedata.category(c) == "Cc" else c for c in text).split())


def _one_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    for line in lines:
        if line.startswith(("fatal:", "error:")):
            return line.split(":", 1)[1].strip()
    return lines[-1] if lines else "no output"


def _git_binary() -> str:
    found = shutil.which("git")
    if found is None:
        raise GitError("git is not installed or not on PATH")
    return found


def run_git(
    args: Sequence[str], cwd: Path, *, input_text: str | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run git in `cwd`; with `check`, a non-zero exit becomes a one-line `GitError`."""
    env = {**os.environ, **_GIT_ENV}
    try:
        proc = subprocess.run(
            [_git_binary(), *args],
            cwd=cwd,
            env=env,
            input=input_text,
            capture_output=True,
            text=True,
            timeout=_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise GitError(f"git {args[0]} in {cwd} did not finish within {_TIMEOUT:.0f}s") from exc
    if check and proc.returncode != 0:
        raise GitError(f"git {args[0]} failed in {cwd}: {_one_line(proc.stderr or proc.stdout)}")
    return proc


@dataclass(frozen=True)
class GitRepo:
    """A git work tree; `root` is its top-level directory."""

    root: Path

    @classmethod
    def open(cls, path: Path) -> GitRepo:
        """The work tree that contains `path`; a `GitError` when there is none."""
        if not path.is_dir():
            raise GitError(f"{path} is not a directory")
        proc = run_git(["rev-parse", "--show-toplevel"], path, check=False)
        if proc.returncode != 0:
            raise GitError(f"{path} is not inside a git repository")
        return cls(Path(proc.stdout.strip()))

    @classmethod
    def clone(cls, url: str, dest: Path, branch: str | None = None) -> GitRepo:
        """Clone `url` into `dest` (which must not exist or be empty), optionally checking out `branch`."""
        args = ["clone", "--quiet", "--no-tags"]
        if branch:
            args += ["--branch", branch]
        dest.parent.mkdir(parents=True, exist_ok=True)
        proc = run_git([*args, url, str(dest)], dest.parent, check=False)
        if proc.returncode != 0:
            raise GitError(f"cannot clone {url}: {_one_line(proc.stderr)}")
        return cls(dest.resolve())

    def git(self, *args: str, input_text: str | None = None) -> str:
        """Run `git <args>` here and return stdout; failures raise `GitError`."""
        return run_git(args, self.root, input_text=input_text).stdout

    # --- state ---------------------------------------------------------------------------------------------

    def dirty_paths(self) -> list[str]:
        """Modified, staged, deleted and untracked (not ignored) paths, relative to the root."""
        out = self.git("status", "--porcelain=v1", "-z", "--untracked-files=all")
        entries = out.split("\0")
        paths: list[str] = []
        i = 0
        while i < len(entries):
            entry = entries[i]
            i += 1
            if not entry:
                continue
            paths.append(entry[3:])
            if entry[0] in "RC":  # a rename/copy is followed by its source path
                i += 1
        return paths

    def require_clean(self, action: str) -> None:
        """Refuse `action` when the work tree has local changes, naming a few of them."""
        dirty = self.dirty_paths()
        if dirty:
            shown = ", ".join(dirty[:3]) + (f" and {len(dirty) - 3} more" if len(dirty) > 3 else "")
            raise GitError(
                f"{self.root} has uncommitted changes ({shown}): commit or stash them before {action}; "
                "nothing was changed"
            )

    def current_branch(self) -> str | None:
        """The checked-out branch, or None on a detached HEAD."""
        proc = run_git(["symbolic-ref", "--quiet", "--short", "HEAD"], self.root, check=False)
        return proc.stdout.strip() if proc.returncode == 0 else None

    def rev(self, ref: str) -> str | None:
        """The commit id `ref` names, or None when it names nothing."""
        proc = run_git(["rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"], self.root, check=False)
        return proc.stdout.strip() if proc.returncode == 0 else None

    def tree(self, ref: str) -> str | None:
        """The tree id of commit `ref` (equal trees = equal content), or None when `ref` names nothing."""
        proc = run_git(["rev-parse", "--verify", "--quiet", f"{ref}^{{tree}}"], self.root, check=False)
        return proc.stdout.strip() if proc.returncode == 0 else None

    def branch_exists(self, name: str) -> bool:
        return self.rev(f"refs/heads/{name}") is not None

    def remote_branch(self, remote: str, name: str) -> str | None:
        """The commit id of branch `name` on `remote` as the remote has it now (ls-remote), or None."""
        proc = run_git(["ls-remote", "--heads", remote, f"refs/heads/{name}"], self.root, check=False)
        if proc.returncode != 0:
            raise GitError(f"cannot read branches of remote {remote!r}: {_one_line(proc.stderr)}")
        for line in proc.stdout.splitlines():
            sha, _, ref = line.partition("\t")
            if ref == f"refs/heads/{name}":
                return sha
        return None

    def remote_url(self, remote: str) -> str:
        proc = run_git(["remote", "get-url", remote], self.root, check=False)
        if proc.returncode != 0:
            known = self.git("remote").split()
            raise GitError(f"no git remote named {remote!r} in {self.root} (remotes: {', '.join(known) or 'none'})")
        return proc.stdout.strip()

    def default_branch(self, remote: str) -> str | None:
        """The branch `remote`'s HEAD points at (the branch Argo CD tracks), or None when it cannot be told."""
        proc = run_git(["ls-remote", "--symref", remote, "HEAD"], self.root, check=False)
        for line in proc.stdout.splitlines():
            if line.startswith("ref: refs/heads/") and line.endswith("\tHEAD"):
                return line[len("ref: refs/heads/") : -len("\tHEAD")]
        return None

    # --- changes -------------------------------------------------------------------------------------------

    def check_branch_name(self, name: str) -> None:
        """Refuse a name git would not accept for a branch."""
        if name.startswith("-") or run_git(["check-ref-format", "--branch", name], self.root, check=False).returncode:
            raise GitError(f"{name!r} is not a valid branch name")

    def create_branch(self, name: str, start: str = "HEAD") -> None:
        """Create branch `name` at `start` without checking it out; an existing branch is an error."""
        self.check_branch_name(name)
        if self.branch_exists(name):
            raise GitError(f"branch {name!r} already exists in {self.root}")
        self.git("branch", "--no-track", name, start)

    def switch(self, name: str) -> None:
        self.git("switch", "--quiet", name)

    def commit(
        self,
        message: str,
        trailers: Sequence[tuple[str, str]] = (),
        paths: Sequence[str] | None = None,
        allow_empty: bool = False,
    ) -> str:
        """Stage `paths` (default: everything changed), commit with `message` plus git trailers; return the id.

        Trailer values are single lines; newlines in them are folded to spaces so the trailers stay parseable.
        """
        if paths is None:
            self.git("add", "--all")
        elif paths:
            self.git("add", "--", *paths)
        args = ["commit", "--quiet", "--no-verify", "--cleanup=whitespace", "-F", "-"]
        if allow_empty:
            args.append("--allow-empty")
        for key, value in trailers:
            if not key or any(c.isspace() or c == ":" for c in key):
                raise GitError(f"invalid trailer key {key!r}")
            args += ["--trailer", f"{key}: {single_line(value)}"]
        self.git(*args, input_text=message.rstrip() + "\n")
        head = self.rev("HEAD")
        if head is None:
            raise GitError(f"commit in {self.root} left no HEAD")
        return head

    @contextmanager
    def worktree(self, ref: str = "HEAD") -> Iterator[GitRepo]:
        """A throw-away work tree with `ref` checked out detached; removed afterwards whatever happens.

        Work done there (edits, commits) never touches this checkout's files or its current branch; give a commit
        made there a name with `create_branch(name, sha)` once it is wanted.
        """
        tmp = Path(tempfile.mkdtemp(prefix="tenantforge-wt-"))
        path = tmp / "wt"
        self.git("worktree", "add", "--quiet", "--detach", str(path), ref)
        try:
            yield GitRepo(path)
        finally:
            run_git(["worktree", "remove", "--force", str(path)], self.root, check=False)
            run_git(["worktree", "prune"], self.root, check=False)
            shutil.rmtree(tmp, ignore_errors=True)

    def fetch(self, remote: str, *refspecs: str) -> None:
        proc = run_git(["fetch", "--quiet", "--no-tags", remote, *refspecs], self.root, check=False)
        if proc.returncode != 0:
            raise GitError(f"cannot fetch from {remote!r}: {_one_line(proc.stderr)}")

    def push(self, remote: str, branch: str) -> None:
        """Push local `branch` to the same name on `remote`, never forcing.

        Raises `PushRejected` when the remote branch moved on (non-fast-forward) and `PushDenied` when the server
        refuses (permissions, protected branch, hooks); both name the remote and the branch.
        """
        self.remote_url(remote)
        proc = run_git(
            ["push", "--porcelain", "--no-verify", remote, f"refs/heads/{branch}:refs/heads/{branch}"],
            self.root,
            check=False,
        )
        if proc.returncode == 0:
            return
        text = f"{proc.stdout}\n{proc.stderr}"
        where = f"push of {branch!r} to {remote!r}"
        lowered = text.lower()
        if "non-fast-forward" in lowered or "fetch first" in lowered or "[rejected]" in lowered:
            raise PushRejected(
                f"{where} rejected: the remote branch has commits this one lacks (non-fast-forward); "
                "fetch it and review, tenantforge never force-pushes"
            )
        denied = (
            "[remote rejected]",
            "permission",
            "denied",
            "returned error: 401",
            "returned error: 403",
            "protected branch",
            "not allowed",
            "authentication failed",
        )
        if any(marker in lowered for marker in denied):
            raise PushDenied(f"{where} refused by the remote: {_push_reason(text)}")
        raise GitError(f"{where} failed: {_one_line(proc.stderr or proc.stdout)}")

    # --- inspecting an update (fleet) ----------------------------------------------------------------------

    def unmerged_paths(self) -> list[str]:
        """Paths git holds as unmerged (conflict stages in the index), as `git ls-files -u` lists them."""
        out = self.git("ls-files", "--unmerged", "-z")
        return sorted({entry.split("\t", 1)[1] for entry in out.split("\0") if "\t" in entry})

    def untracked_paths(self, ignored: bool = False) -> list[str]:
        """Untracked files (every file, not folders); with `ignored`, the gitignored ones instead."""
        args = ["ls-files", "--others", "-z"]
        if ignored:
            args += ["--ignored", "--exclude-standard"]
        else:
            args.append("--exclude-standard")
        return sorted(p for p in self.git(*args).split("\0") if p)

    def changed_paths(self, ref: str = "HEAD") -> list[tuple[str, str]]:
        """`(status letter, path)` of tracked changes against `ref` (work tree incl. index; renames off)."""
        out = self.git("diff", "--name-status", "--no-renames", "-z", ref)
        parts = [p for p in out.split("\0") if p]
        return [(parts[i][0], parts[i + 1]) for i in range(0, len(parts) - 1, 2)]

    def discard_changes(self, ref: str) -> None:
        """Reset the work tree and index to `ref` and delete every untracked and ignored file.

        Only for clones tenantforge owns (the fleet's work clones), never for a user's checkout.
        """
        self.git("reset", "--quiet", "--hard", ref)
        self.git("clean", "-q", "-d", "-x", "--force")

    def show_file(self, ref: str, path: str) -> bytes | None:
        """The bytes of `path` at `ref`, or None when it does not exist there."""
        proc = subprocess.run(
            [_git_binary(), "show", f"{ref}:{path}"],
            cwd=self.root,
            env={**os.environ, **_GIT_ENV},
            capture_output=True,
            timeout=_TIMEOUT,
            check=False,
        )
        return proc.stdout if proc.returncode == 0 else None


def _push_reason(text: str) -> str:
    """The most telling words of a refused push: the server's own message, then git's reason for the ref."""
    said = [line[7:].strip() for line in text.splitlines() if line.startswith("remote:") and line[7:].strip()]
    reason = ""
    for line in text.splitlines():
        if "[remote rejected]" in line:
            reason = line.split("[remote rejected]", 1)[1].strip(" ()")
            break
    if said and reason:
        return f"{said[-1]} ({reason})"
    return said[-1] if said else reason or _one_line(text)


def parse_trailers(message: str, cwd: Path | None = None) -> list[tuple[str, str]]:
    """The trailers git itself finds in a commit message, in order (keys as written)."""
    out = run_git(["interpret-trailers", "--parse"], cwd or Path.cwd(), input_text=message).stdout
    pairs: list[tuple[str, str]] = []
    for line in out.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            pairs.append((key.strip(), value.strip()))
    return pairs
