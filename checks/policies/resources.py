"""Resources: requests and limits on every container, probes on long-running ones."""

from __future__ import annotations

import re
from collections.abc import Iterator
from decimal import Decimal

from checks.finding import Severity
from checks.manifests import K8sObject
from checks.policies.rule import LONG_RUNNING_KINDS, Family, RuleContext, as_dict, containers, per_object, pod_spec

family = Family("resources")


@family.rule(
    "TF-RES-001",
    Severity.MEDIUM,
    "Container without CPU and memory requests",
    rationale="Without requests the scheduler overcommits the node and the tenant's ResourceQuota cannot work.",
    fix="Set `resources.requests.cpu` and `resources.requests.memory` on every container (the overlay patches sizes).",
    references=("CKV_K8S_10", "CKV_K8S_12", "KSV-0015", "KSV-0016", "kube-linter unset-cpu-requirements"),
)
@per_object()
def requests_set(obj: K8sObject, ctx: RuleContext) -> Iterator[str]:
    pod = pod_spec(obj)
    if pod is None:
        return
    for c in containers(pod):
        requests = as_dict(as_dict(c.spec.get("resources")).get("requests"))
        missing = [k for k in ("cpu", "memory") if k not in requests]
        if missing:
            yield f"{c.label} has no {' or '.join(missing)} request"


@family.rule(
    "TF-RES-002",
    Severity.MEDIUM,
    "Container without CPU and memory limits",
    rationale="A container without limits can starve its neighbours on a shared node; Odoo leaks memory under load.",
    fix="Set `resources.limits.cpu` and `resources.limits.memory` on every container.",
    references=("CKV_K8S_11", "CKV_K8S_13", "KSV-0011", "KSV-0018", "kube-linter unset-memory-requirements"),
)
@per_object()
def limits_set(obj: K8sObject, ctx: RuleContext) -> Iterator[str]:
    pod = pod_spec(obj)
    if pod is None:
        return
    for c in containers(pod):
        limits = as_dict(as_dict(c.spec.get("resources")).get("limits"))
        missing = [k for k in ("cpu", "memory") if k not in limits]
        if missing:
            yield f"{c.label} has no {' or '.join(missing)} limit"


@family.rule(
    "TF-RES-003",
    Severity.MEDIUM,
    "Long-running container without readiness and liveness probes",
    rationale="Without probes a hung Odoo worker keeps receiving traffic and is never restarted.",
    fix="Add a readinessProbe and a livenessProbe (httpGet /web/health for web, exec for cron); use a startupProbe "
    "for slow module updates.",
    references=("CKV_K8S_8", "CKV_K8S_9", "kube-linter no-liveness-probe", "kube-linter no-readiness-probe"),
)
@per_object(*LONG_RUNNING_KINDS)
def probes_set(obj: K8sObject, ctx: RuleContext) -> Iterator[str]:
    pod = pod_spec(obj)
    if pod is None:
        return
    for c in containers(pod, init=False):
        missing = [p for p in ("readinessProbe", "livenessProbe") if not c.spec.get(p)]
        if missing:
            yield f"{c.label} has no {' or '.join(missing)}"


_QUANTITY = re.compile(r"^([+-]?(?:\d+\.?\d*|\.\d+))(?:([eE][+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E))?$")
_SUFFIX = {
    **{s: Decimal(1024) ** (i + 1) for i, s in enumerate(("Ki", "Mi", "Gi", "Ti", "Pi", "Ei"))},
    **{"n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3")},
    **{s: Decimal(1000) ** (i + 1) for i, s in enumerate(("k", "M", "G", "T", "P", "E"))},
}


def quantity(value: object) -> Decimal | None:
    """A Kubernetes resource quantity (`250m`, `1.5Gi`, `2e3`, `4`) as a number; None if it is not one."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    match = _QUANTITY.match(str(value).strip())
    if match is None:
        return None
    number, exponent, suffix = match.groups()
    if exponent:
        return Decimal(number + exponent)
    return Decimal(number) * _SUFFIX.get(suffix or "", Decimal(1))


@family.rule(
    "TF-RES-004",
    Severity.HIGH,
    "Container requests more than its limit",
    rationale="The API server rejects a pod whose request exceeds its limit, so the rollout fails at apply time.",
    fix="Lower `resources.requests` or raise `resources.limits` so that every request is at most its limit.",
    references=("Kubernetes resource management: requests must not exceed limits",),
)
@per_object()
def requests_within_limits(obj: K8sObject, ctx: RuleContext) -> Iterator[str]:
    pod = pod_spec(obj)
    if pod is None:
        return
    for c in containers(pod):
        resources = as_dict(c.spec.get("resources"))
        requests, limits = as_dict(resources.get("requests")), as_dict(resources.get("limits"))
        for name in sorted(set(requests) & set(limits)):
            request, limit = quantity(requests[name]), quantity(limits[name])
            if request is not None and limit is not None and request > limit:
                yield f"{c.label} requests {name} {requests[name]} above its limit {limits[name]}"
