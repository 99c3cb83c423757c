"""Helpers shared by every test module: run the installed CLI, write file trees."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CLI = ROOT / ".venv" / "bin" / "tenantforge"


def run_cli(
    *args: str, cwd: Path | None = None, env: Mapping[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """Run the installed `tenantforge` exactly as a user would."""
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    return subprocess.run(
        [str(CLI), *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout, check=False
    )


def write_tree(root: Path, files: Mapping[str, str]) -> Path:
    """Write `{relative path: content}` under root and return root."""
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    return root


def git(cwd: Path, *args: str) -> str:
    """Run real git in `cwd` (the test's isolated identity and config apply) and return stdout; failures raise."""
    proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False, timeout=60)
    if proc.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed in {cwd}: {proc.stderr}")
    return proc.stdout


def make_git_repo(path: Path, files: Mapping[str, str], *, bare_remote: Path | None = None) -> Path:
    """A git repo at `path` on branch main with `files` committed; with `bare_remote`, also a bare clone pushed to
    as `origin` (main tracked), the way a tenant repo and its hosting look."""
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "--quiet", "--initial-branch=main")
    write_tree(path, files)
    git(path, "add", "--all")
    git(path, "commit", "--quiet", "-m", "initial")
    if bare_remote is not None:
        git(path.parent, "init", "--quiet", "--bare", "--initial-branch=main", str(bare_remote))
        git(path, "remote", "add", "origin", str(bare_remote))
        git(path, "push", "--quiet", "--set-upstream", "origin", "main")
    return path


def tree_snapshot(root: Path) -> dict[str, bytes]:
    """Every file under root (outside .git) with its bytes: compare two snapshots to prove nothing changed."""
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".git" not in p.relative_to(root).parts
    }


def refs_snapshot(root: Path) -> str:
    """All refs of a repo with their ids (branches, remote-tracking, tags)."""
    return git(root, "for-each-ref", "--format=%(refname) %(objectname)")
