"""Shared fixtures: isolation from the developer's machine, and the real tools the suite runs."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from checks import tools

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
CRD_SCHEMAS = SHARED / "crd-schemas"


@pytest.fixture(scope="session", autouse=True)
def _real_tools_present() -> None:
    """The suite runs real tools; a missing one is an error that names `make setup`, never a skip."""
    missing = [name for name in tools.pins() if tools.find_tool(name) is None]
    if missing:
        raise RuntimeError(f"tools missing: {', '.join(missing)}: run `make setup` first")


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No test reads or writes the real HOME, git identity or caches."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / ".cache"))
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(home / ".gitconfig"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_AUTHOR_NAME", "Test Author")
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "author@example.test")
    monkeypatch.setenv("GIT_COMMITTER_NAME", "Test Author")
    monkeypatch.setenv("GIT_COMMITTER_EMAIL", "author@example.test")
    monkeypatch.setenv("COPIER_CACHE_DIR", str(home / ".cache" / "copier"))
    (home / ".gitconfig").write_text('[init]\n\tdefaultBranch = main\n[protocol "file"]\n\tallow = always\n')
    if CRD_SCHEMAS.is_dir():
        monkeypatch.setenv("TENANTFORGE_CRD_SCHEMAS", str(CRD_SCHEMAS))
    for key in list(os.environ):
        if key.startswith("TENANTFORGE_") and key not in {"TENANTFORGE_CRD_SCHEMAS"}:
            monkeypatch.delenv(key)
    yield


@pytest.fixture
def crd_schemas() -> Path:
    if not CRD_SCHEMAS.is_dir():
        raise RuntimeError(f"CRD schemas expected at {CRD_SCHEMAS} (the shared folder beside the checkout)")
    return CRD_SCHEMAS
