"""Odoo configuration sanity over the odoo.conf the fixture tenant's SealedSecret renders."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from checks.integrity.model import Rendered
from checks.integrity.odooconf import check_odoo_config, go_duration_seconds, parse_conf
from tests.integrity.conftest import Edits

Variant = Callable[[Edits], Rendered]
CONF = "overlays/dev/sealed-secrets.yaml"
WEB = "Deployment/odoo-web (odoo.conf from SealedSecret odoo-config, key odoo.conf)"
CRON = "Deployment/odoo-cron (odoo.conf from SealedSecret odoo-config, key odoo.conf)"


def found(rendered: Rendered) -> list[tuple[str, str]]:
    return [(f.rule_id, f.message) for f in check_odoo_config(rendered)]


def test_passes_with_the_bundled_configuration(tenant_dev: Rendered) -> None:
    assert found(tenant_dev) == []


@pytest.mark.parametrize(
    ("edits", "expected"),
    [
        (
            {CONF: ("list_db = False", "list_db = True")},
            [
                ("TF-ODOO-003", f"{CRON}: list_db is on: the database manager is exposed"),
                ("TF-ODOO-003", f"{WEB}: list_db is on: the database manager is exposed"),
            ],
        ),
        (
            {CONF: ("        dbfilter = ^acme_shop$\n        db_name = acme_shop\n", "")},
            [
                ("TF-ODOO-003", f"{CRON}: list_db is off but neither db_name nor dbfilter pins the database"),
                ("TF-ODOO-003", f"{WEB}: list_db is off but neither db_name nor dbfilter pins the database"),
            ],
        ),
        (
            {CONF: ("proxy_mode = True", "proxy_mode = False")},
            [("TF-ODOO-002", f"{WEB}: proxy_mode is off behind Traefik")],
        ),
        (
            {CONF: ("workers = 4", "workers = 0")},
            [("TF-ODOO-004", f"{WEB}: workers = 0: the threaded server has no websocket process")],
        ),
        (
            {CONF: ("gevent_port = 8072", "longpolling_port = 8072")},
            [("TF-ODOO-004", f"{WEB}: longpolling_port is deprecated since Odoo 16; set gevent_port only")],
        ),
        (
            {"overlays/dev/ingressroutes.yaml": ("port: websocket", "port: http")},
            [
                (
                    "TF-ODOO-004",
                    f"{WEB}: IngressRoute odoo sends /websocket to container port 8069, not gevent_port 8072",
                )
            ],
        ),
        (
            {"overlays/dev/ingressroutes.yaml": ("PathPrefix(`/websocket`)", "PathPrefix(`/longpolling`)")},
            [("TF-ODOO-004", f"{WEB}: no IngressRoute sends /websocket to this workload")],
        ),
        (
            {CONF: ("max_cron_threads = 0", "max_cron_threads = 2")},
            [
                (
                    "TF-ODOO-005",
                    f"{WEB}: serves HTTP with max_cron_threads = 2; set 0 and run cron in its own workload",
                ),
                (
                    "TF-ODOO-009",
                    "Odoo may open 248 connections to Cluster odoo-db but max_connections is 200: "
                    "odoo-cron (0 + 2 + 1) x 8 x 1 = 24; odoo-web (4 + 2 + 1) x 8 x 4 = 224",
                ),
            ],
        ),
        (
            {"base/odoo-cron.yaml": ('args: ["--no-http", "--max-cron-threads=2"]', 'args: ["--no-http"]')},
            [
                ("TF-ODOO-005", f"{CRON}: runs without HTTP and max_cron_threads = 0, so it runs nothing at all"),
                ("TF-ODOO-005", "no Odoo workload runs cron jobs: every one has max_cron_threads = 0"),
            ],
        ),
        (
            {CONF: ("db_user = acme_shop", "db_user = postgres")},
            [
                ("TF-ODOO-006", f"{CRON}: db_user = postgres; Odoo refuses to run as the superuser"),
                ("TF-ODOO-006", f"{WEB}: db_user = postgres; Odoo refuses to run as the superuser"),
            ],
        ),
        (
            {CONF: ("admin_passwd = {{ .admin_passwd }}", "admin_passwd = s3cret-admin")},
            [
                ("TF-ODOO-007", f"{CRON}: admin_passwd is stored in plain text; store a pbkdf2-sha512 hash"),
                ("TF-ODOO-007", f"{WEB}: admin_passwd is stored in plain text; store a pbkdf2-sha512 hash"),
            ],
        ),
        (
            {"base/middlewares.yaml": ("responseHeaderTimeout: 150s", "responseHeaderTimeout: 1m")},
            [
                (
                    "TF-ODOO-008",
                    f"{WEB}: limit_time_real = 120s but ServersTransport odoo (IngressRoute odoo) gives up after 60s",
                )
            ],
        ),
        (
            {CONF: ("db_maxconn = 8", "db_maxconn = 64")},
            [
                (
                    "TF-ODOO-009",
                    "Odoo may open 1472 connections to Cluster odoo-db but max_connections is 200: "
                    "odoo-cron (0 + 2 + 1) x 64 x 1 = 192; odoo-web (4 + 0 + 1) x 64 x 4 = 1280",
                )
            ],
        ),
        (
            {"base/filestore.yaml": ("ReadWriteMany", "ReadWriteOnce")},
            [
                (
                    "TF-ODOO-010",
                    f"{WEB}: up to 4 replicas keep attachments in data_dir /var/lib/odoo, which is not on a "
                    "ReadWriteMany volume",
                )
            ],
        ),
        (
            {CONF: ("      odoo.conf: |\n        [options]\n", "      odoo.conf: |\n        [server]\n")},
            [
                (
                    "TF-ODOO-001",
                    "Deployment/odoo-cron: odoo.conf in SealedSecret odoo-config (key odoo.conf) does not parse: "
                    "no [options] section",
                ),
                (
                    "TF-ODOO-001",
                    "Deployment/odoo-web: odoo.conf in SealedSecret odoo-config (key odoo.conf) does not parse: "
                    "no [options] section",
                ),
            ],
        ),
        (
            {"base/odoo-web.yaml": ("mountPath: /etc/odoo\n", "mountPath: /etc/odoo-config\n")},
            [
                (
                    "TF-ODOO-001",
                    "Deployment/odoo-web runs Odoo but its odoo.conf cannot be read: nothing is mounted at "
                    "/etc/odoo/odoo.conf",
                )
            ],
        ),
    ],
)
def test_fails_on_each_misconfiguration(variant: Variant, edits: Edits, expected: list[tuple[str, str]]) -> None:
    assert found(variant(edits)) == expected


def test_hashed_admin_password_and_odoo_15_longpolling_pass(variant: Variant) -> None:
    rendered = variant(
        {
            CONF: ("admin_passwd = {{ .admin_passwd }}", "admin_passwd = $pbkdf2-sha512$600000$c2FsdA$aGFzaA"),
            "base/odoo-web.yaml": ("odoo:17.0", "odoo:15.0"),
            "overlays/dev/ingressroutes.yaml": ("PathPrefix(`/websocket`)", "PathPrefix(`/longpolling`)"),
        }
    )
    assert found(rendered) == []


def test_command_line_overrides_the_file(variant: Variant) -> None:
    rendered = variant(
        {
            "base/odoo-web.yaml": (
                "image: registry.example.net/retail/odoo:17.0\n",
                "image: registry.example.net/retail/odoo:17.0\n          args: [--workers=0, --proxy-mode]\n",
            )
        }
    )
    assert found(rendered) == [("TF-ODOO-004", f"{WEB}: workers = 0: the threaded server has no websocket process")]


def test_parse_and_durations() -> None:
    assert parse_conf("[options]\nworkers = 2\n") == {"workers": "2"}
    with pytest.raises(ValueError, match="no \\[options\\] section"):
        parse_conf("[misc]\nx = 1\n")
    with pytest.raises(ValueError, match="File contains no section headers"):
        parse_conf("workers = 2\n")
    assert go_duration_seconds("2m30s") == 150
    assert go_duration_seconds("150") == 150
    assert go_duration_seconds(90) == 90
    assert go_duration_seconds("soon") is None


def test_dependent_env_vars_in_arguments_are_expanded(variant: Variant) -> None:
    cron = "base/odoo-cron.yaml"
    expanded = variant(
        {
            cron: (
                'args: ["--no-http", "--max-cron-threads=2"]\n          env:\n',
                'args: ["--no-http", "--max-cron-threads=$(CRON_THREADS)"]\n          env:\n'
                '            - {name: CRON_THREADS, value: "2"}\n',
            )
        }
    )
    assert found(expanded) == []
    missing = variant({"base/odoo-cron.yaml": ('"--max-cron-threads=2"', '"--max-cron-threads=$(CRON_THREADS)"')})
    assert ("TF-ODOO-005", "no Odoo workload runs cron jobs: every one has max_cron_threads = 0") in found(missing)
