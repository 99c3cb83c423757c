"""Availability: disruption budgets for replicated workloads; in prod, redundancy and restorable databases."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from checks.finding import Severity
from checks.manifests import K8sObject
from checks.policies.rule import (
    Family,
    Hit,
    RuleContext,
    as_dict,
    dicts,
    per_object,
    pod_metadata,
    replicas,
)
from checks.selectors import label_selector_matches

family = Family("availability")

SCALED_KINDS = ("Deployment", "StatefulSet")
SINGLETON_ANNOTATION = "tenantforge.io/singleton"


def _is_cnpg(obj: K8sObject) -> bool:
    return obj.kind == "Cluster" and obj.group == "postgresql.cnpg.io"


def _hpa_min(ctx: RuleContext, obj: K8sObject) -> int | None:
    for hpa in ctx.of_kind("HorizontalPodAutoscaler"):
        target = as_dict(hpa.spec.get("scaleTargetRef"))
        if hpa.namespace == obj.namespace and target.get("kind") == obj.kind and target.get("name") == obj.name:
            value = hpa.spec.get("minReplicas", 1)
            return value if isinstance(value, int) else 1
    return None


def _planned_replicas(ctx: RuleContext, obj: K8sObject) -> int:
    minimum = _hpa_min(ctx, obj)
    return minimum if minimum is not None else replicas(obj)


@family.rule(
    "TF-AVL-001",
    Severity.MEDIUM,
    "Replicated workload without a PodDisruptionBudget",
    rationale="Without a PDB a node drain can evict every replica at once and take the shop down.",
    fix="Add a PodDisruptionBudget (minAvailable: 1 or maxUnavailable: 1) selecting the workload's pods.",
    references=("kube-score deployment-has-poddisruptionbudget", "kube-linter no-pod-disruption-budget"),
)
def pdb_for_replicated(ctx: RuleContext) -> Iterator[Hit]:
    selectors: dict[str | None, list[Mapping[str, Any]]] = {}
    for budget in ctx.of_kind("PodDisruptionBudget"):
        selector = as_dict(budget.spec.get("selector"))
        if selector:
            selectors.setdefault(budget.namespace, []).append(selector)
    for obj in ctx.of_kind(*SCALED_KINDS):
        if _planned_replicas(ctx, obj) < 2 and _hpa_min(ctx, obj) is None:
            continue
        labels = as_dict(pod_metadata(obj).get("labels"))
        covered = any(label_selector_matches(s, labels) for s in selectors.get(obj.namespace, ()))
        if not covered:
            yield Hit(obj, f"{obj.kind} {obj.name!r} runs several replicas but no PodDisruptionBudget selects its pods")


def _declared_singleton(obj: K8sObject) -> bool:
    """Must never run two copies: said with an annotation, or by a Deployment that even rolls out with Recreate."""
    if str(obj.annotations.get(SINGLETON_ANNOTATION, "")).strip():
        return True
    return obj.kind == "Deployment" and as_dict(obj.spec.get("strategy")).get("type") == "Recreate"


@family.rule(
    "TF-AVL-002",
    Severity.HIGH,
    "Prod workload runs a single replica",
    rationale="One replica means every rollout, eviction or crash is an outage for the shop.",
    fix="Set replicas >= 2 (or an HPA with minReplicas >= 2) in the prod overlay; a workload that must never run "
    "twice (Odoo cron) says so with `strategy: {type: Recreate}` or the annotation "
    f"{SINGLETON_ANNOTATION}: '<reason>'.",
    references=("kube-score deployment-replicas",),
)
@per_object(*SCALED_KINDS)
def prod_replicas(obj: K8sObject, ctx: RuleContext) -> Iterator[str]:
    if not ctx.env.prod or _declared_singleton(obj):
        return
    planned = _planned_replicas(ctx, obj)
    if planned < 2:
        yield f"{obj.kind} {obj.name!r} runs {planned} replica(s) in prod"


@family.rule(
    "TF-AVL-003",
    Severity.HIGH,
    "Prod database has a single instance",
    rationale="A single PostgreSQL instance turns a node failure into downtime and, without a replica, data loss.",
    fix="Set `spec.instances: 2` (or more) on the CloudNativePG Cluster in the prod overlay.",
)
@per_object("Cluster")
def prod_db_instances(obj: K8sObject, ctx: RuleContext) -> Iterator[str]:
    if not ctx.env.prod or not _is_cnpg(obj):
        return
    instances = obj.spec.get("instances", 1)
    if not isinstance(instances, int) or instances < 2:
        yield f"CloudNativePG Cluster {obj.name!r} has {instances} instance(s) in prod"


def _archives_wal(cluster: K8sObject) -> bool:
    if as_dict(cluster.spec.get("backup")).get("barmanObjectStore"):
        return True
    return any(p.get("isWALArchiver") is True for p in dicts(cluster.spec.get("plugins")))


@family.rule(
    "TF-AVL-004",
    Severity.HIGH,
    "Prod database without WAL archiving and scheduled backups",
    rationale="Without WAL archiving and base backups there is no point-in-time recovery after a bad migration.",
    fix="Add the barman-cloud plugin with isWALArchiver: true (ObjectStore) and a ScheduledBackup for the cluster.",
)
def prod_db_backups(ctx: RuleContext) -> Iterator[Hit]:
    if not ctx.env.prod:
        return
    scheduled = {
        (b.namespace, str(as_dict(b.spec.get("cluster")).get("name")))
        for b in ctx.of_kind("ScheduledBackup")
        if b.group == "postgresql.cnpg.io"
    }
    for cluster in ctx.of_kind("Cluster"):
        if not _is_cnpg(cluster):
            continue
        if not _archives_wal(cluster):
            yield Hit(cluster, f"CloudNativePG Cluster {cluster.name!r} does not archive WAL")
        if (cluster.namespace, cluster.name) not in scheduled:
            yield Hit(cluster, f"no ScheduledBackup for CloudNativePG Cluster {cluster.name!r}")
