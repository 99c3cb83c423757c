"""Call Copier through `generator.fleet.copier_worker` in a child process (see there for why), with a timeout."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TIMEOUT_SECONDS = 900


@dataclass(frozen=True)
class CopierFailure(Exception):
    kind: str  # task | unsafe | refused | error | crash | timeout
    message: str
    output: str = ""

    def __str__(self) -> str:
        return self.message


def _call(op: str, request: dict[str, Any], scratch: Path) -> dict[str, Any]:
    scratch.mkdir(parents=True, exist_ok=True)
    req_path = scratch / f"{op}-request.json"
    result_path = scratch / f"{op}-result.json"
    result_path.unlink(missing_ok=True)
    req_path.write_text(json.dumps({**request, "op": op, "result": str(result_path)}))
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "generator.fleet.copier_worker", str(req_path)],
            capture_output=True,
            text=True,
            timeout=TIMEOUT_SECONDS,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        raise CopierFailure("timeout", f"copier {op} did not finish within {TIMEOUT_SECONDS}s") from None
    output = (proc.stdout + proc.stderr).strip()
    try:
        result: dict[str, Any] = json.loads(result_path.read_text())
    except (OSError, ValueError):
        tail = output.splitlines()[-1] if output else f"exit {proc.returncode}"
        raise CopierFailure("crash", f"copier {op} died: {tail}", output) from None
    if not result.get("ok"):
        raise CopierFailure(str(result.get("kind")), str(result.get("message")), output)
    return result


def update(dst: Path, answers_file: str, vcs_ref: str, trust: bool, scratch: Path) -> None:
    """`copier update` of `dst` to `vcs_ref`: 3-way, inline conflict markers, defaults for new questions."""
    _call(
        "update",
        {"dst": str(dst), "answers_file": answers_file, "vcs_ref": vcs_ref, "trust": trust},
        scratch,
    )


def render(
    src: str, vcs_ref: str, answers: dict[str, Any], answers_file: str, dst: Path, *, scratch: Path
) -> list[str]:
    """Render `src` at `vcs_ref` with recorded answers into the empty dir `dst` (no tasks, no migrations);
    return the template's `_skip_if_exists` patterns (files the tenant owns after the first render)."""
    data = {k: v for k, v in answers.items() if not k.startswith("_")}
    result = _call(
        "render",
        {"src": src, "vcs_ref": vcs_ref, "answers": data, "answers_file": answers_file, "dst": str(dst)},
        scratch,
    )
    return [str(p) for p in result.get("skip_if_exists", [])]


def blob_id(data: bytes) -> str:
    """The id git gives a file with these bytes (compare with `git ls-tree` without writing anything)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()
