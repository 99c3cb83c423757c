"""The blueprint the fleet tests and the fleet benchmark upgrade tenants across: two releases in a git repo.

v1.1.0 is a realistic second release: a new middleware, a renamed file (moved by a Copier migration in tenants)
and a changed default.
"""

from __future__ import annotations

from pathlib import Path

from tests.helpers import git, write_tree

TEMPLATE_V1: dict[str, str] = {
    "copier.yml": (
        "_subdirectory: blueprints/odoo-tenant/template\n"
        "_answers_file: .copier-answers.yml\n"
        "_templates_suffix: .jinja\n"
        "---\n"
        "!include blueprints/odoo-tenant/questions.yml\n"
    ),
    "blueprints/odoo-tenant/questions.yml": (
        "tenant:\n  type: str\n  help: tenant name\n"
        "domain:\n  type: str\n  default: '{{ tenant }}.shop.example'\n"
        "replicas:\n  type: int\n  default: 2\n"
    ),
    "blueprints/odoo-tenant/template/{{_copier_conf.answers_file}}.jinja": (
        "# Changes here will be overwritten by Copier\n{{ _copier_answers|to_nice_yaml -}}\n"
    ),
    "blueprints/odoo-tenant/template/base/kustomization.yaml": (
        "resources:\n  - deployment.yaml\n  - middleware.yaml\n"
        "configMapGenerator:\n  - name: odoo-conf\n    files: [odoo.conf]\n"
    ),
    "blueprints/odoo-tenant/template/base/odoo.conf.jinja": (
        "[options]\nproxy_mode = True\nworkers = 2\nlimit_time_cpu = 60\nlist_db = False\n"
    ),
    "blueprints/odoo-tenant/template/base/deployment.yaml.jinja": (
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: odoo-web\nspec:\n"
        "  replicas: {{ replicas }}\n  selector:\n    matchLabels: {app: odoo-web}\n  template:\n"
        "    metadata:\n      labels: {app: odoo-web}\n    spec:\n      containers:\n        - name: odoo\n"
        "          image: registry.example.net/retail/odoo:17.0\n"
    ),
    "blueprints/odoo-tenant/template/base/middleware.yaml": (
        "apiVersion: traefik.io/v1alpha1\nkind: Middleware\nmetadata:\n  name: security-headers\nspec:\n"
        "  headers:\n    frameDeny: true\n    browserXssFilter: true\n"
    ),
    "blueprints/odoo-tenant/template/overlays/dev/kustomization.yaml.jinja": (
        "namespace: {{ tenant }}-dev\nresources:\n  - ../../base\n"
    ),
    "blueprints/odoo-tenant/template/overlays/prod/kustomization.yaml.jinja": (
        "namespace: {{ tenant }}-prod\nresources:\n  - ../../base\n"
    ),
    "blueprints/odoo-tenant/template/README.md.jinja": "# {{ tenant }}\n\nRunbook of {{ domain }}.\n",
    # a small fixture blueprint, not hardened: only critical findings (a broken build) fail its gate
    "blueprints/odoo-tenant/template/tenantforge.yml.jinja": (
        "version: 1\ntenant: {{ tenant }}\nenvironments:\n"
        "  dev: {namespaces: [{{ tenant }}-dev], threshold: critical}\n"
        "  prod: {namespaces: [{{ tenant }}-prod], threshold: critical}\n"
    ),
}

# v1.1.0: a new middleware, a renamed file (with a migration), a changed default.
RATE_LIMIT = (
    "apiVersion: traefik.io/v1alpha1\nkind: Middleware\nmetadata:\n  name: rate-limit\nspec:\n"
    "  rateLimit:\n    average: 100\n    burst: 50\n"
)


def release_v1_1(root: Path) -> None:
    tpl = root / "blueprints/odoo-tenant/template"
    git(root, "mv", "blueprints/odoo-tenant/template/base/middleware.yaml", str(tpl / "base/middlewares.yaml"))
    (tpl / "base/rate-limit.yaml").write_text(RATE_LIMIT)
    (tpl / "base/kustomization.yaml").write_text(
        "resources:\n  - deployment.yaml\n  - middlewares.yaml\n  - rate-limit.yaml\n"
        "configMapGenerator:\n  - name: odoo-conf\n    files: [odoo.conf]\n"
    )
    conf = tpl / "base/odoo.conf.jinja"
    conf.write_text(conf.read_text().replace("limit_time_cpu = 60", "limit_time_cpu = 120"))
    with (root / "copier.yml").open("a") as fh:
        fh.write(
            "---\n_migrations:\n"
            "  - version: v1.1.0\n"
            "    when: \"{{ _stage == 'before' }}\"\n"
            '    command: "test ! -f base/middleware.yaml || git mv base/middleware.yaml base/middlewares.yaml"\n'
        )


def commit_release(root: Path, tag: str, message: str) -> None:
    git(root, "add", "--all")
    git(root, "commit", "--quiet", "-m", message)
    git(root, "tag", "-a", tag, "-m", f"release {tag}")


def build_blueprint(root: Path) -> Path:
    """A git repo at `root` holding the blueprint, tagged v1.0.0 and v1.1.0."""
    root.mkdir(parents=True)
    git(root, "init", "--quiet", "--initial-branch=main")
    write_tree(root, TEMPLATE_V1)
    commit_release(root, "v1.0.0", "blueprint 1.0.0")
    release_v1_1(root)
    commit_release(root, "v1.1.0", "blueprint 1.1.0: rate limit, middlewares.yaml, longer cpu limit")
    return root
