"""JUnit XML as GitLab reads it: a suite per environment, one testcase per rule x object that has findings, and
one passing testcase per rule that found nothing there. The exit code, not this file, fails the job."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import defaultdict

from checks.finding import Finding
from checks.gate import UNDECIDABLE, GateResult
from checks.reports.common import rule_info


def render(result: GateResult, color: bool = False) -> str:
    suites = ET.Element("testsuites", name="tenantforge gate")
    by_env: dict[str, list[Finding]] = defaultdict(list)
    for f in result.findings:
        by_env[f.env or "gate"].append(f)
    envs = list(result.envs) + [e for e in by_env if e not in result.envs]
    total = failures = errors = skipped = 0
    for env in envs:
        suite = ET.SubElement(suites, "testsuite", name=env)
        cases: dict[tuple[str, str], list[Finding]] = defaultdict(list)
        for f in by_env.get(env, []):
            cases[(f.rule_id, f.resource or f.file or "")].append(f)
        n_fail = n_err = n_skip = 0
        for (rule_id, resource), items in cases.items():
            first = items[0]
            case = ET.SubElement(suite, "testcase", classname=f"{env}.{rule_id}", name=f"{rule_id} {resource}".strip())
            if first.file:
                case.set("file", first.file)
            body = "\n".join(
                f"{f.severity.label} {f.file or ''}{':' + str(f.line) if f.line else ''}: {f.message}" for f in items
            )
            if all(f.waived_by for f in items):
                ET.SubElement(case, "skipped", message=f"waived by {first.waived_by}")
                n_skip += 1
            elif any(result.failing(f) for f in items):
                could_not_run = first.rule_id in UNDECIDABLE
                fix = rule_info(first).get("fix") or ""
                node = ET.SubElement(
                    case, "error" if could_not_run else "failure", message=first.message, type=first.severity.label
                )
                node.text = body + (f"\nfix: {fix}" if fix else "")
                n_err += int(could_not_run)
                n_fail += int(not could_not_run)
            else:
                ET.SubElement(case, "system-out").text = body
        tested = {rule for rule, _ in cases}
        for rule_id in sorted(result_rules() - tested) if env in result.envs else ():
            ET.SubElement(suite, "testcase", classname=f"{env}.{rule_id}", name=f"{rule_id} (all objects)")
        count = len(suite.findall("testcase"))
        suite.set("tests", str(count))
        suite.set("failures", str(n_fail))
        suite.set("errors", str(n_err))
        suite.set("skipped", str(n_skip))
        total += count
        failures += n_fail
        errors += n_err
        skipped += n_skip
    suites.set("tests", str(total))
    suites.set("failures", str(failures))
    suites.set("errors", str(errors))
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"


def result_rules() -> set[str]:
    from checks.policies import REGISTRY

    return {rule.id for rule in REGISTRY}
