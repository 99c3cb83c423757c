"""The image stage: rendered image references in, `Finding`s and an exit code out.

Inputs are small typed values (what the gate's config and render stages hand over), so the stage runs the same
under `tenantforge check --images`, `tenantforge scan` and the fleet benchmark.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Literal

from checks import tools
from checks.adapters.trivy_image import (
    DbInfo,
    Report,
    ScanError,
    ScanOutcome,
    ScanTarget,
    TrivyImageScanner,
    Vulnerability,
    preflight,
)
from checks.errors import ToolMissing
from checks.finding import Finding, Severity
from checks.imagescan.refs import ImagePin, ImageUse, pin_findings
from checks.imagescan.sources import ImageSource
from checks.imagescan.trivyignore import IgnoreEntry

TOOL = "trivy-image"
SCAN_ERROR = "TF-SCAN-ERROR"
WAIVER_EXPIRED = "TF-WAIVER-EXPIRED"
DEFAULT_MAX_DB_AGE_HOURS = 168


@dataclass(frozen=True)
class ImagePolicy:
    """`environments.<env>.images` of tenantforge.yml."""

    threshold: Severity = Severity.HIGH
    ignore_unfixed: bool = False
    on_scan_error: Literal["warn", "fail"] = "fail"


@dataclass(frozen=True)
class VulnerabilityWaiver:
    """One `vulnerability_waivers` entry: a CVE id for images matching a glob, with a reason and an expiry."""

    id: str
    image: str
    reason: str
    expires: date
    owner: str | None = None

    def covers(self, vuln_id: str, ref: str) -> bool:
        return self.id == vuln_id and fnmatch.fnmatchcase(ref, self.image)

    @property
    def label(self) -> str:
        who = f", {self.owner}" if self.owner else ""
        return f"vulnerability_waivers {self.id} ({self.reason}{who}, until {self.expires})"


def default_cache_dir() -> Path:
    env = os.environ.get("TENANTFORGE_TRIVY_CACHE")
    if env:
        return Path(env)
    return Path.home() / ".cache" / "tenantforge" / "trivy"


@dataclass(frozen=True)
class ImageScanSettings:
    """`image_scan` of tenantforge.yml plus where images come from."""

    cache_dir: Path = field(default_factory=default_cache_dir)
    max_db_age: timedelta = timedelta(hours=DEFAULT_MAX_DB_AGE_HOURS)
    source: ImageSource = field(default_factory=ImageSource)
    workers: int = 2


@dataclass(frozen=True)
class EnvImages:
    """What one environment runs, and how strictly its images are judged."""

    env: str
    uses: tuple[ImageUse, ...]
    policy: ImagePolicy = field(default_factory=ImagePolicy)
    pins: tuple[ImagePin, ...] = ()


@dataclass(frozen=True)
class ImageStageResult:
    findings: tuple[Finding, ...]
    exit_code: int
    images: int = 0
    processes: int = 0
    cache_hits: int = 0
    below_threshold: int = 0

    def summary(self) -> str:
        failing = sum(1 for f in self.findings if not f.waived_by and f.severity > Severity.INFO)
        waived = sum(1 for f in self.findings if f.waived_by)
        errors = sum(1 for f in self.findings if f.rule_id == SCAN_ERROR)
        verdict = {0: "passed", 1: "failed", 2: "could not run"}[self.exit_code]
        parts = [
            f"{self.images} unique images ({self.processes} scanned, {self.cache_hits} from cache)",
            f"{failing} failing",
            f"{waived} waived",
        ]
        if errors:
            parts.append(f"{errors} scan errors")
        if self.below_threshold:
            parts.append(f"{self.below_threshold} below threshold")
        return f"image scan {verdict}: " + ", ".join(parts)


def _binary_stamp(path: Path) -> str:
    st = path.resolve().stat()
    return f"{st.st_size:x}{st.st_mtime_ns:x}"


class _Collector:
    def __init__(self) -> None:
        self.findings: list[Finding] = []
        self.exit_code = 0

    def add(self, finding: Finding, *, fails: bool = False, cannot_decide: bool = False) -> None:
        self.findings.append(finding)
        if cannot_decide:
            self.exit_code = 2
        elif fails and self.exit_code == 0:
            self.exit_code = 1

    def scan_error(self, env: EnvImages, message: str, use: ImageUse | None = None) -> None:
        warn = env.policy.on_scan_error == "warn"
        prefix = "scan error (on_scan_error: warn)" if warn else "scan error"
        self.add(
            Finding(
                rule_id=SCAN_ERROR,
                severity=Severity.INFO if warn else Severity.CRITICAL,
                tool=TOOL,
                message=f"{prefix}: {message}",
                env=env.env,
                kind=use.kind if use else None,
                namespace=use.namespace if use else None,
                name=use.name if use else None,
                file=use.file if use else None,
                line=use.line if use else None,
                details={"image": use.ref, "field": use.field} if use else {},
            ),
            cannot_decide=not warn,
        )


def _vuln_finding(env: str, vuln: Vulnerability, uses: Sequence[ImageUse], report: Report) -> Finding:
    first = uses[0]
    fix = f"fixed in {vuln.fixed}" if vuln.fixed else "no fixed version"
    return Finding(
        rule_id=vuln.id,
        severity=vuln.level,
        tool=TOOL,
        message=f"{vuln.id} ({vuln.severity.lower()}) in {vuln.package} {vuln.installed}, {fix}: image {first.ref}",
        env=env,
        kind=first.kind,
        namespace=first.namespace,
        name=first.name,
        file=first.file,
        line=first.line,
        details={
            "vulnerability_id": vuln.id,
            "package": vuln.package,
            "installed_version": vuln.installed,
            "fixed_version": vuln.fixed,
            "status": vuln.status,
            "trivy_severity": vuln.severity,
            "title": vuln.title,
            "primary_url": str(vuln.record.get("PrimaryURL", "")),
            "target": vuln.target,
            "image": first.ref,
            "image_id": report.image_id,
            "field": first.field,
            "used_by": [f"{u.resource} {u.field}" for u in uses],
        },
    )


def run_image_stage(
    envs: Sequence[EnvImages],
    settings: ImageScanSettings,
    *,
    waivers: Sequence[VulnerabilityWaiver] = (),
    ignores: Sequence[IgnoreEntry] = (),
    now: datetime | None = None,
) -> ImageStageResult:
    """Scan every unique image of every environment once and judge each environment by its own policy."""
    now = now or datetime.now(UTC)
    today = now.date()
    out = _Collector()
    for waiver in waivers:
        if waiver.expires < today:
            out.add(
                Finding(
                    rule_id=WAIVER_EXPIRED,
                    severity=Severity.HIGH,
                    tool=TOOL,
                    message=(
                        f"vulnerability waiver for {waiver.id} on {waiver.image} expired on {waiver.expires}: "
                        "fix the image or renew the waiver with a new reason"
                    ),
                    details={"waiver": waiver.label},
                ),
                fails=True,
            )
    for env in envs:
        for finding in pin_findings(env.env, env.pins, env.uses):
            out.add(finding, fails=True)

    refs = sorted({use.ref for env in envs for use in env.uses})
    if not refs:
        return ImageStageResult(findings=tuple(out.findings), exit_code=out.exit_code)

    try:
        trivy = tools.require_tool("trivy")
        db: DbInfo = preflight(settings.cache_dir, settings.max_db_age, now)
    except (ToolMissing, ScanError) as exc:
        for env in envs:
            if env.uses:
                out.scan_error(env, str(exc))
        return ImageStageResult(findings=tuple(out.findings), exit_code=out.exit_code, images=len(refs))

    located: dict[str, ScanTarget | str] = {}
    for ref in refs:
        try:
            located[ref] = settings.source.locate(ref)
        except ScanError as exc:
            located[ref] = str(exc)
    unique: dict[str, ScanTarget] = {}
    for target in located.values():
        if isinstance(target, ScanTarget):
            unique.setdefault(target.key or f"ref:{target.ref}", target)
    scanner = TrivyImageScanner(trivy, settings.cache_dir, db, workers=settings.workers, version=_binary_stamp(trivy))
    outcomes: dict[str, ScanOutcome] = dict(zip(unique, scanner.scan(list(unique.values())), strict=True))

    below = 0
    for env in envs:
        by_ref: dict[str, list[ImageUse]] = {}
        for use in env.uses:
            by_ref.setdefault(use.ref, []).append(use)
        for ref, uses in sorted(by_ref.items()):
            target = located[ref]
            if isinstance(target, str):
                out.scan_error(env, target, uses[0])
                continue
            outcome = outcomes[target.key or f"ref:{target.ref}"]
            if outcome.report is None:
                out.scan_error(env, f"image {ref}: {outcome.error}", uses[0])
                continue
            for vuln in outcome.report.vulnerabilities:
                if env.policy.ignore_unfixed and not vuln.is_fixed:
                    continue
                if vuln.level < env.policy.threshold:
                    below += 1
                    continue
                finding = _vuln_finding(env.env, vuln, uses, outcome.report)
                waived_by = next((e.label for e in ignores if e.active(today) and e.matches(vuln)), None)
                waived_by = waived_by or next(
                    (w.label for w in waivers if w.expires >= today and w.covers(vuln.id, ref)), None
                )
                if waived_by:
                    out.add(finding.waived(waived_by))
                else:
                    out.add(finding, fails=True)
    return ImageStageResult(
        findings=tuple(out.findings),
        exit_code=out.exit_code,
        images=len(refs),
        processes=scanner.processes,
        cache_hits=scanner.cache_hits,
        below_threshold=below,
    )
