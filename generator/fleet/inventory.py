"""The fleet inventory (`fleet.yaml`): which tenant repositories exist, and how to pick some of them.

```yaml
version: 1
hosting: {provider: gitlab, api_url: https://gitlab.example.net/api/v4}   # optional: open merge requests there
defaults: {branch: main, answers_file: .copier-answers.yml}
tenants:
  - name: acme-shop
    url: ../remotes/acme-shop.git        # any git URL; a relative path is relative to fleet.yaml
    branch: main
    labels: {tier: gold, region: eu, tenancy: dedicated}
    answers_file: .copier-answers.yml    # only when the tenant uses another answers file
    project: retail/acme-shop            # the hosting project; default: the path of `url`
```
Without `hosting`, an upgrade pushes its branch and leaves opening the merge request to a person.
"""

from __future__ import annotations

import fnmatch
import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from checks.yamlsafe import YamlError, load_one
from generator.errors import UserError

DEFAULT_ANSWERS_FILE = ".copier-answers.yml"
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_LABEL_KEY = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")
_BRANCH = re.compile(r"^(?!/)(?!.*(\.\.|//|@\{|\.lock$|/$|\.$))[^\s~^:?*\[\\]+$")
_URL_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://|^[^/:]+@[^/:]+:")
_TOP_KEYS = {"version", "hosting", "defaults", "tenants"}
_HOSTING_KEYS = {"provider", "api_url"}
PROVIDERS = ("github", "gitlab")
_DEFAULT_KEYS = {"branch", "answers_file", "labels"}
_TENANT_KEYS = {"name", "url", "branch", "labels", "answers_file", "project"}


class InventoryError(UserError):
    """fleet.yaml is missing or invalid; the message names the file and the key path."""


@dataclass(frozen=True)
class Tenant:
    """One tenant repository of the fleet."""

    name: str
    url: str
    branch: str = "main"
    labels: Mapping[str, str] = field(default_factory=dict)
    answers_file: str = DEFAULT_ANSWERS_FILE
    project: str | None = None

    def label_text(self) -> str:
        return ",".join(f"{k}={v}" for k, v in sorted(self.labels.items()))


@dataclass(frozen=True)
class Hosting:
    """Where merge requests are opened; the token comes from GITLAB_TOKEN / GITHUB_TOKEN."""

    provider: str
    api_url: str | None = None


@dataclass(frozen=True)
class Inventory:
    path: Path
    tenants: tuple[Tenant, ...]
    hosting: Hosting | None = None

    def by_name(self, name: str) -> Tenant:
        for tenant in self.tenants:
            if tenant.name == name:
                return tenant
        raise InventoryError(f"{self.path}: no tenant named {name!r}")


def _fail(path: Path, where: str, problem: str) -> InventoryError:
    return InventoryError(f"{path}: {where}: {problem}" if where else f"{path}: {problem}")


def _unknown_keys(path: Path, where: str, data: Mapping[str, Any], allowed: set[str]) -> None:
    unknown = sorted(str(k) for k in data if k not in allowed)
    if unknown:
        prefix = f"{where}." if where else ""
        raise _fail(path, f"{prefix}{unknown[0]}", f"unknown key (allowed: {', '.join(sorted(allowed))})")


def _string(path: Path, where: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _fail(path, where, f"{value!r} is not a non-empty string")
    return value


def _branch(path: Path, where: str, value: Any) -> str:
    text = _string(path, where, value)
    if not _BRANCH.match(text):
        raise _fail(path, where, f"{text!r} is not a valid git branch name")
    return text


def _answers_file(path: Path, where: str, value: Any) -> str:
    text = _string(path, where, value)
    rel = PurePosixPath(text)
    if rel.is_absolute() or ".." in rel.parts:
        raise _fail(path, where, f"{text!r} must be a path inside the tenant repository")
    return str(rel)


def _labels(path: Path, where: str, value: Any) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise _fail(path, where, "must be a mapping of label name to value")
    labels: dict[str, str] = {}
    for key, raw in value.items():
        if not isinstance(key, str) or not _LABEL_KEY.match(key):
            raise _fail(path, f"{where}.{key}", "label names are letters, digits, '-', '_', '.' (max 63)")
        if isinstance(raw, bool) or not isinstance(raw, str | int | float):
            raise _fail(path, f"{where}.{key}", f"{raw!r} is not a string")
        text = str(raw)
        if not _LABEL_VALUE.match(text):
            raise _fail(path, f"{where}.{key}", f"{text!r}: label values are letters, digits, '-', '_', '.'")
        labels[key] = text
    return labels


def _resolve_url(base: Path, url: str) -> str:
    """Relative paths are relative to the inventory file; URLs and scp-like addresses stay as they are."""
    if _URL_SCHEME.match(url) or Path(url).is_absolute():
        return url
    return str((base / url).resolve())


def load_inventory(path: Path) -> Inventory:
    """Read and validate `fleet.yaml`; any problem is an `InventoryError` naming the key path."""
    if not path.is_file():
        raise InventoryError(f"{path}: fleet inventory not found (pass --inventory PATH)")
    try:
        data = load_one(path.read_text(encoding="utf-8"))
    except YamlError as exc:
        where, _, problem = str(exc).partition(": ") if str(exc).startswith("line ") else ("", "", str(exc))
        raise _fail(path, where, f"not valid YAML ({problem})") from None
    if not isinstance(data, Mapping):
        raise _fail(path, "", "must be a mapping with `version` and `tenants`")
    _unknown_keys(path, "", data, _TOP_KEYS)
    if data.get("version") != 1:
        raise _fail(path, "version", f"{data.get('version')!r} is not supported (allowed: 1)")
    defaults = data.get("defaults") or {}
    if not isinstance(defaults, Mapping):
        raise _fail(path, "defaults", "must be a mapping")
    _unknown_keys(path, "defaults", defaults, _DEFAULT_KEYS)
    hosting = _hosting(path, data.get("hosting"))
    default_branch = _branch(path, "defaults.branch", defaults.get("branch", "main"))
    default_answers = _answers_file(path, "defaults.answers_file", defaults.get("answers_file", DEFAULT_ANSWERS_FILE))
    default_labels = _labels(path, "defaults.labels", defaults.get("labels") or {})
    raw_tenants = data.get("tenants")
    if not isinstance(raw_tenants, list) or not raw_tenants:
        raise _fail(path, "tenants", "must be a non-empty list")
    tenants: list[Tenant] = []
    seen: dict[str, int] = {}
    base = path.resolve().parent
    for index, raw in enumerate(raw_tenants):
        where = f"tenants[{index}]"
        if not isinstance(raw, Mapping):
            raise _fail(path, where, "must be a mapping with at least `name` and `url`")
        _unknown_keys(path, where, raw, _TENANT_KEYS)
        name = _string(path, f"{where}.name", raw.get("name"))
        if not _DNS_LABEL.match(name):
            raise _fail(path, f"{where}.name", f"{name!r} is not a DNS-1123 label (lowercase letters, digits, '-')")
        if name in seen:
            raise _fail(path, f"{where}.name", f"{name!r} is already used by tenants[{seen[name]}]")
        seen[name] = index
        tenants.append(
            Tenant(
                name=name,
                url=_resolve_url(base, _string(path, f"{where}.url", raw.get("url"))),
                branch=_branch(path, f"{where}.branch", raw.get("branch", default_branch)),
                labels={**default_labels, **_labels(path, f"{where}.labels", raw.get("labels") or {})},
                answers_file=_answers_file(path, f"{where}.answers_file", raw.get("answers_file", default_answers)),
                project=_string(path, f"{where}.project", raw["project"]) if "project" in raw else None,
            )
        )
    return Inventory(path=path, tenants=tuple(tenants), hosting=hosting)


def _hosting(path: Path, raw: Any) -> Hosting | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise _fail(path, "hosting", "must be a mapping with `provider` (github or gitlab) and optional `api_url`")
    _unknown_keys(path, "hosting", raw, _HOSTING_KEYS)
    provider = raw.get("provider")
    if provider not in PROVIDERS:
        raise _fail(path, "hosting.provider", f"{provider!r} is not allowed (allowed: {', '.join(PROVIDERS)})")
    api_url = raw.get("api_url")
    if api_url is not None and not (isinstance(api_url, str) and re.match(r"^https?://[^/\s]+", api_url)):
        raise _fail(path, "hosting.api_url", f"{api_url!r} is not an http(s) URL")
    return Hosting(provider=str(provider), api_url=api_url)


@dataclass(frozen=True)
class _Term:
    key: str
    pattern: str
    negate: bool

    def matches(self, tenant: Tenant) -> bool:
        value = tenant.name if self.key == "name" else tenant.labels.get(self.key)
        hit = value is not None and fnmatch.fnmatchcase(value, self.pattern)
        return hit != self.negate


def parse_selector(text: str) -> tuple[_Term, ...]:
    """`tier=gold,region!=us*` (all terms must hold) or a bare tenant-name glob such as `acme-*`."""
    terms: list[_Term] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            raise InventoryError(f"--select {text!r}: empty term")
        if "!=" in part:
            key, _, pattern = part.partition("!=")
            negate = True
        elif "=" in part:
            key, _, pattern = part.partition("=")
            negate = False
        else:
            key, pattern, negate = "name", part, False
        if not key.strip() or not pattern.strip():
            raise InventoryError(f"--select {text!r}: {part!r} must be NAME-GLOB, LABEL=GLOB or LABEL!=GLOB")
        terms.append(_Term(key.strip(), pattern.strip(), negate))
    return tuple(terms)


def select(tenants: Sequence[Tenant], selectors: Iterable[str]) -> tuple[Tenant, ...]:
    """Tenants matching any selector (each selector: all of its terms), in inventory order; none = all."""
    parsed = [parse_selector(s) for s in selectors]
    if not parsed:
        return tuple(tenants)
    chosen = tuple(t for t in tenants if any(all(term.matches(t) for term in terms) for terms in parsed))
    if not chosen:
        raise InventoryError(f"--select {' '.join(selectors)}: no tenant matches")
    return chosen


def parse_shard(text: str) -> tuple[int, int]:
    """`I/N` with 1 <= I <= N."""
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if not match or not 1 <= int(match.group(1)) <= int(match.group(2)):
        raise InventoryError(f"--shard {text!r}: expected I/N with 1 <= I <= N, e.g. 2/8")
    return int(match.group(1)), int(match.group(2))


def shard_of(name: str, count: int) -> int:
    """The 1-based shard a tenant belongs to: a stable hash of its name, so shards do not shift as the fleet grows."""
    digest = hashlib.sha256(name.encode()).digest()
    return int.from_bytes(digest[:8], "big") % count + 1


def shard(tenants: Sequence[Tenant], index: int, count: int) -> tuple[Tenant, ...]:
    return tuple(t for t in tenants if shard_of(t.name, count) == index)


@dataclass(frozen=True)
class Wave:
    name: str
    tenants: tuple[Tenant, ...]


def parse_waves(text: str) -> tuple[tuple[str, int], ...]:
    """`canary=2,early=10`: named waves with their sizes, in order; whatever is left forms the last wave."""
    waves: list[tuple[str, int]] = []
    for part in (p.strip() for p in text.split(",")):
        name, sep, size = part.partition("=")
        if not sep or not _DNS_LABEL.match(name.strip()) or not size.strip().isdigit() or int(size) < 1:
            raise InventoryError(f"--wave {text!r}: {part!r} must be NAME=N with N >= 1, e.g. canary=2")
        if any(existing == name.strip() for existing, _ in waves):
            raise InventoryError(f"--wave {text!r}: wave {name.strip()!r} appears twice")
        waves.append((name.strip(), int(size)))
    return tuple(waves)


def plan_waves(tenants: Sequence[Tenant], spec: Sequence[tuple[str, int]]) -> tuple[Wave, ...]:
    """Fill each wave with the tenants labelled `wave: <name>` first, then in inventory order; the rest go last."""
    remaining = list(tenants)
    waves: list[Wave] = []
    for name, size in spec:
        labelled = [t for t in remaining if t.labels.get("wave") == name][:size]
        others = [t for t in remaining if t not in labelled][: size - len(labelled)]
        members = [t for t in remaining if t in labelled or t in others]
        remaining = [t for t in remaining if t not in members]
        if members:
            waves.append(Wave(name, tuple(members)))
    if remaining:
        waves.append(Wave("rest" if spec else "all", tuple(remaining)))
    return tuple(waves)
