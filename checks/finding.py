"""The one result type every check produces and every report consumes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import IntEnum
from types import MappingProxyType
from typing import Any


class Severity(IntEnum):
    INFO = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4

    @classmethod
    def parse(cls, text: str) -> Severity:
        try:
            return cls[text.strip().upper()]
        except KeyError:
            allowed = ", ".join(s.name.lower() for s in cls)
            raise ValueError(f"unknown severity {text!r} (allowed: {allowed})") from None

    @property
    def label(self) -> str:
        return self.name.lower()


_EMPTY: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing a check found.

    `tool` names the stage that produced it (kustomize, kubeconform, policy, trivy-config, trivy-image, gate).
    `file`/`line` point at the tenant repository's source where known, else at the overlay.
    `waived_by` holds the waiver that covers the finding (it is still reported, but does not fail the gate).
    `details` carries stage-specific data (CVE id, package, versions, ...) for reports that want it.
    """

    rule_id: str
    severity: Severity
    tool: str
    message: str
    env: str | None = None
    kind: str | None = None
    namespace: str | None = None
    name: str | None = None
    file: str | None = None
    line: int | None = None
    waived_by: str | None = None
    details: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)

    @property
    def resource(self) -> str:
        """`Kind/namespace/name` (parts that are unknown are left out)."""
        parts = [p for p in (self.kind, self.namespace, self.name) if p]
        return "/".join(parts)

    def waived(self, by: str) -> Finding:
        return replace(self, waived_by=by)
