"""Ingress: Traefik v3 IngressRoutes serve the declared hosts over TLS, with security headers, and keep Odoo's
database manager away from the internet. (The `--routes` stage proves the same against a real Traefik.)"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from checks.finding import Severity
from checks.manifests import K8sObject
from checks.policies.rule import Family, Hit, RuleContext, as_dict, dicts, per_object

family = Family("ingress")

ROUTE_KINDS = ("IngressRoute",)
_HOST_CALL = re.compile(r"\bHost\(([^)]*)\)")
_BACKTICKED = re.compile(r"`([^`]*)`")
_PATH_MATCHER = re.compile(r"\b(Path|PathPrefix|PathRegexp)\(")
DB_MANAGER = "/web/database"


def _middlewares(ctx: RuleContext, namespace: str | None) -> Mapping[str, K8sObject]:
    return {m.name: m for m in ctx.of_kind("Middleware") if m.namespace == namespace}


def _route_middlewares(route: Mapping[str, Any], known: Mapping[str, K8sObject]) -> list[Mapping[str, Any]]:
    specs = []
    for ref in dicts(route.get("middlewares")):
        middleware = known.get(str(ref.get("name")))
        if middleware is not None:
            specs.append(middleware.spec)
    return specs


def _redirects_to_https(specs: list[Mapping[str, Any]]) -> bool:
    return any(as_dict(s.get("redirectScheme")).get("scheme") == "https" for s in specs)


def _is_tls(route: K8sObject) -> bool:
    return bool(route.spec.get("tls"))


@family.rule(
    "TF-ING-001",
    Severity.HIGH,
    "Route serves plain HTTP",
    rationale="Odoo sessions and passwords must never cross the internet unencrypted.",
    fix="Give the IngressRoute `tls:` (secretName or certResolver) on the websecure entry point; routes on `web` "
    "may only carry a redirectScheme (https) middleware.",
    references=("TF-ROUTE-002",),
)
def tls_only(ctx: RuleContext) -> Iterator[Hit]:
    for obj in ctx.of_kind(*ROUTE_KINDS):
        if _is_tls(obj):
            continue
        known = _middlewares(ctx, obj.namespace)
        for i, route in enumerate(dicts(obj.spec.get("routes"))):
            if not _redirects_to_https(_route_middlewares(route, known)):
                yield Hit(obj, f"routes[{i}] ({route.get('match', '?')}) is served without TLS and does not redirect")


@family.rule(
    "TF-ING-002",
    Severity.MEDIUM,
    "Route without the security-headers middleware",
    rationale="HSTS, nosniff and a frame policy stop downgrade, MIME-confusion and clickjacking attacks on Odoo.",
    fix="Attach a Middleware with `headers:` (stsSeconds, contentTypeNosniff, customFrameOptionsValue) to every "
    "TLS route.",
    references=("TF-ROUTE-007",),
)
def security_headers(ctx: RuleContext) -> Iterator[Hit]:
    for obj in ctx.of_kind(*ROUTE_KINDS):
        if not _is_tls(obj):
            continue
        known = _middlewares(ctx, obj.namespace)
        for i, route in enumerate(dicts(obj.spec.get("routes"))):
            specs = _route_middlewares(route, known)
            if not any(as_dict(s.get("headers")).get("stsSeconds") for s in specs) and not _blocks(route, specs):
                yield Hit(obj, f"routes[{i}] ({route.get('match', '?')}) has no headers middleware setting HSTS")


def hosts_in(match: str) -> list[str]:
    return [h for call in _HOST_CALL.findall(match) for h in _BACKTICKED.findall(call)]


@family.rule(
    "TF-ING-003",
    Severity.HIGH,
    "Route answers for a host the tenant did not declare",
    rationale="A typo or a copied host steals (or loses) another site's traffic and certificates.",
    fix="Use only the hosts listed under `environments.<env>.hosts` in tenantforge.yml (or add the new one there).",
)
@per_object(*ROUTE_KINDS)
def declared_hosts(obj: K8sObject, ctx: RuleContext) -> Iterator[str]:
    if not ctx.env.hosts:
        return
    for i, route in enumerate(dicts(obj.spec.get("routes"))):
        match = str(route.get("match", ""))
        if "HostRegexp(" in match:
            yield f"routes[{i}] uses HostRegexp, which cannot be checked against the declared hosts"
        for host in hosts_in(match):
            if host not in ctx.env.hosts:
                yield f"routes[{i}] serves host {host!r}, not one of {', '.join(ctx.env.hosts)}"


def _serves_odoo(route: Mapping[str, Any]) -> bool:
    """Odoo behind the route: its HTTP port (8069) or a Service named after it."""
    return any(
        s.get("port") in (8069, "8069") or "odoo" in str(s.get("name", "")) for s in dicts(route.get("services"))
    )


def _blocks(route: Mapping[str, Any], specs: list[Mapping[str, Any]]) -> bool:
    """A route that keeps the public out: an IP allow-list, or Traefik's noop service."""
    if any("ipAllowList" in s for s in specs):
        return True
    services = list(dicts(route.get("services")))
    return bool(services) and all(str(s.get("name", "")) == "noop@internal" for s in services)


@family.rule(
    "TF-ING-004",
    Severity.HIGH,
    "Odoo database manager reachable from the internet",
    rationale="/web/database lets anyone who guesses the master password drop or download every database.",
    fix="Add a route `Host(...) && PathPrefix(`/web/database`)` with an ipAllowList middleware (admin CIDRs) or the "
    "noop@internal TraefikService, and set list_db = False in odoo.conf.",
    references=("TF-ROUTE-005", "TF-ODOO-003"),
)
def database_manager_blocked(ctx: RuleContext) -> Iterator[Hit]:
    blocked_hosts: set[str] = set()
    catch_all: list[tuple[K8sObject, int, list[str]]] = []
    for obj in ctx.of_kind(*ROUTE_KINDS):
        if not _is_tls(obj):
            continue
        known = _middlewares(ctx, obj.namespace)
        for i, route in enumerate(dicts(obj.spec.get("routes"))):
            match = str(route.get("match", ""))
            hosts = hosts_in(match) or ["*"]
            if DB_MANAGER in match and _blocks(route, _route_middlewares(route, known)):
                blocked_hosts.update(hosts)
            elif not _PATH_MATCHER.search(match) and _serves_odoo(route):
                catch_all.append((obj, i, hosts))
    for obj, i, hosts in catch_all:
        open_hosts = [h for h in hosts if h not in blocked_hosts and "*" not in blocked_hosts]
        if open_hosts:
            yield Hit(obj, f"routes[{i}] sends {DB_MANAGER} on {', '.join(open_hosts)} to Odoo; nothing blocks it")
