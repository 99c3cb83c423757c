"""The image stage: rendered image references in, `Finding`s and an exit code out.

Inputs are small typed values (what the gate's config and render stages hand over), so the stage runs the same
under `tenantforge check --images`, `tenantforge scan` and the fleet benchmark.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Any

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
from checks.config import Config, ImagePolicy, VulnerabilityWaiver
from checks.errors import ToolMissing
from checks.finding import Finding, Severity
from checks.imagescan.refs import (
    IMPLICIT,
    ImagePin,
    ImageUse,
    image_pins,
    images_in_object,
    implicit_image_findings,
    pin_findings,
)
from checks.imagescan.sources import ImageSource
from checks.imagescan.trivyignore import IgnoreEntry
from checks.manifests import K8sObject

TOOL = "trivy-image"
SCAN_ERROR = "TF-SCAN-ERROR"
UNREACHED = "TF-IMAGE-UNREACHED"
PIN_UNUSED = "TF-IMAGE-PIN-UNUSED"
WAIVER_EXPIRED = "TF-WAIVER-EXPIRED"
DEFAULT_MAX_DB_AGE_HOURS = 168

# Rules the image stage reports besides the vulnerabilities themselves (whose rule id is the CVE/GHSA id).
IMAGE_RULES: Mapping[str, Mapping[str, Any]] = MappingProxyType(
    {
        SCAN_ERROR: {
            "title": "Image could not be scanned",
            "rationale": "A scan that did not happen must not pass: the image may carry known vulnerabilities.",
            "fix": "Provide the vulnerability DB and the image tarball the message names (docs/image-scan.md).",
            "references": [],
        },
        UNREACHED: {
            "title": "Image pin did not reach an image field",
            "rationale": "kustomize `images:` only rewrites container images; other fields keep the base reference.",
            "fix": "Set the image in a patch for that field, or add a `configurations:` fieldSpec for it.",
            "references": [],
        },
        PIN_UNUSED: {
            "title": "Image pin matches no image",
            "rationale": "An `images:` entry whose name matches nothing pins nothing; the overlay runs the base's tag.",
            "fix": "Use the exact image name (without tag) the base uses as the entry's `name`.",
            "references": [],
        },
        IMPLICIT: {
            "title": "Image chosen by an operator at run time",
            "rationale": "An image the manifests do not name cannot be scanned before it runs.",
            "fix": "Name the image in the manifest (for CloudNativePG: spec.imageName, pinned by digest).",
            "references": [],
        },
        WAIVER_EXPIRED: {
            "title": "Waiver expired",
            "rationale": "Waivers are time-boxed; an expired one needs a new review.",
            "fix": "Fix the finding, or renew the waiver with a new reason, owner and expiry after a review.",
            "references": [],
        },
    }
)


def waiver_covers(waiver: VulnerabilityWaiver, vuln_id: str, ref: str) -> bool:
    return waiver.id == vuln_id and fnmatch.fnmatchcase(ref, waiver.image)


def waiver_label(waiver: VulnerabilityWaiver) -> str:
    return f"vulnerability_waivers[{waiver.index}] ({waiver.owner}: {waiver.reason}, until {waiver.expires})"


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
    notes: tuple[Finding, ...] = ()  # images no scan can see (refs.implicit_image_findings)


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
        info = IMAGE_RULES.get(finding.rule_id)
        if info is not None and "rule" not in finding.details:
            finding = replace(finding, details={**finding.details, "rule": dict(info)})
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
    title = f": {vuln.title}" if vuln.title and vuln.title != vuln.id else ""
    return Finding(
        rule_id=vuln.id,
        severity=vuln.level,
        tool=TOOL,
        message=f"{vuln.package} {vuln.installed} ({vuln.severity.lower()}, {fix}) in image {first.ref}{title}",
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
            "url": str(vuln.record.get("PrimaryURL", "")),
            "resolution": (
                f"Rebuild the image with {vuln.package} {vuln.fixed} or later."
                if vuln.fixed
                else f"No fixed version of {vuln.package} yet: waive with a reason and expiry, or drop the package."
            ),
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
    today: date | None = None,
) -> ImageStageResult:
    """Scan every unique image of every environment once and judge each environment by its own policy.

    `now` dates the vulnerability DB's age, `today` the waivers' expiry (default: the clock).
    """
    now = now or datetime.now(UTC)
    today = today or now.date()
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
                    details={"waiver": waiver_label(waiver)},
                ),
                fails=True,
            )
    for env in envs:
        for finding in pin_findings(env.env, env.pins, env.uses):
            out.add(finding, fails=True)
        for note in env.notes:
            out.add(note)

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
                    (waiver_label(w) for w in waivers if w.expires >= today and waiver_covers(w, vuln.id, ref)), None
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


def fails(finding: Finding, threshold: Severity) -> bool:
    """Whether an image-stage finding fails the gate, given its environment's `images.threshold`.

    Scan-errors fail unless the environment only warns (those are reported at severity info); unreached pins and
    expired waivers always fail; a vulnerability fails at or above the threshold.
    """
    if finding.waived_by is not None:
        return False
    if finding.rule_id == SCAN_ERROR:
        return finding.severity > Severity.INFO
    if finding.rule_id == IMPLICIT:
        return False
    if finding.rule_id in IMAGE_RULES:
        return True
    return finding.severity >= threshold


def settings_from_config(
    config: Config, repo: Path, *, image_dir: Path | None = None, pull: bool | None = None
) -> ImageScanSettings:
    """`image_scan` of tenantforge.yml (paths relative to the repo), with command-line overrides."""
    scan = config.image_scan
    cache = (repo / Path(scan.cache_dir).expanduser()) if scan.cache_dir else default_cache_dir()
    directory = image_dir or ((repo / scan.image_dir) if scan.image_dir else None)
    return ImageScanSettings(
        cache_dir=cache,
        max_db_age=timedelta(hours=scan.max_db_age_hours),
        source=ImageSource(directory, scan.pull if pull is None else pull),
        workers=scan.workers,
    )


def env_images(env: str, overlay: Path, repo: Path, objects: Sequence[K8sObject], policy: ImagePolicy) -> EnvImages:
    """What one rendered overlay runs, with its kustomization's `images:` pins."""
    uses = tuple(use for obj in objects for use in images_in_object(obj.doc, env, obj.file, obj.line))
    notes = tuple(note for obj in objects for note in implicit_image_findings(obj.doc, env, obj.file, obj.line))
    pins = tuple(image_pins(overlay, display_root=repo))
    return EnvImages(env=env, uses=uses, policy=policy, pins=pins, notes=notes)
