"""Odoo configuration sanity: the odoo.conf each Odoo workload would read, checked against the ten known
production misconfigurations (see ../shared/reference/odoo-on-kubernetes.md).

The odoo.conf lives in the `spec.template.data` of a SealedSecret (non-secret keys are plain template text, secret
values are `{{ .x }}` placeholders), or in a ConfigMap; command-line arguments of the container override it the way
Odoo's own option parser does.
"""

from __future__ import annotations

import configparser
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from checks.finding import Finding
from checks.integrity.model import (
    CNPG_GROUP,
    Container,
    Obj,
    PodTemplate,
    Rendered,
    as_list,
    as_map,
    dig,
    image_name,
    image_tag,
)
from checks.integrity.references import service_port
from checks.integrity.rules import finding

DEFAULT_RC = "/etc/odoo/odoo.conf"
DEFAULT_DATA_DIR = "/var/lib/odoo"
_PLACEHOLDER = re.compile(r"^\{\{.*\}\}$")
_TRUE = {"1", "true", "yes", "on"}
# Odoo's defaults for the keys these checks read (odoo/tools/config.py).
DEFAULTS: Mapping[str, str] = {
    "proxy_mode": "False",
    "list_db": "True",
    "workers": "0",
    "max_cron_threads": "2",
    "http_enable": "True",
    "gevent_port": "8072",
    "http_port": "8069",
    "db_maxconn": "64",
    "limit_time_real": "120",
    "data_dir": DEFAULT_DATA_DIR,
    "server_wide_modules": "base,web",
}
# Command-line flags that differ from their config key; boolean flags carry their value.
_FLAG_KEYS: Mapping[str, str] = {
    "max-cron-threads": "max_cron_threads",
    "db-filter": "dbfilter",
    "database": "db_name",
    "d": "db_name",
    "load": "server_wide_modules",
    "p": "http_port",
    "http-port": "http_port",
    "gevent-port": "gevent_port",
    "longpolling-port": "longpolling_port",
    "limit-time-real": "limit_time_real",
    "data-dir": "data_dir",
    "D": "data_dir",
    "r": "db_user",
    "w": "db_password",
}
_BOOL_FLAGS: Mapping[str, tuple[str, str]] = {
    "no-http": ("http_enable", "False"),
    "proxy-mode": ("proxy_mode", "True"),
    "no-database-list": ("list_db", "False"),
}
_GO_DURATION = re.compile(r"(\d+(?:\.\d+)?)(h|ms|m|s|us|ns)")


@dataclass(frozen=True)
class OdooConf:
    """The effective options of one Odoo workload."""

    pod: PodTemplate
    source: Obj
    key: str
    options: dict[str, str]
    version: int | None

    def get(self, key: str) -> str:
        return self.options.get(key, DEFAULTS.get(key, ""))

    def flag(self, key: str) -> bool:
        return self.get(key).strip().lower() in _TRUE

    def number(self, key: str) -> int:
        try:
            return int(self.get(key).strip())
        except ValueError:
            return 0

    def sealed(self, key: str) -> bool:
        """True when the value is a `{{ .x }}` placeholder the SealedSecret controller fills in."""
        return bool(_PLACEHOLDER.match(self.options.get(key, "").strip()))

    @property
    def serves_http(self) -> bool:
        return self.flag("http_enable")

    @property
    def role(self) -> str:
        return "web" if self.serves_http else "cron"

    @property
    def http_workers(self) -> int:
        return max(self.number("workers"), 0) if self.serves_http else 0

    @property
    def where(self) -> str:
        return f"{self.pod.owner.ref} (odoo.conf from {self.source.kind} {self.source.name}, key {self.key})"


def _odoo_container(pod: PodTemplate) -> Container | None:
    for container in pod.containers:
        if container.image and image_name(container.image).startswith("odoo"):
            return container
    return None


def _rc_path(container: Container) -> str:
    args = container.args
    for i, arg in enumerate(args):
        if arg in {"-c", "--config"} and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith("--config="):
            return arg.split("=", 1)[1]
    for env in as_list(container.spec.get("env")):
        if dig(env, "name") == "ODOO_RC" and dig(env, "value"):
            return str(dig(env, "value"))
    return DEFAULT_RC


def _config_text(rendered: Rendered, pod: PodTemplate, container: Container) -> tuple[Obj, str, str] | str:
    """(source object, key, text) of the odoo.conf the container reads, or why it cannot be found."""
    rc = PurePosixPath(_rc_path(container))
    volumes = {str(dig(v, "name")): as_map(v) for v in as_list(pod.spec.get("volumes"))}
    for mount in as_list(container.spec.get("volumeMounts")):
        mount_path = PurePosixPath(str(dig(mount, "mountPath") or "/"))
        sub_path = dig(mount, "subPath")
        if sub_path and mount_path == rc:
            key = str(sub_path)
        elif not sub_path and rc.parent == mount_path:
            key = rc.name
        else:
            continue
        volume = volumes.get(str(dig(mount, "name")), {})
        for source_kind, name_key in (("secret", "secretName"), ("configMap", "name")):
            source = as_map(volume.get(source_kind))
            if not source:
                continue
            for item in as_list(source.get("items")):
                if dig(item, "path") == key:
                    key = str(dig(item, "key"))
            return _lookup(rendered, pod.namespace, source_kind, str(source.get(name_key) or ""), key)
        return f"{rc} is mounted from volume {dig(mount, 'name')}, which is neither a Secret nor a ConfigMap"
    return f"nothing is mounted at {rc}"


def _lookup(rendered: Rendered, namespace: str, source_kind: str, name: str, key: str) -> tuple[Obj, str, str] | str:
    if source_kind == "secret":
        sealed = rendered.get("SealedSecret", namespace, name, group="bitnami.com")
        if sealed is not None:
            text = dig(sealed.spec, "template", "data", key)
            if isinstance(text, str):
                return sealed, key, text
            if key in as_map(sealed.spec.get("encryptedData")):
                return (
                    f"SealedSecret {name} seals {key} whole; put odoo.conf in spec.template.data so it can be checked"
                )
            return f"SealedSecret {name} has no {key} in spec.template.data"
        secret = rendered.get("Secret", namespace, name, group="")
        if secret is not None and isinstance(dig(secret.doc, "stringData", key), str):
            return secret, key, str(dig(secret.doc, "stringData", key))
        return f"Secret {name} is not rendered by a SealedSecret with {key} in spec.template.data"
    cm = rendered.get("ConfigMap", namespace, name, group="")
    if cm is not None and isinstance(dig(cm.doc, "data", key), str):
        return cm, key, str(dig(cm.doc, "data", key))
    return f"ConfigMap {name} has no key {key}"


def parse_conf(text: str) -> dict[str, str]:
    """The `[options]` of an odoo.conf (raises ValueError with a one-line reason)."""
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    try:
        parser.read_string(text)
    except configparser.Error as exc:
        raise ValueError(str(exc).splitlines()[0]) from exc
    if not parser.has_section("options"):
        raise ValueError("no [options] section")
    return {k: v.strip() for k, v in parser.items("options")}


def _overrides(args: list[str]) -> Iterator[tuple[str, str]]:
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if not arg.startswith("-") or arg in {"-c", "--config"}:
            i += arg in {"-c", "--config"}
            continue
        name, eq, value = arg.lstrip("-").partition("=")
        if name in _BOOL_FLAGS:
            yield _BOOL_FLAGS[name]
            continue
        if not eq and i < len(args) and not args[i].startswith("-"):
            value = args[i]
            i += 1
        yield _FLAG_KEYS.get(name, name.replace("-", "_")), value


def _major(image: str) -> int | None:
    tag = image_tag(image) or ""
    match = re.match(r"(\d+)", tag)
    return int(match.group(1)) if match else None


def load_confs(rendered: Rendered) -> tuple[list[OdooConf], list[Finding]]:
    confs: list[OdooConf] = []
    findings: list[Finding] = []
    for pod in rendered.pods:
        container = _odoo_container(pod)
        if container is None:
            continue
        found = _config_text(rendered, pod, container)
        if isinstance(found, str):
            findings.append(
                finding(
                    "TF-ODOO-001",
                    f"{pod.owner.ref} runs Odoo but its odoo.conf cannot be read: {found}",
                    rendered.env,
                    pod.owner,
                )
            )
            continue
        source, key, text = found
        try:
            options = parse_conf(text)
        except ValueError as exc:
            findings.append(
                finding(
                    "TF-ODOO-001",
                    f"{pod.owner.ref}: odoo.conf in {source.kind} {source.name} (key {key}) does not parse: {exc}",
                    rendered.env,
                    source,
                )
            )
            continue
        options.update(_overrides(container.args))
        confs.append(OdooConf(pod, source, key, options, _major(container.image)))
    return confs, findings


def go_duration_seconds(value: Any) -> float | None:
    """Seconds in a Go duration (`90s`, `2m30s`) or a bare number of seconds; None when it is neither."""
    if isinstance(value, int | float):
        return float(value)
    text = str(value).strip()
    if text.isdigit():
        return float(text)
    parts = _GO_DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        return None
    scale = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9}
    return sum(float(n) * scale[u] for n, u in parts)


def check_odoo_config(rendered: Rendered) -> list[Finding]:
    confs, findings = load_confs(rendered)
    env = rendered.env
    for conf in confs:

        def add(rule: str, message: str, _conf: OdooConf = conf) -> None:
            findings.append(finding(rule, f"{_conf.where}: {message}", env, _conf.pod.owner))

        if conf.get("db_user").strip() == "postgres":
            add("TF-ODOO-006", "db_user = postgres; Odoo refuses to run as the superuser")
        if conf.flag("list_db"):
            add("TF-ODOO-003", "list_db is on: the database manager is exposed")
        elif not (conf.get("dbfilter") or conf.get("db_name")):
            add("TF-ODOO-003", "list_db is off but neither db_name nor dbfilter pins the database")
        admin = conf.options.get("admin_passwd")
        if admin is None:
            add("TF-ODOO-007", "admin_passwd is not set, so the master password is Odoo's default 'admin'")
        elif not conf.sealed("admin_passwd") and not admin.startswith("$pbkdf2-sha512$"):
            add("TF-ODOO-007", "admin_passwd is stored in plain text; store a pbkdf2-sha512 hash")
        if conf.serves_http:
            findings.extend(_web_checks(rendered, conf))
        elif conf.number("max_cron_threads") <= 0:
            add("TF-ODOO-005", "runs without HTTP and max_cron_threads = 0, so it runs nothing at all")
    web = [c for c in confs if c.serves_http]
    if web and confs and not any(c.number("max_cron_threads") > 0 for c in confs):
        findings.append(
            finding(
                "TF-ODOO-005",
                "no Odoo workload runs cron jobs: every one has max_cron_threads = 0",
                env,
                web[0].pod.owner,
            )
        )
    findings += _connection_budget(rendered, confs)
    findings += _shared_storage(rendered, web)
    return findings


def _web_checks(rendered: Rendered, conf: OdooConf) -> list[Finding]:
    out: list[Finding] = []

    def add(rule: str, message: str) -> None:
        out.append(finding(rule, f"{conf.where}: {message}", rendered.env, conf.pod.owner))

    if not conf.flag("proxy_mode"):
        add("TF-ODOO-002", "proxy_mode is off behind Traefik")
    if conf.number("max_cron_threads") > 0:
        add(
            "TF-ODOO-005",
            f"serves HTTP with max_cron_threads = {conf.number('max_cron_threads')}; set 0 and run "
            "cron in its own workload",
        )
    modern = conf.version is None or conf.version >= 16
    if conf.number("workers") <= 0:
        add("TF-ODOO-004", f"workers = {conf.get('workers')}: the threaded server has no websocket process")
        return out
    if modern and "longpolling_port" in conf.options:
        add("TF-ODOO-004", "longpolling_port is deprecated since Odoo 16; set gevent_port only")
    gevent = conf.number("longpolling_port") if not modern and "longpolling_port" in conf.options else None
    gevent = gevent or conf.number("gevent_port")
    path = "/websocket" if modern else "/longpolling"
    routed = list(_routed_ports(rendered, conf.pod, path))
    if not routed and any(True for _ in _route_targets(rendered, conf.pod)):
        add("TF-ODOO-004", f"no IngressRoute sends {path} to this workload")
    for route, port in routed:
        if port != gevent:
            add(
                "TF-ODOO-004",
                f"IngressRoute {route.name} sends {path} to container port {port}, not gevent_port {gevent}",
            )
    limit = conf.number("limit_time_real")
    for route, transport, seconds in _transport_timeouts(rendered, conf.pod):
        if limit > 0 and 0 < seconds < limit:
            add(
                "TF-ODOO-008",
                f"limit_time_real = {limit}s but ServersTransport {transport} (IngressRoute "
                f"{route.name}) gives up after {seconds:g}s",
            )
    return out


def _route_targets(rendered: Rendered, pod: PodTemplate) -> Iterator[tuple[Obj, Mapping[str, Any], int]]:
    """(IngressRoute, route entry, container port) for every route whose Service sends traffic to `pod`."""
    for route in rendered.of_kind("IngressRoute", group="traefik.io"):
        for entry in as_list(route.spec.get("routes")):
            for ref in as_list(dig(entry, "services")):
                namespace = str(dig(ref, "namespace") or route.namespace)
                svc = rendered.get("Service", namespace, str(dig(ref, "name") or ""), group="")
                if svc is None or pod not in rendered.pods_for_selector(namespace, _selector(svc)):
                    continue
                port_ref = dig(ref, "port")
                entry_port = service_port(svc, port_ref) if port_ref is not None else None
                if entry_port is None:
                    continue
                target = entry_port.get("targetPort") or entry_port.get("port")
                number = pod.resolve_port(target if isinstance(target, int) else str(target))
                if number is not None:
                    yield route, as_map(entry), number


def _selector(svc: Obj) -> dict[str, str]:
    return {str(k): str(v) for k, v in as_map(svc.spec.get("selector")).items()}


def _routed_ports(rendered: Rendered, pod: PodTemplate, path: str) -> Iterator[tuple[Obj, int]]:
    for route, entry, port in _route_targets(rendered, pod):
        match = str(entry.get("match") or "")
        if re.search(r"Path(Prefix)?\(`" + re.escape(path) + r"/?`\)", match):
            yield route, port


def _transport_timeouts(rendered: Rendered, pod: PodTemplate) -> Iterator[tuple[Obj, str, float]]:
    seen: set[str] = set()
    for route, entry, _port in _route_targets(rendered, pod):
        for ref in as_list(entry.get("services")):
            name = dig(ref, "serversTransport")
            if not name or name in seen:
                continue
            seen.add(str(name))
            transport = rendered.get("ServersTransport", route.namespace, str(name), group="traefik.io")
            value = dig(transport.spec, "forwardingTimeouts", "responseHeaderTimeout") if transport else None
            seconds = go_duration_seconds(value) if value is not None else None
            if seconds is not None:
                yield route, str(name), seconds


def _database_for(rendered: Rendered, conf: OdooConf) -> Obj | None:
    clusters = [c for c in rendered.of_kind("Cluster", group=CNPG_GROUP) if c.namespace == conf.pod.namespace]
    host = conf.get("db_host").split(".")[0]
    for cluster in clusters:
        if host in {f"{cluster.name}-rw", f"{cluster.name}-ro", f"{cluster.name}-r"}:
            return cluster
    return clusters[0] if len(clusters) == 1 else None


def _connection_budget(rendered: Rendered, confs: list[OdooConf]) -> list[Finding]:
    by_cluster: dict[tuple[str, str], tuple[Obj, list[tuple[OdooConf, int]]]] = {}
    for conf in confs:
        cluster = _database_for(rendered, conf)
        if cluster is not None:
            replicas = rendered.max_replicas(conf.pod.owner)
            by_cluster.setdefault((cluster.namespace, cluster.name), (cluster, []))[1].append((conf, replicas))
    findings: list[Finding] = []
    for cluster, users in by_cluster.values():
        raw = dig(cluster.spec, "postgresql", "parameters", "max_connections")
        limit = int(str(raw)) if raw is not None and str(raw).isdigit() else 100
        parts = []
        total = 0
        for conf, replicas in users:
            cron = max(conf.number("max_cron_threads"), 0)
            cost = (conf.http_workers + cron + 1) * conf.number("db_maxconn") * replicas
            total += cost
            parts.append(
                f"{conf.pod.owner.name} ({conf.http_workers} + {cron} + 1) x {conf.number('db_maxconn')} x {replicas}"
                f" = {cost}"
            )
        if total >= limit:
            findings.append(
                finding(
                    "TF-ODOO-009",
                    f"Odoo may open {total} connections to Cluster {cluster.name} but max_connections is {limit}: "
                    + "; ".join(parts),
                    rendered.env,
                    cluster,
                    {"connections": total, "max_connections": limit},
                )
            )
    return findings


def _shared_storage(rendered: Rendered, web: list[OdooConf]) -> list[Finding]:
    findings: list[Finding] = []
    for conf in web:
        replicas = rendered.max_replicas(conf.pod.owner)
        if replicas <= 1:
            continue
        shared = _data_dir_is_shared(rendered, conf)
        modules = {m.strip() for m in conf.get("server_wide_modules").split(",")}
        env_names = {
            str(dig(e, "name")): str(dig(e, "value") or "")
            for c in conf.pod.containers
            for e in as_list(c.spec.get("env"))
        }
        sessions = shared or ("session_redis" in modules and env_names.get("ODOO_SESSION_REDIS", "").lower() in _TRUE)
        attachments = (
            shared
            or bool(modules & {"fs_attachment", "attachment_s3"})
            or any("FS_STORAGE" in n or n.startswith(("AWS_", "ODOO_S3")) for n in env_names)
        )
        missing = [what for what, ok in (("sessions", sessions), ("attachments", attachments)) if not ok]
        if missing:
            findings.append(
                finding(
                    "TF-ODOO-010",
                    f"{conf.where}: up to {replicas} replicas keep {' and '.join(missing)} in data_dir "
                    f"{conf.get('data_dir')}, which is not on a ReadWriteMany volume",
                    rendered.env,
                    conf.pod.owner,
                )
            )
    return findings


def _data_dir_is_shared(rendered: Rendered, conf: OdooConf) -> bool:
    data_dir = PurePosixPath(conf.get("data_dir"))
    container = _odoo_container(conf.pod)
    volumes = {str(dig(v, "name")): as_map(v) for v in as_list(conf.pod.spec.get("volumes"))}
    for mount in as_list(container.spec.get("volumeMounts") if container else None):
        mount_path = PurePosixPath(str(dig(mount, "mountPath") or "/"))
        if data_dir != mount_path and mount_path not in data_dir.parents:
            continue
        claim = dig(volumes.get(str(dig(mount, "name")), {}), "persistentVolumeClaim", "claimName")
        pvc = rendered.get("PersistentVolumeClaim", conf.pod.namespace, str(claim), group="") if claim else None
        return pvc is not None and "ReadWriteMany" in as_list(pvc.spec.get("accessModes"))
    return False
