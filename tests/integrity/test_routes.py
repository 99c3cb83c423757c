"""Routes proven in the real, pinned Traefik: the bundled routes meet every expectation; broken ones are named."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from checks.errors import ToolFailed, ToolMissing
from checks.integrity.model import Rendered
from checks.integrity.routes import RoutesResult, check_routes
from checks.integrity.traefik_config import translate
from tests.integrity.conftest import Edits

Variant = Callable[[Edits], Rendered]
ROUTES = "overlays/dev/ingressroutes.yaml"
MW = "base/middlewares.yaml"
HOST = "dev.acme.example"


def traefik_processes(scratch: Path) -> list[int]:
    """Processes started from a work dir under `scratch` (read from /proc; nothing is signalled)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if str(scratch).encode() in cmdline:
                found.append(int(entry.name))
    return found


def failures(result: RoutesResult) -> list[tuple[str, str]]:
    return [(f.rule_id, f.message) for f in result.findings]


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("traefik")


@pytest.fixture(scope="module")
def bundled(tenant_dev: Rendered, scratch: Path) -> RoutesResult:
    return check_routes(tenant_dev, scratch=scratch)


def test_passes_every_expectation_for_the_bundled_routes(bundled: RoutesResult, scratch: Path) -> None:
    assert failures(bundled) == []
    table = {(r.host, r.check): (r.got, r.router) for r in bundled.rows}
    assert table == {
        (HOST, "http://…/ redirects to https"): (f"301 to https://{HOST}/", "IngressRoute odoo-redirect routes[0]"),
        (HOST, "/ reaches Odoo web"): ("200 from port 8069", "IngressRoute odoo routes[0]"),
        (HOST, "security headers on /"): ("all present", "IngressRoute odoo routes[0]"),
        (HOST, "/websocket reaches the gevent port"): ("200 from port 8072", "IngressRoute odoo routes[1]"),
        (HOST, "/web/database/manager from a non-admin address"): ("403 from Traefik", "IngressRoute odoo routes[2]"),
        (HOST, "/web/login is rate-limited"): ("429 after 6 requests", "IngressRoute odoo routes[3]"),
        (HOST, "TLS below 1.2 refused"): ("refused", None),
        ("unknown-host.invalid", "unknown host"): ("404 from Traefik", None),
    }
    assert traefik_processes(scratch) == []
    assert list(scratch.iterdir()) == []  # the work dir (certificate, key, config) is gone too


def test_fails_when_websocket_goes_to_8069_and_headers_are_missing(variant: Variant) -> None:
    headers = "    contentTypeNosniff: true\n    customFrameOptionsValue: SAMEORIGIN\n"
    result = check_routes(variant({ROUTES: ("port: websocket", "port: http"), MW: (headers, "")}))
    assert failures(result) == [
        (
            "TF-ROUTE-007",
            f"{HOST}: security headers on /: expected HSTS, nosniff, X-Frame-Options, got missing "
            "X-Content-Type-Options: nosniff, X-Frame-Options (via IngressRoute odoo routes[0])",
        ),
        (
            "TF-ROUTE-004",
            f"{HOST}: /websocket reaches the gevent port: expected port 8072, got 200 from port 8069 "
            "(via IngressRoute odoo routes[1])",
        ),
    ]
    [websocket] = [f for f in result.findings if f.rule_id == "TF-ROUTE-004"]
    assert (websocket.kind, websocket.namespace, websocket.name, websocket.env) == (
        "IngressRoute",
        "acme-shop-dev",
        "odoo",
        "dev",
    )


def test_fails_without_rate_limit(variant: Variant) -> None:
    result = check_routes(variant({ROUTES: ("        - name: login-ratelimit\n", "")}))
    assert failures(result) == [
        (
            "TF-ROUTE-006",
            f"{HOST}: /web/login is rate-limited: expected 429 past the burst, got 200 from port 8069 after 200 "
            "requests (via IngressRoute odoo routes[3])",
        )
    ]


def test_fails_on_a_v2_style_host_rule(variant: Variant) -> None:
    v2 = "match: Host(`dev.acme.example`, `www.acme.example`)\n      middlewares:\n        - name: security-headers\n"
    result = check_routes(
        variant(
            {ROUTES: ("match: Host(`dev.acme.example`)\n      middlewares:\n        - name: security-headers\n", v2)}
        )
    )
    found = failures(result)
    assert found[0] == (
        "TF-ROUTE-001",
        "IngressRoute odoo routes[0] is rejected by Traefik: error while parsing rule Host(`dev.acme.example`, "
        "`www.acme.example`): adding rule Host(`dev.acme.example`, `www.acme.example`): error while adding rule Host: "
        "unexpected number of parameters; got 2, expected one of [1]",
    )
    assert ("TF-ROUTE-003", f"{HOST}: / reaches Odoo web: expected 200 from port 8069, got 404 from Traefik") in found
    assert any(rule == "TF-ROUTE-003" and msg.startswith("www.acme.example: / reaches Odoo web") for rule, msg in found)


def test_fails_on_legacy_tls_open_database_manager_and_missing_redirect(variant: Variant) -> None:
    moved_redirect = (
        "  - ingressroutes.yaml\npatches:\n  - target: {kind: IngressRoute, name: odoo-redirect}\n    patch: |\n"
        "      - op: replace\n        path: /spec/routes/0/match\n        value: Host(`old.acme.example`)\n"
    )
    result = check_routes(
        variant(
            {
                MW: ("minVersion: VersionTLS12", "minVersion: VersionTLS10"),
                ROUTES: ("        - name: admin-only\n", ""),
                "overlays/dev/kustomization.yaml": ("  - ingressroutes.yaml\n", moved_redirect),
            }
        ),
        hosts=[HOST],
    )
    assert failures(result) == [
        (
            "TF-ROUTE-002",
            f"{HOST}: http://…/ redirects to https: expected 301/308 to https://{HOST}, got 404 from Traefik",
        ),
        (
            "TF-ROUTE-005",
            f"{HOST}: /web/database/manager from a non-admin address: expected 403 from Traefik, got 200 from port "
            "8069 (via IngressRoute odoo routes[2])",
        ),
        ("TF-ROUTE-008", f"{HOST}: TLS below 1.2 refused: expected handshake refused, got TLSv1.1 accepted"),
    ]


def test_fails_on_conflicting_tls_options_and_a_catch_all_route(variant: Variant) -> None:
    extra = """---
apiVersion: traefik.io/v1alpha1
kind: IngressRoute
metadata:
  name: shop
spec:
  entryPoints: [websecure]
  routes:
    - kind: Rule
      match: Host(`dev.acme.example`) && PathPrefix(`/shop`)
      services:
        - name: odoo
          port: http
  tls: {}
---
apiVersion: traefik.io/v1alpha1
kind: IngressRoute
metadata:
  name: catch-all
spec:
  entryPoints: [websecure]
  routes:
    - kind: Rule
      match: PathPrefix(`/`)
      services:
        - name: odoo
          port: http
  tls: {}
"""
    found = failures(check_routes(variant({ROUTES: ("", extra)})))
    conflicts = [msg for rule, msg in found if rule == "TF-ROUTE-008"]
    # Traefik marks one or both routers of the host; either way the tenant's TLSOption is not in force.
    assert conflicts
    assert all(
        re.fullmatch(
            r"IngressRoute (odoo|shop) routes\[\d\] falls back to the default TLS options: router's TLSOptions "
            r"configuration is conflicting with other routers on the same entrypoint and host, default TLS options "
            r"will be used instead",
            msg,
        )
        for msg in conflicts
    )
    assert (
        "TF-ROUTE-009",
        "unknown-host.invalid: unknown host: expected 404 from Traefik, got 200 from port 8069 "
        "(via IngressRoute catch-all routes[0])",
    ) in found


def test_traefik_missing_is_an_error_naming_make_setup(tenant_dev: Rendered, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TENANTFORGE_TRAEFIK", "/nonexistent/traefik")
    with pytest.raises(ToolMissing, match="make setup"):
        check_routes(tenant_dev)


def test_times_out_and_leaves_nothing_running(tenant_dev: Rendered, tmp_path: Path) -> None:
    with pytest.raises(ToolFailed, match="traefik did not load the routes in time"):
        check_routes(tenant_dev, timeout=0.0, scratch=tmp_path)
    assert traefik_processes(tmp_path) == []
    assert list(tmp_path.iterdir()) == []


def test_middlewares_that_need_more_than_stand_in_backends_are_reported_not_simulated(variant: Variant) -> None:
    rendered = variant(
        {
            MW: (
                "  name: upload-limit\nspec:\n",
                "  name: upload-limit\nspec:\n  forwardAuth:\n    address: http://auth\n",
            )
        }
    )
    skipped = [(obj.ref, what) for obj, what in translate(rendered).skipped]
    assert skipped == [("Middleware/upload-limit", "Middleware upload-limit (forwardAuth) is not simulated")]
