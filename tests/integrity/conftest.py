"""Fixtures for the integrity checks: a realistic tenant repo, rendered by the real kustomize, and variants of it."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest
import yaml

from checks.integrity.model import Obj, Rendered
from checks.tools import require_tool

TENANT = Path(__file__).parent / "fixtures" / "tenant"
Edits = Mapping[str, tuple[str, str]]


def render(overlay: Path, env: str = "dev") -> Rendered:
    """`kustomize build` the overlay (the real tool) and index what it renders."""
    proc = subprocess.run(
        [str(require_tool("kustomize")), "build", str(overlay)], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr
    return Rendered((Obj(d) for d in yaml.safe_load_all(proc.stdout) if d), env)


def make_variant(root: Path, edits: Edits) -> Path:
    """Copy the fixture tenant under `root` and apply `{relative file: (old, new)}` text edits (each must match)."""
    target = Path(tempfile.mkdtemp(dir=root)) / "tenant"
    shutil.copytree(TENANT, target)
    for rel, (old, new) in edits.items():
        path = target / rel
        text = path.read_text()
        assert old in text, f"fixture edit does not apply: {old!r} not in {rel}"
        path.write_text(text.replace(old, new, 1) if old else text + new)
    return target


@pytest.fixture(scope="session")
def tenant_dev() -> Rendered:
    return render(TENANT / "overlays" / "dev")


@pytest.fixture
def variant(tmp_path: Path) -> Callable[[Edits], Rendered]:
    """Render the fixture tenant with some files edited: the failing fixtures of each rule."""

    def build(edits: Edits) -> Rendered:
        return render(make_variant(tmp_path, edits) / "overlays" / "dev")

    return build
