"""The image stage against the real trivy, offline, on a DB and images built from fixtures/fleet.yaml."""

from __future__ import annotations

import gzip
import io
import json
import shutil
import subprocess
import tarfile
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from checks import tools
from checks.adapters.trivy_image import OFFLINE_FLAGS
from checks.config import ImagePolicy, VulnerabilityWaiver
from checks.finding import Severity
from checks.imagescan.refs import ImageUse
from checks.imagescan.sources import ImageSource
from checks.imagescan.stage import EnvImages, ImageScanSettings, ImageStageResult, run_image_stage
from checks.imagescan.trivyignore import load_trivyignore
from tests.imagescan.conftest import World
from tests.imagescan.trivy_fixtures import Package, debian_files, write_docker_archive, write_metadata, write_vuln_db


def uses(env: str, *refs: str) -> tuple[ImageUse, ...]:
    return tuple(
        ImageUse(
            ref=ref,
            env=env,
            kind="Deployment",
            namespace=f"shop-{env}",
            name=f"app-{i}",
            field="spec.template.spec.containers[app].image",
            file=f"base/app-{i}.yaml",
            line=1,
        )
        for i, ref in enumerate(refs)
    )


def run(
    world: World,
    cache: Path,
    envs: Sequence[EnvImages],
    *,
    image_dir: Path | None = None,
    **kwargs: object,
) -> ImageStageResult:
    settings = ImageScanSettings(cache_dir=cache, source=ImageSource(image_dir or world.image_dir))
    return run_image_stage(envs, settings, **kwargs)  # type: ignore[arg-type]


def vulns(result: ImageStageResult, env: str | None = None) -> set[tuple[str, str]]:
    return {
        (f.rule_id, f.details["package"])
        for f in result.findings
        if f.rule_id.startswith("CVE-") and (env is None or f.env == env)
    }


def all_levels() -> ImagePolicy:
    return ImagePolicy(threshold=Severity.INFO)


@pytest.mark.parametrize("name", ["odoo", "redis", "postgresql"])
def test_real_trivy_finds_exactly_what_the_fixture_implies(world: World, tmp_path: Path, name: str) -> None:
    image = world.image(name)
    result = run(world, world.fresh_cache(tmp_path), [EnvImages("dev", uses("dev", image.ref), all_levels())])
    found = sorted(
        (f.rule_id, f.details["package"], f.details["status"], f.details["trivy_severity"]) for f in result.findings
    )
    assert found == list(image.expect)
    assert result.exit_code == 1
    assert result.processes == 1


def test_findings_carry_cve_package_versions_image_and_source(world: World, tmp_path: Path) -> None:
    odoo = world.image("odoo")
    result = run(world, world.fresh_cache(tmp_path), [EnvImages("prod", uses("prod", odoo.ref))])
    finding = next(f for f in result.findings if f.rule_id == "CVE-2099-1001")
    assert finding.severity is Severity.CRITICAL
    assert finding.tool == "trivy-image"
    assert (finding.env, finding.kind, finding.namespace, finding.name) == ("prod", "Deployment", "shop-prod", "app-0")
    assert (finding.file, finding.line) == ("base/app-0.yaml", 1)
    assert finding.details["installed_version"] == "3.0.11-1~deb12u2"
    assert finding.details["fixed_version"] == "3.0.15-1~deb12u1"
    assert finding.details["image"] == odoo.ref
    assert finding.details["image_id"] == odoo.image_id
    assert finding.message == (
        f"libssl3 3.0.11-1~deb12u2 (critical, fixed in 3.0.15-1~deb12u1) in image {odoo.ref}: "
        "openssl: overread in X.509 name checks"
    )
    assert finding.details["title"] == "openssl: overread in X.509 name checks"


def test_threshold_per_environment(world: World, tmp_path: Path) -> None:
    odoo, pg = world.image("odoo").ref, world.image("postgresql").ref
    result = run(
        world,
        world.fresh_cache(tmp_path),
        [
            EnvImages("dev", uses("dev", odoo, pg), ImagePolicy(threshold=Severity.CRITICAL)),
            EnvImages("prod", uses("prod", odoo, pg), ImagePolicy(threshold=Severity.HIGH)),
        ],
    )
    assert vulns(result, "dev") == {("CVE-2099-1001", "libssl3"), ("CVE-2099-1006", "perl-base")}
    assert vulns(result, "prod") == vulns(result, "dev") | {
        ("CVE-2099-1002", "zlib1g"),
        ("CVE-2099-1007", "postgresql-16"),
    }
    assert result.below_threshold == 4  # dev: zlib1g, libc6, postgresql-16; prod: libc6
    assert result.processes == 2
    assert result.exit_code == 1


def test_passes_when_nothing_reaches_the_threshold(world: World, tmp_path: Path) -> None:
    pg = world.image("postgresql").ref
    result = run(
        world, world.fresh_cache(tmp_path), [EnvImages("dev", uses("dev", pg), ImagePolicy(Severity.CRITICAL))]
    )
    assert result.exit_code == 0
    assert result.findings == ()
    assert (
        result.summary()
        == "image scan passed: 1 unique images (1 scanned, 0 from cache), 0 failing, 0 waived, 1 below threshold"
    )


def _trivy_ids(world: World, archive: Path, cache: Path, *extra: str) -> set[str]:
    out = cache.parent / "direct.json"
    subprocess.run(
        [
            str(tools.require_tool("trivy")),
            "image",
            "--input",
            str(archive),
            "--cache-dir",
            str(cache),
            *OFFLINE_FLAGS,
            "--format",
            "json",
            "--output",
            str(out),
            "--quiet",
            *extra,
        ],
        check=True,
        capture_output=True,
        cwd=cache.parent,
    )
    report = json.loads(out.read_text())
    return {v["VulnerabilityID"] for r in report.get("Results", []) for v in r.get("Vulnerabilities") or []}


def test_ignore_unfixed_keeps_exactly_what_trivy_keeps(world: World, tmp_path: Path) -> None:
    odoo = world.image("odoo")
    cache = world.fresh_cache(tmp_path)
    result = run(
        world, cache, [EnvImages("dev", uses("dev", odoo.ref), ImagePolicy(Severity.INFO, ignore_unfixed=True))]
    )
    ours = {f.rule_id for f in result.findings}
    assert ours == {"CVE-2099-1001", "CVE-2099-1004"}
    assert ours == _trivy_ids(world, odoo.archive, cache, "--ignore-unfixed", "--ignorefile", "")


def test_waiver_marks_finding_waived_and_passes(world: World, tmp_path: Path) -> None:
    redis = world.image("redis").ref
    waiver = VulnerabilityWaiver(
        id="CVE-2099-2001",
        image="registry.example.net/retail/redis:*",
        reason="musl path not reachable",
        expires=date(2099, 1, 1),
        owner="security@acme.example",
        index=0,
    )
    result = run(world, world.fresh_cache(tmp_path), [EnvImages("prod", uses("prod", redis))], waivers=[waiver])
    (finding,) = result.findings
    assert finding.rule_id == "CVE-2099-2001"
    assert finding.waived_by is not None and "musl path not reachable" in finding.waived_by
    assert result.exit_code == 0


def test_waiver_for_another_image_does_not_apply(world: World, tmp_path: Path) -> None:
    redis = world.image("redis").ref
    waiver = VulnerabilityWaiver(
        id="CVE-2099-2001",
        image="registry.example.net/retail/odoo:*",
        reason="x",
        expires=date(2099, 1, 1),
        owner="o",
        index=0,
    )
    result = run(world, world.fresh_cache(tmp_path), [EnvImages("prod", uses("prod", redis))], waivers=[waiver])
    assert [f.waived_by for f in result.findings] == [None]
    assert result.exit_code == 1


def test_expired_waiver_fails_and_waives_nothing(world: World, tmp_path: Path) -> None:
    redis = world.image("redis").ref
    waiver = VulnerabilityWaiver(
        id="CVE-2099-2001", image="*", reason="old", owner="o", expires=date(2026, 1, 31), index=3
    )
    result = run(
        world,
        world.fresh_cache(tmp_path),
        [EnvImages("prod", uses("prod", redis))],
        waivers=[waiver],
        now=datetime(2026, 2, 1, tzinfo=UTC),
    )
    rules = sorted((f.rule_id, f.waived_by) for f in result.findings)
    assert rules == [("CVE-2099-2001", None), ("TF-WAIVER-EXPIRED", None)]
    expired = next(f for f in result.findings if f.rule_id == "TF-WAIVER-EXPIRED")
    assert "expired on 2026-01-31" in expired.message
    assert result.exit_code == 1


def test_trivyignore_yaml_suppresses_what_trivy_suppresses(world: World, tmp_path: Path) -> None:
    odoo = world.image("odoo")
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / ".trivyignore.yaml").write_text(
        "vulnerabilities:\n"
        "  - id: CVE-2099-1002\n    statement: zlib inflate is not used\n"
        "  - id: CVE-2099-1006\n    expired_at: 2020-01-01\n"
        "  - id: CVE-2099-1001\n    purls: ['pkg:deb/debian/libssl3@3.0.11-1~deb12u2?arch=amd64&distro=debian-12.5']\n"
        "  - id: CVE-2099-1004\n    purls: ['pkg:deb/debian/other@1']\n"
    )
    cache = world.fresh_cache(tmp_path)
    result = run(world, cache, [EnvImages("dev", uses("dev", odoo.ref), all_levels())], ignores=load_trivyignore(repo))
    unwaived = {f.rule_id for f in result.findings if not f.waived_by}
    waived = {f.rule_id: f.waived_by for f in result.findings if f.waived_by}
    assert unwaived == _trivy_ids(world, odoo.archive, cache, "--ignorefile", str(repo / ".trivyignore.yaml"))
    assert unwaived == {"CVE-2099-1004", "CVE-2099-1006"}
    assert waived["CVE-2099-1002"] == ".trivyignore.yaml: zlib inflate is not used"
    assert set(waived) == {"CVE-2099-1001", "CVE-2099-1002"}


def test_warm_cache_starts_no_trivy_and_gives_the_same_findings(world: World, tmp_path: Path) -> None:
    cache = world.fresh_cache(tmp_path)
    envs = [EnvImages("dev", uses("dev", *(i.ref for i in world.images)), all_levels())]
    cold = run(world, cache, envs)
    warm = run(world, cache, envs)
    assert (cold.processes, cold.cache_hits) == (3, 0)
    assert (warm.processes, warm.cache_hits) == (0, 3)
    assert warm.findings == cold.findings


def test_same_digest_under_two_references_is_scanned_once(world: World, tmp_path: Path) -> None:
    odoo = world.image("odoo")
    images = tmp_path / "images"
    images.mkdir()
    digest = "sha256:" + "ab" * 32
    mirror = f"mirror.example.net/odoo@{digest}"
    shutil.copy(odoo.archive, images / odoo.archive.name)
    shutil.copy(odoo.archive, images / f"sha256-{'ab' * 32}.tar")
    result = run(
        world,
        world.fresh_cache(tmp_path),
        [EnvImages("dev", uses("dev", odoo.ref, mirror), all_levels())],
        image_dir=images,
    )
    assert result.processes == 1
    assert {f.details["image"] for f in result.findings} == {odoo.ref, mirror}


def _error(result: ImageStageResult) -> str:
    (finding,) = [f for f in result.findings if f.rule_id == "TF-SCAN-ERROR"]
    return finding.message


def test_missing_db_is_a_scan_error_naming_the_path_and_the_fetch_command(world: World, tmp_path: Path) -> None:
    cache = tmp_path / "empty-cache"
    result = run(world, cache, [EnvImages("prod", uses("prod", world.image("odoo").ref))])
    assert result.exit_code == 2
    message = _error(result)
    assert str(cache / "db" / "trivy.db") in message
    assert f"trivy image --download-db-only --cache-dir {cache}" in message
    assert result.processes == 0


def test_stale_db_fails_prod_and_only_warns_in_dev_when_configured(world: World, tmp_path: Path) -> None:
    cache = world.fresh_cache(tmp_path)
    write_metadata(cache / "db", updated_at=datetime.now(UTC) - timedelta(days=9))
    odoo = world.image("odoo").ref
    prod = run(world, cache, [EnvImages("prod", uses("prod", odoo))])
    assert prod.exit_code == 2
    assert "is 216h old" in _error(prod) and "max_db_age_hours=168" in _error(prod)
    dev = run(world, cache, [EnvImages("dev", uses("dev", odoo), ImagePolicy(on_scan_error="warn"))])
    assert dev.exit_code == 0
    (warning,) = dev.findings
    assert warning.severity is Severity.INFO and warning.message.startswith("scan error (on_scan_error: warn)")


@pytest.mark.parametrize("version", [1, 3])
def test_db_schema_mismatch_is_a_scan_error(world: World, tmp_path: Path, version: int) -> None:
    cache = world.fresh_cache(tmp_path)
    write_metadata(cache / "db", schema_version=version)
    result = run(world, cache, [EnvImages("prod", uses("prod", world.image("odoo").ref))])
    assert result.exit_code == 2
    assert f"DB schema version {version}, this trivy reads version 2" in _error(result)


def test_garbage_db_crashes_trivy_and_that_is_a_scan_error(world: World, tmp_path: Path) -> None:
    cache = world.fresh_cache(tmp_path)
    (cache / "db" / "trivy.db").write_bytes(b"not a bolt database" * 500)
    result = run(world, cache, [EnvImages("prod", uses("prod", world.image("odoo").ref))])
    assert result.exit_code == 2
    assert result.processes == 1
    assert "failed to open db" in _error(result)


def test_corrupt_layer_is_a_scan_error_and_is_not_cached(world: World, tmp_path: Path) -> None:
    images = tmp_path / "images"
    ref = "registry.example.net/retail/broken:1"
    # a valid docker-archive envelope whose single layer is gzip garbage
    archive = images / "registry.example.net_retail_broken_1.tar"
    write_docker_archive(archive, {"etc/debian_version": b"12.5\n"})
    with tarfile.open(archive) as tar:
        members = {m.name: tar.extractfile(m).read() for m in tar.getmembers()}  # type: ignore[union-attr]
    members["layer.tar"] = b"\x1f\x8b\x08garbage" * 100
    with tarfile.open(archive, "w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    cache = world.fresh_cache(tmp_path)
    for _ in range(2):
        result = run(world, cache, [EnvImages("prod", uses("prod", ref))], image_dir=images)
        assert result.exit_code == 2
        assert _error(result).startswith(f"scan error: image {ref}: trivy failed (exit 1)")
        assert result.processes == 1


def test_image_not_available_offline_is_a_scan_error(world: World, tmp_path: Path) -> None:
    ref = "registry.example.net/retail/unknown:2"
    result = run(world, world.fresh_cache(tmp_path), [EnvImages("staging", uses("staging", ref))])
    assert result.exit_code == 2
    assert "not available offline" in _error(result)
    assert "registry.example.net_retail_unknown_2.tar" in _error(result)
    assert result.processes == 0


def test_unpullable_image_is_a_scan_error_from_trivy(world: World, tmp_path: Path) -> None:
    ref = "127.0.0.1:9/retail/odoo:17.0"  # loopback, nothing listens: trivy's own pull fails fast
    settings = ImageScanSettings(cache_dir=world.fresh_cache(tmp_path), source=ImageSource(None, pull=True))
    result = run_image_stage([EnvImages("prod", uses("prod", ref))], settings)
    assert result.exit_code == 2
    assert result.processes == 1
    assert "trivy failed" in _error(result)


def test_missing_trivy_is_a_scan_error_naming_make_setup(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TENANTFORGE_TRIVY", str(tmp_path / "nope"))
    result = run(world, world.fresh_cache(tmp_path), [EnvImages("prod", uses("prod", world.image("odoo").ref))])
    assert result.exit_code == 2
    assert "make setup" in _error(result)


def test_large_db_with_overflow_pages_is_read_in_full(tmp_path: Path) -> None:
    advisories = [
        {"id": f"CVE-2098-{n:05d}", "package": "openssl", "fixed": "3.0.99-1", "severity": "HIGH"} for n in range(400)
    ]
    cache = tmp_path / "cache"
    write_vuln_db(cache, {"os": "debian 12", "advisories": advisories})
    assert (cache / "db" / "trivy.db").stat().st_size > 20 * 4096
    images = tmp_path / "images"
    ref = "registry.example.net/retail/big:1"
    write_docker_archive(
        images / "registry.example.net_retail_big_1.tar",
        debian_files("12.5", [Package("libssl3", "3.0.11-1~deb12u2", "openssl")]),
    )
    settings = ImageScanSettings(cache_dir=cache, source=ImageSource(images))
    result = run_image_stage([EnvImages("dev", uses("dev", ref))], settings)
    assert sorted(f.rule_id for f in result.findings) == [a["id"] for a in advisories]


def test_gzipped_archive_named_by_digest_serves_every_reference_of_that_digest(world: World, tmp_path: Path) -> None:
    redis = world.image("redis")
    images = tmp_path / "images"
    images.mkdir()
    hexdigest = "cd" * 32
    (images / f"sha256-{hexdigest}.tar.gz").write_bytes(gzip.compress(redis.archive.read_bytes()))
    refs = (f"registry.example.net/retail/redis:7.2@sha256:{hexdigest}", f"mirror.example.net/redis@sha256:{hexdigest}")
    result = run(
        world, world.fresh_cache(tmp_path), [EnvImages("dev", uses("dev", *refs), all_levels())], image_dir=images
    )
    assert result.processes == 1
    assert {(f.details["image"], f.rule_id) for f in result.findings} == {
        (ref, cve) for ref in refs for cve in ("CVE-2099-2001", "CVE-2099-2003")
    }
    assert {f.details["image_id"] for f in result.findings} == {redis.image_id}
