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


# ---- blueprint ------------------------------------------------------------------------------------------------------

BLUEPRINT_FILES = ("copier.yml", "blueprints")
EXAMPLES = ROOT / "examples"
CANONICAL_SRC = "https://git.example.net/platform/tenantforge.git"
BLUEPRINT_TAG = "v0.1.0"


def blueprint_repo(dest: Path, tag: str = BLUEPRINT_TAG) -> Path:
    """A git repository holding this checkout's blueprint files, committed and tagged: what copier copies from."""
    import shutil

    dest.mkdir(parents=True, exist_ok=True)
    for name in BLUEPRINT_FILES:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, dest / name)
    git(dest, "init", "--quiet", "--initial-branch=main")
    git(dest, "add", "--all")
    git(dest, "-c", "user.name=t", "-c", "user.email=t@example.test", "commit", "--quiet", "-m", "blueprint")
    git(dest, "tag", tag)
    return dest


def needed_secrets(answers: Mapping[str, object]) -> dict[str, list[str]]:
    """Which sealed secrets (name -> keys) a tenant with these answers needs; the blueprint's own rule."""
    needed = {"odoo-config": ["admin_passwd", "db_password"]}
    database = answers.get("database", "cnpg")
    if database == "cnpg":
        needed["db-app"] = ["password"]
    if answers.get("attachment_storage", "s3") == "s3" or database == "cnpg":
        needed["object-storage"] = ["ACCESS_KEY_ID", "ACCESS_SECRET_KEY"]
    if answers.get("sessions", "redis") == "redis":
        needed["redis-auth"] = ["password"]
    return needed


def make_cert(dest: Path) -> tuple[Path, Path]:
    """A throwaway sealed-secrets key pair made with openssl: (certificate, private key)."""
    cert, key = dest / "sealed-secrets.pem", dest / "sealed-secrets.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "30", "-subj", "/CN=sealed-secret/O=sealed-secret"],
        capture_output=True, check=True,
    )  # fmt: skip
    return cert, key


def seal_answers(answers: dict[str, object], cert: Path) -> dict[str, object]:
    """Add real kubeseal ciphertext (random plaintext) for every secret the answers need, per environment."""
    import secrets

    from generator.seal import seal

    slug = str(answers.get("tenant_slug", "acme-shop"))
    envs = answers.get("environments", ["dev", "staging", "prod"])
    assert isinstance(envs, list)
    sealed: dict[str, dict[str, dict[str, str]]] = {}
    for env in envs:
        sealed[env] = {
            name: seal(cert, f"{slug}-{env}", name, {k: secrets.token_urlsafe(24) for k in keys})
            for name, keys in needed_secrets(answers).items()
        }
    return {**answers, "sealed": sealed}


def render_example(answers_file: Path, dest: Path, source: Path) -> Path:
    """Render an example the way examples/rendered/ is made: from a tagged blueprint repo, canonical _src_path."""
    result = run_cli("new", str(dest), "--answers", str(answers_file), "--template", str(source),
                     "--vcs-ref", BLUEPRINT_TAG)  # fmt: skip
    if result.returncode != 0:
        raise AssertionError(f"tenantforge new failed for {answers_file.name}: {result.stderr}")
    answers = dest / ".copier-answers.yml"
    lines = [
        f"_src_path: {CANONICAL_SRC}" if line.startswith("_src_path: ") else line
        for line in answers.read_text().splitlines()
    ]
    answers.write_text("\n".join(lines) + "\n")
    return dest
