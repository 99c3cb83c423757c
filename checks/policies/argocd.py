"""Argo CD: the tenant's AppProject fences what it may deploy and where; Applications never use `default`."""

from __future__ import annotations

from collections.abc import Iterator

from checks.finding import Severity
from checks.manifests import K8sObject
from checks.policies.rule import Family, RuleContext, as_list, dicts, per_object

family = Family("argocd")


def _is_argo(obj: K8sObject) -> bool:
    return obj.group == "argoproj.io"


@family.rule(
    "TF-ARGO-001",
    Severity.HIGH,
    "AppProject allows any source repository or destination",
    rationale="A wildcard project lets one tenant's Application deploy from any repo into any namespace or cluster.",
    fix="List exactly the tenant repo in `sourceRepos` and the tenant's server + namespaces in `destinations`.",
)
@per_object("AppProject")
def project_restricted(obj: K8sObject, ctx: RuleContext) -> Iterator[str]:
    if not _is_argo(obj):
        return
    repos = [str(r) for r in as_list(obj.spec.get("sourceRepos"))]
    if not repos:
        yield "sourceRepos is empty (nothing can sync) — list the tenant repository"
    for repo in repos:
        if "*" in repo:
            yield f"sourceRepos allows {repo!r}"
    destinations = list(dicts(obj.spec.get("destinations")))
    if not destinations:
        yield "destinations is empty — list the tenant's server and namespaces"
    for i, dest in enumerate(destinations):
        for key in ("server", "name", "namespace"):
            value = dest.get(key)
            if isinstance(value, str) and "*" in value:
                yield f"destinations[{i}].{key} allows {value!r}"
        if "namespace" not in dest:
            yield f"destinations[{i}] has no namespace (any namespace allowed)"


@family.rule(
    "TF-ARGO-002",
    Severity.HIGH,
    "AppProject may create cluster-scoped resources",
    rationale="Cluster-scoped objects (ClusterRoles, CRDs, Namespaces) belong to the platform, never to a tenant.",
    fix="Set `clusterResourceWhitelist: []` in the tenant AppProject.",
)
@per_object("AppProject")
def no_cluster_resources(obj: K8sObject, ctx: RuleContext) -> Iterator[str]:
    if not _is_argo(obj):
        return
    for entry in dicts(obj.spec.get("clusterResourceWhitelist")):
        yield f"clusterResourceWhitelist allows {entry.get('group', '')!s}/{entry.get('kind', '')!s}"


@family.rule(
    "TF-ARGO-003",
    Severity.HIGH,
    "Application in the default project",
    rationale="The `default` project allows everything: the tenant's fences would not apply.",
    fix="Set `spec.project` to the tenant's AppProject.",
)
@per_object("Application")
def not_default_project(obj: K8sObject, ctx: RuleContext) -> Iterator[str]:
    if not _is_argo(obj):
        return
    project = obj.spec.get("project")
    if not project or project == "default":
        yield f"Application {obj.name!r} uses project {project or '(unset)'!r}"
