"""The small inputs the image stage reads besides the scan: trivy ignore files and `image_scan` settings."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest

from checks.config import parse_config
from checks.errors import ConfigError
from checks.imagescan.stage import settings_from_config
from checks.imagescan.trivyignore import load_trivyignore


def test_plain_trivyignore_with_expiry_and_comments(tmp_path: Path) -> None:
    (tmp_path / ".trivyignore").write_text("# accepted\nCVE-2099-0001\n\nCVE-2099-0002 exp:2026-02-01  # upstream\n")
    first, second = load_trivyignore(tmp_path)
    assert (first.id, first.expired_at, first.source) == ("CVE-2099-0001", None, ".trivyignore:2")
    assert (second.id, second.expired_at) == ("CVE-2099-0002", date(2026, 2, 1))
    assert second.active(date(2026, 1, 31)) and not second.active(date(2026, 2, 1))


def test_yaml_trivyignore_wins_over_the_plain_file(tmp_path: Path) -> None:
    (tmp_path / ".trivyignore").write_text("CVE-2099-0001\n")
    (tmp_path / ".trivyignore.yaml").write_text("vulnerabilities:\n  - id: CVE-2099-0009\n    statement: why\n")
    (entry,) = load_trivyignore(tmp_path)
    assert (entry.id, entry.label) == ("CVE-2099-0009", ".trivyignore.yaml: why")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("vulnerabilities: [{id: CVE-1, expired_at: 2026-13-01}]\n", "vulnerabilities[0].expired_at: '2026-13-01'"),
        ("vulnerabilities: [{statement: no id}]\n", "vulnerabilities[0]: each entry needs an `id` string"),
        ("vulnerabilities: {id: CVE-1}\n", "vulnerabilities must be a list"),
        ("vulnerabilities: [\n", "not valid YAML"),
        ("vulnerabilities: []\nvulnerabilities: []\n", "duplicate key 'vulnerabilities'"),
    ],
)
def test_bad_trivyignore_yaml_is_a_config_error(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / ".trivyignore.yaml").write_text(text)
    with pytest.raises(ConfigError, match=r"^\.trivyignore\.yaml: ") as exc:
        load_trivyignore(tmp_path)
    assert message in str(exc.value)


def test_image_scan_paths_are_relative_to_the_repo_and_the_command_line_wins(tmp_path: Path) -> None:
    config = parse_config(
        "version: 1\nimage_scan: {cache_dir: .trivy, image_dir: images, pull: true, workers: 3, max_db_age_hours: 24}\n"
    )
    settings = settings_from_config(config, tmp_path)
    assert settings.cache_dir == tmp_path / ".trivy"
    assert settings.source.image_dir == tmp_path / "images" and settings.source.pull is True
    assert (settings.workers, settings.max_db_age) == (3, timedelta(hours=24))
    override = settings_from_config(config, tmp_path, image_dir=tmp_path / "other", pull=False)
    assert (override.source.image_dir, override.source.pull) == (tmp_path / "other", False)


def test_default_cache_dir_follows_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = parse_config("version: 1\n")
    assert settings_from_config(config, tmp_path).cache_dir == Path.home() / ".cache" / "tenantforge" / "trivy"
    monkeypatch.setenv("TENANTFORGE_TRIVY_CACHE", str(tmp_path / "c"))
    assert settings_from_config(config, tmp_path).cache_dir == tmp_path / "c"
