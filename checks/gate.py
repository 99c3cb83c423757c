"""The gate: render every overlay, then kubeconform, our policies and trivy config side by side; one result.

Order of work (and why it is fast): overlays render in parallel; every rendered object is written once into one
workspace; kubeconform and trivy config are started over that workspace (one process each for the whole gate) and
run while the policy rules evaluate in-process; then their reports are collected. Waivers and thresholds from
tenantforge.yml decide the exit code: 0 passed, 1 failing findings, 2 the gate could not decide.
"""

from __future__ import annotations

import os
import re
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from types import MappingProxyType

from checks import integrity, policies, schemas
from checks.adapters import CHECKERS
from checks.adapters import kustomize as kustomize_adapter
from checks.adapters.base import GATE_TOOL_RULE, CheckContext, Member, Pending, Unit, publish
from checks.config import CONFIG_NAME, Config, Environment, Waiver, load_config
from checks.errors import ConfigError, GateError
from checks.finding import Finding, Severity
from checks.imagescan import stage as image_stage
from checks.imagescan.trivyignore import load_trivyignore
from checks.integrity import rules as integrity_rules
from checks.integrity.routes import RouteRow
from checks.manifests import K8sObject, parse_rendered
from checks.yamlsafe import YamlError, load_all

MAX_INPUT_BYTES = 64 << 20
ARGOCD_UNIT = "argocd"
INPUT_RULE = "TF-GATE-INPUT"
WAIVER_EXPIRED_RULE = "TF-WAIVER-EXPIRED"
BUILD_EMPTY_RULE = "TF-BUILD-EMPTY"
# Findings that mean the gate could not decide: exit 2, whatever else was found.
UNDECIDABLE = frozenset({GATE_TOOL_RULE, INPUT_RULE, BUILD_EMPTY_RULE, "TF-SCHEMA-MISSING", image_stage.SCAN_ERROR})
WAIVABLE_TOOLS = frozenset({policies.TOOL, "trivy-config", *integrity.TOOLS})

# Rules the gate itself reports (the policy rules describe themselves in checks.policies).
GATE_RULES: Mapping[str, Mapping[str, str]] = MappingProxyType(
    {
        "TF-BUILD": {
            "title": "Overlay does not build",
            "fix": "Run `kustomize build` on the overlay and fix the error it prints.",
        },
        BUILD_EMPTY_RULE: {
            "title": "Overlay rendered no objects",
            "fix": "Run `kustomize build` on the overlay: an overlay that deploys nothing cannot be gated "
            "(check its resources list and the kustomize binary in use).",
        },
        "TF-SCHEMA-INVALID": {
            "title": "Object does not match its schema",
            "fix": "Fix the field kubeconform names; the API server would reject this object.",
        },
        "TF-SCHEMA-MISSING": {
            "title": "No schema for a kind",
            "fix": "Point --schemas-dir at CRD schemas for it, or list the kind in tenantforge.yml "
            "schemas.allow_missing.",
        },
        GATE_TOOL_RULE: {
            "title": "A gate tool could not run",
            "fix": "Run `make setup`; if the tool crashed, run it by hand on the rendered overlay to see why.",
        },
        INPUT_RULE: {
            "title": "Input the gate refuses to read",
            "fix": "Remove or shrink the file; rendered manifests are never this large.",
        },
        WAIVER_EXPIRED_RULE: {
            "title": "Waiver expired",
            "fix": "Fix the finding, or renew the waiver with a new reason, owner and expiry after a review.",
        },
    }
)


@dataclass(frozen=True)
class GateRequest:
    repo: Path
    envs: tuple[str, ...] = ()
    overlays: tuple[Path, ...] = ()
    config_path: Path | None = None
    schemas_dir: str | None = None
    k8s_version: str | None = None
    images: bool = False
    image_dir: Path | None = None  # --image-dir: local `docker save` tarballs (default: image_scan.image_dir)
    pull_images: bool | None = None  # --pull: let trivy pull what is not local (default: image_scan.pull)
    only_images: bool = False  # `tenantforge scan`: render, then the image stage alone
    routes: bool = False  # prove the routes in a real Traefik (checks.integrity.routes)


@dataclass(frozen=True)
class GateResult:
    findings: tuple[Finding, ...]
    envs: tuple[str, ...]
    exit_code: int
    thresholds: Mapping[str, Severity] = field(default_factory=lambda: MappingProxyType({}))
    checks: int = 0
    timings: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    objects: int = 0
    image_thresholds: Mapping[str, Severity] = field(default_factory=lambda: MappingProxyType({}))
    routes: tuple[RouteRow, ...] = ()  # the Traefik expectation table, when the routes stage ran
    command: str = "gate"  # what the summary line calls this run: "gate" (check, promote, fleet) or "scan"

    def failing(self, finding: Finding) -> bool:
        """Whether this finding fails the gate (unwaived, at or above its environment's threshold)."""
        if finding.waived_by is not None:
            return False
        if finding.tool == image_stage.TOOL:
            return image_stage.fails(finding, self.image_thresholds.get(finding.env or "", Severity.HIGH))
        if finding.rule_id in UNDECIDABLE:
            return True
        threshold = self.thresholds.get(finding.env or "", min(self.thresholds.values(), default=Severity.HIGH))
        return finding.severity >= threshold

    def summary(self) -> str:
        failing = sum(1 for f in self.findings if self.failing(f))
        waived = sum(1 for f in self.findings if f.waived_by)
        state = {0: "passed", 1: "failed", 2: "could not decide"}[self.exit_code]
        passed = max(self.checks - len(self.findings), 0)
        envs = len([e for e in self.envs if e != ARGOCD_UNIT])
        units = f"{envs} environment{'s' if envs != 1 else ''}" + (" + argocd" if ARGOCD_UNIT in self.envs else "")
        return f"{self.command} {state}: {units}, {failing} failing, {waived} waived, {passed} checks passed"


@dataclass(frozen=True)
class _Target:
    env: str
    path: Path


def _discover(request: GateRequest, repo: Path) -> list[_Target]:
    if request.overlays:
        targets = []
        for overlay in request.overlays:
            path = overlay if overlay.is_absolute() else (Path.cwd() / overlay)
            if not path.is_dir():
                raise ConfigError(f"--overlay {overlay}: not a directory")
            targets.append(_Target(path.resolve().name, path.resolve()))
        names = [t.env for t in targets]
        duplicated = {n for n in names if names.count(n) > 1}
        if duplicated:
            raise ConfigError(
                f"--overlay: two overlays are named {', '.join(sorted(duplicated))} (env = directory name)"
            )
    else:
        base = repo / "overlays"
        targets = (
            sorted(
                (_Target(p.name, p) for p in base.iterdir() if p.is_dir() and _overlay_kustomization(p, repo)),
                key=lambda t: t.env,
            )
            if base.is_dir()
            else []
        )
        if not targets:
            raise ConfigError(f"{repo}: no overlays/*/kustomization.yaml found (use --overlay PATH for other layouts)")
    if request.envs:
        known = {t.env for t in targets}
        unknown = [e for e in request.envs if e not in known]
        if unknown:
            raise ConfigError(f"--env {', '.join(unknown)}: no such overlay (available: {', '.join(sorted(known))})")
        targets = [t for t in targets if t.env in request.envs]
    return targets


_TRIVY_CHECK_ID = re.compile(r"^(?:KSV-?\d+|AVD-[A-Z0-9-]+)$")


def _check_config_against_repo(config: Config, request: GateRequest, repo: Path) -> None:
    """tenantforge.yml keys that can never match anything are typos the gate must not accept silently."""
    label = config.source.name if config.source else CONFIG_NAME
    if not request.overlays:
        available = {t.env for t in _discover(replace(request, envs=()), repo)}
        unknown = sorted(set(config.environments) - available - {ARGOCD_UNIT})
        if unknown:
            raise ConfigError(
                f"{label}: environments.{unknown[0]}: no overlay of that name "
                f"(overlays found: {', '.join(sorted(available))}); keys are overlays/<env> directory names"
            )
    known = {rule.id for rule in policies.REGISTRY} | set(GATE_RULES) | set(integrity_rules.RULES)
    for waiver in config.waivers:
        if waiver.rule not in known and not _TRIVY_CHECK_ID.match(waiver.rule):
            raise ConfigError(
                f"{label}: waivers[{waiver.index}].rule: {waiver.rule!r} is neither a tenantforge rule id nor a trivy "
                "check id (KSV-0014, AVD-KSV-0014); copy the rule_id of the finding from "
                "`tenantforge check --format json` or the text report"
            )


def _overlay_kustomization(folder: Path, repo: Path) -> Path | None:
    """The overlay's kustomization file; one of the names that is not a regular file is refused, never skipped
    (skipping would drop a whole environment from the gate)."""
    for name in kustomize_adapter.KUSTOMIZATION_NAMES:
        candidate = folder / name
        if (candidate.exists() or candidate.is_symlink()) and not candidate.is_file():
            raise ConfigError(
                f"{_display(candidate, repo)}: not a regular file; an overlay's kustomization must be a file "
                f"named one of {', '.join(kustomize_adapter.KUSTOMIZATION_NAMES)}"
            )
    return kustomize_adapter.kustomization_file(folder)


_ANCHOR = re.compile(r"&[A-Za-z0-9_.-]+")
_ALIAS = re.compile(r"\*[A-Za-z0-9_.-]+")


def _screen_inputs(roots: Iterable[Path]) -> list[Finding]:
    """Refuse, before kustomize reads them, files it would choke on: huge files and YAML alias bombs
    (kustomize expands aliases and runs out of memory or time instead of failing)."""
    findings = []
    seen: set[Path] = set()
    for root in roots:
        for folder, dirs, files in os.walk(root):
            dirs[:] = [d for d in dirs if not d.startswith(".") and d != "node_modules"]
            for name in files:
                path = Path(folder) / name
                if path in seen or not name.endswith((".yaml", ".yml", ".json")):
                    continue
                seen.add(path)
                problem = _input_problem(path)
                if problem:
                    findings.append(
                        Finding(
                            rule_id=INPUT_RULE,
                            severity=Severity.CRITICAL,
                            tool="gate",
                            message=f"{problem}; nothing was rendered",
                            file=_display(path, root),
                        )
                    )
    return findings


def _screen_roots(repo: Path, targets: Sequence[_Target]) -> set[Path]:
    """The repo, plus for overlays outside it the folder two levels up (where `../../base` points)."""
    roots = {repo}
    for target in targets:
        if not target.path.is_relative_to(repo):
            roots.add(target.path.parent.parent)
    return roots


def _input_problem(path: Path) -> str | None:
    try:
        size = path.stat().st_size
        if size > MAX_INPUT_BYTES:
            return f"{size:,} bytes is more than the {MAX_INPUT_BYTES >> 20} MiB the gate reads from one manifest"
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    if not (_ANCHOR.search(text) and _ALIAS.search(text)):
        return None
    try:
        for _ in load_all(text):
            pass
    except YamlError as exc:
        if "alias" in str(exc):
            return f"YAML alias bomb: {exc}"
    return None


def _display(path: Path, repo: Path) -> str:
    try:
        return path.relative_to(repo).as_posix()
    except ValueError:
        return path.as_posix()


def _argocd_unit(repo: Path) -> kustomize_adapter.Rendered | None:
    folder = repo / ARGOCD_UNIT
    if not folder.is_dir():
        return None
    if kustomize_adapter.kustomization_file(folder):
        return kustomize_adapter.render(folder, ARGOCD_UNIT, repo)
    started = time.perf_counter()
    objects: list[K8sObject] = []
    for path in sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]):
        rel = _display(path, repo)
        try:
            parsed = parse_rendered(path.read_text(encoding="utf-8"), ARGOCD_UNIT, rendered_name=rel)
        except (YamlError, UnicodeDecodeError, OSError) as exc:
            failure = Finding(
                rule_id="TF-BUILD",
                severity=Severity.CRITICAL,
                tool="gate",
                message=f"cannot read Argo CD manifest: {exc}",
                env=ARGOCD_UNIT,
                file=rel,
                line=1,
            )
            return kustomize_adapter.Rendered(ARGOCD_UNIT, folder, (), failure, time.perf_counter() - started)
        objects.extend(replace(o, index=len(objects) + i) for i, o in enumerate(parsed))
    return kustomize_adapter.Rendered(ARGOCD_UNIT, folder, tuple(objects), None, time.perf_counter() - started)


def _render_all(targets: Sequence[_Target], repo: Path, with_argocd: bool) -> list[kustomize_adapter.Rendered]:
    workers = min(len(targets), max(2, (os.cpu_count() or 2) * 2)) or 1
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(kustomize_adapter.render, t.path, t.env, repo) for t in targets]
        argocd = pool.submit(_argocd_unit, repo) if with_argocd else None
        rendered = [f.result() for f in futures]
        extra = argocd.result() if argocd is not None else None
    return rendered + ([extra] if extra is not None else [])


def _empty_renders(rendered: Sequence[kustomize_adapter.Rendered], repo: Path) -> list[Finding]:
    """Fail closed: an overlay that built without error yet yields no object was not gated at all."""
    return [
        Finding(
            rule_id=BUILD_EMPTY_RULE,
            severity=Severity.CRITICAL,
            tool="kustomize",
            message="kustomize build produced no objects (an empty resources list, or a kustomize that prints nothing)",
            env=r.env,
            file=_display(r.overlay, repo),
        )
        for r in rendered
        if r.failure is None and not r.objects and r.env != ARGOCD_UNIT
    ]


def _apply_waivers(findings: Sequence[Finding], waivers: Sequence[Waiver], today: date) -> list[Finding]:
    active = [w for w in waivers if w.expires >= today]
    return [_waive(f, active) for f in findings]


def _waive(finding: Finding, active: Sequence[Waiver]) -> Finding:
    if finding.tool not in WAIVABLE_TOOLS:
        return finding
    trivy_id = finding.details.get("trivy_id")
    for waiver in active:
        if waiver.rule in (finding.rule_id, trivy_id) and waiver.select.matches(
            finding.env, finding.kind, finding.namespace, finding.name
        ):
            return finding.waived(waiver.label)
    return finding


def _expired(config: Config, today: date, *, image_stage_ran: bool) -> list[Finding]:
    """Expired waivers fail the gate. Expired vulnerability waivers are reported by the image stage when it runs,
    here otherwise: a stale waiver must not go unnoticed just because this run did not scan images."""
    config_file = config.source.name if config.source else CONFIG_NAME
    stale_vulns = [] if image_stage_ran else [w for w in config.vulnerability_waivers if w.expires < today]
    vulns = [
        Finding(
            rule_id=WAIVER_EXPIRED_RULE,
            severity=Severity.CRITICAL,
            tool="gate",
            message=f"vulnerability waiver for {w.id} on {w.image} ({w.owner}: {w.reason}) "
            f"expired on {w.expires.isoformat()}",
            file=config_file,
            details={"vulnerability_waiver": w.index},
        )
        for w in stale_vulns
    ]
    return vulns + [
        Finding(
            rule_id=WAIVER_EXPIRED_RULE,
            severity=Severity.CRITICAL,
            tool="gate",
            message=f"waiver for {w.rule} ({w.owner}: {w.reason}) expired on {w.expires.isoformat()}",
            env=w.select.env if w.select.env and not any(c in w.select.env for c in "*?[") else None,
            file=config_file,
            details={"waiver": w.index},
        )
        for w in config.waivers
        if w.expires < today
    ]


def _merge(own: Sequence[Finding], tools: Sequence[Finding]) -> list[Finding]:
    """Our rules supersede the trivy checks they cross-reference (the adapter reported those under our rule id):
    the policy result is authoritative for them, so trivy's copy is dropped; every other trivy check is kept,
    once per object and message (trivy repeats some checks per container)."""
    merged: dict[tuple[object, ...], Finding] = {}
    for f in [*own, *(f for f in tools if f.rule_id not in policies.REGISTRY)]:
        merged.setdefault((f.rule_id, f.env, f.kind, f.namespace, f.name, f.file, f.line, f.message), f)
    return list(merged.values())


def _with_gate_info(finding: Finding) -> Finding:
    info = GATE_RULES.get(finding.rule_id)
    if info is None or "rule" in finding.details:
        return finding
    return replace(finding, details={**finding.details, "rule": dict(info)})


def run_gate(request: GateRequest, *, today: date | None = None) -> GateResult:
    """Gate a Kustomize repository. Raises `ConfigError` for an invalid tenantforge.yml or unknown --env."""
    (result,) = run_gates([request], today=today)
    if isinstance(result, GateError):
        raise result
    return result


@dataclass
class _Job:
    """One request on its way through the gate."""

    request: GateRequest
    repo: Path
    config: Config
    targets: list[_Target]
    k8s_version: str
    crd_source: str
    env_configs: dict[str, Environment]
    with_argocd: bool
    started: float
    findings: list[Finding] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    rendered: list[kustomize_adapter.Rendered] = field(default_factory=list)
    units: list[Unit] = field(default_factory=list)
    refused: bool = False
    checks: int = 0
    routes: list[RouteRow] = field(default_factory=list)


def _prepare(request: GateRequest) -> _Job:
    started = time.perf_counter()
    repo = request.repo.resolve()
    if not repo.is_dir():
        raise ConfigError(f"{request.repo}: not a directory")
    config = load_config(request.config_path or repo / CONFIG_NAME, required=request.config_path is not None)
    targets = _discover(request, repo)
    _check_config_against_repo(config, request, repo)
    k8s_version = schemas.check_version(
        request.k8s_version or config.kubernetes_version or schemas.default_k8s_version()
    )
    crd_source = schemas.crd_source(request.schemas_dir or config.schemas.crd)
    env_configs: dict[str, Environment] = {t.env: config.environment(t.env) for t in targets}
    with_argocd = not (request.envs or request.overlays or request.only_images) and (repo / ARGOCD_UNIT).is_dir()
    if with_argocd:
        env_configs[ARGOCD_UNIT] = config.environment(ARGOCD_UNIT)
    job = _Job(request, repo, config, targets, k8s_version, crd_source, env_configs, with_argocd, started)
    job.findings = _screen_inputs(_screen_roots(repo, targets))
    job.refused = bool(job.findings)
    return job


def run_gates(requests: Sequence[GateRequest], *, today: date | None = None) -> list[GateResult | GateError]:
    """Gate several repositories at once, each exactly as `run_gate` would, but with one run of each tool for all
    of them (the fleet gates many tenants this way); a request that cannot be gated gets its error in its slot."""
    today = today or date.today()
    jobs: list[_Job | GateError] = []
    for request in requests:
        try:
            jobs.append(_prepare(request))
        except GateError as exc:
            jobs.append(exc)
    ready = [j for j in jobs if isinstance(j, _Job) and not j.refused]
    groups: dict[tuple[str, str], list[_Job]] = {}
    for job in ready:
        if not job.request.only_images:
            groups.setdefault((job.k8s_version, job.crd_source), []).append(job)
    with tempfile.TemporaryDirectory(prefix="tf-gate-") as tmp:
        roots = {key: Path(tmp) / f"g{n}" for n, key in enumerate(groups)}
        early = {
            key: {name: c.start(roots[key], *key) for name, c in CHECKERS.items() if c.early_start} for key in groups
        }
        _render_jobs(ready)
        with ThreadPoolExecutor(max_workers=1) as pool:
            images = {id(job): pool.submit(_images, job, today) for job in ready}
            for key, members in groups.items():
                _check_group(members, roots[key], early[key])
            for job in ready:
                job.findings.extend(images[id(job)].result())
    return [job if isinstance(job, GateError) else _conclude(job, today) for job in jobs]


def _render_jobs(jobs: Sequence[_Job]) -> None:
    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=min(len(jobs), 4) or 1) as pool:
        renders = {id(job): pool.submit(_render_all, job.targets, job.repo, job.with_argocd) for job in jobs}
        for job in jobs:
            try:
                job.rendered = renders[id(job)].result()
            except GateError as exc:
                job.findings.append(
                    Finding(rule_id=GATE_TOOL_RULE, severity=Severity.CRITICAL, tool="kustomize", message=str(exc))
                )
    seconds = time.perf_counter() - t0
    for job in jobs:
        job.timings["render"] = seconds
        job.findings.extend(
            [*(r.failure for r in job.rendered if r.failure is not None), *_empty_renders(job.rendered, job.repo)]
        )
        job.units = [Unit(r.env, r.objects) for r in job.rendered if r.failure is None]


def _check_group(jobs: Sequence[_Job], root: Path, early: Mapping[str, Pending]) -> None:
    """Every checker once over the workspaces of `jobs` (one folder each under `root`); our own policies and
    integrity stages per job while the tools run."""
    k8s_version, crd_source = jobs[0].k8s_version, jobs[0].crd_source
    t0 = time.perf_counter()
    works = publish(root, [job.units for job in jobs])
    write_seconds = time.perf_counter() - t0
    pending = {
        name: early.get(name) or checker.start(root, k8s_version, crd_source) for name, checker in CHECKERS.items()
    }
    members = [
        Member(work, CheckContext(job.config, k8s_version, crd_source, policies.REGISTRY.aliases()))
        for job, work in zip(jobs, works, strict=True)
    ]
    own: dict[int, list[Finding]] = {}
    checks: dict[int, int] = {}
    for job in jobs:
        own[id(job)] = []
        job.timings["write"] = write_seconds
        if not job.units:
            continue
        t0 = time.perf_counter()
        for unit in job.units:
            own[id(job)].extend(policies.evaluate(unit.objects, job.env_configs[unit.env], job.config))
        job.timings["policy"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        checks[id(job)], job.routes = _integrity(
            job.units, job.config, job.env_configs, own[id(job)], routes=job.request.routes
        )
        job.timings["integrity"] = time.perf_counter() - t0
    outcomes = {name: run.finish(members) for name, run in pending.items()}
    for index, job in enumerate(jobs):
        if not job.units:
            continue
        tool_findings: list[Finding] = []
        total = len(policies.REGISTRY) * sum(len(u.objects) for u in job.units) + checks[id(job)]
        for outcome in (per_member[index] for per_member in outcomes.values()):
            job.timings[outcome.tool] = outcome.seconds
            tool_findings.extend(outcome.findings)
            total += outcome.checked
        job.checks = total
        job.findings.extend(_merge(own[id(job)], tool_findings))


def _conclude(job: _Job, today: date) -> GateResult:
    request, config = job.request, job.config
    findings = _apply_waivers(job.findings, config.waivers, today)
    findings.extend(_expired(config, today, image_stage_ran=request.images or request.only_images))
    findings = [_with_gate_info(f) for f in findings]
    findings.sort(key=lambda f: (f.env or "", -f.severity, f.rule_id, f.file or "", f.line or 0, f.name or ""))
    result = GateResult(
        tuple(findings),
        tuple(job.env_configs),
        0,
        MappingProxyType({name: env.threshold for name, env in job.env_configs.items()}),
        job.checks,
        MappingProxyType(job.timings),
        sum(len(u.objects) for u in job.units),
        MappingProxyType({name: env.images.threshold for name, env in job.env_configs.items()}),
        tuple(job.routes),
    )
    if any(result.failing(f) and f.rule_id in UNDECIDABLE for f in findings):
        code = 2
    elif any(result.failing(f) for f in findings):
        code = 1
    else:
        code = 0
    job.timings["total"] = time.perf_counter() - job.started
    return replace(
        result,
        exit_code=code,
        timings=MappingProxyType(job.timings),
        command="scan" if request.only_images else "gate",
    )


def _images(job: _Job, today: date) -> tuple[Finding, ...]:
    """The image stage (docs/image-scan.md) over the overlays that rendered, when the request asks for it."""
    request, repo, config = job.request, job.repo, job.config
    if not (request.images or request.only_images):
        return ()
    started = time.perf_counter()
    envs = [
        image_stage.env_images(r.env, r.overlay, repo, r.objects, config.environment(r.env).images)
        for r in job.rendered
        if r.failure is None and r.env != ARGOCD_UNIT
    ]
    settings = image_stage.settings_from_config(config, repo, image_dir=request.image_dir, pull=request.pull_images)
    result = image_stage.run_image_stage(
        envs, settings, waivers=config.vulnerability_waivers, ignores=load_trivyignore(repo), today=today
    )
    job.timings[image_stage.TOOL] = time.perf_counter() - started
    return result.findings


def _integrity(
    units: Sequence[Unit],
    config: Config,
    env_configs: Mapping[str, Environment],
    into: list[Finding],
    *,
    routes: bool,
) -> tuple[int, list[RouteRow]]:
    """Reference, NetworkPolicy, Odoo-config (and with `routes`, Traefik) stages per environment."""
    checks = 0
    rows: list[RouteRow] = []
    for unit in units:
        if unit.env == ARGOCD_UNIT:
            continue
        try:
            result = integrity.evaluate(unit.objects, env_configs[unit.env], config, routes=routes)
        except GateError as exc:
            into.append(
                Finding(
                    rule_id=GATE_TOOL_RULE, severity=Severity.CRITICAL, tool="traefik", message=str(exc), env=unit.env
                )
            )
            continue
        into.extend(result.findings)
        checks += result.checks
        rows.extend(result.routes)
    return checks, rows
