"""Reference integrity: everything a rendered object names is rendered too, in the same namespace."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import Any

from checks.finding import Finding
from checks.integrity.model import (
    CNPG_GROUP,
    Obj,
    PodTemplate,
    Rendered,
    as_list,
    as_map,
    dig,
    map_selector_matches,
    str_map,
)
from checks.integrity.rules import finding
from checks.selectors import label_selector_matches

TRAEFIK_GROUP = "traefik.io"
BARMAN_GROUP = "barmancloud.cnpg.io"
_NAMESPACE_WIDE = "sealedsecrets.bitnami.com/namespace-wide"
_CLUSTER_WIDE = "sealedsecrets.bitnami.com/cluster-wide"


@dataclass(frozen=True)
class Ref:
    kind: str  # Secret, ConfigMap, PersistentVolumeClaim, ServiceAccount
    name: str
    via: str  # how it is referenced, for the message


def pod_refs(pod: PodTemplate) -> Iterator[Ref]:
    spec = pod.spec
    for volume in as_list(spec.get("volumes")):
        vname = dig(volume, "name")
        if (secret := dig(volume, "secret")) is not None and not dig(secret, "optional"):
            yield Ref("Secret", str(dig(secret, "secretName") or ""), f"volume {vname}")
        if (cm := dig(volume, "configMap")) is not None and not dig(cm, "optional"):
            yield Ref("ConfigMap", str(dig(cm, "name") or ""), f"volume {vname}")
        if (claim := dig(volume, "persistentVolumeClaim", "claimName")) is not None:
            yield Ref("PersistentVolumeClaim", str(claim), f"volume {vname}")
        for source in as_list(dig(volume, "projected", "sources")):
            for key, kind in (("secret", "Secret"), ("configMap", "ConfigMap")):
                if (ref := dig(source, key)) is not None and not dig(ref, "optional"):
                    yield Ref(kind, str(dig(ref, "name") or ""), f"projected volume {vname}")
    for pull in as_list(spec.get("imagePullSecrets")):
        yield Ref("Secret", str(dig(pull, "name") or ""), "imagePullSecrets")
    for container in pod.containers:
        for env in as_list(container.spec.get("env")):
            for key, kind in (("secretKeyRef", "Secret"), ("configMapKeyRef", "ConfigMap")):
                ref = dig(env, "valueFrom", key)
                if ref is not None and not dig(ref, "optional"):
                    yield Ref(
                        kind, str(dig(ref, "name") or ""), f"env {dig(env, 'name')} of container {container.name}"
                    )
        for env_from in as_list(container.spec.get("envFrom")):
            for key, kind in (("secretRef", "Secret"), ("configMapRef", "ConfigMap")):
                ref = dig(env_from, key)
                if ref is not None and not dig(ref, "optional"):
                    yield Ref(kind, str(dig(ref, "name") or ""), f"envFrom of container {container.name}")
    account = spec.get("serviceAccountName") or spec.get("serviceAccount")
    if account and account != "default":
        yield Ref("ServiceAccount", str(account), "serviceAccountName")


def _credential_names(node: Any) -> Iterator[str]:
    """`{name: …, key: …}` secret key selectors anywhere below `node` (CNPG/barman credentials)."""
    if isinstance(node, Mapping):
        if isinstance(node.get("name"), str) and isinstance(node.get("key"), str) and len(node) == 2:
            yield node["name"]
        for value in node.values():
            yield from _credential_names(value)
    elif isinstance(node, list):
        for item in node:
            yield from _credential_names(item)


def custom_secret_refs(obj: Obj) -> Iterator[Ref]:
    """Secrets that CNPG Clusters, barman ObjectStores and Traefik objects name."""
    if obj.group == CNPG_GROUP and obj.kind == "Cluster":
        bootstrap = as_map(obj.spec.get("bootstrap"))
        for method in ("initdb", "recovery", "pg_basebackup"):
            if (name := dig(bootstrap, method, "secret", "name")) is not None:
                yield Ref("Secret", str(name), f"bootstrap.{method}.secret")
        if (name := dig(obj.spec, "superuserSecret", "name")) is not None:
            yield Ref("Secret", str(name), "superuserSecret")
        for name in _credential_names(dig(obj.spec, "backup", "barmanObjectStore")):
            yield Ref("Secret", name, "backup.barmanObjectStore credentials")
    elif obj.group == BARMAN_GROUP and obj.kind == "ObjectStore":
        for name in _credential_names(dig(obj.spec, "configuration")):
            yield Ref("Secret", name, "configuration credentials")
    elif obj.group == TRAEFIK_GROUP and obj.kind == "IngressRoute":
        if (name := dig(obj.spec, "tls", "secretName")) is not None:
            yield Ref("Secret", str(name), "tls.secretName")
    elif obj.group == TRAEFIK_GROUP and obj.kind == "TLSOption":
        for name in as_list(dig(obj.spec, "clientAuth", "secretNames")):
            yield Ref("Secret", str(name), "clientAuth.secretNames")


def produced_secrets(rendered: Rendered, platform_secrets: Sequence[str]) -> set[tuple[str, str]]:
    """(namespace, name) of every Secret the rendered objects make exist; `*` namespace = any."""
    made: set[tuple[str, str]] = set()
    for obj in rendered:
        if obj.kind in {"Secret", "SealedSecret"} and obj.group in {"", "bitnami.com"}:
            made.add((obj.namespace, obj.name))
        elif obj.kind == "Certificate" and obj.group == "cert-manager.io":
            made.add((obj.namespace, str(obj.spec.get("secretName") or "")))
        elif obj.kind == "ExternalSecret" and obj.group == "external-secrets.io":
            made.add((obj.namespace, str(dig(obj.spec, "target", "name") or obj.name)))
        elif obj.kind == "Cluster" and obj.group == CNPG_GROUP:
            # Secrets the operator itself creates for every Cluster.
            for suffix in ("app", "ca", "server", "replication"):
                made.add((obj.namespace, f"{obj.name}-{suffix}"))
            if obj.spec.get("enableSuperuserAccess"):
                made.add((obj.namespace, f"{obj.name}-superuser"))
    for entry in platform_secrets:
        namespace, _, name = entry.rpartition("/")
        made.add((namespace or "*", name))
    return made


def check_references(rendered: Rendered, platform_secrets: Sequence[str] = ()) -> list[Finding]:
    env = rendered.env
    findings: list[Finding] = []
    secrets = produced_secrets(rendered, platform_secrets)
    present = {(o.kind, o.namespace, o.name) for o in rendered}

    def exists(ref: Ref, namespace: str) -> bool:
        if ref.kind == "Secret":
            return (namespace, ref.name) in secrets or ("*", ref.name) in secrets
        return (ref.kind, namespace, ref.name) in present

    rule_for = {"Secret": "TF-REF-001", "ConfigMap": "TF-REF-002", "PersistentVolumeClaim": "TF-REF-003"}
    rule_for["ServiceAccount"] = "TF-REF-004"

    def report(owner: Obj, refs: Iterator[Ref]) -> None:
        for ref in refs:
            if exists(ref, owner.namespace):
                continue
            hint = " (no SealedSecret, Certificate or platform_secrets entry)" if ref.kind == "Secret" else ""
            findings.append(
                finding(
                    rule_for[ref.kind],
                    f"{owner.ref} references {ref.kind} {ref.name!r} ({ref.via}), which nothing renders in "
                    f"namespace {owner.namespace or '(none)'}{hint}",
                    env,
                    owner,
                )
            )

    for pod in rendered.pods:
        report(pod.owner, pod_refs(pod))
    for obj in rendered:
        report(obj, custom_secret_refs(obj))
    findings += _services(rendered)
    findings += _traefik(rendered)
    findings += _monitors(rendered)
    findings += _probes(rendered)
    findings += _targets(rendered)
    findings += _sealed_scope(rendered)
    return findings


def _services(rendered: Rendered) -> list[Finding]:
    findings: list[Finding] = []
    for svc in rendered.of_kind("Service", group=""):
        selector = str_map(svc.spec.get("selector"))
        if not selector or svc.spec.get("type") == "ExternalName":
            continue
        pods = rendered.pods_for_selector(svc.namespace, selector)
        if not pods:
            wanted = ", ".join(f"{k}={v}" for k, v in selector.items())
            findings.append(
                finding(
                    "TF-REF-005",
                    f"Service {svc.name} selects {wanted}, which no pod template in {svc.namespace} carries"
                    f"{_closest_labels(rendered, svc.namespace, selector)}",
                    rendered.env,
                    svc,
                )
            )
            continue
        for port in as_list(svc.spec.get("ports")):
            target = dig(port, "targetPort")
            if isinstance(target, str) and not target.isdigit() and not any(p.has_port(target) for p in pods):
                findings.append(
                    finding(
                        "TF-REF-006",
                        f"Service {svc.name} port {dig(port, 'name') or dig(port, 'port')} targets container port "
                        f"{target!r}, which the selected pods ({', '.join(p.owner.ref for p in pods)}) do not declare",
                        rendered.env,
                        svc,
                    )
                )
    return findings


def _closest_labels(rendered: Rendered, namespace: str, selector: Mapping[str, str]) -> str:
    """A hint naming the pod template that misses the selector by the fewest, most similar labels (typos)."""
    best: tuple[int, float, PodTemplate] | None = None
    for pod in rendered.pods_in(namespace):
        misses = [k for k, v in selector.items() if pod.labels.get(k) != v]
        similarity = sum(SequenceMatcher(None, selector[k], pod.labels.get(k, "")).ratio() for k in misses)
        if len(misses) < len(selector) and (best is None or (len(misses), -similarity) < best[:2]):
            best = (len(misses), -similarity, pod)
    if best is None:
        return ""
    pod = best[2]
    differ = [f"{k}={pod.labels.get(k, '(unset)')}" for k, v in selector.items() if pod.labels.get(k) != v]
    return f"; closest is {pod.owner.ref} with {', '.join(differ)}"


def service_port(svc: Obj, port: int | str) -> Mapping[str, Any] | None:
    """The Service port entry a reference by name or number designates."""
    for entry in as_list(svc.spec.get("ports")):
        if (isinstance(port, str) and not port.isdigit() and dig(entry, "name") == port) or (
            (isinstance(port, int) or port.isdigit()) and dig(entry, "port") == int(port)
        ):
            return as_map(entry)
    return None


def _middleware_refs(route: Obj) -> Iterator[tuple[str, str, str]]:
    """(namespace, name, where) of every Middleware an IngressRoute names (provider-qualified names excluded)."""
    for i, r in enumerate(as_list(route.spec.get("routes"))):
        for mw in as_list(dig(r, "middlewares")):
            name = str(dig(mw, "name") or "")
            if "@" not in name:
                yield str(dig(mw, "namespace") or route.namespace), name, f"routes[{i}]"


def _traefik(rendered: Rendered) -> list[Finding]:
    findings: list[Finding] = []
    env = rendered.env

    def missing(kind: str, namespace: str, name: str) -> bool:
        return rendered.get(kind, namespace, name, group=TRAEFIK_GROUP) is None

    for route in rendered.of_kind("IngressRoute", group=TRAEFIK_GROUP):
        for namespace, name, where in _middleware_refs(route):
            if missing("Middleware", namespace, name):
                findings.append(
                    finding(
                        "TF-REF-007",
                        f"IngressRoute {route.name} {where} uses Middleware {namespace}/{name}, which is not rendered",
                        env,
                        route,
                    )
                )
        option = as_map(dig(route.spec, "tls", "options"))
        if option.get("name") and option["name"] != "default":
            namespace = str(option.get("namespace") or route.namespace)
            if missing("TLSOption", namespace, str(option["name"])):
                findings.append(
                    finding(
                        "TF-REF-007",
                        f"IngressRoute {route.name} tls.options names TLSOption "
                        f"{namespace}/{option['name']}, which is not rendered",
                        env,
                        route,
                    )
                )
        for i, r in enumerate(as_list(route.spec.get("routes"))):
            for svc_ref in as_list(dig(r, "services")):
                findings += _route_service(rendered, route, i, as_map(svc_ref))
    for mw in rendered.of_kind("Middleware", group=TRAEFIK_GROUP):
        for name in as_list(dig(mw.spec, "chain", "middlewares")):
            ref = str(dig(name, "name") or "")
            if "@" not in ref and missing("Middleware", str(dig(name, "namespace") or mw.namespace), ref):
                findings.append(
                    finding(
                        "TF-REF-007", f"Middleware {mw.name} chains Middleware {ref}, which is not rendered", env, mw
                    )
                )
    return findings


def _route_service(rendered: Rendered, route: Obj, index: int, ref: Mapping[str, Any]) -> list[Finding]:
    kind = str(ref.get("kind") or "Service")
    if kind != "Service":
        return []
    name = str(ref.get("name") or "")
    namespace = str(ref.get("namespace") or route.namespace)
    env = rendered.env
    out: list[Finding] = []
    transport = ref.get("serversTransport")
    if (
        transport
        and "@" not in str(transport)
        and rendered.get("ServersTransport", namespace, str(transport), group=TRAEFIK_GROUP) is None
    ):
        out.append(
            finding(
                "TF-REF-007",
                f"IngressRoute {route.name} routes[{index}] uses ServersTransport {transport}, which is not rendered",
                env,
                route,
            )
        )
    svc = rendered.get("Service", namespace, name, group="")
    if svc is None:
        out.append(
            finding(
                "TF-REF-007",
                f"IngressRoute {route.name} routes[{index}] sends traffic to Service "
                f"{namespace}/{name}, which is not rendered",
                env,
                route,
            )
        )
        return out
    port = ref.get("port")
    if port is not None and service_port(svc, port) is None:
        have = ", ".join(f"{dig(p, 'name') or '-'}:{dig(p, 'port')}" for p in as_list(svc.spec.get("ports")))
        out.append(
            finding(
                "TF-REF-006",
                f"IngressRoute {route.name} routes[{index}] names port {port!r} of "
                f"Service {name}, which exposes only {have}",
                env,
                route,
            )
        )
    return out


def _monitor_namespaces(monitor: Obj) -> list[str] | None:
    """Namespaces a ServiceMonitor/PodMonitor looks in; None means any."""
    ns_sel = as_map(monitor.spec.get("namespaceSelector"))
    if ns_sel.get("any"):
        return None
    names = [str(n) for n in as_list(ns_sel.get("matchNames"))]
    return names or [monitor.namespace]


def _monitors(rendered: Rendered) -> list[Finding]:
    findings: list[Finding] = []
    env = rendered.env
    for mon in rendered.of_kind("ServiceMonitor", "PodMonitor", group="monitoring.coreos.com"):
        namespaces = _monitor_namespaces(mon)
        selector = mon.spec.get("selector")

        def in_scope(
            namespace: str, labels: Mapping[str, str], _ns: list[str] | None = namespaces, _sel: Any = selector
        ) -> bool:
            return (_ns is None or namespace in _ns) and label_selector_matches(_sel, labels)

        if mon.kind == "ServiceMonitor":
            services = [s for s in rendered.of_kind("Service", group="") if in_scope(s.namespace, s.labels)]
            if not services:
                findings.append(
                    finding("TF-REF-006", f"ServiceMonitor {mon.name} selects no rendered Service", env, mon)
                )
                continue
            for endpoint in as_list(mon.spec.get("endpoints")):
                port = dig(endpoint, "port")
                if port is not None and not any(service_port(s, str(port)) for s in services):
                    findings.append(
                        finding(
                            "TF-REF-006",
                            f"ServiceMonitor {mon.name} scrapes port {port!r}, which "
                            f"no selected Service ({', '.join(s.name for s in services)}) names",
                            env,
                            mon,
                        )
                    )
        else:
            pods = [p for p in rendered.pods if in_scope(p.namespace, p.labels)]
            if not pods:
                findings.append(finding("TF-REF-006", f"PodMonitor {mon.name} selects no rendered pod", env, mon))
                continue
            for endpoint in as_list(mon.spec.get("podMetricsEndpoints")):
                port = dig(endpoint, "port")
                if port is not None and not any(p.has_port(str(port)) for p in pods):
                    findings.append(
                        finding(
                            "TF-REF-006",
                            f"PodMonitor {mon.name} scrapes port {port!r}, which no "
                            f"selected pod ({', '.join(p.owner.ref for p in pods)}) declares",
                            env,
                            mon,
                        )
                    )
    return findings


def _probes(rendered: Rendered) -> list[Finding]:
    findings: list[Finding] = []
    for pod in rendered.pods:
        for container in pod.containers:
            for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                for handler in ("httpGet", "tcpSocket", "grpc"):
                    port = dig(container.spec, probe, handler, "port")
                    if isinstance(port, str) and not port.isdigit() and port not in container.ports:
                        findings.append(
                            finding(
                                "TF-REF-006",
                                f"{pod.owner.ref} container {container.name} {probe} uses port {port!r}, which the "
                                f"container does not declare (has: {', '.join(container.ports) or 'none'})",
                                rendered.env,
                                pod.owner,
                            )
                        )
    return findings


def _targets(rendered: Rendered) -> list[Finding]:
    findings: list[Finding] = []
    for hpa in rendered.of_kind("HorizontalPodAutoscaler", group="autoscaling"):
        target = as_map(hpa.spec.get("scaleTargetRef"))
        kind, name = str(target.get("kind") or ""), str(target.get("name") or "")
        if not any(o.kind == kind and o.name == name and o.namespace == hpa.namespace for o in rendered):
            findings.append(
                finding(
                    "TF-REF-008",
                    f"HorizontalPodAutoscaler {hpa.name} scales {kind}/{name}, which is not rendered",
                    rendered.env,
                    hpa,
                )
            )
    for pdb in rendered.of_kind("PodDisruptionBudget", group="policy"):
        selector = pdb.spec.get("selector")
        if not any(label_selector_matches(selector, p.labels) for p in rendered.pods_in(pdb.namespace)):
            findings.append(
                finding(
                    "TF-REF-008",
                    f"PodDisruptionBudget {pdb.name} selects no rendered pod template in {pdb.namespace}",
                    rendered.env,
                    pdb,
                )
            )
    return findings


def _sealed_scope(rendered: Rendered) -> list[Finding]:
    findings: list[Finding] = []
    for sealed in rendered.of_kind("SealedSecret", group="bitnami.com"):
        annotations = {**sealed.annotations, **str_map(dig(sealed.spec, "template", "metadata", "annotations"))}
        if annotations.get(_CLUSTER_WIDE) == "true":
            continue
        sealed_for = as_map(dig(sealed.spec, "template", "metadata"))
        want_ns = sealed_for.get("namespace")
        want_name = sealed_for.get("name")
        problems = []
        if want_ns and want_ns != sealed.namespace:
            problems.append(f"namespace {want_ns!r} but is rendered into {sealed.namespace!r}")
        if want_name and want_name != sealed.name and annotations.get(_NAMESPACE_WIDE) != "true":
            problems.append(f"name {want_name!r} but is rendered as {sealed.name!r}")
        if problems:
            findings.append(
                finding(
                    "TF-REF-009",
                    f"SealedSecret {sealed.name} was sealed (strict scope) for {' and '.join(problems)}; "
                    "the controller cannot decrypt it",
                    rendered.env,
                    sealed,
                )
            )
    return findings


__all__ = ["check_references", "pod_refs", "produced_secrets", "service_port"]

_ = map_selector_matches  # re-exported for callers that check Service selectors
