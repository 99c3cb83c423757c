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


PDB = """\
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: odoo-web
spec:
  maxUnavailable: 1
  selector:
    matchLabels: {app.kubernetes.io/name: odoo, app.kubernetes.io/component: web}
"""

ROUTES = """\
apiVersion: traefik.io/v1alpha1
kind: Middleware
metadata:
  name: security-headers
spec:
  headers:
    stsSeconds: 31536000
    contentTypeNosniff: true
    customFrameOptionsValue: SAMEORIGIN
---
apiVersion: traefik.io/v1alpha1
kind: Middleware
metadata:
  name: admin-only
spec:
  ipAllowList:
    sourceRange: [10.0.0.0/8]
---
apiVersion: traefik.io/v1alpha1
kind: Middleware
metadata:
  name: https-redirect
spec:
  redirectScheme: {scheme: https, permanent: true}
---
apiVersion: traefik.io/v1alpha1
kind: IngressRoute
metadata:
  name: odoo
spec:
  entryPoints: [websecure]
  routes:
    - kind: Rule
      match: Host(`HOST`)
      middlewares: [{name: security-headers}]
      services: [{name: odoo-web, port: 8069}]
    - kind: Rule
      match: Host(`HOST`) && PathPrefix(`/web/database`)
      middlewares: [{name: admin-only}, {name: security-headers}]
      services: [{name: odoo-web, port: 8069}]
  tls:
    secretName: odoo-tls
---
apiVersion: traefik.io/v1alpha1
kind: IngressRoute
metadata:
  name: odoo-http
spec:
  entryPoints: [web]
  routes:
    - kind: Rule
      match: Host(`HOST`)
      middlewares: [{name: https-redirect}]
      services: [{name: odoo-web, port: 8069}]
"""

DATABASE = """\
apiVersion: postgresql.cnpg.io/v1
kind: Cluster
metadata:
  name: odoo-db
spec:
  instances: 2
  storage: {size: 20Gi}
  plugins:
    - name: barman-cloud.cloudnative-pg.io
      isWALArchiver: true
      parameters: {barmanObjectName: odoo-backups}
---
apiVersion: postgresql.cnpg.io/v1
kind: ScheduledBackup
metadata:
  name: odoo-db-daily
spec:
  schedule: "0 0 2 * * *"
  cluster: {name: odoo-db}
  method: plugin
  pluginConfiguration: {name: barman-cloud.cloudnative-pg.io}
"""

ARGOCD = """\
apiVersion: argoproj.io/v1alpha1
kind: AppProject
metadata:
  name: acme-shop
  namespace: argocd
spec:
  sourceRepos: [https://git.example.net/tenants/acme-shop.git]
  destinations:
    - {server: https://kubernetes.default.svc, namespace: acme-shop-dev}
    - {server: https://kubernetes.default.svc, namespace: acme-shop-prod}
  clusterResourceWhitelist: []
---
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: acme-shop-prod
  namespace: argocd
spec:
  project: acme-shop
  source: {repoURL: https://git.example.net/tenants/acme-shop.git, targetRevision: main, path: overlays/prod}
  destination: {server: https://kubernetes.default.svc, namespace: acme-shop-prod}
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
    text = f"""\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: acme-shop-{env}
resources:
  - ../../base
  - sealed-secret.yaml
  - routes.yaml
"""
    if prod:
        text += f"""\
  - database.yaml
replicas:
  - {{name: odoo-web, count: 2}}
images:
  - name: registry.example.net/retail/odoo
    digest: {DIGEST}
"""
    return text


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
        "base/kustomization.yaml": "resources: [deployment.yaml, service.yaml, pdb.yaml, networkpolicies.yaml]\n",
        "base/pdb.yaml": PDB,
        "overlays/dev/routes.yaml": ROUTES.replace("HOST", "dev.acme.example"),
        "overlays/prod/routes.yaml": ROUTES.replace("HOST", "shop.acme.example"),
        "overlays/prod/database.yaml": DATABASE,
        "argocd/project.yaml": ARGOCD,
        "base/deployment.yaml": DEPLOYMENT,
        "base/service.yaml": SERVICE,
        "base/networkpolicies.yaml": NETWORK_POLICIES,
        "overlays/dev/kustomization.yaml": overlay("dev", prod=False),
        "overlays/dev/sealed-secret.yaml": sealed_secret("acme-shop-dev"),
        "overlays/prod/kustomization.yaml": overlay("prod", prod=True),
        "overlays/prod/sealed-secret.yaml": sealed_secret("acme-shop-prod"),
    }
