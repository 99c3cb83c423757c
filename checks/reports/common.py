"""Small helpers every report shares: rule metadata, stable fingerprints."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from checks.finding import Finding


def rule_info(finding: Finding) -> Mapping[str, Any]:
    info = finding.details.get("rule")
    if isinstance(info, Mapping):
        return info
    title = finding.details.get("title") or finding.rule_id
    return {"title": title, "fix": finding.details.get("resolution") or "", "rationale": "", "references": []}


def fingerprint(finding: Finding) -> str:
    """Stable across runs and line moves: rule, environment, object identity and message."""
    key = "\x1f".join(
        str(part or "")
        for part in (
            finding.rule_id,
            finding.env,
            finding.kind,
            finding.namespace,
            finding.name,
            finding.file,
            finding.message,
        )
    )
    return hashlib.sha256(key.encode()).hexdigest()
