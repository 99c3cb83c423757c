"""Routes proven in a real Traefik: the rendered IngressRoutes run in the pinned Traefik (file provider, loopback
ports), with stand-in backends that answer with the port they stand for, and a table of expectations per host.

Traefik and the backends are started and stopped by `check_routes` itself, on free ports, under a deadline; nothing
is left running whatever happens.
"""

from __future__ import annotations

import datetime as dt
import http.client
import json
import os
import re
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import uuid
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

from checks.errors import ToolFailed
from checks.finding import Finding
from checks.integrity.model import Obj, Rendered
from checks.integrity.odooconf import load_confs
from checks.integrity.rules import finding
from checks.integrity.traefik_config import Translation, hosts_in_rule, translate
from checks.tools import require_tool

PROBE_HEADER = "X-Tenantforge-Probe"
BACKEND_HEADER = "X-Tenantforge-Backend"
UNKNOWN_HOST = "unknown-host.invalid"
LOGIN_ATTEMPTS = 200
REQUEST_TIMEOUT = 5.0


@dataclass(frozen=True)
class RouteRow:
    """One expectation for one host: what should happen, what did, and through which router."""

    host: str
    check: str
    expected: str
    got: str
    ok: bool
    rule_id: str
    router: str | None = None
    env: str | None = None


@dataclass
class RoutesResult:
    findings: list[Finding] = field(default_factory=list)
    rows: list[RouteRow] = field(default_factory=list)
    seconds: float = 0.0


@dataclass(frozen=True)
class Response:
    status: int
    headers: Mapping[str, str]
    backend_port: int | None
    probe: str


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _backend_handler(port: int | None, service: str) -> type[BaseHTTPRequestHandler]:
    body = json.dumps({"service": service, "port": port}).encode()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in two writes; with Nagle on, each answer would wait for a delayed ACK (~40 ms).
        disable_nagle_algorithm = True

        def _answer(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header(BACKEND_HEADER, str(port))
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        do_GET = do_POST = do_HEAD = _answer

        def log_message(self, format: str, *args: Any) -> None:
            """Silence: the access log of Traefik is the record."""

    return Handler


@contextmanager
def _backends(translation: Translation) -> Iterator[dict[str, str]]:
    """One loopback HTTP server per Service port; yields {file-provider service name: URL}."""
    servers: list[ThreadingHTTPServer] = []
    urls: dict[str, str] = {}
    try:
        for name, backend in translation.services.items():
            server = ThreadingHTTPServer(("127.0.0.1", 0), _backend_handler(backend.port, backend.service))
            server.daemon_threads = True
            threading.Thread(target=server.serve_forever, name=f"backend-{name}", daemon=True).start()
            servers.append(server)
            urls[name] = f"http://127.0.0.1:{server.server_address[1]}"
        yield urls
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()


def _self_signed(hosts: Sequence[str], directory: Path) -> tuple[Path, Path]:
    """A throw-away certificate for the hosts under test, made at run time."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "tenantforge route check")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(h) for h in hosts]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "tls.crt", directory / "tls.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    key_file.chmod(0o600)
    return cert_file, key_file


class TraefikRun:
    """A running Traefik: its ports, its API and its access log."""

    def __init__(self, workdir: Path, entry_points: Mapping[str, int], api_port: int, deadline: float) -> None:
        self.workdir = workdir
        self.entry_points = entry_points
        self.api_port = api_port
        self.deadline = deadline
        self.access_log = workdir / "access.json"
        self.log = workdir / "traefik.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, binary: Path, dynamic: Path) -> None:
        args = [
            str(binary),
            f"--providers.file.filename={dynamic}",
            "--providers.file.watch=false",
            f"--entryPoints.traefik.address=127.0.0.1:{self.api_port}",
            "--api.insecure=true",
            "--log.level=ERROR",
            "--log.format=json",
            f"--log.filePath={self.log}",
            "--accesslog=true",
            "--accesslog.format=json",
            f"--accesslog.filePath={self.access_log}",
            f"--accesslog.fields.headers.names.{PROBE_HEADER}=keep",
            "--global.checkNewVersion=false",
            "--global.sendAnonymousUsage=false",
            *(f"--entryPoints.{name}.address=127.0.0.1:{port}" for name, port in self.entry_points.items()),
            # Nothing to drain on shutdown: stop at once instead of waiting out the grace period.
            *(f"--entryPoints.{name}.transport.lifeCycle.graceTimeOut=0s" for name in self.entry_points),
            "--entryPoints.traefik.transport.lifeCycle.graceTimeOut=0s",
        ]
        env = {"PATH": os.environ.get("PATH", ""), "HOME": str(self.workdir)}
        self.proc = subprocess.Popen(
            args,
            cwd=self.workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=(self.workdir / "stderr.txt").open("wb"),
            start_new_session=True,
        )

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        with suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            # Traefik closes its entry points at once but lingers ~2 s in its own shutdown; nothing it holds is
            # worth waiting for.
            self.proc.wait(timeout=0.5)
        except subprocess.TimeoutExpired:
            with suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)

    def _failure(self, what: str) -> ToolFailed:
        tail = ""
        for path in (self.workdir / "stderr.txt", self.log):
            if path.exists() and path.read_text().strip():
                tail = path.read_text().strip().splitlines()[-1][:300]
        return ToolFailed(f"traefik {what}{': ' + tail if tail else ''}")

    def api(self, path: str) -> Any:
        conn = http.client.HTTPConnection("127.0.0.1", self.api_port, timeout=REQUEST_TIMEOUT)
        try:
            conn.request("GET", path)
            response = conn.getresponse()
            return json.loads(response.read() or b"null") if response.status == 200 else None
        finally:
            conn.close()

    def wait_for_routers(self, names: set[str]) -> list[dict[str, Any]]:
        """Poll the API until every router of ours is loaded (enabled or not); return their records."""
        while True:
            if self.proc is not None and self.proc.poll() is not None:
                raise self._failure(f"exited with status {self.proc.returncode} before serving")
            routers: list[dict[str, Any]] = []
            with suppress(OSError, ValueError, http.client.HTTPException):
                routers = [r for r in self.api("/api/http/routers?per_page=1000") or [] if isinstance(r, dict)]
            loaded = {_router_key(str(r.get("name", ""))) for r in routers}
            if names <= loaded:
                return routers
            if time.monotonic() > self.deadline:
                raise self._failure("did not load the routes in time")
            time.sleep(0.1)

    def routers_by_probe(self) -> dict[str, str]:
        """{probe id: router name} from the access log."""
        found: dict[str, str] = {}
        if not self.access_log.exists():
            return found
        for line in self.access_log.read_text().splitlines():
            with suppress(ValueError):
                record = json.loads(line)
                probe = record.get(f"request_{PROBE_HEADER}")
                if probe and record.get("RouterName"):
                    found[str(probe)] = str(record["RouterName"])
        return found


class Client:
    """Requests to Traefik's loopback entry points, with the SNI and Host a browser would send."""

    def __init__(self, ca_file: Path) -> None:
        self.verified = ssl.create_default_context(cafile=str(ca_file))
        self.unverified = ssl.create_default_context()
        self.unverified.check_hostname = False
        self.unverified.verify_mode = ssl.CERT_NONE

    def request(self, port: int, host: str, path: str, *, tls: bool, verify: bool = True) -> Response:
        return self.repeat(port, host, path, tls=tls, verify=verify, limit=1)[0]

    def repeat(
        self, port: int, host: str, path: str, *, tls: bool, verify: bool = True, limit: int
    ) -> tuple[Response, int]:
        """GET `path` up to `limit` times on one kept-alive connection, stopping at the first answer that is not
        a 2xx from a backend; returns the last response and how many requests it took."""
        raw = socket.create_connection(("127.0.0.1", port), timeout=REQUEST_TIMEOUT)
        # The TLS Finished message and the request go out as two small writes: with Nagle on, the request waits
        # for the peer's delayed ACK, ~40 ms per request.
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn: http.client.HTTPConnection
        if tls:
            context = self.verified if verify else self.unverified
            conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT, context=context)
            try:
                conn.sock = context.wrap_socket(raw, server_hostname=host)
            except OSError:
                raw.close()
                raise
        else:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT)
            conn.sock = raw
        try:
            count = 0
            while True:
                count += 1
                probe = uuid.uuid4().hex
                conn.request("GET", path, headers={"Host": host, PROBE_HEADER: probe, "User-Agent": "tenantforge"})
                response = conn.getresponse()
                response.read()
                backend = response.getheader(BACKEND_HEADER)
                answer = Response(
                    response.status,
                    {k.lower(): v for k, v in response.getheaders()},
                    int(backend) if backend and backend.isdigit() else None,
                    probe,
                )
                if count >= limit or answer.backend_port is None or not 200 <= answer.status < 300:
                    return answer, count
        finally:
            conn.close()

    @staticmethod
    def legacy_tls_accepted(port: int, host: str) -> str | None:
        """The legacy protocol (TLS 1.0/1.1) the server accepts, or None when it refuses them."""
        for version in (ssl.TLSVersion.TLSv1_1, ssl.TLSVersion.TLSv1):
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            with warnings.catch_warnings():
                # Python deprecates offering these versions, which is exactly what this probe must do.
                warnings.simplefilter("ignore", DeprecationWarning)
                context.minimum_version = version
                context.maximum_version = version
            context.set_ciphers("DEFAULT:@SECLEVEL=0")
            try:
                with (
                    socket.create_connection(("127.0.0.1", port), timeout=REQUEST_TIMEOUT) as raw,
                    context.wrap_socket(raw, server_hostname=host) as sock,
                ):
                    return str(sock.version())
            except (ssl.SSLError, OSError):
                continue
        return None


@dataclass(frozen=True)
class Expected:
    http_port: int = 8069
    gevent_port: int = 8072
    websocket_path: str = "/websocket"


def _expected(rendered: Rendered) -> Expected:
    confs, _ = load_confs(rendered)
    web = [c for c in confs if c.serves_http]
    if not web:
        return Expected()
    conf = web[0]
    modern = conf.version is None or conf.version >= 16
    gevent = conf.number("gevent_port") if modern else conf.number("longpolling_port") or conf.number("gevent_port")
    return Expected(conf.number("http_port") or 8069, gevent or 8072, "/websocket" if modern else "/longpolling/poll")


def route_hosts(translation: Translation) -> list[str]:
    seen: dict[str, None] = {}
    for router in translation.routers.values():
        for host in hosts_in_rule(str(router.get("rule", ""))):
            seen.setdefault(host)
    return list(seen)


def check_routes(
    rendered: Rendered,
    hosts: Sequence[str] = (),
    timeout: float = 60.0,
    entry_points: Sequence[str] = (),
    scratch: Path | None = None,
) -> RoutesResult:
    """Run the rendered routes in a real Traefik and check the expectation table for every host.

    `hosts` defaults to the hosts the routes name; `scratch` is where the temporary work directory goes.
    """
    started = time.monotonic()
    binary = require_tool("traefik")
    translation = translate(rendered)
    result = RoutesResult()
    env = rendered.env
    for obj, what in translation.skipped:
        result.findings.append(finding("TF-ROUTE-010", f"{obj.ref}: {what}", env, obj))
    if not translation.routers:
        return result
    hosts = list(hosts) or route_hosts(translation)
    names = {"web", "websecure", *translation.entry_points, *entry_points}
    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="tenantforge-traefik-", dir=scratch)))
        cert_file, key_file = _self_signed([*hosts, "localhost"], workdir)
        urls = stack.enter_context(_backends(translation))
        dynamic = workdir / "dynamic.yaml"
        dynamic.write_text(yaml.safe_dump(translation.dynamic_config(urls, str(cert_file), str(key_file))))
        run = TraefikRun(workdir, {n: _free_port() for n in sorted(names)}, _free_port(), started + timeout)
        stack.callback(run.stop)
        run.start(binary, dynamic)
        routers = run.wait_for_routers(set(translation.routers))
        result.findings += _router_findings(translation, routers, env)
        rows = _probe(run, Client(cert_file), translation, hosts, _expected(rendered))
        by_probe = run.routers_by_probe()
        for probed, probe in rows:
            router = by_probe.get(probe) if probe else None
            row = replace(probed, router=_router_label(translation, router), env=env)
            result.rows.append(row)
            if not row.ok:
                origin = _origin(translation, router)
                via = f" (via {row.router})" if row.router else ""
                result.findings.append(
                    finding(
                        row.rule_id,
                        f"{row.host}: {row.check}: expected {row.expected}, got {row.got}{via}",
                        env,
                        origin,
                        {"host": row.host, "check": row.check},
                    )
                )
    result.seconds = time.monotonic() - started
    return result


def _router_key(router: str | None) -> str | None:
    if not router:
        return None
    # Traefik renames routers whose TLS options conflict to `<entrypoint>-conflicted-<name>`.
    return re.sub(r"^.*?-conflicted-", "", router.split("@")[0])


def _origin(translation: Translation, router: str | None) -> Obj | None:
    key = _router_key(router)
    return translation.router_origin[key][0] if key in translation.router_origin else None


def _router_label(translation: Translation, router: str | None) -> str | None:
    key = _router_key(router)
    if key not in translation.router_origin:
        return router
    route, index = translation.router_origin[key]
    return f"IngressRoute {route.name} routes[{index}]"


def _router_findings(translation: Translation, routers: list[dict[str, Any]], env: str | None) -> list[Finding]:
    findings: list[Finding] = []
    for record in routers:
        key = _router_key(str(record.get("name", "")))
        if key not in translation.router_origin:
            continue
        route, index = translation.router_origin[key]
        errors = [str(e) for e in record.get("error") or []]
        status = record.get("status")
        for error in errors:
            conflicting = "TLSOptions configuration is conflicting" in error
            if status == "enabled" and not conflicting:
                continue
            rule = "TF-ROUTE-008" if conflicting else "TF-ROUTE-001"
            what = "falls back to the default TLS options" if conflicting else "is rejected by Traefik"
            findings.append(
                finding(rule, f"IngressRoute {route.name} routes[{index}] {what}: {error}", env, route, {"router": key})
            )
    return findings


def _tls_entry_point(translation: Translation, host: str) -> str:
    for router in translation.routers.values():
        if "tls" in router and host in hosts_in_rule(str(router.get("rule", ""))):
            return str(router["entryPoints"][0])
    return "websecure"


def _probe(
    run: TraefikRun, client: Client, translation: Translation, hosts: Sequence[str], want: Expected
) -> list[tuple[RouteRow, str | None]]:
    rows: list[tuple[RouteRow, str | None]] = []
    web = run.entry_points["web"]

    def row(host: str, check: str, expected: str, got: str, ok: bool, rule: str, probe: str | None) -> None:  # noqa: PLR0917
        rows.append((RouteRow(host, check, expected, got, ok, rule), probe))

    def fetch(port: int, host: str, path: str, *, tls: bool = True, verify: bool = True) -> Response | str:
        try:
            return client.request(port, host, path, tls=tls, verify=verify)
        except (OSError, http.client.HTTPException) as exc:
            return f"connection failed ({exc.__class__.__name__}: {str(exc)[:120]})"

    def served(response: Response | str) -> str:
        if isinstance(response, str):
            return response
        if response.backend_port is not None:
            return f"{response.status} from port {response.backend_port}"
        return f"{response.status} from Traefik"

    for host in hosts:
        secure = run.entry_points[_tls_entry_point(translation, host)]
        r = fetch(web, host, "/", tls=False)
        location = r.headers.get("location", "") if isinstance(r, Response) else ""
        ok = isinstance(r, Response) and r.status in {301, 302, 307, 308} and location.startswith(f"https://{host}")
        got = f"{r.status} to {location}" if isinstance(r, Response) and location else served(r)
        row(
            host,
            "http://…/ redirects to https",
            "301/308 to https://" + host,
            got,
            ok,
            "TF-ROUTE-002",
            r.probe if isinstance(r, Response) else None,
        )

        root = fetch(secure, host, "/")
        ok = isinstance(root, Response) and root.status == 200 and root.backend_port == want.http_port
        row(
            host,
            "/ reaches Odoo web",
            f"200 from port {want.http_port}",
            served(root),
            ok,
            "TF-ROUTE-003",
            root.probe if isinstance(root, Response) else None,
        )

        if isinstance(root, Response):
            missing = [
                name
                for name, present in (
                    ("Strict-Transport-Security", "max-age=" in root.headers.get("strict-transport-security", "")),
                    ("X-Content-Type-Options: nosniff", root.headers.get("x-content-type-options") == "nosniff"),
                    ("X-Frame-Options", bool(root.headers.get("x-frame-options"))),
                )
                if not present
            ]
            row(
                host,
                "security headers on /",
                "HSTS, nosniff, X-Frame-Options",
                "missing " + ", ".join(missing) if missing else "all present",
                not missing,
                "TF-ROUTE-007",
                root.probe,
            )

        ws = fetch(secure, host, want.websocket_path)
        ok = isinstance(ws, Response) and ws.backend_port == want.gevent_port
        row(
            host,
            f"{want.websocket_path} reaches the gevent port",
            f"port {want.gevent_port}",
            served(ws),
            ok,
            "TF-ROUTE-004",
            ws.probe if isinstance(ws, Response) else None,
        )

        db = fetch(secure, host, "/web/database/manager")
        ok = isinstance(db, Response) and db.backend_port is None and 400 <= db.status < 500
        row(
            host,
            "/web/database/manager from a non-admin address",
            "403 from Traefik",
            served(db),
            ok,
            "TF-ROUTE-005",
            db.probe if isinstance(db, Response) else None,
        )

        attempts = 0
        limited: Response | str
        try:
            limited, attempts = client.repeat(secure, host, "/web/login", tls=True, limit=LOGIN_ATTEMPTS)
        except (OSError, http.client.HTTPException) as exc:
            limited = f"connection failed ({exc.__class__.__name__}: {str(exc)[:120]})"
        ok = isinstance(limited, Response) and limited.status == 429
        got = f"429 after {attempts} requests" if ok else f"{served(limited)} after {attempts} requests"
        row(
            host,
            "/web/login is rate-limited",
            "429 past the burst",
            got,
            ok,
            "TF-ROUTE-006",
            limited.probe if isinstance(limited, Response) else None,
        )

        legacy = client.legacy_tls_accepted(secure, host)
        row(
            host,
            "TLS below 1.2 refused",
            "handshake refused",
            f"{legacy} accepted" if legacy else "refused",
            legacy is None,
            "TF-ROUTE-008",
            None,
        )

    unknown = fetch(
        run.entry_points[_tls_entry_point(translation, hosts[0]) if hosts else "websecure"],
        UNKNOWN_HOST,
        "/",
        verify=False,
    )
    ok = isinstance(unknown, Response) and unknown.status == 404 and unknown.backend_port is None
    row(
        UNKNOWN_HOST,
        "unknown host",
        "404 from Traefik",
        served(unknown),
        ok,
        "TF-ROUTE-009",
        unknown.probe if isinstance(unknown, Response) else None,
    )
    return rows
