"""Find the external tools the gate runs, and the versions pinned for them in pyproject.toml.

Resolution order for a tool named `x`: the `TENANTFORGE_X` environment variable, then `.tools/bin/x` of this
checkout, then `PATH`. An override that points at a missing file makes the tool missing: it never falls through.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from checks.errors import ToolMissing

SETUP_HINT = "run `make setup` in the tenantforge checkout"
# The gate's Go tools are short-lived processes: collecting garbage less often saves a third to a half of their CPU
# (trivy config over the example tenant 3.6 -> 2.3 cpu-s, one kustomize build 0.22 -> 0.13 cpu-s) for more memory,
# which the limit bounds on huge inputs. The caller's own GOGC / GOMEMLIMIT win.
GO_RUNTIME_DEFAULTS = {"GOGC": "800", "GOMEMLIMIT": "1GiB"}
_VERSION_RE = re.compile(r"v?(\d+\.\d+\.\d+)")


@dataclass(frozen=True)
class ToolPin:
    name: str
    version: str
    version_args: tuple[str, ...]
    required: bool
    source: str
    package: str


def checkout_root() -> Path | None:
    """The tenantforge checkout this package runs from, if it runs from one (editable install)."""
    root = Path(__file__).resolve().parent.parent
    return root if (root / "pyproject.toml").is_file() and (root / "checks").is_dir() else None


@cache
def project_config() -> dict[str, Any]:
    """The `[tool.tenantforge]` table of pyproject.toml, or an empty dict outside a checkout."""
    root = checkout_root()
    if root is None:
        return {}
    with (root / "pyproject.toml").open("rb") as fh:
        data: dict[str, Any] = tomllib.load(fh)
    section: dict[str, Any] = data.get("tool", {}).get("tenantforge", {})
    return section


def pins() -> dict[str, ToolPin]:
    tools: dict[str, dict[str, Any]] = project_config().get("tools", {})
    return {
        name: ToolPin(
            name=name,
            version=str(spec["version"]),
            version_args=tuple(spec.get("version_args", ["--version"])),
            required=bool(spec.get("required", True)),
            source=str(spec["source"]),
            package=str(spec["package"]),
        )
        for name, spec in tools.items()
    }


def env_var(name: str) -> str:
    return "TENANTFORGE_" + re.sub(r"[^A-Z0-9]", "_", name.upper())


def tool_env(**overrides: str) -> dict[str, str]:
    """The environment a gate tool runs with: ours, with the Go runtime defaults the caller did not set."""
    return {**GO_RUNTIME_DEFAULTS, **os.environ, **overrides}


def find_tool(name: str) -> Path | None:
    override = os.environ.get(env_var(name))
    if override:
        path = Path(override)
        return path if path.is_file() and os.access(path, os.X_OK) else None
    root = checkout_root()
    if root is not None:
        local = root / ".tools" / "bin" / name
        if local.is_file() and os.access(local, os.X_OK):
            return local
    found = shutil.which(name)
    return Path(found) if found else None


def require_tool(name: str) -> Path:
    """The path of tool `name`, or a `ToolMissing` error that says how to get it."""
    path = find_tool(name)
    if path is None:
        where = os.environ.get(env_var(name))
        detail = f"{env_var(name)}={where} is not an executable file" if where else "not in .tools/bin or PATH"
        raise ToolMissing(f"required tool {name} is missing ({detail}): {SETUP_HINT}")
    return path


def reported_version(path: Path, args: tuple[str, ...]) -> str | None:
    """The version the tool prints about itself, as X.Y.Z, or None when it prints none."""
    try:
        proc = subprocess.run([str(path), *args], capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = _VERSION_RE.search(proc.stdout + "\n" + proc.stderr)
    return match.group(1) if match else None


def same_version(found: str | None, pinned: str) -> bool:
    return found is not None and found.lstrip("v") == pinned.lstrip("v")
