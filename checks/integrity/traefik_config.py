"""Translate rendered Traefik CRDs (IngressRoute, Middleware, TLSOption, ServersTransport) into the dynamic
configuration of Traefik's file provider, so a real Traefik can route exactly what the cluster would.

Names follow the Kubernetes CRD provider (`<namespace>-<name>`); Service ports become loopback backends the
caller starts. What cannot be reproduced with stand-in backends is left out and listed in `skipped`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from checks.integrity.model import Obj, Rendered, as_list, as_map, dig, str_map

GROUP = "traefik.io"
# Middleware kinds whose CRD spec is the file provider's spec, key for key.
_PASSTHROUGH = {
    "addPrefix",
    "buffering",
    "circuitBreaker",
    "compress",
    "contentType",
    "grpcWeb",
    "headers",
    "inFlightReq",
    "ipAllowList",
    "rateLimit",
    "redirectRegex",
    "redirectScheme",
    "replacePath",
    "replacePathRegex",
    "retry",
    "stripPrefix",
    "stripPrefixRegex",
}
_TLS_OPTION_KEYS = {"minVersion", "maxVersion", "cipherSuites", "curvePreferences", "sniStrict", "alpnProtocols"}
_HOST_CALL = re.compile(r"Host\(([^)]*)\)")
_BACKTICKED = re.compile(r"`([^`]*)`")


@dataclass(frozen=True)
class Backend:
    """A Service port a route sends traffic to; `port` is what the stand-in backend reports (the container port
    the Service targets when it can be resolved)."""

    namespace: str
    service: str
    service_port: int | str
    port: int | None


@dataclass
class Translation:
    routers: dict[str, dict[str, Any]] = field(default_factory=dict)
    middlewares: dict[str, dict[str, Any]] = field(default_factory=dict)
    services: dict[str, Backend] = field(default_factory=dict)
    tls_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    transports: dict[str, dict[str, Any]] = field(default_factory=dict)
    entry_points: set[str] = field(default_factory=set)
    router_origin: dict[str, tuple[Obj, int]] = field(default_factory=dict)
    service_transport: dict[str, str] = field(default_factory=dict)
    skipped: list[tuple[Obj, str]] = field(default_factory=list)

    def dynamic_config(self, backend_urls: Mapping[str, str], cert_file: str, key_file: str) -> dict[str, Any]:
        http: dict[str, Any] = {
            "routers": self.routers,
            "services": {
                name: {
                    "loadBalancer": {
                        "servers": [{"url": backend_urls[name]}],
                        **(
                            {"serversTransport": self.service_transport[name]} if name in self.service_transport else {}
                        ),
                    }
                }
                for name in self.services
            },
        }
        if self.middlewares:
            http["middlewares"] = self.middlewares
        if self.transports:
            http["serversTransports"] = self.transports
        tls: dict[str, Any] = {
            "certificates": [{"certFile": cert_file, "keyFile": key_file}],
            "stores": {"default": {"defaultCertificate": {"certFile": cert_file, "keyFile": key_file}}},
        }
        if self.tls_options:
            tls["options"] = self.tls_options
        return {"http": http, "tls": tls}


def hosts_in_rule(rule: str) -> list[str]:
    """Every host a rule names, including the v2 multi-value form Traefik 3 rejects."""
    return [h for call in _HOST_CALL.findall(rule) for h in _BACKTICKED.findall(call)]


def _qualified(namespace: str, name: str) -> str:
    return f"{namespace}-{name}"


def translate(rendered: Rendered) -> Translation:
    out = Translation()
    for mw in rendered.of_kind("Middleware", group=GROUP):
        _middleware(out, mw)
    for option in rendered.of_kind("TLSOption", group=GROUP):
        spec = {k: v for k, v in option.spec.items() if k in _TLS_OPTION_KEYS}
        for key in option.spec:
            if key not in _TLS_OPTION_KEYS:
                out.skipped.append((option, f"TLSOption field {key}"))
        out.tls_options[_qualified(option.namespace, option.name)] = spec
    for transport in rendered.of_kind("ServersTransport", group=GROUP):
        timeouts = as_map(transport.spec.get("forwardingTimeouts"))
        out.transports[_qualified(transport.namespace, transport.name)] = (
            {"forwardingTimeouts": dict(timeouts)} if timeouts else {}
        )
    for route in rendered.of_kind("IngressRoute", group=GROUP):
        _ingress_route(out, rendered, route)
    return out


def _middleware(out: Translation, mw: Obj) -> None:
    name = _qualified(mw.namespace, mw.name)
    kinds = [k for k in mw.spec if isinstance(mw.spec[k], Mapping)]
    spec: dict[str, Any] = {}
    for kind in kinds:
        if kind in _PASSTHROUGH:
            spec[kind] = dict(as_map(mw.spec[kind]))
        elif kind == "chain":
            refs = [
                _qualified(str(dig(r, "namespace") or mw.namespace), str(dig(r, "name")))
                for r in as_list(dig(mw.spec, "chain", "middlewares"))
            ]
            spec["chain"] = {"middlewares": refs}
        else:
            out.skipped.append((mw, f"Middleware {mw.name} ({kind}) is not simulated"))
    if len(spec) == 1:
        out.middlewares[name] = spec
    elif not spec:
        # Keep references resolvable: a middleware we cannot simulate passes requests through unchanged.
        out.middlewares[name] = {"headers": {}}
    else:
        out.skipped.append((mw, f"Middleware {mw.name} declares several kinds ({', '.join(kinds)})"))
        out.middlewares[name] = spec


def _resolve_target(rendered: Rendered, namespace: str, service: str, port: Any) -> tuple[int | str, int | None]:
    svc = rendered.get("Service", namespace, service, group="")
    if svc is None:
        return port, None
    for entry in as_list(svc.spec.get("ports")):
        if str(port) not in {str(dig(entry, "name")), str(dig(entry, "port"))}:
            continue
        target = dig(entry, "targetPort") or dig(entry, "port")
        if isinstance(target, int):
            return int(dig(entry, "port") or target), target
        for pod in rendered.pods_for_selector(namespace, str_map(svc.spec.get("selector"))):
            number = pod.resolve_port(str(target))
            if number is not None:
                return int(dig(entry, "port") or number), number
        return int(dig(entry, "port") or 0), None
    return port, None


def _ingress_route(out: Translation, rendered: Rendered, route: Obj) -> None:
    entry_points = [str(e) for e in as_list(route.spec.get("entryPoints"))] or ["web", "websecure"]
    out.entry_points.update(entry_points)
    tls = as_map(route.spec.get("tls"))
    for index, entry in enumerate(as_list(route.spec.get("routes"))):
        router_name = f"{_qualified(route.namespace, route.name)}-{index}"
        router: dict[str, Any] = {"rule": str(dig(entry, "match") or ""), "entryPoints": entry_points}
        if dig(entry, "priority") is not None:
            router["priority"] = dig(entry, "priority")
        middlewares = []
        for ref in as_list(dig(entry, "middlewares")):
            name = str(dig(ref, "name") or "")
            if "@" in name:
                out.skipped.append((route, f"routes[{index}] middleware {name} from another provider"))
                continue
            middlewares.append(_qualified(str(dig(ref, "namespace") or route.namespace), name))
        if middlewares:
            router["middlewares"] = middlewares
        services = [as_map(s) for s in as_list(dig(entry, "services"))]
        if services:
            router["service"] = _service(out, rendered, route, index, services)
        else:
            router["service"] = "noop@internal"
        if tls or "tls" in route.spec:
            options = as_map(tls.get("options"))
            router["tls"] = (
                {"options": _qualified(str(options.get("namespace") or route.namespace), str(options["name"]))}
                if options.get("name")
                else {}
            )
        out.routers[router_name] = router
        out.router_origin[router_name] = (route, index)


def _service(out: Translation, rendered: Rendered, route: Obj, index: int, services: list[Mapping[str, Any]]) -> str:
    names = []
    for ref in services:
        if str(ref.get("kind") or "Service") != "Service":
            out.skipped.append((route, f"routes[{index}] {ref.get('kind')} {ref.get('name')} is not simulated"))
            continue
        namespace = str(ref.get("namespace") or route.namespace)
        service_port, target = _resolve_target(rendered, namespace, str(ref.get("name")), ref.get("port"))
        name = f"{_qualified(namespace, str(ref.get('name')))}-{service_port}"
        out.services[name] = Backend(namespace, str(ref.get("name")), service_port, target)
        transport = ref.get("serversTransport")
        if transport and "@" not in str(transport):
            out.service_transport[name] = _qualified(namespace, str(transport))
        names.append(name)
    if not names:
        return "noop@internal"
    if len(names) > 1:
        out.skipped.append((route, f"routes[{index}] spreads over several services; only the first is simulated"))
    return names[0]
