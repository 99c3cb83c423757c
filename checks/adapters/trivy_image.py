"""`trivy image`, offline: preflight of the vulnerability DB, bounded parallel scans, a result cache by digest.

Each unique image is scanned once, with no filtering (`--ignorefile ""`, every severity, fixed and unfixed), so the
same raw report serves every environment and every tenant; thresholds, `ignore_unfixed` and waivers are applied
afterwards in Python. Decisions come from the JSON report, never from trivy's exit status.

trivy's BoltDB caches allow one writer per cache directory, so each worker gets its own cache directory for the
duration of a run, whose `db/` links to the one shared, read-only vulnerability DB. Raw reports are cached under
`<cache_dir>/tenantforge/results/` keyed by trivy version, DB build time and image digest: a hit starts no process.
"""

from __future__ import annotations

import hashlib
import json
import os
import queue
import shutil
import subprocess
import tarfile
import tempfile
import threading
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from checks.errors import GateError
from checks.finding import Severity

DB_SCHEMA_VERSION = 2
OFFLINE_FLAGS = (
    "--skip-db-update",
    "--skip-java-db-update",
    "--skip-version-check",
    "--disable-telemetry",
    "--offline-scan",
    "--scanners",
    "vuln",
)
SCAN_TIMEOUT_S = 600
_RESULT_CACHE_VERSION = "1"


class ScanError(GateError):
    """An image (or every image) could not be scanned; the message says why and what to do."""


def fetch_hint(cache_dir: Path) -> str:
    return (
        f"on a machine with network access run `trivy image --download-db-only --cache-dir {cache_dir}`, "
        f"then copy the {cache_dir / 'db'} it fills to the same path on this machine"
    )


@dataclass(frozen=True)
class DbInfo:
    """The offline vulnerability DB that passed preflight."""

    db_dir: Path
    updated_at: datetime

    @property
    def stamp(self) -> str:
        return self.updated_at.strftime("%Y%m%dT%H%M%SZ")


def _parse_time(text: object) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def preflight(cache_dir: Path, max_age: timedelta, now: datetime | None = None) -> DbInfo:
    """Check `<cache_dir>/db/trivy.db` + `metadata.json` exist, the schema is trivy's, and the DB is fresh enough."""
    db_dir = cache_dir / "db"
    db, meta_path = db_dir / "trivy.db", db_dir / "metadata.json"
    missing = [p for p in (db, meta_path) if not p.is_file()]
    if missing:
        names = " and ".join(str(p) for p in missing)
        raise ScanError(f"no offline vulnerability DB: {names} missing; {fetch_hint(cache_dir)}")
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, ValueError) as exc:
        raise ScanError(f"{meta_path} is not valid JSON ({exc}); {fetch_hint(cache_dir)}") from None
    if not isinstance(meta, dict):
        raise ScanError(f"{meta_path} is not a JSON object; {fetch_hint(cache_dir)}")
    version = meta.get("Version")
    if version != DB_SCHEMA_VERSION:
        raise ScanError(
            f"{meta_path}: DB schema version {version!r}, this trivy reads version {DB_SCHEMA_VERSION}; "
            f"{fetch_hint(cache_dir)}"
        )
    updated = _parse_time(meta.get("UpdatedAt"))
    if updated is None:
        raise ScanError(f"{meta_path}: UpdatedAt {meta.get('UpdatedAt')!r} is not an RFC 3339 time")
    age = (now or datetime.now(UTC)) - updated
    if age > max_age:
        hours = int(age.total_seconds() // 3600)
        limit = int(max_age.total_seconds() // 3600)
        raise ScanError(
            f"vulnerability DB in {db_dir} is {hours}h old (built {updated:%Y-%m-%d %H:%M}Z), "
            f"older than image_scan.max_db_age_hours={limit}; {fetch_hint(cache_dir)}"
        )
    return DbInfo(db_dir=db_dir, updated_at=updated)


# ---------------------------------------------------------------------------------------------------------- reports

TRIVY_SEVERITY = {"UNKNOWN": Severity.INFO, "LOW": Severity.LOW, "MEDIUM": Severity.MEDIUM}
TRIVY_SEVERITY |= {"HIGH": Severity.HIGH, "CRITICAL": Severity.CRITICAL}


@dataclass(frozen=True)
class Vulnerability:
    """One vulnerability of one package, as trivy reported it (`record` keeps trivy's object unchanged)."""

    id: str
    package: str
    installed: str
    fixed: str
    status: str
    severity: str
    title: str
    target: str
    pkg_path: str
    purl: str
    record: Mapping[str, Any] = field(repr=False)

    @property
    def level(self) -> Severity:
        return TRIVY_SEVERITY.get(self.severity, Severity.INFO)

    @property
    def is_fixed(self) -> bool:
        """What `--ignore-unfixed` keeps: status `fixed`, or (reports without a status) a fixed version."""
        return self.status == "fixed" if self.status else bool(self.fixed)


@dataclass(frozen=True)
class Secret:
    rule_id: str
    severity: str
    title: str
    target: str
    start_line: int | None
    record: Mapping[str, Any] = field(repr=False)


@dataclass(frozen=True)
class Misconfiguration:
    id: str
    severity: str
    title: str
    message: str
    status: str
    target: str
    start_line: int | None
    record: Mapping[str, Any] = field(repr=False)


@dataclass(frozen=True)
class Report:
    """A parsed trivy JSON report (SchemaVersion 2)."""

    artifact: str
    image_id: str
    os: str
    vulnerabilities: tuple[Vulnerability, ...]
    secrets: tuple[Secret, ...]
    misconfigurations: tuple[Misconfiguration, ...]
    results: int


def _str(record: Mapping[str, Any], key: str) -> str:
    value = record.get(key)
    return value if isinstance(value, str) else ""


def _int(record: Mapping[str, Any], key: str) -> int | None:
    value = record.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _obj(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def parse_report(data: object, source: str) -> Report:
    """Parse a trivy JSON report; anything that is not one is a `ScanError` naming `source`."""
    if not isinstance(data, dict):
        raise ScanError(f"{source}: trivy output is not a JSON object")
    if data.get("SchemaVersion") != 2:
        raise ScanError(f"{source}: trivy report SchemaVersion {data.get('SchemaVersion')!r}, expected 2")
    results = data.get("Results") or []
    if not isinstance(results, list) or not all(isinstance(r, dict) for r in results):
        raise ScanError(f"{source}: trivy report `Results` is not a list of objects")
    metadata = _obj(data.get("Metadata"))
    os_info = _obj(metadata.get("OS"))
    vulns: list[Vulnerability] = []
    secrets: list[Secret] = []
    misconfigs: list[Misconfiguration] = []
    for result in results:
        target = _str(result, "Target")
        for key in ("Vulnerabilities", "Secrets", "Misconfigurations"):
            items = result.get(key) or []
            if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
                raise ScanError(f"{source}: `{key}` of target {target!r} is not a list of objects")
        for v in result.get("Vulnerabilities") or []:
            if not _str(v, "VulnerabilityID") or not _str(v, "PkgName"):
                raise ScanError(f"{source}: a vulnerability of {target!r} lacks VulnerabilityID or PkgName")
            ident = _obj(v.get("PkgIdentifier"))
            vulns.append(
                Vulnerability(
                    id=_str(v, "VulnerabilityID"),
                    package=_str(v, "PkgName"),
                    installed=_str(v, "InstalledVersion"),
                    fixed=_str(v, "FixedVersion"),
                    status=_str(v, "Status"),
                    severity=_str(v, "Severity") or "UNKNOWN",
                    title=_str(v, "Title"),
                    target=target,
                    pkg_path=_str(v, "PkgPath"),
                    purl=_str(ident, "PURL"),
                    record=v,
                )
            )
        for s in result.get("Secrets") or []:
            secrets.append(
                Secret(
                    rule_id=_str(s, "RuleID"),
                    severity=_str(s, "Severity") or "UNKNOWN",
                    title=_str(s, "Title"),
                    target=target,
                    start_line=_int(s, "StartLine"),
                    record=s,
                )
            )
        for m in result.get("Misconfigurations") or []:
            cause = _obj(m.get("CauseMetadata"))
            misconfigs.append(
                Misconfiguration(
                    id=_str(m, "ID") or _str(m, "AVDID"),
                    severity=_str(m, "Severity") or "UNKNOWN",
                    title=_str(m, "Title"),
                    message=_str(m, "Message"),
                    status=_str(m, "Status") or "FAIL",
                    target=target,
                    start_line=_int(cause, "StartLine"),
                    record=m,
                )
            )
    os_name = " ".join(p for p in (_str(os_info, "Family"), _str(os_info, "Name")) if p)
    return Report(
        artifact=_str(data, "ArtifactName"),
        image_id=_str(metadata, "ImageID"),
        os=os_name,
        vulnerabilities=tuple(vulns),
        secrets=tuple(secrets),
        misconfigurations=tuple(misconfigs),
        results=len(results),
    )


# ------------------------------------------------------------------------------------------------------- scanning


@dataclass(frozen=True)
class ScanTarget:
    """What to hand trivy for one unique image: a local docker-archive, or a reference trivy pulls itself.

    `key` is the content digest the result cache is keyed by (`sha256:…`); None means "not cacheable" (a tag
    reference trivy has to pull: the tag may move).
    """

    ref: str
    archive: Path | None
    key: str | None


@dataclass(frozen=True)
class ScanOutcome:
    target: ScanTarget
    report: Report | None = None
    error: str | None = None
    cached: bool = False


def archive_digest(path: Path) -> str:
    """The image ID (`sha256:` of the config) of a docker-archive tarball, or a `ScanError` if it is not one."""
    try:
        with tarfile.open(path) as tar:
            manifest_member = tar.extractfile("manifest.json")
            if manifest_member is None:
                raise ScanError(f"{path}: manifest.json is not a file")
            manifest = json.loads(manifest_member.read())
            if not isinstance(manifest, list) or len(manifest) != 1 or not isinstance(manifest[0], dict):
                raise ScanError(f"{path}: manifest.json must list exactly one image (docker save one image per file)")
            config = tar.extractfile(str(manifest[0].get("Config", "")))
            if config is None:
                raise ScanError(f"{path}: the config named in manifest.json is missing")
            return "sha256:" + hashlib.sha256(config.read()).hexdigest()
    except ScanError:
        raise
    except (OSError, tarfile.TarError, KeyError, ValueError) as exc:
        raise ScanError(f"{path} is not a docker-archive image tarball (`docker save` output): {exc}") from None


class TrivyImageScanner:
    """Scan unique images with bounded parallelism; count the trivy processes it starts."""

    def __init__(self, trivy: Path, cache_dir: Path, db: DbInfo, *, workers: int = 2, version: str = "0") -> None:
        self.trivy = trivy
        self.cache_dir = cache_dir
        self.db = db
        self.workers = max(1, workers)
        self.version = version
        self.processes = 0
        self.cache_hits = 0
        self._lock = threading.Lock()

    def _result_path(self, key: str) -> Path:
        algo, _, hexdigest = key.partition(":")
        return (
            self.cache_dir
            / "tenantforge"
            / "results"
            / f"v{_RESULT_CACHE_VERSION}-trivy{self.version}"
            / self.db.stamp
            / f"{algo}-{hexdigest}.json"
        )

    def _cached(self, target: ScanTarget) -> ScanOutcome | None:
        if target.key is None:
            return None
        path = self._result_path(target.key)
        try:
            data = json.loads(path.read_text())
            report = parse_report(data, str(path))
        except (OSError, ValueError, ScanError):
            return None
        return ScanOutcome(target=target, report=report, cached=True)

    def _store(self, key: str, raw: bytes) -> None:
        path = self._result_path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".partial-")
            with os.fdopen(fd, "wb") as fh:
                fh.write(raw)
            os.replace(tmp, path)
        except OSError:
            pass  # a read-only cache only costs a rescan next time

    @contextmanager
    def _worker_dirs(self, count: int) -> Iterator[queue.Queue[Path]]:
        root = Path(tempfile.mkdtemp(prefix="tenantforge-trivy-"))
        pool: queue.Queue[Path] = queue.Queue()
        try:
            for index in range(count):
                worker = root / f"worker-{index}"
                (worker / "db").mkdir(parents=True)
                for name in ("trivy.db", "metadata.json"):
                    (worker / "db" / name).symlink_to((self.db.db_dir / name).resolve())
                pool.put(worker)
            yield pool
        finally:
            shutil.rmtree(root, ignore_errors=True)

    def command(self, target: ScanTarget, cache_dir: Path, output: Path) -> list[str]:
        source = ["--input", str(target.archive)] if target.archive else ["--image-src", "remote", target.ref]
        return [
            str(self.trivy),
            "image",
            *source,
            "--cache-dir",
            str(cache_dir),
            *OFFLINE_FLAGS,
            "--ignorefile",
            "",
            "--format",
            "json",
            "--output",
            str(output),
            "--quiet",
        ]

    def _run(self, target: ScanTarget, pool: queue.Queue[Path]) -> ScanOutcome:
        worker = pool.get()
        try:
            output = worker / "report.json"
            output.unlink(missing_ok=True)
            with self._lock:
                self.processes += 1
            try:
                proc = subprocess.run(
                    self.command(target, worker, output),
                    capture_output=True,
                    text=True,
                    timeout=SCAN_TIMEOUT_S,
                    check=False,
                    stdin=subprocess.DEVNULL,
                )
            except subprocess.TimeoutExpired:
                return ScanOutcome(target=target, error=f"trivy did not finish within {SCAN_TIMEOUT_S}s")
            except OSError as exc:
                return ScanOutcome(target=target, error=f"cannot start trivy: {exc}")
            raw = output.read_bytes() if output.is_file() else b""
            if not raw:
                return ScanOutcome(target=target, error=_failure_line(proc.stderr, proc.returncode))
            try:
                report = parse_report(json.loads(raw), f"trivy report for {target.ref}")
            except ValueError:
                return ScanOutcome(target=target, error=f"trivy wrote garbage for {target.ref} (not JSON)")
            except ScanError as exc:
                return ScanOutcome(target=target, error=str(exc))
            if not report.os and not report.vulnerabilities and report.results == 0:
                return ScanOutcome(
                    target=target,
                    error="trivy found no operating system and no packages in the image: nothing was scanned",
                )
            if target.key:
                self._store(target.key, raw)
            return ScanOutcome(target=target, report=report)
        finally:
            pool.put(worker)

    def scan(self, targets: Sequence[ScanTarget]) -> list[ScanOutcome]:
        """Scan each target (callers pass unique ones), cache hits first; outcomes in the order given."""
        outcomes: dict[int, ScanOutcome] = {}
        todo: list[tuple[int, ScanTarget]] = []
        for index, target in enumerate(targets):
            hit = self._cached(target)
            if hit is not None:
                self.cache_hits += 1
                outcomes[index] = hit
            else:
                todo.append((index, target))
        if todo:
            workers = min(self.workers, len(todo))
            with self._worker_dirs(workers) as pool, ThreadPoolExecutor(max_workers=workers) as executor:
                futures = {index: executor.submit(self._run, target, pool) for index, target in todo}
                for index, future in futures.items():
                    outcomes[index] = future.result()
        return [outcomes[i] for i in range(len(targets))]


def _failure_line(stderr: str, returncode: int) -> str:
    """The line of trivy's stderr that says what went wrong (its FATAL line, else the last one)."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    fatal = [line for line in lines if "FATAL" in line or "panic:" in line]
    chosen = (fatal or lines or [f"exit status {returncode}, no output"])[0 if fatal else -1]
    for marker in ("FATAL\t", "FATAL "):
        if marker in chosen:
            chosen = chosen.split(marker, 1)[1].strip()
    return f"trivy failed (exit {returncode}): {chosen[:400]}"
