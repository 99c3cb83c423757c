"""Reference integrity over the rendered fixture tenant: passes as bundled, fails on each kind of broken reference."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from checks.integrity.model import Rendered
from checks.integrity.references import check_references
from tests.integrity.conftest import Edits

Variant = Callable[[Edits], Rendered]


def test_passes_when_every_reference_resolves(tenant_dev: Rendered) -> None:
    assert check_references(tenant_dev) == []


def test_fails_when_service_selector_has_a_typo(variant: Variant) -> None:
    rendered = variant(
        {"base/odoo-service.yaml": ("app.kubernetes.io/component: web", "app.kubernetes.io/component: wbe")}
    )
    [f] = check_references(rendered)
    assert f.rule_id == "TF-REF-005"
    assert (f.kind, f.namespace, f.name, f.env) == ("Service", "acme-shop-dev", "odoo", "dev")
    assert "app.kubernetes.io/component=wbe" in f.message
    assert "closest is Deployment/odoo-web with app.kubernetes.io/component=web" in f.message


def test_fails_when_a_sealed_secret_is_missing(variant: Variant) -> None:
    rendered = variant({"base/redis.yaml": ("name: redis-auth", "name: redis-password")})
    [f] = check_references(rendered)
    assert f.rule_id == "TF-REF-001"
    assert f.name == "redis"
    assert "Secret 'redis-password' (env REDIS_PASSWORD of container redis)" in f.message


def test_platform_secrets_count_as_produced(variant: Variant) -> None:
    rendered = variant({"base/redis.yaml": ("name: redis-auth", "name: redis-password")})
    assert check_references(rendered, platform_secrets=["acme-shop-dev/redis-password"]) == []
    assert check_references(rendered, platform_secrets=["redis-password"]) == []
    assert len(check_references(rendered, platform_secrets=["other-ns/redis-password"])) == 1


@pytest.mark.parametrize(
    ("edits", "rule", "fragment"),
    [
        (
            {"base/odoo-web.yaml": ("claimName: odoo-filestore", "claimName: odoo-files")},
            "TF-REF-003",
            "PersistentVolumeClaim 'odoo-files' (volume filestore)",
        ),
        (
            {"base/odoo-cron.yaml": ("serviceAccountName: odoo", "serviceAccountName: odoo-cron")},
            "TF-REF-004",
            "ServiceAccount 'odoo-cron'",
        ),
        (
            {"base/database.yaml": ("name: odoo-db-app", "name: odoo-db-owner")},
            "TF-REF-001",
            "Secret 'odoo-db-owner' (bootstrap.initdb.secret)",
        ),
        (
            {
                "base/database.yaml": (
                    "name: s3-credentials\n        key: ACCESS_KEY_ID",
                    "name: s3\n        key: ACCESS_KEY_ID",
                )
            },
            "TF-REF-001",
            "Secret 's3' (configuration credentials)",
        ),
        (
            {"overlays/dev/certificate.yaml": ("secretName: acme-shop-tls", "secretName: acme-shop-cert")},
            "TF-REF-001",
            "Secret 'acme-shop-tls' (tls.secretName)",
        ),
        (
            {"overlays/dev/ingressroutes.yaml": ("port: websocket", "port: gevent")},
            "TF-REF-006",
            "names port 'gevent' of Service odoo, which exposes only http:8069, websocket:8072",
        ),
        (
            {"base/odoo-service.yaml": ("targetPort: websocket", "targetPort: longpolling")},
            "TF-REF-006",
            "targets container port 'longpolling'",
        ),
        (
            {"base/database.yaml": ("- port: metrics", "- port: exporter")},
            "TF-REF-006",
            "PodMonitor odoo-db scrapes port 'exporter'",
        ),
        (
            {
                "base/redis.yaml": (
                    "tcpSocket:\n              port: redis\n          livenessProbe",
                    "tcpSocket:\n              port: resp\n          livenessProbe",
                )
            },
            "TF-REF-006",
            "readinessProbe uses port 'resp'",
        ),
        (
            {"overlays/dev/ingressroutes.yaml": ("- name: upload-limit", "- name: upload-limits")},
            "TF-REF-007",
            "uses Middleware acme-shop-dev/upload-limits, which is not rendered",
        ),
        (
            {"overlays/dev/ingressroutes.yaml": ("name: acme-shop-tls\n", "name: modern-tls\n")},
            "TF-REF-007",
            "TLSOption acme-shop-dev/modern-tls",
        ),
        (
            {"base/availability.yaml": ("name: odoo-web\n  minReplicas", "name: odoo\n  minReplicas")},
            "TF-REF-008",
            "scales Deployment/odoo, which is not rendered",
        ),
    ],
)
def test_fails_on_each_broken_reference(variant: Variant, edits: Edits, rule: str, fragment: str) -> None:
    findings = check_references(variant(edits))
    assert [f.rule_id for f in findings] == [rule], findings
    assert fragment in findings[0].message


def test_fails_when_a_strict_sealed_secret_is_renamed_by_kustomize(variant: Variant) -> None:
    rendered = variant(
        {"overlays/dev/kustomization.yaml": ("namespace: acme-shop-dev", "namespace: acme-shop-dev\nnamePrefix: shop-")}
    )
    sealed = [f for f in check_references(rendered) if f.rule_id == "TF-REF-009"]
    assert {f.name for f in sealed} == {
        "shop-odoo-config",
        "shop-odoo-db-app",
        "shop-redis-auth",
        "shop-s3-credentials",
    }
    assert "sealed (strict scope) for name 'odoo-config' but is rendered as 'shop-odoo-config'" in sealed[0].message


def test_namespace_wide_sealed_secret_may_be_renamed(variant: Variant) -> None:
    rendered = variant(
        {
            "overlays/dev/kustomization.yaml": (
                "namespace: acme-shop-dev",
                "namespace: acme-shop-dev\nnamePrefix: shop-",
            ),
            "overlays/dev/sealed-secrets.yaml": (
                "  name: redis-auth\n  namespace: acme-shop-dev\n",
                "  name: redis-auth\n  namespace: acme-shop-dev\n  annotations:\n"
                '    sealedsecrets.bitnami.com/namespace-wide: "true"\n',
            ),
        }
    )
    sealed = {f.name for f in check_references(rendered) if f.rule_id == "TF-REF-009"}
    assert "shop-redis-auth" not in sealed
    assert "shop-odoo-config" in sealed
