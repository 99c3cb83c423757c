"""tenantforge.yml: the documented example parses completely; every kind of bad input is one precise error."""

from __future__ import annotations

import re
from datetime import date, timedelta
from pathlib import Path

import pytest

from checks.config import Config, load_config, parse_config
from checks.errors import ConfigError
from checks.finding import Severity
from tests.helpers import ROOT


def _doc_example() -> str:
    text = (ROOT / "docs" / "tenantforge-yml.md").read_text()
    match = re.search(r"```yaml\n(.*?)```", text, re.S)
    assert match
    return match.group(1)


def test_documented_example_parses_every_section() -> None:
    config = parse_config(_doc_example())
    assert config.tenant == "acme-shop"
    assert config.kubernetes_version == "1.33.0"
    dev, prod = config.environments["dev"], config.environments["prod"]
    assert dev.threshold is Severity.HIGH and prod.threshold is Severity.MEDIUM
    assert prod.prod and not dev.prod
    assert dev.images.on_scan_error == "warn" and dev.images.ignore_unfixed
    assert prod.images.threshold is Severity.HIGH and prod.images.on_scan_error == "fail"
    assert prod.hosts == ("shop.acme.example", "www.acme.example")
    assert config.registries == ("registry.example.net/retail",)
    assert config.schemas.allow_missing == ()
    (waiver,) = config.waivers
    assert waiver.rule == "TF-IMG-003" and waiver.expires == date(2027, 3, 31)
    assert waiver.select.matches("dev", "Deployment", "acme-shop-dev", "odoo-web")
    assert not waiver.select.matches("prod", "Deployment", "acme-shop-dev", "odoo-web")
    (vuln,) = config.vulnerability_waivers
    assert vuln.id == "CVE-2024-12345" and vuln.image.endswith(":*")
    assert config.image_scan.max_db_age_hours == 168
    (window,) = config.freeze_windows
    assert window.duration == timedelta(hours=120) and window.timezone == "Europe/Berlin"
    assert window.environments == ("prod",)
    assert config.platform_secrets == ()


def test_missing_file_gives_documented_defaults(tmp_path: Path) -> None:
    config = load_config(tmp_path / "tenantforge.yml")
    assert config == Config()
    assert config.environment("prod").prod and config.environment("production").prod
    dev = config.environment("dev")
    assert not dev.prod and dev.threshold is Severity.HIGH and dev.images.on_scan_error == "fail"


BASE = "version: 1\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (BASE + "colour: blue\n", "tenantforge.yml: colour: unknown key"),
        (BASE + "environments:\n  dev: {treshold: high}\n", "environments.dev.treshold: unknown key"),
        (
            BASE + "environments:\n  dev: {threshold: severe}\n",
            "environments.dev.threshold: 'severe' is not a severity",
        ),
        (
            BASE + "waivers:\n- {rule: TF-IMG-003, reason: r, owner: o, expires: 2026-13-01}\n",
            "tenantforge.yml: waivers[0].expires: '2026-13-01' is not a date (YYYY-MM-DD)",
        ),
        (BASE + "waivers:\n- {rule: TF-IMG-003, owner: o, expires: 2027-01-01}\n", "waivers[0].reason: is required"),
        (BASE + "waivers:\n- {rule: TF-IMG-003, reason: r, owner: o}\n", "waivers[0].expires: is required"),
        (BASE + "waivers:\n- {rule: TF-IMG-003, reason: '', owner: o, expires: 2027-01-01}\n", "waivers[0].reason"),
        (
            BASE + "waivers:\n- {rule: X, reason: r, owner: o, expires: 2027-01-01, select: {pod: x}}\n",
            "waivers[0].select.pod: unknown key",
        ),
        ("version: 2\n", "version: 2 is not supported"),
        ("tenant: x\n", "version: is required"),
        ("", "is empty"),
        (BASE + "version: 1\n", "duplicate key 'version'"),
        (BASE + "environments:\n  dev: {}\n  dev: {}\n", "duplicate key 'dev'"),
        (BASE + "kubernetes_version: 1.33\n", "kubernetes_version: '1.33' is not a version X.Y.Z"),
        (BASE + "tenant: Acme_Shop\n", "tenant: 'Acme_Shop' is not a DNS-1123 label"),
        (BASE + "registries: [https://registry.example.net]\n", "registries[0]"),
        (BASE + "freeze_windows:\n- {name: bf, schedule: '0 0 25 11', duration: 2h}\n", "freeze_windows[0].schedule"),
        (BASE + "freeze_windows:\n- {name: bf, schedule: '0 0 25 11 *', duration: 2d}\n", "freeze_windows[0].duration"),
        (
            BASE + "freeze_windows:\n- {name: bf, schedule: '0 0 25 11 *', duration: 2h, timezone: Mars/Base}\n",
            "freeze_windows[0].timezone: 'Mars/Base' is not an IANA time zone",
        ),
        (BASE + "environments:\n  prod: {images: {on_scan_error: warn}}\n", "must be `fail` for a prod environment"),
        (
            BASE + "environments: {prod: {}}\nfreeze_windows:\n- {name: bf, schedule: '0 0 25 11 *', duration: 2h, "
            "environments: [production]}\n",
            "freeze_windows[0].environments[0]: 'production' is not an environment of this file (known: prod)",
        ),
        (BASE + "image_scan: {max_db_age_hours: -1}\n", "image_scan.max_db_age_hours"),
        (BASE + "platform_secrets: {a: b}\n", "platform_secrets: must be a list"),
        (BASE + "schemas: {crd: /x, allow: []}\n", "schemas.allow: unknown key"),
        ("version: 1\nenvironments: [dev]\n", "environments: must be a mapping"),
        ("version: [1\n", "invalid YAML: line"),
    ],
)
def test_bad_config_is_one_error_naming_the_key(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(text)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_billion_laughs_is_refused_quickly() -> None:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 10):
        prev, cur = chr(ord("a") + i - 1), chr(ord("a") + i)
        lines.append(f"{cur}: &{cur} [*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev}]")
    with pytest.raises(ConfigError, match="alias bomb"):
        parse_config("\n".join(lines) + "\n")


def test_huge_config_is_refused_without_reading_it(tmp_path: Path) -> None:
    path = tmp_path / "tenantforge.yml"
    with path.open("wb") as fh:
        fh.truncate(3 << 30)  # 3 GiB, sparse: costs no disk
    with pytest.raises(ConfigError, match="larger than the"):
        load_config(path)
