"""NetworkPolicy reachability over the rendered fixture tenant: needed flows open, everything else closed."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from checks.config import parse_config
from checks.integrity.model import Rendered
from checks.integrity.netpol import Platform, check_network_policies
from tests.integrity.conftest import Edits

Variant = Callable[[Edits], Rendered]
NP = "base/networkpolicies.yaml"
FROM_ODOO = (
    "    - from:\n        - podSelector:\n            matchLabels:\n              app.kubernetes.io/name: odoo\n"
)


def messages(rendered: Rendered, rule: str) -> list[str]:
    return [f.message for f in check_network_policies(rendered) if f.rule_id == rule]


def test_passes_when_policies_admit_exactly_the_needed_flows(tenant_dev: Rendered) -> None:
    assert check_network_policies(tenant_dev) == []


def test_fails_when_dns_egress_is_forgotten(variant: Variant) -> None:
    found = messages(variant({NP: ("        - {protocol: UDP, port: 53}\n", "")}), "TF-NET-001")
    assert (
        "Odoo web (Deployment/odoo-web) cannot reach DNS on UDP 53: no egress rule of allow-dns, default-deny, "
        "odoo-egress admits UDP 53" in found
    )
    assert any(m.startswith("Odoo cron (Deployment/odoo-cron) cannot reach DNS on UDP 53") for m in found)
    assert any(m.startswith("database instances (Cluster/odoo-db) cannot reach DNS on UDP 53") for m in found)
    assert not any("TCP 53" in m for m in found)


def test_fails_when_odoo_cannot_reach_redis(variant: Variant) -> None:
    rendered = variant(
        {NP: ("        - {protocol: TCP, port: 6379}\n    - to:", "        - {protocol: TCP, port: 6380}\n    - to:")}
    )
    assert messages(rendered, "TF-NET-001") == [
        f"Odoo {role} (Deployment/odoo-{role}) cannot reach Redis on TCP 6379: no egress rule of allow-dns, "
        "default-deny, odoo-egress admits TCP 6379"
        for role in ("cron", "web")
    ]


@pytest.mark.parametrize(
    ("edits", "expected"),
    [
        (
            {NP: ("        - {protocol: TCP, port: websocket}\n", "")},
            "Traefik cannot reach Odoo web (Deployment/odoo-web) on TCP 8072: no ingress rule of default-deny, "
            "odoo-web-from-traefik admits TCP 8072",
        ),
        (
            {NP: ("        - {protocol: TCP, port: 8000}\n", "")},
            "the CNPG operator cannot reach database instances (odoo-db) on TCP 8000",
        ),
        (
            {NP: ("        - {protocol: TCP, port: 9187}\n", "        - {protocol: TCP, port: 9090}\n")},
            "Prometheus cannot reach metrics of odoo-db on TCP 9187",
        ),
    ],
)
def test_fails_when_a_needed_flow_is_blocked(variant: Variant, edits: Edits, expected: str) -> None:
    found = messages(variant(edits), "TF-NET-001")
    assert any(m.startswith(expected) for m in found), found


def test_fails_when_database_backups_cannot_reach_object_storage(variant: Variant) -> None:
    rendered = variant({"base/database.yaml": ("https://s3.example.net", "https://s3.example.net:9000")})
    assert messages(rendered, "TF-NET-001") == [
        "database instances (Cluster/odoo-db) cannot reach object storage (WAL archive) on TCP 9000: no egress rule "
        "of allow-dns, database, default-deny admits TCP 9000"
    ]


def test_fails_when_the_database_is_open_to_every_pod(variant: Variant) -> None:
    rendered = variant(
        {
            NP: (
                FROM_ODOO + "        - podSelector:",
                "    - from:\n        - namespaceSelector: {}\n        - podSelector:",
            )
        }
    )
    assert messages(rendered, "TF-NET-002") == [
        "Traefik can reach the database (Cluster/odoo-db) on TCP 5432: NetworkPolicy database admits it"
    ]
    assert messages(rendered, "TF-NET-003") == [
        "database instances (Cluster/odoo-db) accepts TCP 5432 from a pod of another tenant: "
        "NetworkPolicy database admits it"
    ]


def test_fails_when_redis_accepts_any_peer(variant: Variant) -> None:
    rendered = variant(
        {
            NP: (
                FROM_ODOO + "      ports:\n        - {protocol: TCP, port: 6379}",
                "    - ports:\n        - {protocol: TCP, port: 6379}",
            )
        }
    )
    assert messages(rendered, "TF-NET-002") == [
        "Traefik can reach Redis (Deployment/redis) on TCP 6379: NetworkPolicy redis-from-odoo admits it"
    ]
    assert messages(rendered, "TF-NET-003") == [
        "Redis (Deployment/redis) accepts TCP 6379 from a pod of another tenant: "
        "NetworkPolicy redis-from-odoo admits it"
    ]


def test_fails_without_default_deny(variant: Variant) -> None:
    rendered = variant(
        {
            NP: (
                "  name: default-deny\nspec:\n  podSelector: {}\n",
                "  name: default-deny\nspec:\n  podSelector:\n    matchLabels: {x: y}\n",
            )
        }
    )
    # Every existing pod is still isolated by its own policy; a pod added later would be open to everyone.
    assert messages(rendered, "TF-NET-003") == [
        "any other pod in acme-shop-dev accepts TCP 8080 from a pod of another tenant: "
        "no NetworkPolicy isolates any other pod in acme-shop-dev for ingress"
    ]


def test_fails_when_ingress_is_open_to_all_namespaces(variant: Variant) -> None:
    rendered = variant(
        {NP: ("matchLabels:\n              kubernetes.io/metadata.name: traefik\n", "matchLabels: {}\n")}
    )
    assert messages(rendered, "TF-NET-003") == [
        f"Odoo web (Deployment/odoo-web) accepts TCP {port} from a pod of another tenant: "
        "NetworkPolicy odoo-web-from-traefik admits it"
        for port in (8069, 8072)
    ]


def test_platform_components_are_where_tenantforge_yml_places_them(variant: Variant) -> None:
    rendered = variant({NP: ("kubernetes.io/metadata.name: traefik", "kubernetes.io/metadata.name: ingress")})
    assert messages(rendered, "TF-NET-001") == [
        f"Traefik cannot reach Odoo web (Deployment/odoo-web) on TCP {port}: no ingress rule of default-deny, "
        "odoo-web-from-traefik admits TCP " + str(port)
        for port in (8069, 8072)
    ]
    config = parse_config("version: 1\nplatform:\n  traefik: {namespace: ingress}\n")
    assert check_network_policies(rendered, Platform.from_config(config.platform)) == []


def test_object_storage_by_name_is_reachable_through_any_admitting_ip_block(variant: Variant) -> None:
    db_egress = (
        "              cnpg.io/cluster: odoo-db\n      ports:\n        - {protocol: TCP, port: 5432}\n    - to:\n"
        "        - ipBlock:\n            cidr: "
    )
    wide = "0.0.0.0/0\n            except: [10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16]\n"
    # The database policy is the one whose egress goes from the instances straight to an ipBlock.
    only_storage = variant({NP: (db_egress + wide, db_egress + "192.0.2.0/28\n")})
    assert check_network_policies(only_storage) == []
