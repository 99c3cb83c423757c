"""Load and validate `tenantforge.yml` (docs/tenantforge-yml.md is the contract) into frozen dataclasses.

Every error is a `ConfigError` whose message starts with the file name and the key path, e.g.
`tenantforge.yml: waivers[2].expires: '2026-13-01' is not a date (YYYY-MM-DD)`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from fnmatch import fnmatchcase
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from checks import freeze
from checks.errors import ConfigError
from checks.finding import Severity
from checks.yamlsafe import YamlError, load_one

CONFIG_NAME = "tenantforge.yml"
MAX_CONFIG_BYTES = 1 << 20
SUPPORTED_VERSIONS = (1,)
PROD_NAMES = frozenset({"prod", "production"})

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_DNS_NAME = re.compile(r"^(\*\.)?([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\.)*[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_K8S_VERSION = re.compile(r"^\d+\.\d+\.\d+$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DURATION = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?$")
_RULE_ID = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]*$")

OnScanError = Literal["warn", "fail"]


@dataclass(frozen=True)
class ImagePolicy:
    threshold: Severity = Severity.HIGH
    ignore_unfixed: bool = False
    on_scan_error: OnScanError = "fail"


@dataclass(frozen=True)
class Environment:
    name: str
    namespaces: tuple[str, ...] = ()
    hosts: tuple[str, ...] = ()
    threshold: Severity = Severity.HIGH
    prod: bool = False
    images: ImagePolicy = ImagePolicy()


@dataclass(frozen=True)
class Selector:
    """Which findings a waiver covers; each key optional, each value a glob."""

    env: str | None = None
    kind: str | None = None
    namespace: str | None = None
    name: str | None = None

    def matches(self, env: str | None, kind: str | None, namespace: str | None, name: str | None) -> bool:
        for pattern, value in ((self.env, env), (self.kind, kind), (self.namespace, namespace), (self.name, name)):
            if pattern is not None and not fnmatchcase(value or "", pattern):
                return False
        return True


@dataclass(frozen=True)
class Waiver:
    rule: str
    select: Selector
    reason: str
    owner: str
    expires: date
    index: int

    @property
    def label(self) -> str:
        return f"waivers[{self.index}] ({self.owner}, until {self.expires.isoformat()})"


@dataclass(frozen=True)
class VulnerabilityWaiver:
    id: str
    image: str
    reason: str
    owner: str
    expires: date
    index: int


@dataclass(frozen=True)
class ImageScan:
    max_db_age_hours: int = 168
    cache_dir: str | None = None
    image_dir: str | None = None
    pull: bool = False
    workers: int = 2


@dataclass(frozen=True)
class FreezeWindow:
    name: str
    schedule: str
    duration: timedelta
    duration_text: str
    timezone: str
    environments: tuple[str, ...]


@dataclass(frozen=True)
class SchemaConfig:
    crd: str | None = None
    allow_missing: tuple[str, ...] = ()

    def allows_missing(self, api_version: str, kind: str) -> bool:
        return kind in self.allow_missing or f"{api_version}/{kind}" in self.allow_missing


@dataclass(frozen=True)
class Config:
    version: int = 1
    tenant: str | None = None
    kubernetes_version: str | None = None
    environments: Mapping[str, Environment] = field(default_factory=lambda: MappingProxyType({}))
    registries: tuple[str, ...] = ()
    schemas: SchemaConfig = SchemaConfig()
    waivers: tuple[Waiver, ...] = ()
    vulnerability_waivers: tuple[VulnerabilityWaiver, ...] = ()
    image_scan: ImageScan = ImageScan()
    freeze_windows: tuple[FreezeWindow, ...] = ()
    platform_secrets: tuple[str, ...] = ()
    source: Path | None = None

    def environment(self, name: str) -> Environment:
        """The configured environment, or the documented defaults for an overlay the file does not mention."""
        configured = self.environments.get(name)
        if configured is not None:
            return configured
        return Environment(name=name, prod=name in PROD_NAMES)


T = TypeVar("T")


class _Reader:
    def __init__(self, label: str) -> None:
        self.label = label

    def fail(self, path: str, message: str) -> ConfigError:
        return ConfigError(f"{self.label}: {path}: {message}" if path else f"{self.label}: {message}")

    def mapping(self, value: Any, path: str, allowed: Mapping[str, bool]) -> dict[str, Any]:
        """Check `value` is a mapping with only `allowed` keys (True = required)."""
        if not isinstance(value, dict):
            raise self.fail(path, f"must be a mapping, got {_describe(value)}")
        for key in value:
            if not isinstance(key, str) or key not in allowed:
                raise self.fail(_join(path, str(key)), f"unknown key (allowed: {', '.join(allowed)})")
        for key, required in allowed.items():
            if required and key not in value:
                raise self.fail(_join(path, key), "is required")
        return value

    def string(self, value: Any, path: str, *, pattern: re.Pattern[str] | None = None, what: str = "") -> str:
        if not isinstance(value, str) or not value.strip():
            raise self.fail(path, f"must be a non-empty string, got {_describe(value)}")
        if pattern is not None and not pattern.match(value):
            raise self.fail(path, f"{value!r} is not {what}")
        return value

    def optional_string(self, value: Any, path: str) -> str | None:
        return None if value is None else self.string(value, path)

    def boolean(self, value: Any, path: str) -> bool:
        if not isinstance(value, bool):
            raise self.fail(path, f"must be true or false, got {_describe(value)}")
        return value

    def severity(self, value: Any, path: str) -> Severity:
        try:
            return Severity.parse(value) if isinstance(value, str) else Severity.parse(repr(value))
        except ValueError:
            allowed = "|".join(s.label for s in Severity)
            raise self.fail(path, f"{value!r} is not a severity ({allowed})") from None

    def date(self, value: Any, path: str) -> date:
        text = value if isinstance(value, str) else repr(value)
        try:
            if not _DATE.match(text):
                raise ValueError
            return date.fromisoformat(text)
        except ValueError:
            raise self.fail(path, f"{text!r} is not a date (YYYY-MM-DD)") from None

    def seq(self, value: Any, path: str, item: Callable[[Any, str], T]) -> tuple[T, ...]:
        if value is None:
            return ()
        if not isinstance(value, list):
            raise self.fail(path, f"must be a list, got {_describe(value)}")
        return tuple(item(v, f"{path}[{i}]") for i, v in enumerate(value))


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _describe(value: Any) -> str:
    if value is None:
        return "nothing"
    return f"{type(value).__name__} {value!r}"[:80]


def load_config(path: Path | None, *, required: bool = False) -> Config:
    """Read and validate the config at `path`; a missing file gives the defaults unless `required`."""
    if path is None or not path.exists():
        if required and path is not None:
            raise ConfigError(f"{path}: no such file")
        return Config()
    label = path.name
    try:
        size = path.stat().st_size
        if size > MAX_CONFIG_BYTES:
            raise ConfigError(f"{label}: {size:,} bytes is larger than the {MAX_CONFIG_BYTES:,}-byte limit")
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{label}: not UTF-8 text") from None
    except OSError as exc:
        raise ConfigError(f"{label}: cannot read: {exc.strerror}") from None
    return parse_config(text, label=label, source=path)


def parse_config(text: str, *, label: str = CONFIG_NAME, source: Path | None = None) -> Config:
    try:
        data = load_one(text)
    except YamlError as exc:
        raise ConfigError(f"{label}: invalid YAML: {exc}") from None
    r = _Reader(label)
    if data is None:
        raise r.fail("", "is empty; at least `version: 1` is required")
    top = r.mapping(
        data,
        "",
        {
            "version": True,
            "tenant": False,
            "kubernetes_version": False,
            "environments": False,
            "registries": False,
            "schemas": False,
            "waivers": False,
            "vulnerability_waivers": False,
            "image_scan": False,
            "freeze_windows": False,
            "platform_secrets": False,
        },
    )
    version = top["version"]
    if isinstance(version, bool) or version not in SUPPORTED_VERSIONS:
        raise r.fail("version", f"{version!r} is not supported (allowed: {', '.join(map(str, SUPPORTED_VERSIONS))})")
    tenant = top.get("tenant")
    if tenant is not None:
        tenant = r.string(tenant, "tenant", pattern=_DNS_LABEL, what="a DNS-1123 label")
    k8s = top.get("kubernetes_version")
    if k8s is not None:
        k8s = r.string(
            k8s if isinstance(k8s, str) else repr(k8s),
            "kubernetes_version",
            pattern=_K8S_VERSION,
            what="a version X.Y.Z",
        )
    envs_raw = top.get("environments") or {}
    if not isinstance(envs_raw, dict):
        raise r.fail("environments", f"must be a mapping of environment names, got {_describe(envs_raw)}")
    environments = {}
    for name, spec in envs_raw.items():
        if not isinstance(name, str) or not _DNS_LABEL.match(name):
            raise r.fail(f"environments.{name}", "environment names must be DNS-1123 labels (overlay directory names)")
        environments[name] = _environment(r, name, spec)
    return Config(
        version=version,
        tenant=tenant,
        kubernetes_version=k8s,
        environments=MappingProxyType(environments),
        registries=r.seq(top.get("registries"), "registries", lambda v, p: _registry(r, v, p)),
        schemas=_schemas(r, top.get("schemas")),
        waivers=r.seq(top.get("waivers"), "waivers", lambda v, p: _waiver(r, v, p)),
        vulnerability_waivers=r.seq(
            top.get("vulnerability_waivers"), "vulnerability_waivers", lambda v, p: _vuln_waiver(r, v, p)
        ),
        image_scan=_image_scan(r, top.get("image_scan")),
        freeze_windows=_freeze_windows(r, top.get("freeze_windows"), set(environments)),
        platform_secrets=r.seq(top.get("platform_secrets"), "platform_secrets", r.string),
        source=source,
    )


def _environment(r: _Reader, name: str, spec: Any) -> Environment:
    path = f"environments.{name}"
    spec = r.mapping(
        {} if spec is None else spec,
        path,
        {"namespaces": False, "hosts": False, "threshold": False, "prod": False, "images": False},
    )
    namespaces = r.seq(
        spec.get("namespaces"),
        f"{path}.namespaces",
        lambda v, p: r.string(v, p, pattern=_DNS_LABEL, what="a DNS-1123 label"),
    )
    hosts = r.seq(spec.get("hosts"), f"{path}.hosts", lambda v, p: r.string(v, p, pattern=_DNS_NAME, what="a DNS name"))
    threshold = r.severity(spec["threshold"], f"{path}.threshold") if "threshold" in spec else Severity.HIGH
    prod = r.boolean(spec["prod"], f"{path}.prod") if "prod" in spec else name in PROD_NAMES
    images = _image_policy(r, spec.get("images"), f"{path}.images")
    if prod and images.on_scan_error != "fail":
        raise r.fail(f"{path}.images.on_scan_error", "must be `fail` for a prod environment")
    return Environment(name=name, namespaces=namespaces, hosts=hosts, threshold=threshold, prod=prod, images=images)


def _image_policy(r: _Reader, spec: Any, path: str) -> ImagePolicy:
    if spec is None:
        return ImagePolicy()
    spec = r.mapping(spec, path, {"threshold": False, "ignore_unfixed": False, "on_scan_error": False})
    on_error = spec.get("on_scan_error", "fail")
    if on_error not in ("warn", "fail"):
        raise r.fail(f"{path}.on_scan_error", f"{on_error!r} is not allowed (allowed: warn, fail)")
    return ImagePolicy(
        threshold=r.severity(spec["threshold"], f"{path}.threshold") if "threshold" in spec else Severity.HIGH,
        ignore_unfixed=r.boolean(spec["ignore_unfixed"], f"{path}.ignore_unfixed")
        if "ignore_unfixed" in spec
        else False,
        on_scan_error="warn" if on_error == "warn" else "fail",
    )


def _registry(r: _Reader, value: Any, path: str) -> str:
    text = r.string(value, path)
    if "://" in text or text.endswith("/") or " " in text:
        raise r.fail(path, f"{text!r} must be a registry host[/path] prefix without scheme or trailing slash")
    return text


def _schemas(r: _Reader, spec: Any) -> SchemaConfig:
    if spec is None:
        return SchemaConfig()
    spec = r.mapping(spec, "schemas", {"crd": False, "allow_missing": False})
    return SchemaConfig(
        crd=r.optional_string(spec.get("crd"), "schemas.crd"),
        allow_missing=r.seq(spec.get("allow_missing"), "schemas.allow_missing", r.string),
    )


def _selector(r: _Reader, spec: Any, path: str) -> Selector:
    if spec is None:
        return Selector()
    spec = r.mapping(spec, path, {"env": False, "kind": False, "namespace": False, "name": False})
    return Selector(
        env=r.optional_string(spec.get("env"), f"{path}.env"),
        kind=r.optional_string(spec.get("kind"), f"{path}.kind"),
        namespace=r.optional_string(spec.get("namespace"), f"{path}.namespace"),
        name=r.optional_string(spec.get("name"), f"{path}.name"),
    )


def _waiver(r: _Reader, spec: Any, path: str) -> Waiver:
    spec = r.mapping(spec, path, {"rule": True, "select": False, "reason": True, "owner": True, "expires": True})
    return Waiver(
        rule=r.string(spec["rule"], f"{path}.rule", pattern=_RULE_ID, what="a rule id"),
        select=_selector(r, spec.get("select"), f"{path}.select"),
        reason=r.string(spec["reason"], f"{path}.reason"),
        owner=r.string(spec["owner"], f"{path}.owner"),
        expires=r.date(spec["expires"], f"{path}.expires"),
        index=int(path.rsplit("[", 1)[1].rstrip("]")),
    )


def _vuln_waiver(r: _Reader, spec: Any, path: str) -> VulnerabilityWaiver:
    spec = r.mapping(spec, path, {"id": True, "image": False, "reason": True, "owner": True, "expires": True})
    return VulnerabilityWaiver(
        id=r.string(spec["id"], f"{path}.id"),
        image=r.string(spec.get("image", "*"), f"{path}.image"),
        reason=r.string(spec["reason"], f"{path}.reason"),
        owner=r.string(spec["owner"], f"{path}.owner"),
        expires=r.date(spec["expires"], f"{path}.expires"),
        index=int(path.rsplit("[", 1)[1].rstrip("]")),
    )


def _image_scan(r: _Reader, spec: Any) -> ImageScan:
    if spec is None:
        return ImageScan()
    allowed = {"max_db_age_hours": False, "cache_dir": False, "image_dir": False, "pull": False, "workers": False}
    spec = r.mapping(spec, "image_scan", allowed)
    age = spec.get("max_db_age_hours", 168)
    if isinstance(age, bool) or not isinstance(age, int) or age <= 0:
        raise r.fail("image_scan.max_db_age_hours", f"must be a positive whole number of hours, got {_describe(age)}")
    workers = spec.get("workers", 2)
    if isinstance(workers, bool) or not isinstance(workers, int) or not 1 <= workers <= 32:
        raise r.fail("image_scan.workers", f"must be a whole number from 1 to 32, got {_describe(workers)}")
    return ImageScan(
        max_db_age_hours=age,
        cache_dir=r.optional_string(spec.get("cache_dir"), "image_scan.cache_dir"),
        image_dir=r.optional_string(spec.get("image_dir"), "image_scan.image_dir"),
        pull=r.boolean(spec.get("pull", False), "image_scan.pull"),
        workers=workers,
    )


def _cron(r: _Reader, value: Any, path: str) -> str:
    text = r.string(value, path)
    problem = freeze.cron_problem(text)  # one definition of a schedule both CI and Argo CD accept
    if problem:
        raise r.fail(path, problem)
    return text


def _duration(r: _Reader, value: Any, path: str) -> tuple[timedelta, str]:
    text = r.string(value, path)
    match = _DURATION.match(text)
    if not match or not any(match.groups()):
        raise r.fail(path, f"{text!r} is not a duration like 2h, 90m or 1h30m")
    hours, minutes = (int(g) if g else 0 for g in match.groups())
    delta = timedelta(hours=hours, minutes=minutes)
    if delta <= timedelta(0):
        raise r.fail(path, "must be longer than zero")
    return delta, text


def _timezone(r: _Reader, value: Any, path: str) -> str:
    text = r.string(value, path)
    try:
        ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        raise r.fail(path, f"{text!r} is not an IANA time zone (e.g. Europe/Berlin, UTC)") from None
    return text


def _freeze_windows(r: _Reader, spec: Any, envs: set[str]) -> tuple[FreezeWindow, ...]:
    def one(value: Any, path: str) -> FreezeWindow:
        value = r.mapping(
            value, path, {"name": True, "schedule": True, "duration": True, "timezone": False, "environments": False}
        )
        duration, duration_text = _duration(r, value["duration"], f"{path}.duration")
        return FreezeWindow(
            name=r.string(value["name"], f"{path}.name"),
            schedule=_cron(r, value["schedule"], f"{path}.schedule"),
            duration=duration,
            duration_text=duration_text,
            timezone=_timezone(r, value.get("timezone", "UTC"), f"{path}.timezone"),
            environments=r.seq(value.get("environments"), f"{path}.environments", known_env),
        )

    def known_env(value: Any, path: str) -> str:
        name = r.string(value, path)
        if envs and name not in envs:
            raise r.fail(path, f"{name!r} is not an environment of this file (known: {', '.join(sorted(envs))})")
        return name

    windows = r.seq(spec, "freeze_windows", one)
    names = [w.name for w in windows]
    for i, name in enumerate(names):
        if name in names[:i]:
            raise r.fail(f"freeze_windows[{i}].name", f"{name!r} is used twice")
    return windows
