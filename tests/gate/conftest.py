"""Gate test fixtures: a passing tenant repo on disk and its gate result, computed once per session."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from checks.gate import GateRequest, GateResult, run_gate
from tests.gate import tenant
from tests.helpers import write_tree


@pytest.fixture(scope="session")
def good_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tree(tmp_path_factory.mktemp("good") / "repo", tenant.files())


@pytest.fixture(scope="session")
def good_result(good_repo: Path) -> GateResult:
    return run_gate(GateRequest(repo=good_repo, schemas_dir=str(Path(__file__).parents[3] / "shared" / "crd-schemas")))


@pytest.fixture
def repo(good_repo: Path, tmp_path: Path) -> Path:
    """A private copy of the passing tenant to break."""
    return Path(shutil.copytree(good_repo, tmp_path / "repo"))
