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
