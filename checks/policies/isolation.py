"""Isolation: the tenant stays in its namespaces, owns nothing cluster-wide, and is fenced by NetworkPolicies."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

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
    pod_metadata,
    selector_matches,
)

family = Family("isolation")

DATABASE_LABELS = ("cnpg.io/cluster",)
REDIS_NAMES = frozenset({"redis", "valkey"})


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


def _pod_labels(obj: K8sObject) -> Mapping[str, Any]:
    return as_dict(pod_metadata(obj).get("labels"))


def _is_protected(labels: Mapping[str, Any]) -> str | None:
    if any(k in labels for k in DATABASE_LABELS):
        return "database"
    name = str(labels.get("app.kubernetes.io/name") or labels.get("app") or "")
    if name in REDIS_NAMES:
        return "Redis"
    return None


def _peer_is_open(peer: Mapping[str, Any]) -> str | None:
    if "ipBlock" in peer:
        return f"ipBlock {as_dict(peer['ipBlock']).get('cidr', '?')}"
    if "namespaceSelector" in peer and "podSelector" not in peer:
        return "every pod of the selected namespaces"
    if "podSelector" in peer and not as_dict(peer["podSelector"]):
        return "every pod of the namespace"
    return None


@family.rule(
    "TF-ISO-004",
    Severity.HIGH,
    "Database or Redis reachable from more than the Odoo pods",
    rationale="The database and Redis hold every customer record and session; only Odoo (and the CNPG operator) "
    "may connect.",
    fix="Give the NetworkPolicy that selects the database/Redis pods ingress rules whose `from` lists the Odoo pods "
    "by podSelector (plus the cnpg-system operator for the database).",
)
def database_fenced(ctx: RuleContext) -> Iterator[Hit]:
    protected = [o for o in ctx.objects if _is_protected(_pod_labels(o))]
    cnpg_clusters = [o for o in ctx.objects if o.kind == "Cluster" and o.group == "postgresql.cnpg.io"]
    for policy in ctx.of_kind("NetworkPolicy"):
        selector = as_dict(policy.spec.get("podSelector"))
        if not selector:
            continue
        targets = [
            o for o in protected if o.namespace == policy.namespace and selector_matches(selector, _pod_labels(o))
        ]
        selects_cnpg = any(k in as_dict(selector.get("matchLabels")) for k in DATABASE_LABELS) and any(
            c.namespace == policy.namespace for c in cnpg_clusters
        )
        if not targets and not selects_cnpg:
            continue
        what = _is_protected(_pod_labels(targets[0])) if targets else "database"
        for i, rule in enumerate(as_list(policy.spec.get("ingress"))):
            peers = as_list(as_dict(rule).get("from"))
            if not peers:
                yield Hit(policy, f"ingress[{i}] lets any source reach the {what} pods")
                continue
            for peer in peers:
                reason = _peer_is_open(as_dict(peer))
                if reason and not _is_operator(as_dict(peer)):
                    yield Hit(policy, f"ingress[{i}] lets {reason} reach the {what} pods")


def _is_operator(peer: Mapping[str, Any]) -> bool:
    ns_labels = as_dict(as_dict(peer.get("namespaceSelector")).get("matchLabels"))
    pod_labels = as_dict(as_dict(peer.get("podSelector")).get("matchLabels"))
    return (
        ns_labels.get("kubernetes.io/metadata.name") == "cnpg-system"
        or pod_labels.get("app.kubernetes.io/name") == "cloudnative-pg"
    )
