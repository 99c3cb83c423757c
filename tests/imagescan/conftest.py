"""An offline trivy world (vulnerability DB + image tarballs), built once per session from fixtures/fleet.yaml."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.imagescan.trivy_fixtures import FixtureImage, build_world

FLEET_SPEC = Path(__file__).parent / "fixtures" / "fleet.yaml"


@dataclass(frozen=True)
class World:
    cache_dir: Path  # holds db/trivy.db + db/metadata.json; tests copy it before changing anything
    image_dir: Path
    images: tuple[FixtureImage, ...]

    def image(self, name: str) -> FixtureImage:
        return next(i for i in self.images if f"/{name}:" in i.ref)

    def fresh_cache(self, tmp_path: Path) -> Path:
        """A private copy of the DB cache (so result caches and edits do not leak between tests)."""
        target = tmp_path / "trivy-cache"
        shutil.copytree(self.cache_dir / "db", target / "db")
        return target


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    root = tmp_path_factory.mktemp("trivy-world")
    images = build_world(FLEET_SPEC, root / "cache", root / "images")
    return World(cache_dir=root / "cache", image_dir=root / "images", images=tuple(images))
