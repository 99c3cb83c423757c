"""SARIF 2.1.0 for GitHub code scanning: one run, rules with help and security-severity, stable fingerprints."""

from __future__ import annotations

import json
from typing import Any

from checks.finding import Finding, Severity
from checks.gate import GateResult
from checks.reports.common import fingerprint, rule_info

SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
MAX_RESULTS = 25_000
# GitHub buckets security-severity: >= 9 critical, 7-8.9 high, 4-6.9 medium, < 4 low.
_SECURITY_SEVERITY = {
    Severity.CRITICAL: "9.5",
    Severity.HIGH: "8.0",
    Severity.MEDIUM: "5.5",
    Severity.LOW: "2.0",
    Severity.INFO: "0.0",
}
_LEVEL = {
    Severity.CRITICAL: "error",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "note",
    Severity.INFO: "note",
}


def _rule(finding: Finding) -> dict[str, Any]:
    info = rule_info(finding)
    title = str(info.get("title") or finding.rule_id)
    rationale = str(info.get("rationale") or title)
    fix = str(info.get("fix") or "See the finding message.")
    refs = [str(r) for r in info.get("references") or []]
    help_text = f"{rationale}\n\nFix: {fix}" + (f"\n\nSee also: {', '.join(refs)}" if refs else "")
    rule: dict[str, Any] = {
        "id": finding.rule_id,
        "name": "".join(w.capitalize() for w in title.split() if w.isalnum()) or finding.rule_id,
        "shortDescription": {"text": title},
        "fullDescription": {"text": rationale},
        "help": {"text": help_text, "markdown": f"{rationale}\n\n**Fix:** {fix}"},
        "defaultConfiguration": {"level": _LEVEL[finding.severity]},
        "properties": {
            "security-severity": _SECURITY_SEVERITY[finding.severity],
            "tags": ["security", "kubernetes", finding.tool],
        },
    }
    url = finding.details.get("url")
    if isinstance(url, str) and url:
        rule["helpUri"] = url
    return rule


def _result(finding: Finding, rule_index: int, failing: bool) -> dict[str, Any]:
    text = finding.message if not finding.resource else f"{finding.resource}: {finding.message}"
    if finding.env:
        text = f"[{finding.env}] {text}"
    result: dict[str, Any] = {
        "ruleId": finding.rule_id,
        "ruleIndex": rule_index,
        "level": _LEVEL[finding.severity] if failing or finding.waived_by else "note",
        "message": {"text": text},
        "partialFingerprints": {"primaryLocationLineHash": fingerprint(finding)},
        "properties": {"severity": finding.severity.label, "tool": finding.tool, "failing": failing},
    }
    if finding.file:
        region = {"startLine": finding.line} if finding.line else {}
        location: dict[str, Any] = {"artifactLocation": {"uri": finding.file}}
        if region:
            location["region"] = region
        result["locations"] = [{"physicalLocation": location}]
    if finding.waived_by:
        result["suppressions"] = [{"kind": "external", "status": "accepted", "justification": finding.waived_by}]
    return result


def as_dict(result: GateResult) -> dict[str, Any]:
    rules: list[dict[str, Any]] = []
    index: dict[str, int] = {}
    results = []
    for finding in result.findings[:MAX_RESULTS]:
        if finding.rule_id not in index:
            index[finding.rule_id] = len(rules)
            rules.append(_rule(finding))
        results.append(_result(finding, index[finding.rule_id], result.failing(finding)))
    return {
        "$schema": SCHEMA_URI,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "tenantforge",
                        "informationUri": "https://registry.example.net/tenantforge",
                        "rules": rules,
                    }
                },
                "results": results,
                "invocations": [{"executionSuccessful": result.exit_code != 2, "exitCode": result.exit_code}],
            }
        ],
    }


def render(result: GateResult, color: bool = False) -> str:
    return json.dumps(as_dict(result), indent=2) + "\n"
