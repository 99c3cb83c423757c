"""Isolation: the tenant stays in its namespaces, owns nothing cluster-wide, and is fenced by NetworkPolicies."""

from __future__ import annotations

from collections.abc import Iterator

from checks.finding import Severity
from checks.manifests import K8sObject
from checks.policies.rule import (
    WORKLOAD_KINDS,
    Family,
    Hit,
    RuleContext,
    as_dict,
    as_list,
    per_object,
)

family = Family("isolation")


@family.rule(
    "TF-ISO-001",
    Severity.HIGH,
    "Object outside the tenant's namespaces",
    rationale="An object without a namespace lands wherever Argo CD points; one in a foreign namespace escapes the "
    "tenant's quota and policies.",
    fix="Set `namespace:` in the overlay's kustomization.yaml to one of the environment's `namespaces`.",
    references=("KSV-0110",),
)
@per_object()
def in_tenant_namespace(obj: K8sObject, ctx: RuleContext) -> Iterator[str]:
    if obj.cluster_scoped:
        return
    if obj.namespace is None:
        yield f"{obj.kind} {obj.name!r} has no namespace"
    elif ctx.env.namespaces and obj.namespace not in ctx.env.namespaces:
        yield f"namespace {obj.namespace!r} is not one of {', '.join(ctx.env.namespaces)}"


@family.rule(
    "TF-ISO-002",
    Severity.HIGH,
    "Cluster-scoped object in a tenant overlay",
    rationale="Cluster-scoped objects affect every tenant; the tenant AppProject may not create them.",
    fix="Move it to the platform repository (Argo CD creates the namespace with CreateNamespace=true).",
)
@per_object()
def no_cluster_scoped(obj: K8sObject, ctx: RuleContext) -> Iterator[str]:
    if obj.cluster_scoped:
        yield f"{obj.kind} {obj.name!r} is cluster-scoped"


def _policy_types(policy: K8sObject) -> set[str]:
    types = {str(t) for t in as_list(policy.spec.get("policyTypes"))}
    if not types:
        types = {"Ingress"} | ({"Egress"} if "egress" in policy.spec else set())
    return types


def _is_default_deny(policy: K8sObject) -> bool:
    spec = policy.spec
    return (
        not as_dict(spec.get("podSelector")) and "Ingress" in _policy_types(policy) and not as_list(spec.get("ingress"))
    )


@family.rule(
    "TF-ISO-003",
    Severity.HIGH,
    "Namespace without a default-deny NetworkPolicy",
    rationale="Without a default deny every pod of every tenant on the cluster can reach the tenant's pods.",
    fix="Add a NetworkPolicy with `podSelector: {}`, `policyTypes: [Ingress, Egress]` and no rules, then allow "
    "the flows Odoo needs explicitly.",
    references=("kube-linter non-isolated-pod", "CKV_K8S_7"),
)
def default_deny(ctx: RuleContext) -> Iterator[Hit]:
    denied = {p.namespace for p in ctx.of_kind("NetworkPolicy") if _is_default_deny(p)}
    reported: set[str | None] = set()
    for obj in ctx.objects:
        if obj.kind not in WORKLOAD_KINDS or obj.namespace in denied or obj.namespace in reported:
            continue
        reported.add(obj.namespace)
        yield Hit(obj, f"namespace {obj.namespace or '(none)'} has workloads but no default-deny NetworkPolicy")
