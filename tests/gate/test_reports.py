"""Every report format from one real failing gate run: SARIF valid against the official 2.1.0 schema, JUnit as
GitLab reads it, Code Quality issues, the versioned JSON report, and text grouped by environment and severity."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest

from checks.finding import Finding, Severity
from checks.gate import GateRequest, GateResult, run_gate
from checks.reports import FORMATS
from tests.conftest import SHARED
from tests.gate import tenant
from tests.helpers import write_tree

SARIF_SCHEMA = SHARED / "schemas" / "sarif-schema-2.1.0.json"
WAIVER = """\
waivers:
  - rule: TF-POD-003
    select: {env: dev}
    reason: the dev image writes its assets at start-up
    owner: platform@acme.example
    expires: 2999-01-01
"""


@pytest.fixture(scope="session")
def failing(tmp_path_factory: pytest.TempPathFactory) -> GateResult:
    files = tenant.files()
    files["base/deployment.yaml"] = (
        files["base/deployment.yaml"]
        .replace("odoo:17.0-20250101", "odoo:latest")
        .replace("readOnlyRootFilesystem: true", "readOnlyRootFilesystem: false")
    )
    files["tenantforge.yml"] = files["tenantforge.yml"].replace("waivers: []\n", WAIVER)
    repo = write_tree(tmp_path_factory.mktemp("failing") / "repo", files)
    return run_gate(GateRequest(repo=repo, schemas_dir=str(SHARED / "crd-schemas")))


def test_the_run_has_failing_and_waived_findings(failing: GateResult) -> None:
    assert failing.exit_code == 1
    assert any(f.waived_by for f in failing.findings)
    assert any(failing.failing(f) for f in failing.findings)


def test_sarif_is_valid_and_complete(failing: GateResult) -> None:
    sarif = json.loads(FORMATS["sarif"](failing, False))
    jsonschema.validate(sarif, json.loads(SARIF_SCHEMA.read_text()))
    (run,) = sarif["runs"]
    rules = {r["id"]: r for r in run["tool"]["driver"]["rules"]}
    img = rules["TF-IMG-003"]
    assert img["shortDescription"]["text"] == "Image uses a floating or missing tag"
    assert "Fix: Use an immutable version tag" in img["help"]["text"]
    assert img["properties"]["security-severity"] == "8.0"
    results = [r for r in run["results"] if r["ruleId"] == "TF-IMG-003"]
    assert len(results) == 1  # prod pins a digest, which freezes even :latest
    location = results[0]["locations"][0]["physicalLocation"]
    assert location == {"artifactLocation": {"uri": "base/deployment.yaml"}, "region": {"startLine": 1}}
    prints = [r["partialFingerprints"]["primaryLocationLineHash"] for r in run["results"]]
    assert len(set(prints)) == len(prints)
    assert prints == [
        r["partialFingerprints"]["primaryLocationLineHash"]
        for r in json.loads(FORMATS["sarif"](failing, False))["runs"][0]["results"]
    ]
    waived = [r for r in run["results"] if r.get("suppressions")]
    assert waived and waived[0]["ruleId"] == "TF-POD-003"
    for r in run["results"]:
        assert rules[r["ruleId"]] == run["tool"]["driver"]["rules"][r["ruleIndex"]]
        assert r["message"]["text"].strip()


def test_junit_has_a_testcase_per_rule_and_object(failing: GateResult) -> None:
    root = ET.fromstring(FORMATS["junit"](failing, False))  # noqa: S314 (our own output)
    suites = {s.get("name"): s for s in root.findall("testsuite")}
    assert set(suites) == {"dev", "prod", "argocd"}
    prod = suites["prod"]
    case = suites["dev"].find("testcase[@name='TF-IMG-003 Deployment/acme-shop-dev/odoo-web']")
    assert case is not None
    assert case.get("classname") == "dev.TF-IMG-003" and case.get("file") == "base/deployment.yaml"
    assert case.find("failure") is not None
    waived = suites["dev"].find("testcase[@name='TF-POD-003 Deployment/acme-shop-dev/odoo-web']")
    assert waived is not None and waived.find("skipped") is not None
    passing = prod.find("testcase[@name='TF-SEC-001 (all objects)']")
    assert passing is not None and len(passing) == 0
    assert int(root.get("failures", "0")) == sum(int(s.get("failures", "0")) for s in suites.values()) > 0


def test_code_quality_issues(failing: GateResult) -> None:
    text = FORMATS["codequality"](failing, False)
    assert not text.startswith("\ufeff")
    issues = json.loads(text)
    assert isinstance(issues, list) and issues
    for issue in issues:
        assert set(issue) >= {"description", "check_name", "fingerprint", "severity", "location"}
        assert issue["severity"] in {"info", "minor", "major", "critical", "blocker"}
        assert issue["location"]["path"] and issue["location"]["lines"]["begin"] >= 1
    assert len({i["fingerprint"] for i in issues}) == len(issues)
    assert not [i for i in issues if i["check_name"] == "TF-POD-003" and "[dev]" in i["description"]]


def test_json_report_is_versioned_and_documented(failing: GateResult) -> None:
    report = json.loads(FORMATS["json"](failing, False))
    assert (report["schema"], report["version"]) == ("tenantforge/gate-report", 1)
    assert report["status"] == "failed" and report["exit_code"] == 1
    assert report["summary"] == failing.summary()
    assert report["environments"][0] == {"name": "dev", "threshold": "high"}
    documented = (Path(__file__).parents[2] / "docs" / "gate-report.md").read_text()
    for key in [*report, *report["findings"][0], *report["counts"]]:
        assert f"`{key}`" in documented, key


def test_text_groups_by_environment_then_severity(failing: GateResult) -> None:
    text = FORMATS["text"](failing, False)
    lines = text.splitlines()
    headers = [ln for ln in lines if not ln.startswith(" ")]
    assert headers.index("dev (fails at high+)") < headers.index("prod (fails at medium+)")
    dev = lines[lines.index("dev (fails at high+)") :]
    assert dev.index("  HIGH") < dev.index("  MEDIUM")
    assert "\x1b[" not in text
    assert any(ln.startswith("    waived TF-POD-003 Deployment/acme-shop-dev/odoo-web") for ln in lines)
    assert lines[-1] == failing.summary()
    coloured = FORMATS["text"](failing, True)
    assert "\x1b[" in coloured


def test_junit_reports_a_stage_that_could_not_run_as_an_error() -> None:
    broken = Finding(rule_id="TF-GATE-TOOL", severity=Severity.CRITICAL, tool="trivy-config", message="trivy exited 2")
    result = GateResult(findings=(broken,), envs=("dev",), exit_code=2, thresholds={"dev": Severity.HIGH})
    root = ET.fromstring(FORMATS["junit"](result, False))  # noqa: S314 (our own output)
    assert root.get("errors") == "1" and root.get("failures") == "0"
    (error,) = root.iter("error")
    assert error.get("message") == "trivy exited 2"
