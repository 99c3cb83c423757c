"""Render every overlay of a tenant repo, and the per-environment manifest diff of an upgrade."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from pathlib import Path

from checks.adapters.kustomize import build, kustomization_file
from checks.errors import GateError

MAX_DIFF_LINES = 2000


def overlay_dirs(repo: Path) -> dict[str, Path]:
    """`{env: overlay dir}` for every `overlays/<env>/` that has a kustomization."""
    root = repo / "overlays"
    if not root.is_dir():
        return {}
    return {d.name: d for d in sorted(root.iterdir()) if d.is_dir() and kustomization_file(d) is not None}


def render_overlays(repo: Path) -> dict[str, str]:
    """`{env: rendered manifests}`; an overlay that does not build maps to its one-line error, marked with `!`."""
    rendered: dict[str, str] = {}
    for env, overlay in overlay_dirs(repo).items():
        try:
            rendered[env] = build(overlay)
        except GateError as exc:
            rendered[env] = f"! {exc}\n"
    return rendered


def manifest_diffs(before: Mapping[str, str], after: Mapping[str, str]) -> dict[str, str]:
    """Unified diff of the rendered manifests per environment (added/removed environments included); only
    environments whose manifests changed appear."""
    diffs: dict[str, str] = {}
    for env in sorted(set(before) | set(after)):
        old, new = before.get(env, ""), after.get(env, "")
        if old == new:
            continue
        lines = list(
            difflib.unified_diff(
                old.splitlines(keepends=True),
                new.splitlines(keepends=True),
                fromfile=f"a/overlays/{env}" if env in before else "/dev/null",
                tofile=f"b/overlays/{env}" if env in after else "/dev/null",
                n=3,
            )
        )
        if len(lines) > MAX_DIFF_LINES:
            lines = [*lines[:MAX_DIFF_LINES], f"... {len(lines) - MAX_DIFF_LINES} more lines\n"]
        diffs[env] = "".join(line if line.endswith("\n") else line + "\n" for line in lines)
    return diffs
