"""Every example and every matrix tenant renders into a repository whose overlays build with kustomize, validate
strictly with kubeconform (nothing skipped), pass trivy config without HIGH/CRITICAL, and whose CI passes
actionlint, zizmor and the GitHub/GitLab schemas."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from checks import tools
from tests.blueprint.conftest import ALL_TENANTS, MATRIX, Rendered, kubeconform, trivy_config
from tests.helpers import ROOT, run_cli, tree_snapshot

VENV_BIN = ROOT / ".venv" / "bin"


def per_tenant() -> Any:
    return pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.xdist_group(n)) for n in ALL_TENANTS])


def objects(rendered: Rendered, env: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(rendered.manifests[env]) if doc]


def find(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    matches = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(matches) == 1, f"expected one {kind}/{name}, found {len(matches)}"
    return matches[0]


@per_tenant()
def test_every_overlay_validates_strictly_with_nothing_skipped(name: str, rendered: Callable[[str], Rendered]) -> None:
    tenant = rendered(name)
    argocd = sorted(p for p in (tenant.root / "argocd").glob("*.yaml") if p.name != "kustomization.yaml")
    report = kubeconform([*sorted(tenant.built.glob("*.yaml")), *argocd])
    summary = report["summary"]
    bad = [r for r in report["resources"] if r["status"] != "statusValid"]
    assert bad == [], bad
    assert summary["invalid"] == 0 and summary["errors"] == 0 and summary["skipped"] == 0
    envs = len(tenant.manifests)
    assert summary["valid"] >= 20 * envs + len(argocd)


@per_tenant()
def test_trivy_config_reports_nothing_high_or_critical(
    name: str, rendered: Callable[[str], Rendered], tmp_path: Path
) -> None:
    tenant = rendered(name)
    failed = trivy_config(tenant.built, tmp_path / "trivy.json")
    serious = [(m["ID"], m["Message"]) for m in failed if m["Severity"] in {"HIGH", "CRITICAL"}]
    assert serious == []


def _run(*cmd: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(cmd), cwd=cwd, capture_output=True, text=True, check=False, timeout=120)


@per_tenant()
def test_ci_passes_actionlint_zizmor_and_the_provider_schemas(name: str, rendered: Callable[[str], Rendered]) -> None:
    tenant = rendered(name)
    provider = tenant.answers["ci_provider"]
    workflows = sorted((tenant.root / ".github" / "workflows").glob("*.yml"))
    gitlab = tenant.root / ".gitlab-ci.yml"
    assert bool(workflows) == (provider in {"github", "both"})
    assert gitlab.exists() == (provider in {"gitlab", "both"})
    for workflow in workflows:
        rel = str(workflow.relative_to(tenant.root))
        lint = _run(str(tools.require_tool("actionlint")), rel, cwd=tenant.root)
        assert lint.returncode == 0, lint.stdout + lint.stderr
        audit = _run(str(VENV_BIN / "zizmor"), "--offline", "--persona", "auditor", rel, cwd=tenant.root)
        assert audit.returncode == 0 and "No findings" in audit.stdout, audit.stdout + audit.stderr
        schema = _run(str(VENV_BIN / "check-jsonschema"), "--builtin-schema", "vendor.github-workflows", rel,
                      cwd=tenant.root)  # fmt: skip
        assert schema.returncode == 0, schema.stdout
        text = workflow.read_text()
        uses = re.findall(r"(?m)^\s*(?:- )?uses:\s*(\S+)", text)
        assert uses and all(re.search(r"@[0-9a-f]{40}$", u) for u in uses), uses
        assert "pull_request_target" not in text
    if gitlab.exists():
        schema = _run(str(VENV_BIN / "check-jsonschema"), "--builtin-schema", "vendor.gitlab-ci", ".gitlab-ci.yml",
                      cwd=tenant.root)  # fmt: skip
        assert schema.returncode == 0, schema.stdout
        assert re.search(r"ref: [0-9a-f]{40}\n", gitlab.read_text())


CREDENTIAL_PATTERNS = {
    "private key": re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    "AWS access key id": re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b"),
    "GitHub token": re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}"),
    "GitLab token": re.compile(r"\bglpat-[A-Za-z0-9_-]{20,}"),
    "password in a URL": re.compile(r"[a-z][a-z0-9+.-]*://[^/\s:@]+:[^/\s@$]+@"),
    "plaintext secret setting": re.compile(
        r"(?im)^\s*(db_password|admin_passwd|requirepass|password|secret|token)\s*[:=]\s*"
        r"(?!\{\{ \.)(?![A-Za-z0-9+/]{100,}={0,2}$)[^\s{$][^\s]*$"
    ),
}


@per_tenant()
def test_no_credential_no_secret_no_creation_timestamp_anywhere(name: str, rendered: Callable[[str], Rendered]) -> None:
    tenant = rendered(name)
    texts = {str(p.relative_to(tenant.root)): p.read_text() for p in tenant.files()}
    texts.update({f"build of {env}": text for env, text in tenant.manifests.items()})
    for where, text in texts.items():
        assert "creationTimestamp" not in text, where
        for label, pattern in CREDENTIAL_PATTERNS.items():
            assert not pattern.search(text), f"{label} in {where}: {pattern.search(text)}"
    for env in tenant.manifests:
        assert not [d for d in objects(tenant, env) if d["kind"] == "Secret"], env


@per_tenant()
def test_routes_security_and_prod_rules_follow_the_answers(name: str, rendered: Callable[[str], Rendered]) -> None:
    tenant = rendered(name)
    answers = tenant.answers
    config = yaml.safe_load((tenant.root / "tenantforge.yml").read_text())
    prod = answers["production_environment"]
    assert sorted(config["environments"]) == sorted(tenant.manifests) == sorted(answers["environments"])
    for env in tenant.manifests:
        docs = objects(tenant, env)
        namespace = f"{answers['tenant_slug']}-{env}"
        assert {d["metadata"].get("namespace") for d in docs} == {namespace}
        assert config["environments"][env]["namespaces"] == [namespace]
        assert config["environments"][env]["prod"] is (env == prod)
        route = find(docs, "IngressRoute", "odoo")
        assert route["spec"]["entryPoints"] == ["websecure"]
        hosts = set()
        for r in route["spec"]["routes"]:
            hosts |= set(re.findall(r"Host\(`([^`]+)`\)", r["match"]))
            assert {"name": "security-headers"} in r["middlewares"]
        assert hosts == set(config["environments"][env]["hosts"]) == set(answers["hostnames"][env])
        websocket = [r for r in route["spec"]["routes"] if "/websocket" in r["match"]]
        assert [s["port"] for s in websocket[0]["services"]] == [8072]
        manager = [r for r in route["spec"]["routes"] if "/web/database" in r["match"]]
        assert {"name": "database-manager"} in manager[0]["middlewares"]
        allow = find(docs, "Middleware", "database-manager")["spec"]["ipAllowList"]["sourceRange"]
        assert allow == (answers["admin_cidrs"] or ["0.0.0.0/32"])
        assert find(docs, "NetworkPolicy", "default-deny")["spec"] == {
            "podSelector": {},
            "policyTypes": ["Ingress", "Egress"],
        }
        conf = find(docs, "SealedSecret", "odoo-config")["spec"]["template"]["data"]["odoo.conf"]
        for line in ("proxy_mode = True", "list_db = False", "max_cron_threads = 0", "gevent_port = 8072"):
            assert line in conf.splitlines()
        assert "db_password = {{ .db_password }}" in conf.splitlines()
        web = find(docs, "Deployment", "odoo-web")
        image = web["spec"]["template"]["spec"]["containers"][0]["image"]
        for d in docs:
            labels = d["metadata"].get("labels", {})
            assert labels.get("tenantforge.io/tenant") == answers["tenant_slug"], d["metadata"]["name"]
        if env == prod:
            assert web["spec"]["replicas"] >= 2
            assert "@sha256:" in image
            assert find(docs, "HorizontalPodAutoscaler", "odoo-web")["spec"]["minReplicas"] >= 2
            if answers["database"] == "cnpg":
                assert find(docs, "Cluster", f"{answers['tenant_slug']}-db")["spec"]["instances"] >= 2
    project = yaml.safe_load((tenant.root / "argocd" / "project.yaml").read_text())
    assert project["spec"]["clusterResourceWhitelist"] == []
    assert project["spec"]["sourceRepos"] == [answers["repo_url"]]
    windows = project["spec"].get("syncWindows", [])
    assert [w["schedule"] for w in windows] == [w["schedule"] for w in config["freeze_windows"]]
    for env in tenant.manifests:
        app = yaml.safe_load((tenant.root / "argocd" / f"application-{env}.yaml").read_text())
        assert app["spec"]["project"] == answers["tenant_slug"] != "default"
        assert app["spec"]["destination"]["namespace"] == f"{answers['tenant_slug']}-{env}"


@pytest.mark.xdist_group("shared-cnpg-s3-redis-github-16")
def test_rendering_twice_gives_byte_identical_files(
    rendered: Callable[[str], Rendered], blueprint_source: Path, tmp_path: Path
) -> None:
    first = rendered("shared-cnpg-s3-redis-github-16")
    answers = tmp_path / "answers.yml"
    answers.write_text(yaml.safe_dump({k: v for k, v in first.answers.items() if not k.startswith("_")}))
    result = run_cli("new", str(tmp_path / "again"), "--answers", str(answers), "--template", str(blueprint_source),
                     "--vcs-ref", "v0.1.0")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert tree_snapshot(tmp_path / "again") == tree_snapshot(first.root)


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.xdist_group(n)) for n in sorted(MATRIX)])
def test_gate_passes_on_every_matrix_tenant(name: str, rendered: Callable[[str], Rendered]) -> None:
    result = run_cli("check", str(rendered(name).root))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    assert result.stdout.strip().splitlines()[-1].startswith("gate passed:")
