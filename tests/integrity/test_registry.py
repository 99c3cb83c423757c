"""The integrity rule registry: ids well-formed and unique, each documented and exercised by a failing fixture."""

from __future__ import annotations

import re
from pathlib import Path

from checks.integrity.rules import RULES

ROOT = Path(__file__).resolve().parents[2]


def test_every_rule_is_documented_in_docs_integrity() -> None:
    doc = (ROOT / "docs" / "integrity.md").read_text()
    for rule in RULES.values():
        row = f"| `{rule.id}` | {rule.severity.label} | {rule.tool} | {rule.title} |"
        assert row in doc, f"{rule.id} is missing or stale in docs/integrity.md"
    documented = set(re.findall(r"`(TF-(?:REF|NET|ODOO|ROUTE)-\d{3})`", doc))
    assert documented == set(RULES)


def test_every_rule_but_the_informational_one_has_a_failing_fixture() -> None:
    tests = "".join(p.read_text() for p in (ROOT / "tests").rglob("test_*.py") if p.name != "test_registry.py")
    untested = [rid for rid, rule in RULES.items() if rule.severity.label != "info" and f'"{rid}"' not in tests]
    assert untested == []
