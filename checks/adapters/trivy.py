"""trivy config: trivy's embedded Kubernetes checks over every rendered object, in one run per gate (or per batch
of gates: the fleet gates many tenants with one run).

trivy loads its checks (about a second) before it looks at its target, so the gate starts it before rendering and
publishes the workspaces in one rename; a run that looked too early is repeated, never trusted (`early_start`).

Offline: embedded checks only (`--skip-check-update`), no version check, no telemetry. trivy exits 0 even with
findings, so the decision comes from its JSON report; a non-zero exit or an unreadable report is a tool failure.
A trivy check that one of our rules cross-references is reported under our rule id (the gate then keeps one
finding per rule and object), every other failing check under trivy's own id (normalised to `KSV-0014`).
"""

from __future__ import annotations

import json
import re
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from checks.adapters.base import (
    GATE_TOOL_RULE,
    Failed,
    Member,
    Outcome,
    Pending,
    first_line,
    locate,
    tool_failure,
    wait,
)
from checks.errors import GateError
from checks.finding import Finding, Severity
from checks.tools import require_tool, tool_env

TOOL = "trivy"
STAGE = "trivy-config"
TIMEOUT_SECONDS = 1800
OFFLINE_FLAGS = ("--skip-check-update", "--skip-version-check", "--disable-telemetry")
_ID = re.compile(r"^(?:AVD-)?([A-Z]+)-?0*(\d+)$")
# Namespace-level checks (is there a LimitRange / ResourceQuota?) cannot be judged one object at a time: trivy
# asks them of every file, and every file holds one object. ResourceQuota/LimitRange belong to the platform here.
NOT_PER_OBJECT = frozenset({"KSV-0039", "KSV-0040"})
_SEVERITY = {
    "CRITICAL": Severity.CRITICAL,
    "HIGH": Severity.HIGH,
    "MEDIUM": Severity.MEDIUM,
    "LOW": Severity.LOW,
    "UNKNOWN": Severity.LOW,
}


def normalise_id(raw: str) -> str:
    """`KSV014`, `AVD-KSV-0014` and `KSV-0014` are one check: `KSV-0014`."""
    match = _ID.match(raw.strip().upper())
    if not match:
        return raw.strip()
    return f"{match.group(1)}-{int(match.group(2)):04d}"


@dataclass
class _Running:
    root: Path
    binary: Path
    proc: subprocess.Popen[bytes]
    report: Path
    scratch: tempfile.TemporaryDirectory[str]
    early: bool  # started before `root` existed
    started: float = field(default_factory=time.perf_counter)
    scanned: int = 0  # files of the workspaces the last run reported on

    def finish(self, members: Sequence[Member]) -> list[Outcome]:
        try:
            outcome = self._collect(members)
            if self.early and self._looked_too_early(outcome, members):
                # trivy lstat's its target only after loading its checks; when the render took longer than that,
                # this run saw no root. Run it again, now that every file is in place, and judge that run alone.
                self.proc, self.early = _launch(self.binary, self.root, self.report, self.scratch), False
                outcome = self._collect(members)
            seconds = time.perf_counter() - self.started
            return [Outcome(STAGE, tuple(findings), seconds, checked) for findings, checked in outcome]
        finally:
            self.scratch.cleanup()

    def _looked_too_early(self, outcome: list[tuple[list[Finding], int]], members: Sequence[Member]) -> bool:
        failed = any(f.rule_id == GATE_TOOL_RULE for findings, _ in outcome for f in findings)
        return failed or self.scanned < sum(len(m.work.files) for m in members)

    def _collect(self, members: Sequence[Member]) -> list[tuple[list[Finding], int]]:
        """(findings, checks run) per member."""
        self.scanned = 0
        result = wait(self.proc, TIMEOUT_SECONDS)
        if result is None:
            return _everyone(members, f"trivy config did not finish within {TIMEOUT_SECONDS}s")
        code, _, err = result
        stderr = err.decode("utf-8", "replace")
        if code != 0:
            return _everyone(members, f"trivy config exited {code}: {first_line(stderr)}")
        try:
            report = json.loads(self.report.read_text(encoding="utf-8"))
            if not isinstance(report, dict) or report.get("SchemaVersion") != 2:
                raise TypeError
            results = report.get("Results") or []
            if not isinstance(results, list):
                raise TypeError
        except (OSError, ValueError, TypeError, UnicodeDecodeError):
            return _everyone(members, f"trivy config wrote no usable JSON report: {first_line(stderr)}")
        per_member: dict[int, tuple[list[Finding], int]] = {id(m): ([], 0) for m in members}
        for entry in results:
            if not isinstance(entry, dict):
                continue
            found = locate(members, str(entry.get("Target", "")))
            if found is None:
                continue
            member, rel = found
            self.scanned += 1
            findings, checked = per_member[id(member)]
            summary = entry.get("MisconfSummary")
            if isinstance(summary, dict):
                checked += sum(int(summary.get(k) or 0) for k in ("Successes", "Failures"))
            findings.extend(_findings(entry, rel, member))
            per_member[id(member)] = (findings, checked)
        return [per_member[id(m)] for m in members]


def _everyone(members: Sequence[Member], message: str) -> list[tuple[list[Finding], int]]:
    return [([tool_failure(STAGE, message)], 0) for _ in members]


def _findings(entry: dict[str, Any], rel: str, member: Member) -> list[Finding]:
    work, ctx = member.work, member.ctx
    out = []
    for item in entry.get("Misconfigurations") or []:
        if not isinstance(item, dict) or item.get("Status") != "FAIL":
            continue
        cause = item.get("CauseMetadata")
        line = cause.get("StartLine") if isinstance(cause, dict) else None
        obj = work.at_line(rel, line if isinstance(line, int) else None) or work.mentioned(
            rel, str(item.get("Message") or "")
        )
        check_id = normalise_id(str(item.get("ID") or item.get("AVDID") or "trivy"))
        if check_id in NOT_PER_OBJECT:
            continue
        rule_id = ctx.rule_aliases.get(check_id, check_id)
        message = str(item.get("Message") or item.get("Title") or check_id)
        out.append(
            Finding(
                rule_id=rule_id,
                severity=_SEVERITY.get(str(item.get("Severity", "")).upper(), Severity.MEDIUM),
                tool=STAGE,
                message=message if rule_id == check_id else f"{message} [trivy {check_id}]",
                env=obj.env if obj else work.envs.get(rel),
                kind=obj.kind if obj else None,
                namespace=obj.namespace if obj else None,
                name=obj.name if obj else None,
                file=obj.file if obj else None,
                line=obj.line if obj else None,
                details={
                    "trivy_id": check_id,
                    "title": str(item.get("Title") or ""),
                    "resolution": str(item.get("Resolution") or ""),
                    "url": str(item.get("PrimaryURL") or ""),
                },
            )
        )
    return out


def _launch(
    binary: Path, root: Path, report: Path, scratch: tempfile.TemporaryDirectory[str]
) -> subprocess.Popen[bytes]:
    args = [
        str(binary),
        "config",
        "--quiet",
        *OFFLINE_FLAGS,
        "--misconfig-scanners",
        "kubernetes",
        # trivy's own default (5m) ends a large gate on a busy runner; ours below is the one limit.
        "--timeout",
        f"{TIMEOUT_SECONDS}s",
        "--cache-dir",
        str(Path(scratch.name) / "cache"),
        "--format",
        "json",
        "--output",
        str(report),
        str(root),
    ]
    report.unlink(missing_ok=True)
    return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=tool_env())


@dataclass(frozen=True)
class TrivyConfig:
    tool: str = TOOL
    early_start: bool = True

    def start(self, root: Path, k8s_version: str, crd_source: str) -> Pending:
        try:
            binary = require_tool(TOOL)
        except GateError as exc:
            return Failed(STAGE, str(exc))
        scratch = tempfile.TemporaryDirectory(prefix="tf-trivy-")
        report = Path(scratch.name) / "report.json"
        early = not root.exists()
        try:
            proc = _launch(binary, root, report, scratch)
        except OSError as exc:
            scratch.cleanup()
            return Failed(STAGE, f"cannot run {binary}: {exc.strerror}")
        return _Running(root, binary, proc, report, scratch, early)


ADAPTER = TrivyConfig()
