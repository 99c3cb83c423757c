"""The JSON report (docs/gate-report-json.md describes it; bump SCHEMA_VERSION on any incompatible change)."""

from __future__ import annotations

import json
from typing import Any

from checks.gate import GateResult
from checks.reports.common import fingerprint

SCHEMA = "tenantforge/gate-report"
SCHEMA_VERSION = 1


def as_dict(result: GateResult) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "version": SCHEMA_VERSION,
        "status": {0: "passed", 1: "failed", 2: "error"}[result.exit_code],
        "exit_code": result.exit_code,
        "summary": result.summary(),
        "environments": [
            {"name": env, "threshold": result.thresholds[env].label if env in result.thresholds else None}
            for env in result.envs
        ],
        "counts": {
            "findings": len(result.findings),
            "failing": sum(1 for f in result.findings if result.failing(f)),
            "waived": sum(1 for f in result.findings if f.waived_by),
            "objects": result.objects,
            "checks": result.checks,
        },
        "timings": {k: round(v, 3) for k, v in result.timings.items()},
        "findings": [
            {
                "rule_id": f.rule_id,
                "severity": f.severity.label,
                "tool": f.tool,
                "message": f.message,
                "env": f.env,
                "kind": f.kind,
                "namespace": f.namespace,
                "name": f.name,
                "file": f.file,
                "line": f.line,
                "waived_by": f.waived_by,
                "failing": result.failing(f),
                "fingerprint": fingerprint(f),
                "details": dict(f.details),
            }
            for f in result.findings
        ],
    }


def render(result: GateResult, color: bool = False) -> str:
    return json.dumps(as_dict(result), indent=2, sort_keys=False, default=str) + "\n"
