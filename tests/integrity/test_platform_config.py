"""tenantforge.yml `platform:`: where Traefik, the CNPG operator, Prometheus and DNS run."""

from __future__ import annotations

import pytest

from checks.config import PlatformConfig, PlatformPeer, parse_config
from checks.errors import ConfigError


def test_defaults_when_absent() -> None:
    assert parse_config("version: 1\n").platform == PlatformConfig()
    assert PlatformConfig().traefik == PlatformPeer("traefik", (("app.kubernetes.io/name", "traefik"),))


def test_namespace_and_labels_are_read() -> None:
    config = parse_config(
        "version: 1\nplatform:\n  traefik: {namespace: ingress}\n"
        "  prometheus: {namespace: observability, labels: {app: prometheus, team: sre}}\n"
    )
    assert config.platform.traefik == PlatformPeer("ingress", (("app.kubernetes.io/name", "traefik"),))
    assert config.platform.prometheus == PlatformPeer("observability", (("app", "prometheus"), ("team", "sre")))
    assert config.platform.dns == PlatformConfig().dns


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("platform:\n  ingress: {namespace: x}\n", "tenantforge.yml: platform.ingress: unknown key"),
        ("platform:\n  traefik: {labels: {a: b}}\n", "tenantforge.yml: platform.traefik.namespace: is required"),
        ("platform:\n  traefik: {namespace: Ingress_NS}\n", "'Ingress_NS' is not a DNS-1123 label"),
        (
            "platform:\n  dns: {namespace: kube-system, labels: []}\n",
            "platform.dns.labels: must be a non-empty mapping",
        ),
    ],
)
def test_bad_platform_sections_name_the_key(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace(".", r"\.").replace("(", r"\(")):
        parse_config("version: 1\n" + text)
