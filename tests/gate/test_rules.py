"""The rule catalog tested through its registry: every rule has a hint, a passing and a failing fixture, and the
failing fixture fires that rule on exactly the objects marked `# expect: <rule id>`, at their source line."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from checks.config import Config, Environment
from checks.finding import Severity
from checks.manifests import parse_rendered
from checks.policies import REGISTRY, evaluate
from checks.policies.rule import Registry, Rule

FIXTURES = Path(__file__).parent / "fixtures"
ENV = Environment(
    name="prod", namespaces=("acme-shop-prod",), hosts=("shop.acme.example",), threshold=Severity.MEDIUM, prod=True
)
CONFIG = Config(registries=("registry.example.net/retail",), environments={"prod": ENV})
# Rules where the kind itself is forbidden: their passing fixture holds the allowed alternative instead.
KIND_IS_THE_VIOLATION = frozenset({"TF-SEC-001", "TF-ISO-002"})
RULE_IDS = sorted(rule.id for rule in REGISTRY)


def _run(rule: Rule, path: Path) -> list[tuple[int | None, str]]:
    rel = path.relative_to(FIXTURES.parent).as_posix()
    objects = parse_rendered(path.read_text(), "prod", rendered_name=rel)
    findings = evaluate(objects, ENV, CONFIG, rules=[rule])
    assert all(f.file == rel and f.rule_id == rule.id and f.severity is rule.severity for f in findings)
    return [(f.line, f.message) for f in findings]


def _expected_lines(path: Path, rule_id: str) -> set[int]:
    lines = path.read_text().splitlines()
    return {i + 2 for i, line in enumerate(lines) if line.strip() == f"# expect: {rule_id}"}


def test_every_fixture_folder_names_a_known_rule() -> None:
    folders = {p.name for p in FIXTURES.iterdir() if p.is_dir()}
    assert folders - set(RULE_IDS) == set(), "fixtures for rules that do not exist"
    assert set(RULE_IDS) - folders == set(), "rules without fixtures"


def test_catalog_covers_every_family_of_the_design() -> None:
    families = {rule.family for rule in REGISTRY}
    expected = {"images", "podsecurity", "resources", "secrets", "isolation", "ingress", "availability", "argocd"}
    assert families == expected
    assert len(REGISTRY) >= 25


@pytest.mark.parametrize("rule_id", RULE_IDS)
def test_rule_is_documented(rule_id: str) -> None:
    rule = REGISTRY.get(rule_id)
    assert rule is not None
    assert re.fullmatch(r"TF-[A-Z]+-\d{3}", rule.id)
    for text in (rule.title, rule.rationale, rule.fix):
        assert text.strip() and "\n" not in text
    assert rule.rationale.endswith(".") and rule.fix.endswith((".", ")", "'"))


@pytest.mark.parametrize("rule_id", RULE_IDS)
def test_failing_fixture_fires_at_the_marked_objects(rule_id: str) -> None:
    rule = REGISTRY.get(rule_id)
    assert rule is not None
    path = FIXTURES / rule_id / "fail.yaml"
    expected = _expected_lines(path, rule_id)
    assert expected, f"{path} marks no object with '# expect: {rule_id}'"
    hits = _run(rule, path)
    assert {line for line, _ in hits} == expected, hits


@pytest.mark.parametrize("rule_id", RULE_IDS)
def test_passing_fixture_is_clean_and_exercises_the_rule(rule_id: str) -> None:
    rule = REGISTRY.get(rule_id)
    assert rule is not None
    passing = FIXTURES / rule_id / "pass.yaml"
    assert _run(rule, passing) == []
    failing = parse_rendered((FIXTURES / rule_id / "fail.yaml").read_text(), "prod")
    kinds = {o.kind for o in parse_rendered(passing.read_text(), "prod")}
    flagged_lines = _expected_lines(FIXTURES / rule_id / "fail.yaml", rule_id)
    assert kinds, "pass.yaml is empty"
    if rule_id not in KIND_IS_THE_VIOLATION:
        assert {o.kind for o in failing if o.line in flagged_lines} <= kinds, (
            "pass.yaml lacks the kinds the rule judges"
        )


def test_registry_refuses_duplicate_ids() -> None:
    rule = next(iter(REGISTRY))
    with pytest.raises(ValueError, match=f"duplicate rule id {rule.id}"):
        Registry([rule, rule])


def test_registry_refuses_a_rule_without_fix_hint() -> None:
    rule = next(iter(REGISTRY))
    broken = Rule(rule.id, rule.severity, rule.title, rule.rationale, "", rule.references, rule.check, rule.family)
    with pytest.raises(ValueError, match="fix hint"):
        Registry([broken])


def test_trivy_checks_map_to_our_rules() -> None:
    aliases = REGISTRY.aliases()
    assert aliases["KSV-0014"] == "TF-POD-003"
    assert aliases["KSV-0013"] == "TF-IMG-003"
    assert aliases["KSV-0012"] == "TF-POD-001"
