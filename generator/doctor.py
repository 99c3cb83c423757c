"""`tenantforge doctor`: which tools and schema sources this machine has, against what is pinned."""

from __future__ import annotations

import urllib.request
from dataclasses import asdict, dataclass
from typing import Any

from checks import schemas, tools
from checks.errors import GateError


@dataclass(frozen=True)
class ToolReport:
    name: str
    found: bool
    path: str | None
    version: str | None
    pinned: str
    matches: bool
    required: bool


def tool_reports() -> list[ToolReport]:
    reports = []
    for pin in tools.pins().values():
        path = tools.find_tool(pin.name)
        version = tools.reported_version(path, pin.version_args) if path else None
        reports.append(
            ToolReport(
                name=pin.name,
                found=path is not None,
                path=str(path) if path else None,
                version=version,
                pinned=pin.version.lstrip("v"),
                matches=tools.same_version(version, pin.version),
                required=pin.required,
            )
        )
    return reports


def schema_report() -> dict[str, Any]:
    report: dict[str, Any] = {
        "core_source": str(schemas.kubernetes_validate_dir()),
        "core_versions": schemas.available_versions(),
        "kubernetes_version": schemas.default_k8s_version(),
        "core_cache": str(schemas.cache_root()),
        "crd_source": schemas.crd_source(),
    }
    try:
        schemas.crd_schema_location(report["crd_source"])
        if report["crd_source"].startswith(("http://", "https://")):
            _probe_catalog(report["crd_source"])
        report["crd_ok"] = True
    except GateError as exc:
        report["crd_ok"] = False
        report["crd_error"] = str(exc)
    return report


def _probe_catalog(template: str) -> None:
    """Fetch one well-known schema from a remote catalog, so an unreachable catalog shows up here, not mid-gate."""
    url = template.format(group="traefik.io", kind="ingressroute", version="v1alpha1")
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - the scheme is checked above
            response.read(1)
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise GateError(
            f"cannot fetch {url} ({reason}); to run air-gapped point TENANTFORGE_CRD_SCHEMAS at a local copy"
        ) from exc


def healthy(reports: list[ToolReport], schema: dict[str, Any]) -> bool:
    """Every required tool at its pinned version, and a CRD schema source the gate can use."""
    return bool(schema["crd_ok"]) and all(r.found and r.matches for r in reports if r.required)


def as_json(reports: list[ToolReport], schema: dict[str, Any]) -> dict[str, Any]:
    return {"ok": healthy(reports, schema), "tools": [asdict(r) for r in reports], "schemas": schema}
