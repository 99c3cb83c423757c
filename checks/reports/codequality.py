"""GitLab Code Quality: a JSON array of issues with fingerprint, severity and location.path/lines.begin."""

from __future__ import annotations

import json
from typing import Any

from checks.finding import Severity
from checks.gate import GateResult
from checks.reports.common import fingerprint

_SEVERITY = {
    Severity.CRITICAL: "blocker",
    Severity.HIGH: "critical",
    Severity.MEDIUM: "major",
    Severity.LOW: "minor",
    Severity.INFO: "info",
}


def as_list(result: GateResult) -> list[dict[str, Any]]:
    issues = []
    for f in result.findings:
        if f.waived_by:
            continue
        prefix = f"[{f.env}] " if f.env else ""
        resource = f"{f.resource}: " if f.resource else ""
        issues.append(
            {
                "type": "issue",
                "description": f"{prefix}{f.rule_id} {resource}{f.message}",
                "check_name": f.rule_id,
                "fingerprint": fingerprint(f),
                "severity": _SEVERITY[f.severity],
                "categories": ["Security"],
                "location": {"path": f.file or "tenantforge.yml", "lines": {"begin": f.line or 1}},
            }
        )
    return issues


def render(result: GateResult, color: bool = False) -> str:
    return json.dumps(as_list(result), indent=2) + "\n"
