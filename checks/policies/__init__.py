"""The bundled policy catalog: one module per rule family, all listed in `FAMILIES`, one `Registry` over them."""

from __future__ import annotations

from collections.abc import Sequence

from checks.config import Config, Environment
from checks.finding import Finding
from checks.manifests import K8sObject
from checks.policies import argocd, availability, images, ingress, isolation, podsecurity, resources, secrets
from checks.policies.rule import Family, Registry, Rule, RuleContext

TOOL = "policy"
FAMILIES: tuple[Family, ...] = (
    images.family,
    podsecurity.family,
    resources.family,
    secrets.family,
    isolation.family,
    ingress.family,
    availability.family,
    argocd.family,
)
REGISTRY = Registry(rule for family in FAMILIES for rule in family.rules)


def evaluate(
    objects: Sequence[K8sObject], env: Environment, config: Config, rules: Sequence[Rule] | None = None
) -> list[Finding]:
    """Run every rule (or `rules`) over one rendered environment."""
    ctx = RuleContext(env=env, config=config, objects=objects)
    findings = []
    for rule in rules if rules is not None else REGISTRY:
        info = rule.info()
        for hit in rule.check(ctx):
            obj = hit.obj
            findings.append(
                Finding(
                    rule_id=rule.id,
                    severity=rule.severity,
                    tool=TOOL,
                    message=hit.message,
                    env=env.name,
                    kind=obj.kind or None,
                    namespace=obj.namespace,
                    name=obj.name or None,
                    file=obj.file,
                    line=obj.line,
                    details={"rule": info},
                )
            )
    return findings


__all__ = ["FAMILIES", "REGISTRY", "Rule", "evaluate"]
