"""The rendered objects of one environment, and the Kubernetes semantics every integrity check needs.

Checks here read `kustomize build` output only: what the cluster would receive. Objects are plain parsed YAML
documents; `Obj` adds typed access and the source position when the renderer knows it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

# Kinds whose spec carries a pod template, and where it sits.
_TEMPLATE_PATHS: Mapping[str, tuple[str, ...]] = {
    "Deployment": ("spec", "template"),
    "StatefulSet": ("spec", "template"),
    "DaemonSet": ("spec", "template"),
    "ReplicaSet": ("spec", "template"),
    "Job": ("spec", "template"),
    "CronJob": ("spec", "jobTemplate", "spec", "template"),
}
CNPG_GROUP = "postgresql.cnpg.io"
# `$(VAR)` in command/args is replaced by the container's env var VAR; `$$` escapes a dollar.
_VAR_REF = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")
# What the CloudNativePG operator gives every instance pod (labels and container ports), so policies and monitors
# that select instances can be checked against something.
CNPG_INSTANCE_PORTS: Mapping[str, int] = {"postgresql": 5432, "metrics": 9187, "status": 8000}


def dig(node: Any, *path: str | int) -> Any:
    """`node[path[0]][path[1]]…`, or None as soon as a step is missing or of the wrong type."""
    for step in path:
        if isinstance(step, int):
            if not isinstance(node, list) or step >= len(node):
                return None
        elif not isinstance(node, Mapping):
            return None
        node = node[step] if isinstance(step, int) else node.get(step)
    return node


def as_list(node: Any) -> list[Any]:
    return node if isinstance(node, list) else []


def as_map(node: Any) -> Mapping[str, Any]:
    return node if isinstance(node, Mapping) else {}


def str_map(node: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in as_map(node).items()}


@dataclass(frozen=True)
class Obj:
    """One rendered Kubernetes object."""

    doc: Mapping[str, Any]
    file: str | None = None
    line: int | None = None

    @property
    def api_version(self) -> str:
        return str(self.doc.get("apiVersion") or "")

    @property
    def group(self) -> str:
        return self.api_version.split("/")[0] if "/" in self.api_version else ""

    @property
    def kind(self) -> str:
        return str(self.doc.get("kind") or "")

    @property
    def name(self) -> str:
        return str(dig(self.doc, "metadata", "name") or "")

    @property
    def namespace(self) -> str:
        return str(dig(self.doc, "metadata", "namespace") or "")

    @property
    def labels(self) -> dict[str, str]:
        return str_map(dig(self.doc, "metadata", "labels"))

    @property
    def annotations(self) -> dict[str, str]:
        return str_map(dig(self.doc, "metadata", "annotations"))

    @property
    def spec(self) -> Mapping[str, Any]:
        return as_map(self.doc.get("spec"))

    @property
    def ref(self) -> str:
        return f"{self.kind}/{self.name}"


@dataclass(frozen=True)
class Container:
    name: str
    spec: Mapping[str, Any]

    @property
    def image(self) -> str:
        return str(self.spec.get("image") or "")

    @property
    def ports(self) -> dict[str, int]:
        """Named container ports (`{name: number}`); unnamed ports are listed under their number."""
        found: dict[str, int] = {}
        for port in as_list(self.spec.get("ports")):
            number = dig(port, "containerPort")
            if isinstance(number, int):
                found[str(dig(port, "name") or number)] = number
        return found

    @property
    def args(self) -> list[str]:
        """command + args with `$(VAR)` references expanded from the container's literal env, as the kubelet does."""
        env = {
            str(dig(e, "name")): str(dig(e, "value"))
            for e in as_list(self.spec.get("env"))
            if dig(e, "value") is not None
        }
        return [
            _VAR_REF.sub(lambda m: "$" if m.group(0) == "$$" else env.get(m.group(1), m.group(0)), str(a))
            for a in (*as_list(self.spec.get("command")), *as_list(self.spec.get("args")))
        ]


@dataclass(frozen=True)
class PodTemplate:
    """The pods a workload would create: their labels, spec and how many of them at most."""

    owner: Obj
    labels: dict[str, str]
    spec: Mapping[str, Any]
    replicas: int
    synthetic_ports: Mapping[str, int] = field(default_factory=dict)

    @property
    def namespace(self) -> str:
        return self.owner.namespace

    @property
    def containers(self) -> list[Container]:
        return [
            Container(str(dig(c, "name") or f"#{i}"), as_map(c))
            for key in ("initContainers", "containers")
            for i, c in enumerate(as_list(self.spec.get(key)))
        ]

    @property
    def ports(self) -> dict[str, int]:
        """Every port the pod's containers declare, by name (and unnamed ones by number)."""
        found = dict(self.synthetic_ports)
        for container in self.containers:
            found.update(container.ports)
        return found

    def has_port(self, port: int | str, protocol: str = "TCP") -> bool:
        if isinstance(port, str) and not port.isdigit():
            return port in self.ports
        return int(port) in self.ports.values()

    def resolve_port(self, port: int | str) -> int | None:
        if isinstance(port, int):
            return port
        if port.isdigit():
            return int(port)
        return self.ports.get(port)


def map_selector_matches(selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    """A Service-style equality selector; an empty one selects nothing (the Service gets no endpoints)."""
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


class Rendered:
    """The objects one environment renders to, indexed the ways the checks look them up."""

    def __init__(self, objects: Iterable[Obj], env: str | None = None) -> None:
        self.objects: tuple[Obj, ...] = tuple(o for o in objects if o.kind)
        self.env = env
        self._pods: list[PodTemplate] | None = None

    @classmethod
    def from_docs(cls, docs: Iterable[Mapping[str, Any]], env: str | None = None) -> Rendered:
        return cls((Obj(d) for d in docs if isinstance(d, Mapping)), env)

    def __iter__(self) -> Iterator[Obj]:
        return iter(self.objects)

    def of_kind(self, *kinds: str, group: str | None = None) -> list[Obj]:
        return [o for o in self.objects if o.kind in kinds and (group is None or o.group == group)]

    def get(self, kind: str, namespace: str, name: str, group: str | None = None) -> Obj | None:
        for obj in self.of_kind(kind, group=group):
            if obj.name == name and obj.namespace == namespace:
                return obj
        return None

    @property
    def namespaces(self) -> list[str]:
        """The namespaces the tenant's objects live in, in first-seen order."""
        seen: dict[str, None] = {}
        for obj in self.objects:
            if obj.namespace:
                seen.setdefault(obj.namespace)
        return list(seen)

    def namespace_labels(self, namespace: str) -> dict[str, str]:
        labels = {"kubernetes.io/metadata.name": namespace}
        for obj in self.of_kind("Namespace"):
            if obj.name == namespace:
                labels.update(obj.labels)
        return labels

    @property
    def pods(self) -> list[PodTemplate]:
        """Pod templates of every workload, plus the instance pods CloudNativePG creates for each Cluster."""
        if self._pods is None:
            self._pods = [*self._workload_pods(), *self._cnpg_pods()]
        return self._pods

    def _workload_pods(self) -> Iterator[PodTemplate]:
        for obj in self.objects:
            if obj.kind == "Pod":
                yield PodTemplate(obj, obj.labels, obj.spec, 1)
                continue
            path = _TEMPLATE_PATHS.get(obj.kind)
            if path is None or obj.group not in {"apps", "batch"}:
                continue
            template = as_map(dig(obj.doc, *path))
            replicas = dig(obj.doc, "spec", "replicas")
            yield PodTemplate(
                obj,
                str_map(dig(template, "metadata", "labels")),
                as_map(template.get("spec")),
                replicas if isinstance(replicas, int) else 1,
            )

    def _cnpg_pods(self) -> Iterator[PodTemplate]:
        for cluster in self.of_kind("Cluster", group=CNPG_GROUP):
            labels = {
                "cnpg.io/cluster": cluster.name,
                "cnpg.io/podRole": "instance",
                **str_map(dig(cluster.spec, "inheritedMetadata", "labels")),
            }
            instances = cluster.spec.get("instances")
            yield PodTemplate(
                cluster,
                labels,
                {},
                instances if isinstance(instances, int) else 1,
                synthetic_ports=CNPG_INSTANCE_PORTS,
            )

    def pods_in(self, namespace: str) -> list[PodTemplate]:
        return [p for p in self.pods if p.namespace == namespace]

    def pods_for_selector(self, namespace: str, selector: Mapping[str, str]) -> list[PodTemplate]:
        return [p for p in self.pods_in(namespace) if map_selector_matches(selector, p.labels)]

    def max_replicas(self, workload: Obj) -> int:
        """Replicas a workload may run: an HPA's maxReplicas when one scales it, else spec.replicas."""
        for hpa in self.of_kind("HorizontalPodAutoscaler"):
            target = as_map(hpa.spec.get("scaleTargetRef"))
            if (
                hpa.namespace == workload.namespace
                and target.get("kind") == workload.kind
                and target.get("name") == workload.name
            ):
                high = hpa.spec.get("maxReplicas")
                if isinstance(high, int):
                    return high
        replicas = dig(workload.doc, "spec", "replicas")
        return replicas if isinstance(replicas, int) else 1


def image_name(image: str) -> str:
    """The last path segment of an image reference without tag or digest (`odoo` for `reg/x/odoo:17.0@sha…`)."""
    ref = image.split("@", 1)[0]
    last = ref.rsplit("/", 1)[-1]
    return last.split(":", 1)[0]


def image_tag(image: str) -> str | None:
    ref = image.split("@", 1)[0]
    last = ref.rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else None


def first(items: Sequence[Any]) -> Any:
    return items[0] if items else None
