"""The integrity rules: each one is data (id, severity, rationale, fix) in one registry that refuses duplicates."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from checks.finding import Finding, Severity
from checks.integrity.model import Obj


@dataclass(frozen=True)
class Rule:
    id: str
    severity: Severity
    tool: str
    title: str
    rationale: str
    fix: str


RULES: dict[str, Rule] = {}


def _rule(*fields: Any) -> None:
    rule = Rule(*fields)
    if rule.id in RULES:
        raise ValueError(f"duplicate rule id {rule.id}")
    RULES[rule.id] = rule


H, M, L, C, INFO = Severity.HIGH, Severity.MEDIUM, Severity.LOW, Severity.CRITICAL, Severity.INFO
REF, NET, ODOO, ROUTE = "references", "netpol", "odoo-conf", "traefik"

_rule(
    "TF-REF-001",
    H,
    REF,
    "referenced Secret is produced",
    "A pod that mounts or reads a Secret nobody creates never starts (CreateContainerConfigError).",
    "Add a SealedSecret with that name in the same namespace, or list it under platform_secrets in tenantforge.yml.",
)
_rule(
    "TF-REF-002",
    H,
    REF,
    "referenced ConfigMap exists",
    "A pod that mounts or reads a missing ConfigMap never starts.",
    "Render the ConfigMap in the same namespace (configMapGenerator) or fix the name.",
)
_rule(
    "TF-REF-003",
    H,
    REF,
    "referenced PersistentVolumeClaim exists",
    "A pod whose claim does not exist stays Pending.",
    "Render the PersistentVolumeClaim in the same namespace or fix claimName.",
)
_rule(
    "TF-REF-004",
    H,
    REF,
    "referenced ServiceAccount exists",
    "The ReplicaSet cannot create pods for a missing ServiceAccount.",
    "Render the ServiceAccount in the same namespace or fix serviceAccountName.",
)
_rule(
    "TF-REF-005",
    H,
    REF,
    "Service selector matches a pod template",
    "A Service whose selector matches no pod has no endpoints: every request to it fails.",
    "Make the Service selector equal to labels of the workload's pod template.",
)
_rule(
    "TF-REF-006",
    H,
    REF,
    "named port exists on the target",
    "A route, monitor or probe that names a port the Service or container lacks never reaches the process.",
    "Use a port name or number the target Service/container declares.",
)
_rule(
    "TF-REF-007",
    H,
    REF,
    "Traefik object an IngressRoute names exists",
    "Traefik disables a route whose Middleware, TLSOption, ServersTransport or Service is missing.",
    "Render the Middleware/TLSOption/Service in the IngressRoute's namespace or fix the name.",
)
_rule(
    "TF-REF-008",
    M,
    REF,
    "HPA/PDB target exists",
    "An autoscaler or disruption budget pointing at nothing silently does nothing.",
    "Point scaleTargetRef/selector at the workload it is meant for.",
)
_rule(
    "TF-REF-009",
    H,
    REF,
    "SealedSecret keeps the name/namespace it was sealed for",
    "A strict-scoped SealedSecret renamed or moved (namePrefix, namespace) cannot be decrypted by the controller.",
    "Seal again for the rendered name and namespace (tenantforge seal), or keep kustomize from renaming it.",
)
_rule(
    "TF-NET-001",
    H,
    NET,
    "needed flow is allowed",
    "A NetworkPolicy that blocks a flow the tenant needs breaks it at runtime (no DNS, no database, no ingress).",
    "Add an ingress/egress rule admitting exactly that peer and port.",
)
_rule(
    "TF-NET-002",
    H,
    NET,
    "database and Redis reachable only from Odoo and the operator",
    "Any other pod able to reach PostgreSQL or Redis widens the blast radius of a compromise.",
    "Restrict the ingress rules of the database/Redis pods to the Odoo pods (and the CNPG operator/instances).",
)
_rule(
    "TF-NET-003",
    H,
    NET,
    "no ingress from other namespaces or tenants",
    "A tenant pod open to every namespace is reachable from other tenants on a shared cluster.",
    "Select the allowed peer namespace and pods explicitly; keep a default-deny policy for every pod.",
)
_rule(
    "TF-ODOO-001",
    H,
    ODOO,
    "odoo.conf is delivered and parses",
    "Every Odoo workload must read its configuration from a SealedSecret-rendered odoo.conf.",
    "Mount the Secret of the SealedSecret whose template holds odoo.conf at /etc/odoo (ODOO_RC).",
)
_rule(
    "TF-ODOO-002",
    H,
    ODOO,
    "proxy_mode is on",
    "Behind Traefik, Odoo without proxy_mode builds wrong URLs and logs the proxy's address for every client.",
    "Set proxy_mode = True.",
)
_rule(
    "TF-ODOO-003",
    C,
    ODOO,
    "database manager is off",
    "list_db on exposes the database manager (create, drop, backup databases) to the internet.",
    "Set list_db = False together with db_name and dbfilter = ^<db>$.",
)
_rule(
    "TF-ODOO-004",
    H,
    ODOO,
    "web runs prefork workers with a gevent port",
    "workers = 0 runs the threaded server: no websocket process, no memory/time limits, poor throughput.",
    "Set workers > 0 and gevent_port = 8072 (never longpolling_port on 16+); route /websocket to 8072.",
)
_rule(
    "TF-ODOO-005",
    H,
    ODOO,
    "cron threads only in the cron workload",
    "Cron threads in every web replica run scheduled jobs many times over; a cron workload without threads runs none.",
    "max_cron_threads = 0 for web; the cron Deployment runs --no-http with max_cron_threads > 0.",
)
_rule(
    "TF-ODOO-006",
    C,
    ODOO,
    "db_user is not postgres",
    "Odoo refuses to start as the postgres superuser, and a superuser role defeats isolation.",
    "Use the CNPG application owner role (bootstrap.initdb.owner).",
)
_rule(
    "TF-ODOO-007",
    H,
    ODOO,
    "admin_passwd is hashed",
    "A plaintext master password in odoo.conf is readable by anyone who can read the Secret.",
    "Store a pbkdf2_sha512 hash, or a {{ .admin_passwd }} placeholder sealed from a hash.",
)
_rule(
    "TF-ODOO-008",
    M,
    ODOO,
    "limit_time_real agrees with the Traefik timeouts",
    "If Traefik gives up before Odoo's limit_time_real, users see 504s for requests Odoo still finishes.",
    "Make the ServersTransport responseHeaderTimeout at least limit_time_real (or leave it unlimited).",
)
_rule(
    "TF-ODOO-009",
    H,
    ODOO,
    "database connection budget fits max_connections",
    "(workers + cron + 1) x db_maxconn x replicas above max_connections makes Odoo fail under load.",
    "Lower db_maxconn or workers, or raise the Cluster's postgresql.parameters.max_connections.",
)
_rule(
    "TF-ODOO-010",
    H,
    ODOO,
    "filestore and sessions are shared when replicas > 1",
    "Replicas with their own data_dir lose attachments and log users out when requests change pods.",
    "Mount a ReadWriteMany PVC at data_dir, or keep sessions in Redis (session_redis) and attachments in S3.",
)
_rule(
    "TF-ROUTE-001",
    H,
    ROUTE,
    "Traefik accepts every router",
    "A router Traefik rejects (v2 rule syntax, missing middleware) serves nothing.",
    "Use v3 syntax (one value per matcher: Host(`a`) || Host(`b`)) and reference existing middlewares.",
)
_rule(
    "TF-ROUTE-002",
    H,
    ROUTE,
    "HTTP redirects to HTTPS",
    "Plain HTTP must only ever answer with a redirect to HTTPS.",
    "Add a route on the web entrypoint with a redirectScheme (https, permanent) middleware.",
)
_rule(
    "TF-ROUTE-003",
    H,
    ROUTE,
    "/ reaches the Odoo web port",
    "Every declared host must serve Odoo's HTTP port over HTTPS.",
    "Route Host(`<host>`) on the TLS entrypoint to the Odoo Service port 8069.",
)
_rule(
    "TF-ROUTE-004",
    H,
    ROUTE,
    "/websocket reaches the gevent port",
    "Odoo 16+ serves the bus on gevent_port; /websocket sent to 8069 fails (KeyError 'socket').",
    "Add Host(`<host>`) && PathPrefix(`/websocket`) routed to the Service port 8072.",
)
_rule(
    "TF-ROUTE-005",
    C,
    ROUTE,
    "database manager blocked from the internet",
    "/web/database/* lets anyone who reaches it manage databases.",
    "Route PathPrefix(`/web/database`) through an ipAllowList of admin CIDRs (or block it).",
)
_rule(
    "TF-ROUTE-006",
    M,
    ROUTE,
    "login is rate-limited",
    "An unlimited /web/login invites password guessing.",
    "Route Path(`/web/login`) through a rateLimit middleware.",
)
_rule(
    "TF-ROUTE-007",
    M,
    ROUTE,
    "security headers present",
    "HSTS, X-Content-Type-Options: nosniff and X-Frame-Options protect browsers of the tenant's users.",
    "Attach a headers middleware (stsSeconds, contentTypeNosniff, customFrameOptionsValue) to every route.",
)
_rule(
    "TF-ROUTE-008",
    H,
    ROUTE,
    "TLS below 1.2 refused",
    "TLS 1.0/1.1 are broken; two routes with different TLS options on one host silently fall back to defaults.",
    "Reference one TLSOption with minVersion VersionTLS12 from every route of the host.",
)
_rule(
    "TF-ROUTE-009",
    M,
    ROUTE,
    "unknown hosts get 404",
    "A catch-all route makes the tenant answer for any host name pointed at the cluster.",
    "Give every router a Host() matcher.",
)
_rule(
    "TF-ROUTE-010",
    INFO,
    ROUTE,
    "route configuration simulated in full",
    "Some Traefik features (TraefikService, external auth, plugins) cannot be proven with stand-in backends.",
    "Nothing to fix; the named part was left out of the simulation.",
)


def finding(
    rule_id: str,
    message: str,
    env: str | None,
    obj: Obj | None = None,
    details: Mapping[str, Any] | None = None,
) -> Finding:
    rule = RULES[rule_id]
    return Finding(
        rule_id=rule.id,
        severity=rule.severity,
        tool=rule.tool,
        message=message,
        env=env,
        kind=obj.kind if obj else None,
        namespace=(obj.namespace or None) if obj else None,
        name=obj.name if obj else None,
        file=obj.file if obj else None,
        line=obj.line if obj else None,
        details=details or {},
    )
