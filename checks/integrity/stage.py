"""The integrity stages as the gate runs them over one rendered environment.

References, NetworkPolicy reachability and Odoo configuration are pure and fast and always run; the Traefik stage
starts real processes and runs when asked (`tenantforge check --routes`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from checks.config import Config, Environment
from checks.finding import Finding
from checks.integrity.model import Obj, Rendered
from checks.integrity.netpol import Platform, check_network_policies
from checks.integrity.odooconf import check_odoo_config
from checks.integrity.references import check_references
from checks.integrity.routes import RouteRow, check_routes
from checks.integrity.rules import RULES
from checks.manifests import K8sObject

TOOLS = frozenset(rule.tool for rule in RULES.values())


@dataclass
class IntegrityResult:
    findings: list[Finding] = field(default_factory=list)
    routes: list[RouteRow] = field(default_factory=list)
    checks: int = 0


def rendered_env(objects: Sequence[K8sObject], env: str) -> Rendered:
    return Rendered((Obj(o.doc, o.file, o.line) for o in objects), env)


def evaluate(
    objects: Sequence[K8sObject], env: Environment, config: Config, *, routes: bool = False
) -> IntegrityResult:
    """Run the integrity stages over one environment. The Traefik stage raises `GateError` when it cannot run."""
    rendered = rendered_env(objects, env.name)
    result = IntegrityResult()
    result.findings += check_references(rendered, config.platform_secrets)
    result.findings += check_network_policies(rendered, Platform.from_config(config.platform))
    result.findings += check_odoo_config(rendered)
    result.checks = sum(1 for r in RULES.values() if r.tool != "traefik")
    if routes:
        outcome = check_routes(rendered, hosts=env.hosts)
        result.findings += outcome.findings
        result.routes = outcome.rows
        result.checks += len(outcome.rows)
    return result
