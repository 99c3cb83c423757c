"""Real trivy reports from public repositories parse into the stage's types without loss."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from checks.adapters.trivy_image import ScanError, parse_report
from tests.conftest import SHARED

REPORTS = sorted((SHARED / "trivy-reports").rglob("*.json"))


def _count(data: dict[str, object], key: str) -> int:
    results = data.get("Results") or []
    assert isinstance(results, list)
    return sum(len(r.get(key) or []) for r in results)


def test_the_shared_reports_are_there() -> None:
    assert len(REPORTS) >= 5, f"expected the real trivy reports in {SHARED / 'trivy-reports'}"


@pytest.mark.parametrize("path", REPORTS, ids=lambda p: p.parent.name + "/" + p.name)
def test_real_report_parses_without_loss(path: Path) -> None:
    data = json.loads(path.read_text())
    report = parse_report(data, str(path))
    assert len(report.vulnerabilities) == _count(data, "Vulnerabilities")
    assert len(report.secrets) == _count(data, "Secrets")
    assert len(report.misconfigurations) == _count(data, "Misconfigurations")
    originals = [v for r in data.get("Results") or [] for v in r.get("Vulnerabilities") or []]
    for vuln, original in zip(report.vulnerabilities, originals, strict=True):
        assert vuln.record == original
        assert (vuln.id, vuln.package, vuln.installed) == (
            original["VulnerabilityID"],
            original["PkgName"],
            original["InstalledVersion"],
        )
        assert vuln.fixed == original.get("FixedVersion", "")
        assert vuln.severity == original["Severity"]
        assert vuln.level.name == original["Severity"].replace("UNKNOWN", "INFO")


def test_juice_shop_figures() -> None:
    path = SHARED / "trivy-reports" / "trivy-sunbekova-juice-shop" / "trivy-report.json"
    report = parse_report(json.loads(path.read_text()), str(path))
    assert report.os == "debian 12.11"
    assert len(report.vulnerabilities) == 71
    by_severity = {s: sum(1 for v in report.vulnerabilities if v.severity == s) for s in ("CRITICAL", "HIGH")}
    assert by_severity == {"CRITICAL": 8, "HIGH": 23}
    assert sum(1 for v in report.vulnerabilities if v.is_fixed) == 53
    assert len(report.secrets) == 4


def test_misconfiguration_and_secret_fields() -> None:
    path = SHARED / "trivy-reports" / "trivy-defectdojo-unittest-samples" / "unittests" / "scans" / "trivy"
    report = parse_report(json.loads((path / "misconfigurations_and_secrets.json").read_text()), "sample")
    (misconfig,) = report.misconfigurations
    assert misconfig.target == "Dockerfile" and misconfig.status == "FAIL" and misconfig.id
    assert {s.target for s in report.secrets} == {"Dockerfile", "secret.txt"}
    assert all(s.rule_id and s.start_line for s in report.secrets)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "not a JSON object"),
        ({"SchemaVersion": 1}, "SchemaVersion 1, expected 2"),
        ({"SchemaVersion": 2, "Results": {"a": 1}}, "not a list of objects"),
        ({"SchemaVersion": 2, "Results": [{"Target": "x", "Vulnerabilities": [{"PkgName": "a"}]}]}, "lacks"),
    ],
)
def test_malformed_report_is_a_scan_error(data: object, message: str) -> None:
    with pytest.raises(ScanError, match=message):
        parse_report(data, "out.json")
