"""A small but complete tenant repository that passes every bundled rule, as an inline file tree.

Tests copy it and break one thing at a time. Kept realistic: base + two overlays, the same shapes the blueprint
renders (hardened Odoo Deployment, default-deny NetworkPolicies, SealedSecret, CNPG Cluster in prod).
"""

from __future__ import annotations

DIGEST = "sha256:" + "a" * 64

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: odoo-web
  labels: {app.kubernetes.io/name: odoo, app.kubernetes.io/component: web}
spec:
  replicas: 1
  selector:
    matchLabels: {app.kubernetes.io/name: odoo, app.kubernetes.io/component: web}
  template:
    metadata:
      labels: {app.kubernetes.io/name: odoo, app.kubernetes.io/component: web}
    spec:
      automountServiceAccountToken: false
      securityContext:
        runAsNonRoot: true
        runAsUser: 101
        runAsGroup: 101
        fsGroup: 101
        seccompProfile: {type: RuntimeDefault}
      containers:
        - name: odoo
          image: registry.example.net/retail/odoo:17.0-20250101
          ports: [{containerPort: 8069, name: http}]
          envFrom:
            - secretRef: {name: odoo-config}
          securityContext:
            allowPrivilegeEscalation: false
            readOnlyRootFilesystem: true
            capabilities: {drop: [ALL]}
          resources:
            requests: {cpu: 250m, memory: 512Mi}
            limits: {cpu: "1", memory: 1Gi}
          readinessProbe: {httpGet: {path: /web/health, port: 8069}}
          livenessProbe: {httpGet: {path: /web/health, port: 8069}}
          volumeMounts: [{name: tmp, mountPath: /tmp}]
      volumes:
        - name: tmp
          emptyDir: {}
"""

SERVICE = """\
apiVersion: v1
kind: Service
metadata:
  name: odoo-web
spec:
  selector: {app.kubernetes.io/name: odoo, app.kubernetes.io/component: web}
  ports: [{name: http, port: 8069, targetPort: 8069}]
"""

NETWORK_POLICIES = """\
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: default-deny
spec:
  podSelector: {}
  policyTypes: [Ingress, Egress]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: odoo-from-traefik
spec:
  podSelector:
    matchLabels: {app.kubernetes.io/name: odoo}
  policyTypes: [Ingress]
  ingress:
    - from:
        - namespaceSelector:
            matchLabels: {kubernetes.io/metadata.name: traefik}
          podSelector:
            matchLabels: {app.kubernetes.io/name: traefik}
      ports: [{port: 8069}]
"""


def sealed_secret(namespace: str) -> str:
    return f"""\
apiVersion: bitnami.com/v1alpha1
kind: SealedSecret
metadata:
  name: odoo-config
  namespace: {namespace}
spec:
  encryptedData:
    db_password: AgBy3i4OJSWK+PiTySYZZA==
  template:
    metadata:
      name: odoo-config
      namespace: {namespace}
"""


def overlay(env: str, *, prod: bool) -> str:
    image = f"  - name: registry.example.net/retail/odoo\n    digest: {DIGEST}\n" if prod else ""
    return f"""\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: acme-shop-{env}
resources:
  - ../../base
  - sealed-secret.yaml
images:
{image or "  []"}
"""


CONFIG = """\
version: 1
tenant: acme-shop
kubernetes_version: 1.33.0
environments:
  dev:
    namespaces: [acme-shop-dev]
    hosts: [dev.acme.example]
    threshold: high
    prod: false
  prod:
    namespaces: [acme-shop-prod]
    hosts: [shop.acme.example]
    threshold: medium
    prod: true
registries:
  - registry.example.net/retail
waivers: []
"""


def files() -> dict[str, str]:
    return {
        "tenantforge.yml": CONFIG,
        "base/kustomization.yaml": "resources: [deployment.yaml, service.yaml, networkpolicies.yaml]\n",
        "base/deployment.yaml": DEPLOYMENT,
        "base/service.yaml": SERVICE,
        "base/networkpolicies.yaml": NETWORK_POLICIES,
        "overlays/dev/kustomization.yaml": overlay("dev", prod=False),
        "overlays/dev/sealed-secret.yaml": sealed_secret("acme-shop-dev"),
        "overlays/prod/kustomization.yaml": overlay("prod", prod=True),
        "overlays/prod/sealed-secret.yaml": sealed_secret("acme-shop-prod"),
    }
