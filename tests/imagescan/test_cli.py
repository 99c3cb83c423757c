"""`tenantforge scan` and `tenantforge check --images`, end to end: installed CLI, real kustomize and trivy, offline."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from checks.adapters import kustomize
from checks.imagescan.refs import ImageRef, images_in_object
from checks.imagescan.sources import flat_name
from tests.gate import tenant
from tests.helpers import run_cli, write_tree
from tests.imagescan.conftest import World
from tests.imagescan.trivy_fixtures import write_metadata

ODOO_FAILING = {"CVE-2099-1001", "CVE-2099-1002", "CVE-2099-1006"}  # HIGH and above in the odoo fixture image


@pytest.fixture(scope="module")
def tenant_images(world: World, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The odoo fixture image saved under every reference the tenant's overlays render (by name and by digest)."""
    repo = write_tree(tmp_path_factory.mktemp("render") / "repo", tenant.files())
    images = tmp_path_factory.mktemp("tenant-images")
    for env in ("dev", "prod"):
        rendered = kustomize.render(repo / "overlays" / env, env, repo)
        for obj in rendered.objects:
            for use in images_in_object(obj.doc, env):
                digest = ImageRef.parse(use.ref).pinned_digest
                name = digest.replace(":", "-", 1) if digest else flat_name(use.ref)
                shutil.copy(world.image("odoo").archive, images / f"{name}.tar")
    return images


def make_repo(tmp_path: Path, tenant_images: Path, extra_config: str = "", dev_images: str = "") -> Path:
    files = tenant.files()
    config = files["tenantforge.yml"]
    if dev_images:
        config = config.replace("    prod: false\n", f"    prod: false\n    images: {dev_images}\n", 1)
    files["tenantforge.yml"] = config + f"image_scan:\n  image_dir: {tenant_images}\n" + extra_config
    return write_tree(tmp_path / "repo", files)


def cache_env(world: World, tmp_path: Path) -> dict[str, str]:
    return {"TENANTFORGE_TRIVY_CACHE": str(world.fresh_cache(tmp_path))}


def report(stdout: str) -> dict[str, object]:
    data = json.loads(stdout)
    assert isinstance(data, dict)
    return data


def cves(data: dict[str, object], *, failing: bool | None = None) -> set[tuple[str, str]]:
    findings = data["findings"]
    assert isinstance(findings, list)
    return {
        (f["env"], f["rule_id"])
        for f in findings
        if f["tool"] == "trivy-image"
        and f["rule_id"].startswith("CVE-")
        and (failing is None or f["failing"] is failing)
    }


def test_check_images_fails_a_tenant_the_gate_passes(world: World, tenant_images: Path, tmp_path: Path) -> None:
    repo = make_repo(tmp_path, tenant_images)
    env = cache_env(world, tmp_path)
    scanned = run_cli("check", str(repo), "--env", "prod", "--images", "--format", "json", env=env)
    assert scanned.returncode == 1, scanned.stderr
    data = report(scanned.stdout)
    failing = [f for f in data["findings"] if f["failing"]]
    assert {f["tool"] for f in failing} == {"trivy-image"}  # everything else about this tenant passes
    assert cves(data, failing=True) == {("prod", c) for c in ODOO_FAILING}
    finding = next(f for f in data["findings"] if f["rule_id"] == "CVE-2099-1001" and f["env"] == "prod")
    # One finding per image, at its first use: the cron worker runs the same image as the web tier.
    assert (finding["kind"], finding["namespace"], finding["name"]) == ("Deployment", "acme-shop-prod", "odoo-cron")
    assert finding["file"] == "base/cron.yaml" and finding["line"] == 1
    assert any("odoo-web" in use for use in finding["details"]["used_by"])
    assert finding["details"]["image"] == f"registry.example.net/retail/odoo@{tenant.DIGEST}"
    assert "trivy-image" in data["timings"]


def test_scan_passes_when_every_failing_cve_is_waived(world: World, tenant_images: Path, tmp_path: Path) -> None:
    waivers = "".join(
        f"  - {{id: {cve}, image: 'registry.example.net/retail/odoo*', reason: not loaded, owner: sec@acme.example,"
        " expires: 2099-01-01}\n"
        for cve in sorted(ODOO_FAILING)
    )
    repo = make_repo(tmp_path, tenant_images, "vulnerability_waivers:\n" + waivers)
    result = run_cli("scan", str(repo), "--format", "json", env=cache_env(world, tmp_path))
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr
    data = report(result.stdout)
    assert cves(data, failing=False) == {(e, c) for e in ("dev", "prod") for c in ODOO_FAILING}
    assert data["summary"] == "scan passed: 2 environments, 0 failing, 6 waived, 0 checks passed"


def test_scan_fails_on_an_expired_vulnerability_waiver(world: World, tenant_images: Path, tmp_path: Path) -> None:
    waiver = "  - {id: CVE-2099-1001, reason: old, owner: sec@acme.example, expires: 2020-01-01}\n"
    repo = make_repo(tmp_path, tenant_images, "vulnerability_waivers:\n" + waiver)
    result = run_cli("scan", str(repo), "--env", "dev", "--format", "json", env=cache_env(world, tmp_path))
    assert result.returncode == 1
    rules = {f["rule_id"] for f in report(result.stdout)["findings"] if f["failing"]}
    assert rules == ODOO_FAILING | {"TF-WAIVER-EXPIRED"}


def test_stale_db_blocks_prod_and_warns_in_dev(world: World, tenant_images: Path, tmp_path: Path) -> None:
    repo = make_repo(tmp_path, tenant_images, dev_images="{on_scan_error: warn}")
    env = cache_env(world, tmp_path)
    write_metadata(Path(env["TENANTFORGE_TRIVY_CACHE"]) / "db", updated_at=datetime.now(UTC) - timedelta(days=30))
    dev = run_cli("scan", str(repo), "--env", "dev", env=env)
    assert dev.returncode == 0, dev.stdout + dev.stderr
    assert "scan error (on_scan_error: warn)" in dev.stdout
    assert "TF-SCAN-ERROR: " in dev.stdout and "TF-SCAN-ERROR :" not in dev.stdout  # no empty resource
    both = run_cli("scan", str(repo), "--format", "json", env=env)
    assert both.returncode == 2
    errors = [f for f in report(both.stdout)["findings"] if f["rule_id"] == "TF-SCAN-ERROR"]
    assert [(f["env"], f["failing"]) for f in errors] == [("dev", False), ("prod", True)]
    assert "trivy image --download-db-only" in errors[1]["message"]


def test_scan_without_local_images_is_exit_2_naming_the_file(world: World, tmp_path: Path) -> None:
    repo = write_tree(tmp_path / "repo", tenant.files())
    env = cache_env(world, tmp_path)
    result = run_cli("scan", str(repo), "--env", "dev", env=env)
    assert result.returncode == 2
    assert "no image directory is configured (--image-dir or image_scan.image_dir)" in result.stdout
    with_dir = run_cli("scan", str(repo), "--env", "dev", "--image-dir", str(tmp_path), env=env)
    assert with_dir.returncode == 2
    assert "registry.example.net_retail_odoo_17.0-20250101.tar" in with_dir.stdout


def test_scan_reports_sarif_and_junit(world: World, tenant_images: Path, tmp_path: Path) -> None:
    repo = make_repo(tmp_path, tenant_images)
    sarif, junit = tmp_path / "out.sarif", tmp_path / "out.xml"
    result = run_cli(
        "scan", str(repo), "--env", "prod", "--format", "sarif", "--output", str(sarif),
        "--format", "junit", "--output", str(junit), env=cache_env(world, tmp_path),
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.strip() == "scan failed: 1 environment, 3 failing, 0 waived, 0 checks passed"
    run = json.loads(sarif.read_text())["runs"][0]
    rules = {r["id"]: r for r in run["tool"]["driver"]["rules"]}
    assert set(rules) - {"TF-IMAGE-IMPLICIT"} == ODOO_FAILING  # the tenant's CNPG Cluster names no image
    assert rules["CVE-2099-1001"]["helpUri"].endswith("/cve-2099-1001")  # trivy's PrimaryURL
    assert "libssl3 3.0.15-1~deb12u1" in rules["CVE-2099-1001"]["help"]["text"]
    assert "CVE-2099-1006" in junit.read_text()


def test_bad_image_scan_config_is_one_line_exit_2(tmp_path: Path) -> None:
    files = tenant.files()
    files["tenantforge.yml"] += "image_scan: {workers: 0}\n"
    repo = write_tree(tmp_path / "repo", files)
    result = run_cli("scan", str(repo))
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "error: tenantforge.yml: image_scan.workers: must be a whole number from 1 to 32, got int 0"
    )
