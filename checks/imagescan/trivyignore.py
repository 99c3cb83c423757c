"""A tenant's existing trivy ignore file, honoured the way trivy honours it.

`.trivyignore.yaml` / `.trivyignore.yml` (`vulnerabilities: [{id, paths, purls, expired_at, statement}]`) is read
first, else a plain `.trivyignore` (one id per line, optional `exp:YYYY-MM-DD`, `#` comments). As in trivy, an entry
past its `expired_at` no longer applies. Our scans run with `--ignorefile ""` so the raw report stays shareable across
tenants; the entries are applied here, and findings they cover are reported as waived, not dropped.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from checks.adapters.trivy_image import Vulnerability
from checks.errors import ConfigError
from checks.yamlsafe import YamlError, load_one

IGNORE_FILES = (".trivyignore.yaml", ".trivyignore.yml", ".trivyignore")
_MAX_BYTES = 1 << 20


@dataclass(frozen=True)
class IgnoreEntry:
    id: str
    paths: tuple[str, ...] = ()
    purls: tuple[str, ...] = ()
    expired_at: date | None = None
    statement: str = ""
    source: str = ".trivyignore"

    def active(self, today: date) -> bool:
        return self.expired_at is None or today < self.expired_at

    def matches(self, vuln: Vulnerability) -> bool:
        if vuln.id != self.id:
            return False
        if self.paths and not any(fnmatch.fnmatchcase(vuln.pkg_path or vuln.target, p) for p in self.paths):
            return False
        return not (self.purls and vuln.purl not in self.purls)

    @property
    def label(self) -> str:
        return f"{self.source}: {self.statement}" if self.statement else self.source


def _date(value: object, where: str) -> date | None:
    if value is None or isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise ConfigError(f"{where}: {value!r} is not a date (YYYY-MM-DD)") from None


def _strings(value: object, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where}: must be a list of strings")
    return tuple(value)


def _load_yaml(path: Path) -> list[IgnoreEntry]:
    text = path.read_text()
    if len(text) > _MAX_BYTES:
        raise ConfigError(f"{path.name}: larger than {_MAX_BYTES} bytes")
    try:
        data = load_one(text) or {}
    except YamlError as exc:
        raise ConfigError(f"{path.name}: not valid YAML ({exc})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path.name}: must be a mapping with a `vulnerabilities` list")
    items = data.get("vulnerabilities") or []
    if not isinstance(items, list):
        raise ConfigError(f"{path.name}: vulnerabilities must be a list")
    entries = []
    for index, item in enumerate(items):
        where = f"{path.name}: vulnerabilities[{index}]"
        if not isinstance(item, dict) or not isinstance(item.get("id"), str):
            raise ConfigError(f"{where}: each entry needs an `id` string")
        entries.append(
            IgnoreEntry(
                id=item["id"],
                paths=_strings(item.get("paths"), f"{where}.paths"),
                purls=_strings(item.get("purls"), f"{where}.purls"),
                expired_at=_date(item.get("expired_at"), f"{where}.expired_at"),
                statement=str(item.get("statement") or ""),
                source=path.name,
            )
        )
    return entries


def _load_plain(path: Path) -> list[IgnoreEntry]:
    entries = []
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        fields = line.split()
        expires = None
        for extra in fields[1:]:
            if extra.startswith("exp:"):
                expires = _date(extra.removeprefix("exp:"), f"{path.name}:{number}")
        entries.append(IgnoreEntry(id=fields[0], expired_at=expires, source=f"{path.name}:{number}"))
    return entries


def load_trivyignore(repo: Path) -> list[IgnoreEntry]:
    """The entries of the repo's trivy ignore file (the YAML form wins), or [] when it has none."""
    for name in IGNORE_FILES:
        path = repo / name
        if path.is_file():
            return _load_yaml(path) if name.endswith((".yaml", ".yml")) else _load_plain(path)
    return []
