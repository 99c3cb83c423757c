"""NetworkPolicy reachability: evaluate the rendered policies the way the API defines them, flow by flow.

Semantics (networking.k8s.io/v1): a pod is isolated for a direction when some policy in its namespace selects it
and lists that direction in policyTypes (Ingress always; Egress when listed or when the policy has `egress`).
An isolated pod admits a connection when any rule of any selecting policy admits it; a flow needs both the
source's egress and the destination's ingress. Peers: podSelector alone = pods of the policy's namespace;
namespaceSelector (+ podSelector) = pods of matching namespaces; ipBlock = addresses. Rules without `from`/`to`
admit every peer, rules without `ports` every port; named ports resolve against the destination pod.

Only the tenant's policies are known: platform pods (Traefik, the CNPG operator, Prometheus, DNS) are treated as
unrestricted on their side. How pod IPs meet ipBlocks is up to the CNI, so ipBlocks never count as admitting a
needed flow to a pod, but do count as admitting an unwanted one (both the conservative reading).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from urllib.parse import urlsplit

from checks.config import PlatformConfig, PlatformPeer
from checks.finding import Finding
from checks.integrity.model import (
    CNPG_GROUP,
    Obj,
    PodTemplate,
    Rendered,
    as_list,
    as_map,
    dig,
    image_name,
    str_map,
)
from checks.integrity.rules import finding
from checks.selectors import label_selector_matches

BARMAN_PLUGIN = "barman-cloud.cloudnative-pg.io"


@dataclass(frozen=True)
class Peer:
    """One end of a flow: a pod (tenant or platform) or an address outside the cluster."""

    title: str
    namespace: str | None
    labels: Mapping[str, str] = field(default_factory=dict)
    namespace_labels: Mapping[str, str] = field(default_factory=dict)
    ports: Mapping[str, int] = field(default_factory=dict)
    ip: str | None = None
    in_tenant: bool = False

    @property
    def is_pod(self) -> bool:
        return self.namespace is not None


def platform_pod(title: str, namespace: str, labels: Mapping[str, str], ip: str) -> Peer:
    return Peer(title, namespace, labels, {"kubernetes.io/metadata.name": namespace}, ip=ip)


@dataclass(frozen=True)
class Platform:
    """Where the shared platform components run and how they are labelled (the tenant's policies must select
    these); built from tenantforge.yml `platform:`."""

    traefik: Peer
    cnpg_operator: Peer
    prometheus: Peer
    dns: Peer
    # Test addresses (RFC 5737) standing in for anything outside the cluster.
    object_storage_ip: str = "198.51.100.20"
    internet_ip: str = "203.0.113.50"
    other_tenant_ip: str = "10.244.200.10"

    @classmethod
    def from_config(cls, config: PlatformConfig) -> Platform:
        """The platform as tenantforge.yml `platform:` places it (defaults: the table in docs/integrity.md)."""

        def pod(title: str, peer: PlatformPeer, ip: str) -> Peer:
            return platform_pod(title, peer.namespace, dict(peer.labels), ip)

        return cls(
            traefik=pod("Traefik", config.traefik, "10.244.1.10"),
            cnpg_operator=pod("the CNPG operator", config.cnpg_operator, "10.244.1.11"),
            prometheus=pod("Prometheus", config.prometheus, "10.244.1.12"),
            dns=pod("cluster DNS", config.dns, "10.244.1.13"),
        )


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    why: str  # which policy admitted it, or which policies isolate and admit nothing


def _policy_types(policy: Obj) -> set[str]:
    declared = {str(t) for t in as_list(policy.spec.get("policyTypes"))}
    if declared:
        return declared
    return {"Ingress", "Egress"} if "egress" in policy.spec else {"Ingress"}


def _ip_in_block(ip: str, block: Mapping[str, object]) -> bool:
    try:
        address = ipaddress.ip_address(ip)
        if address not in ipaddress.ip_network(str(block.get("cidr")), strict=False):
            return False
        return not any(address in ipaddress.ip_network(str(e), strict=False) for e in as_list(block.get("except")))
    except ValueError:
        return False


class Policies:
    """The tenant's NetworkPolicies, answering: may `src` open a connection to `dst` on `port/protocol`?"""

    def __init__(self, rendered: Rendered) -> None:
        self.policies = rendered.of_kind("NetworkPolicy", group="networking.k8s.io")
        self.tenant_namespaces = set(rendered.namespaces)

    def _selecting(self, pod: Peer, direction: str) -> list[Obj]:
        if not pod.is_pod or pod.namespace not in self.tenant_namespaces:
            return []
        return [
            p
            for p in self.policies
            if p.namespace == pod.namespace
            and direction in _policy_types(p)
            and label_selector_matches(p.spec.get("podSelector"), pod.labels)
        ]

    def egress_block_addresses(self, pod: Peer) -> list[str]:
        """One address inside each ipBlock the egress rules of `pod`'s policies name (outside its `except`s)."""
        found: list[str] = []
        for policy in self._selecting(pod, "Egress"):
            for rule in as_list(policy.spec.get("egress")):
                for peer in as_list(dig(rule, "to")):
                    block = as_map(dig(peer, "ipBlock"))
                    if not block:
                        continue
                    try:
                        network = ipaddress.ip_network(str(block.get("cidr")), strict=False)
                    except ValueError:
                        continue
                    for candidate in (network.network_address + 1, network.broadcast_address - 1, network[0]):
                        if candidate in network and _ip_in_block(str(candidate), block):
                            found.append(str(candidate))
                            break
        return found

    def selected_labels(self, pod: Peer) -> list[dict[str, str]]:
        """Label sets a pod elsewhere could wear to be selected by the ingress peers of `pod`'s policies."""
        found: list[dict[str, str]] = [dict(pod.labels)]
        for policy in self._selecting(pod, "Ingress"):
            for rule in as_list(policy.spec.get("ingress")):
                for peer in as_list(dig(rule, "from")):
                    labels = str_map(dig(peer, "podSelector", "matchLabels"))
                    if labels not in found:
                        found.append(labels)
        return found

    def _peer_matches(
        self, policy: Obj, peer_spec: Mapping[str, object], other: Peer, ip_blocks_see_pods: bool
    ) -> bool:
        block = as_map(peer_spec.get("ipBlock"))
        if block:
            if other.is_pod and not ip_blocks_see_pods:
                return False
            return other.ip is not None and _ip_in_block(other.ip, block)
        if not other.is_pod:
            return False
        ns_selector = peer_spec.get("namespaceSelector")
        if ns_selector is None:
            in_scope = other.namespace == policy.namespace
        else:
            in_scope = label_selector_matches(ns_selector, other.namespace_labels)
        pod_selector = peer_spec.get("podSelector")
        return in_scope and (pod_selector is None or label_selector_matches(pod_selector, other.labels))

    @staticmethod
    def _port_matches(port_spec: Mapping[str, object], port: int, protocol: str, dst: Peer) -> bool:
        if str(port_spec.get("protocol") or "TCP") != protocol:
            return False
        wanted = port_spec.get("port")
        if wanted is None:
            return True
        if isinstance(wanted, str) and not wanted.isdigit():
            return dst.ports.get(wanted) == port
        low = int(str(wanted))
        end = port_spec.get("endPort")
        high = int(str(end)) if end is not None else low
        return low <= port <= high

    def _side(
        self, direction: str, pod: Peer, other: Peer, *, dst: Peer, port: int, protocol: str, ip_blocks_see_pods: bool
    ) -> Verdict:
        policies = self._selecting(pod, direction)
        if not policies:
            return Verdict(True, f"no NetworkPolicy isolates {pod.title} for {direction.lower()}")
        rules_key, peers_key = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
        for policy in policies:
            for rule in as_list(policy.spec.get(rules_key)):
                peers = [as_map(p) for p in as_list(dig(rule, peers_key))]
                ports = [as_map(p) for p in as_list(dig(rule, "ports"))]
                if peers and not any(self._peer_matches(policy, p, other, ip_blocks_see_pods) for p in peers):
                    continue
                if ports and not any(self._port_matches(p, port, protocol, dst) for p in ports):
                    continue
                return Verdict(True, f"NetworkPolicy {policy.name} admits it")
        names = ", ".join(sorted(p.name for p in policies))
        return Verdict(False, f"no {direction.lower()} rule of {names} admits {protocol} {port}")

    def check(self, src: Peer, dst: Peer, port: int, protocol: str = "TCP", *, unwanted: bool = False) -> Verdict:
        egress = self._side("Egress", src, dst, dst=dst, port=port, protocol=protocol, ip_blocks_see_pods=unwanted)
        if not egress.allowed:
            return egress
        ingress = self._side("Ingress", dst, src, dst=dst, port=port, protocol=protocol, ip_blocks_see_pods=unwanted)
        if not ingress.allowed:
            return ingress
        # Name what opened the flow on the tenant's side; the platform's side is open by assumption.
        sides = [v.why for v, peer in ((egress, src), (ingress, dst)) if peer.in_tenant] or [ingress.why]
        return Verdict(True, "; ".join(sides))


def _tenant_peer(rendered: Rendered, pod: PodTemplate, title: str, index: int) -> Peer:
    return Peer(
        title,
        pod.namespace,
        pod.labels,
        rendered.namespace_labels(pod.namespace),
        pod.ports,
        ip=f"10.244.100.{10 + index}",
        in_tenant=True,
    )


def _is_odoo(pod: PodTemplate) -> bool:
    return any(image_name(c.image).startswith("odoo") for c in pod.containers if c.image)


def _is_redis(pod: PodTemplate) -> bool:
    return any(image_name(c.image).startswith(("redis", "valkey")) for c in pod.containers if c.image)


def odoo_role(pod: PodTemplate) -> str:
    args = " ".join(a for c in pod.containers for a in c.args)
    return "cron" if "--no-http" in args or "http_enable=False" in args.replace(" ", "") else "web"


@dataclass(frozen=True)
class Need:
    src: Peer
    dst: Peer
    port: int
    protocol: str
    what: str  # "Redis", "the database", ...


class Tenant:
    """The tenant's pods, sorted into the roles whose flows the checks reason about."""

    def __init__(self, rendered: Rendered, platform: Platform) -> None:
        self.rendered = rendered
        self.platform = platform
        self.peers: dict[int, Peer] = {}
        self.odoo: list[tuple[PodTemplate, Peer]] = []
        self.redis: list[tuple[PodTemplate, Peer]] = []
        self.instances: list[tuple[PodTemplate, Peer]] = []
        for index, pod in enumerate(rendered.pods):
            if pod.owner.group == CNPG_GROUP:
                peer = _tenant_peer(rendered, pod, f"database instances ({pod.owner.ref})", index)
                self.instances.append((pod, peer))
            elif _is_odoo(pod):
                peer = _tenant_peer(rendered, pod, f"Odoo {odoo_role(pod)} ({pod.owner.ref})", index)
                self.odoo.append((pod, peer))
            elif _is_redis(pod):
                peer = _tenant_peer(rendered, pod, f"Redis ({pod.owner.ref})", index)
                self.redis.append((pod, peer))
            else:
                peer = _tenant_peer(rendered, pod, pod.owner.ref, index)
            self.peers[id(pod)] = peer

    def peer(self, pod: PodTemplate) -> Peer:
        return self.peers[id(pod)]

    def needs(self) -> Iterator[Need]:
        p = self.platform
        yield from self._ingress_needs()
        for pod, odoo in self.odoo:
            for cluster_pod, db in self.instances:
                if cluster_pod.namespace == pod.namespace:
                    yield Need(odoo, db, 5432, "TCP", f"the database ({cluster_pod.owner.name})")
            for redis_pod, redis in self.redis:
                if redis_pod.namespace == pod.namespace:
                    yield Need(odoo, redis, redis_pod.resolve_port("redis") or 6379, "TCP", "Redis")
            for protocol in ("UDP", "TCP"):
                yield Need(odoo, p.dns, 53, protocol, "DNS")
            for store, port in self._odoo_object_storage(pod):
                yield Need(odoo, _external(store), port, "TCP", "object storage")
        for cluster_pod, db in self.instances:
            for port in (8000, 5432):
                yield Need(p.cnpg_operator, db, port, "TCP", f"database instances ({cluster_pod.owner.name})")
            if cluster_pod.replicas > 1:
                yield Need(db, db, 5432, "TCP", "the other instances (replication)")
            for protocol in ("UDP", "TCP"):
                yield Need(db, p.dns, 53, protocol, "DNS")
            for store, port in self._backup_object_storage(cluster_pod.owner):
                yield Need(db, _external(store), port, "TCP", "object storage (WAL archive)")
        yield from self._metrics_needs()

    def _ingress_needs(self) -> Iterator[Need]:
        """Traefik → every pod port an IngressRoute sends traffic to."""
        seen: set[tuple[int, int]] = set()
        for route in self.rendered.of_kind("IngressRoute", group="traefik.io"):
            for r in as_list(route.spec.get("routes")):
                for ref in as_list(dig(r, "services")):
                    if str(dig(ref, "kind") or "Service") != "Service":
                        continue
                    namespace = str(dig(ref, "namespace") or route.namespace)
                    svc = self.rendered.get("Service", namespace, str(dig(ref, "name") or ""), group="")
                    if svc is None:
                        continue
                    for pod, target in self._service_targets(svc, dig(ref, "port")):
                        if (id(pod), target) not in seen:
                            seen.add((id(pod), target))
                            yield Need(self.platform.traefik, self.peer(pod), target, "TCP", f"{self.peer(pod).title}")

    def _service_targets(self, svc: Obj, port: object) -> Iterator[tuple[PodTemplate, int]]:
        selector = str_map(svc.spec.get("selector"))
        for entry in as_list(svc.spec.get("ports")):
            if port is not None and str(port) not in {str(dig(entry, "name")), str(dig(entry, "port"))}:
                continue
            target = dig(entry, "targetPort") or dig(entry, "port")
            for pod in self.rendered.pods_for_selector(svc.namespace, selector):
                number = pod.resolve_port(target if isinstance(target, int) else str(target))
                if number is not None:
                    yield pod, number

    def _odoo_object_storage(self, pod: PodTemplate) -> Iterator[tuple[str, int]]:
        """Odoo needs object storage when its environment configures S3 attachments (fs_storage / attachment_s3)."""
        for container in pod.containers:
            for env in as_list(container.spec.get("env")):
                name = str(dig(env, "name") or "")
                if "ENDPOINT" in name and ("S3" in name or "FS_STORAGE" in name or "AWS" in name):
                    value = str(dig(env, "value") or "")
                    yield _endpoint(value) if value else ("S3", 443)
                    return

    def _backup_object_storage(self, cluster: Obj) -> Iterator[tuple[str, int]]:
        url = dig(cluster.spec, "backup", "barmanObjectStore", "endpointURL")
        if url:
            yield _endpoint(str(url))
        for plugin in as_list(cluster.spec.get("plugins")):
            if dig(plugin, "name") != BARMAN_PLUGIN:
                continue
            store = self.rendered.get(
                "ObjectStore", cluster.namespace, str(dig(plugin, "parameters", "barmanObjectName") or "")
            )
            endpoint = dig(store.spec, "configuration", "endpointURL") if store else None
            yield _endpoint(str(endpoint)) if endpoint else ("S3", 443)

    def _metrics_needs(self) -> Iterator[Need]:
        for mon in self.rendered.of_kind("PodMonitor", "ServiceMonitor", group="monitoring.coreos.com"):
            selector = mon.spec.get("selector")
            endpoints = as_list(mon.spec.get("podMetricsEndpoints" if mon.kind == "PodMonitor" else "endpoints"))
            if mon.kind == "PodMonitor":
                pods = [p for p in self.rendered.pods_in(mon.namespace) if label_selector_matches(selector, p.labels)]
                for endpoint in endpoints:
                    for pod in pods:
                        port = pod.resolve_port(str(dig(endpoint, "port") or ""))
                        if port is not None:
                            yield Need(self.platform.prometheus, self.peer(pod), port, "TCP", f"metrics of {mon.name}")
            else:
                for svc in self.rendered.of_kind("Service", group=""):
                    if svc.namespace != mon.namespace or not label_selector_matches(selector, svc.labels):
                        continue
                    for endpoint in endpoints:
                        for pod, port in self._service_targets(svc, dig(endpoint, "port")):
                            yield Need(self.platform.prometheus, self.peer(pod), port, "TCP", f"metrics of {mon.name}")


def _external(host: str) -> Peer:
    """An endpoint outside the cluster; its address is known only when the URL names an IP."""
    try:
        ip: str | None = str(ipaddress.ip_address(host))
    except ValueError:
        ip = None
    return Peer(f"object storage ({host})", None, ip=ip)


def _endpoint(url: str) -> tuple[str, int]:
    parts = urlsplit(url if "://" in url else f"https://{url}")
    return parts.hostname or url, parts.port or (80 if parts.scheme == "http" else 443)


def check_network_policies(rendered: Rendered, platform: Platform | None = None) -> list[Finding]:
    platform = platform or Platform.from_config(PlatformConfig())
    tenant = Tenant(rendered, platform)
    policies = Policies(rendered)
    findings: list[Finding] = []
    env = rendered.env
    reported: set[tuple[str, str, int, str]] = set()
    for need in tenant.needs():
        key = (need.src.title, need.dst.title, need.port, need.protocol)
        if key in reported:
            continue
        verdict = _check_need(policies, need, platform)
        if not verdict.allowed:
            reported.add(key)
            findings.append(
                finding(
                    "TF-NET-001",
                    f"{need.src.title} cannot reach {need.what} on {need.protocol} {need.port}: {verdict.why}",
                    env,
                    None,
                    {"source": need.src.title, "destination": need.dst.title, "port": need.port},
                )
            )
    findings += _unwanted(rendered, tenant, policies)
    return findings


def _check_need(policies: Policies, need: Need, platform: Platform) -> Verdict:
    """A needed flow; to an external host whose address is unknown (a DNS name) it is open when the source may
    reach that port at any address one of its egress ipBlocks admits (or anywhere, without egress isolation)."""
    if need.dst.is_pod or need.dst.ip is not None:
        return policies.check(need.src, need.dst, need.port, need.protocol)
    verdict = Verdict(False, "no address to try")
    for ip in (*policies.egress_block_addresses(need.src), platform.object_storage_ip):
        verdict = policies.check(need.src, replace(need.dst, ip=ip), need.port, need.protocol)
        if verdict.allowed:
            return verdict
    return verdict


def _strangers(rendered: Rendered, tenant: Tenant, policies: Policies, like: Peer) -> Iterator[Peer]:
    """Pods that should not reach a tenant pod: an unlabelled pod beside it, pods of another tenant wearing any
    labels the destination's policies select on (labels are the other tenant's to choose), and the internet."""
    namespace = like.namespace or ""
    yield Peer(
        "an unrelated pod in the tenant namespace",
        namespace,
        {"app.kubernetes.io/name": "debug"},
        rendered.namespace_labels(namespace),
        ip="10.244.100.250",
        in_tenant=True,
    )
    for labels in policies.selected_labels(like):
        yield Peer(
            "a pod of another tenant",
            "other-tenant",
            labels,
            {"kubernetes.io/metadata.name": "other-tenant"},
            ip=tenant.platform.other_tenant_ip,
        )
    yield Peer("the internet", None, ip=tenant.platform.internet_ip)


def _unwanted(rendered: Rendered, tenant: Tenant, policies: Policies) -> list[Finding]:
    findings: list[Finding] = []
    env = rendered.env
    p = tenant.platform
    odoo = [peer for _, peer in tenant.odoo]
    # Who may reach the database and Redis besides the strangers above: nobody but these.
    for pods, allowed, what in (
        (tenant.instances, {*(peer.title for peer in odoo), p.cnpg_operator.title}, "the database"),
        (tenant.redis, {peer.title for peer in odoo}, "Redis"),
    ):
        for pod, dst in pods:
            port = 5432 if what == "the database" else (pod.resolve_port("redis") or 6379)
            allowed_here = allowed | ({dst.title} if what == "the database" else set())
            sources = [
                *(peer for peer in tenant.peers.values() if peer.title not in allowed_here),
                p.traefik,
                p.prometheus,
                *_strangers(rendered, tenant, policies, dst),
            ]
            for src in sources:
                verdict = policies.check(src, dst, port, unwanted=True)
                if verdict.allowed:
                    findings.append(
                        finding(
                            "TF-NET-002",
                            f"{src.title} can reach {what} ({pod.owner.ref}) on TCP {port}: {verdict.why}",
                            env,
                            None,
                            {"source": src.title, "destination": dst.title, "port": port},
                        )
                    )
                    break
    targets = [(tenant.peer(pod), sorted(set(pod.ports.values()))) for pod in rendered.pods]
    # A pod added later (a debug pod, a new component) shows whether a default-deny policy covers the namespace.
    for namespace in rendered.namespaces:
        newcomer = Peer(
            f"any other pod in {namespace}",
            namespace,
            {"app.kubernetes.io/name": "newcomer"},
            rendered.namespace_labels(namespace),
            {"http": 8080},
            ip="10.244.100.251",
            in_tenant=True,
        )
        targets.append((newcomer, [8080]))
    for dst, ports in targets:
        for port in ports:
            for src in _strangers(rendered, tenant, policies, dst):
                if src.in_tenant:
                    continue
                verdict = policies.check(src, dst, port, unwanted=True)
                if verdict.allowed:
                    findings.append(
                        finding(
                            "TF-NET-003",
                            f"{dst.title} accepts TCP {port} from {src.title}: {verdict.why}",
                            env,
                            None,
                            {"source": src.title, "destination": dst.title, "port": port},
                        )
                    )
                    break
    return findings
