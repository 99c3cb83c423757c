"""trivy config: trivy's embedded Kubernetes checks over every rendered object, in one run per gate.

Offline: embedded checks only (`--skip-check-update`), no version check, no telemetry. trivy exits 0 even with
findings, so the decision comes from its JSON report; a non-zero exit or an unreadable report is a tool failure.
A trivy check that one of our rules cross-references is reported under our rule id (the gate then keeps one
finding per rule and object), every other failing check under trivy's own id (normalised to `KSV-0014`).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from checks.adapters.base import CheckContext, Failed, Outcome, Pending, Workspace, first_line, tool_failure, wait
from checks.errors import GateError
from checks.finding import Finding, Severity
from checks.tools import require_tool

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
    proc: subprocess.Popen[bytes]
    report: Path
    scratch: tempfile.TemporaryDirectory[str]
    work: Workspace
    ctx: CheckContext
    started: float = field(default_factory=time.perf_counter)

    def finish(self) -> Outcome:
        try:
            return self._finish()
        finally:
            self.scratch.cleanup()

    def _finish(self) -> Outcome:
        result = wait(self.proc, TIMEOUT_SECONDS)
        seconds = time.perf_counter() - self.started
        if result is None:
            return Outcome(
                STAGE, (tool_failure(STAGE, f"trivy config did not finish within {TIMEOUT_SECONDS}s"),), seconds, 0
            )
        code, _, err = result
        stderr = err.decode("utf-8", "replace")
        if code != 0:
            return Outcome(
                STAGE, (tool_failure(STAGE, f"trivy config exited {code}: {first_line(stderr)}"),), seconds, 0
            )
        try:
            report = json.loads(self.report.read_text(encoding="utf-8"))
            if not isinstance(report, dict) or report.get("SchemaVersion") != 2:
                raise TypeError
            results = report.get("Results") or []
            if not isinstance(results, list):
                raise TypeError
        except (OSError, ValueError, TypeError, UnicodeDecodeError):
            return Outcome(
                STAGE,
                (tool_failure(STAGE, f"trivy config wrote no usable JSON report: {first_line(stderr)}"),),
                seconds,
                0,
            )
        findings: list[Finding] = []
        scanned = 0
        for entry in results:
            if not isinstance(entry, dict):
                continue
            summary = entry.get("MisconfSummary")
            if isinstance(summary, dict):
                scanned += sum(int(summary.get(k) or 0) for k in ("Successes", "Failures"))
            findings.extend(self._findings(entry))
        return Outcome(STAGE, tuple(findings), seconds, scanned)

    def _findings(self, entry: dict[str, Any]) -> list[Finding]:
        rel = os.path.normpath(str(entry.get("Target", "")))
        out = []
        for item in entry.get("Misconfigurations") or []:
            if not isinstance(item, dict) or item.get("Status") != "FAIL":
                continue
            cause = item.get("CauseMetadata")
            line = cause.get("StartLine") if isinstance(cause, dict) else None
            obj = self.work.at_line(rel, line if isinstance(line, int) else None) or self.work.mentioned(
                rel, str(item.get("Message") or "")
            )
            check_id = normalise_id(str(item.get("ID") or item.get("AVDID") or "trivy"))
            if check_id in NOT_PER_OBJECT:
                continue
            rule_id = self.ctx.rule_aliases.get(check_id, check_id)
            message = str(item.get("Message") or item.get("Title") or check_id)
            out.append(
                Finding(
                    rule_id=rule_id,
                    severity=_SEVERITY.get(str(item.get("Severity", "")).upper(), Severity.MEDIUM),
                    tool=STAGE,
                    message=message if rule_id == check_id else f"{message} [trivy {check_id}]",
                    env=obj.env if obj else self.work.envs.get(rel),
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


@dataclass(frozen=True)
class TrivyConfig:
    tool: str = TOOL

    def start(self, work: Workspace, ctx: CheckContext) -> Pending:
        try:
            binary = require_tool(TOOL)
        except GateError as exc:
            return Failed(STAGE, str(exc))
        scratch = tempfile.TemporaryDirectory(prefix="tf-trivy-")
        report = Path(scratch.name) / "report.json"
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
            str(work.root),
        ]
        try:
            proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        except OSError as exc:
            scratch.cleanup()
            return Failed(STAGE, f"cannot run {binary}: {exc.strerror}")
        return _Running(proc, report, scratch, work, ctx)


ADAPTER = TrivyConfig()
