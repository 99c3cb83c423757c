"""What a policy rule is: data (id, severity, rationale, fix, cross-references) plus one small function.

A rule function receives the whole rendered environment (`RuleContext`) and yields `Hit`s; most rules look at one
object at a time and are written with `@per_object`, which does the iteration. Rule ids are stable: never reuse or
renumber one, waivers in tenant repos name them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from checks.config import Config, Environment
from checks.finding import Severity
from checks.manifests import K8sObject

_ID = re.compile(r"^TF-[A-Z]{2,5}-\d{3}$")

WORKLOAD_KINDS = frozenset(
    {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "Pod", "ReplicationController"}
)
LONG_RUNNING_KINDS = frozenset({"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ReplicationController"})


@dataclass(frozen=True)
class RuleContext:
    env: Environment
    config: Config
    objects: Sequence[K8sObject]

    def of_kind(self, *kinds: str) -> Iterator[K8sObject]:
        return (o for o in self.objects if o.kind in kinds)


@dataclass(frozen=True)
class Hit:
    obj: K8sObject
    message: str


RuleCheck = Callable[[RuleContext], Iterable[Hit]]


@dataclass(frozen=True)
class Rule:
    id: str
    severity: Severity
    title: str
    rationale: str
    fix: str
    references: tuple[str, ...]
    check: RuleCheck
    family: str

    def info(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "rationale": self.rationale,
            "fix": self.fix,
            "references": list(self.references),
        }


class Registry:
    """Rules by id; adding a second rule with an id already present is a programming error."""

    def __init__(self, rules: Iterable[Rule] = ()) -> None:
        self._rules: dict[str, Rule] = {}
        for rule in rules:
            self.add(rule)

    def add(self, rule: Rule) -> None:
        if not _ID.match(rule.id):
            raise ValueError(f"rule id {rule.id!r} must look like TF-XXX-000")
        if rule.id in self._rules:
            raise ValueError(f"duplicate rule id {rule.id}")
        if not (rule.title and rule.rationale and rule.fix):
            raise ValueError(f"rule {rule.id} needs a title, a rationale and a fix hint")
        self._rules[rule.id] = rule

    def __iter__(self) -> Iterator[Rule]:
        return iter(self._rules.values())

    def __len__(self) -> int:
        return len(self._rules)

    def __contains__(self, rule_id: object) -> bool:
        return rule_id in self._rules

    def get(self, rule_id: str) -> Rule | None:
        return self._rules.get(rule_id)

    def aliases(self) -> Mapping[str, str]:
        """Cross-referenced trivy check ids (`KSV-0014`) -> our rule id."""
        out: dict[str, str] = {}
        for rule in self:
            for ref in rule.references:
                if ref.startswith(("KSV-", "AVD-")):
                    out.setdefault(ref, rule.id)
        return out


class Family:
    """The rules of one module, collected by the `rule` decorator."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.rules: list[Rule] = []

    def rule(
        self,
        rule_id: str,
        severity: Severity,
        title: str,
        *,
        rationale: str,
        fix: str,
        references: Sequence[str] = (),
    ) -> Callable[[RuleCheck], RuleCheck]:
        def register(check: RuleCheck) -> RuleCheck:
            self.rules.append(Rule(rule_id, severity, title, rationale, fix, tuple(references), check, self.name))
            return check

        return register


ObjectCheck = Callable[[K8sObject, RuleContext], Iterable[str]]


def per_object(*kinds: str) -> Callable[[ObjectCheck], RuleCheck]:
    """Turn `check(obj, ctx) -> messages` into a rule function over the objects of `kinds` (all when empty)."""

    def wrap(check: ObjectCheck) -> RuleCheck:
        def run(ctx: RuleContext) -> Iterator[Hit]:
            for obj in ctx.objects:
                if kinds and obj.kind not in kinds:
                    continue
                for message in check(obj, ctx):
                    yield Hit(obj, message)

        run.__name__ = check.__name__
        run.__doc__ = check.__doc__
        return run

    return wrap


# --- helpers over pod specs -------------------------------------------------------------------------------------


def as_dict(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def dicts(value: Any) -> Iterator[Mapping[str, Any]]:
    """The mappings in a list (anything else in it is ignored: kubeconform reports malformed fields)."""
    return (item for item in as_list(value) if isinstance(item, dict))


def pod_spec(obj: K8sObject) -> Mapping[str, Any] | None:
    """The pod spec inside a workload (Pod, Deployment, ..., CronJob), else None."""
    if obj.kind not in WORKLOAD_KINDS:
        return None
    if obj.kind == "Pod":
        return obj.spec
    spec = obj.spec
    if obj.kind == "CronJob":
        spec = as_dict(as_dict(spec.get("jobTemplate")).get("spec"))
    return as_dict(as_dict(spec.get("template")).get("spec"))


def pod_metadata(obj: K8sObject) -> Mapping[str, Any]:
    if obj.kind == "Pod":
        return obj.metadata
    spec = obj.spec
    if obj.kind == "CronJob":
        spec = as_dict(as_dict(spec.get("jobTemplate")).get("spec"))
    return as_dict(as_dict(spec.get("template")).get("metadata"))


@dataclass(frozen=True)
class Container:
    name: str
    spec: Mapping[str, Any]
    init: bool

    @property
    def label(self) -> str:
        return f"{'init container' if self.init else 'container'} {self.name!r}"

    @property
    def security(self) -> Mapping[str, Any]:
        return as_dict(self.spec.get("securityContext"))


def containers(pod: Mapping[str, Any], *, init: bool = True) -> list[Container]:
    found = [Container(str(as_dict(c).get("name", "?")), as_dict(c), False) for c in as_list(pod.get("containers"))]
    if init:
        found += [
            Container(str(as_dict(c).get("name", "?")), as_dict(c), True) for c in as_list(pod.get("initContainers"))
        ]
    return found


def effective(container: Container, pod: Mapping[str, Any], key: str) -> Any:
    """A securityContext field as it applies to the container: its own value, else the pod's."""
    if key in container.security:
        return container.security[key]
    return as_dict(pod.get("securityContext")).get(key)


def replicas(obj: K8sObject) -> int:
    value = obj.spec.get("replicas", 1)
    return value if isinstance(value, int) and not isinstance(value, bool) else 1
