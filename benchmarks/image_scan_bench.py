"""Image-scan benchmark: a fleet of N rendered tenants sharing K images, scanned by the gate's image stage.

Prints, measured in the same run on the same machine: trivy processes started and wall time for
  - naive: one `trivy image` per image reference per tenant (same worker pool, no dedupe, no cache),
  - cold:  the image stage on an empty result cache (expect K processes),
  - warm:  the image stage again (expect 0 processes).
Every tenant is a real kustomize repo rendered with the real kustomize; trivy runs offline on a DB and images built
from tests/imagescan/fixtures/fleet.yaml. Not a timed test: run `python benchmarks/image_scan_bench.py [N]`.
"""

from __future__ import annotations

import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from checks import tools  # noqa: E402
from checks.adapters import kustomize  # noqa: E402
from checks.adapters.trivy_image import ScanTarget, TrivyImageScanner, preflight  # noqa: E402
from checks.config import ImagePolicy  # noqa: E402
from checks.imagescan.sources import ImageSource  # noqa: E402
from checks.imagescan.stage import ImageScanSettings, env_images, run_image_stage  # noqa: E402
from tests.helpers import write_tree  # noqa: E402
from tests.imagescan.trivy_fixtures import build_world  # noqa: E402

SPEC = ROOT / "tests" / "imagescan" / "fixtures" / "fleet.yaml"
WORKERS = 2


def tenant_files(index: int, odoo: str, redis: str, postgres: str) -> dict[str, str]:
    def split(ref: str) -> tuple[str, str]:
        name, _, tag = ref.rpartition(":")
        return name, tag

    pins = "".join(f'  - name: {split(r)[0]}\n    newTag: "{split(r)[1]}"\n' for r in (odoo, redis))
    pod = "spec:\n  selector: {matchLabels: {app: %s}}\n  template:\n    metadata: {labels: {app: %s}}\n    spec:\n"
    return {
        "base/kustomization.yaml": "resources: [odoo.yaml, redis.yaml, db.yaml]\n",
        "base/odoo.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: odoo}\n"
        + pod % ("odoo", "odoo")
        + f"      initContainers: [{{name: migrate, image: '{split(odoo)[0]}:old'}}]\n"
        + f"      containers: [{{name: odoo, image: '{split(odoo)[0]}:old'}}]\n",
        "base/redis.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: redis}\n"
        + pod % ("redis", "redis")
        + f"      containers: [{{name: redis, image: '{split(redis)[0]}:old'}}]\n",
        "base/db.yaml": "apiVersion: postgresql.cnpg.io/v1\nkind: Cluster\nmetadata: {name: db}\n"
        + f"spec: {{instances: 2, imageName: '{postgres}', storage: {{size: 1Gi}}}}\n",
        "overlays/prod/kustomization.yaml": f"namespace: tenant-{index}-prod\nresources: [../../base]\nimages:\n{pins}",
    }


def main() -> int:
    tenants = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    with tempfile.TemporaryDirectory(prefix="tf-image-bench-") as tmp:
        root = Path(tmp)
        images = build_world(SPEC, root / "cache", root / "images")
        refs = {Path(i.ref).name.split(":")[0]: i.ref for i in images}
        overlays = []
        for index in range(tenants):
            repo = write_tree(
                root / f"tenant-{index}", tenant_files(index, refs["odoo"], refs["redis"], refs["postgresql"])
            )
            overlays.append((f"tenant-{index}/prod", repo))
        start = time.perf_counter()
        with ThreadPoolExecutor(WORKERS) as pool:
            rendered = list(pool.map(lambda t: kustomize.render(t[1] / "overlays" / "prod", t[0], t[1]), overlays))
        render_s = time.perf_counter() - start
        assert all(r.failure is None for r in rendered)
        envs = [
            env_images(r.env, r.overlay, repo, r.objects, ImagePolicy())
            for r, (_, repo) in zip(rendered, overlays, strict=True)
        ]
        occurrences = sum(len(e.uses) for e in envs)
        per_tenant_refs = [sorted({u.ref for u in e.uses}) for e in envs]
        unique = {r for refs_ in per_tenant_refs for r in refs_}

        source = ImageSource(root / "images")
        settings = ImageScanSettings(cache_dir=root / "cache", source=source, workers=WORKERS)
        db = preflight(settings.cache_dir, settings.max_db_age)
        naive = TrivyImageScanner(tools.require_tool("trivy"), root / "naive-cache", db, workers=WORKERS)
        targets = [
            ScanTarget(ref=r, archive=source.locate(r).archive, key=None) for refs_ in per_tenant_refs for r in refs_
        ]
        start = time.perf_counter()
        naive_outcomes = naive.scan(targets)
        naive_s = time.perf_counter() - start
        assert all(o.report is not None for o in naive_outcomes)

        start = time.perf_counter()
        cold = run_image_stage(envs, settings)
        cold_s = time.perf_counter() - start
        start = time.perf_counter()
        warm = run_image_stage(envs, settings)
        warm_s = time.perf_counter() - start
        assert cold.findings == warm.findings

        print(f"fleet: {tenants} tenants rendered with kustomize in {render_s:.2f}s ({WORKERS} in parallel)")
        print(f"image references: {occurrences} fields, {len(targets)} per-tenant references, {len(unique)} unique")
        print(f"{'run':<8}{'trivy processes':>17}{'cache hits':>12}{'wall s':>9}")
        print(f"{'naive':<8}{naive.processes:>17}{0:>12}{naive_s:>9.3f}")
        print(f"{'cold':<8}{cold.processes:>17}{cold.cache_hits:>12}{cold_s:>9.3f}")
        print(f"{'warm':<8}{warm.processes:>17}{warm.cache_hits:>12}{warm_s:>9.3f}")
        print(f"speed-up vs naive: cold {naive_s / cold_s:.1f}x, warm {naive_s / warm_s:.1f}x")
        print(f"findings: {len(cold.findings)} ({cold.summary()})")
        ok = cold.processes == len(unique) and warm.processes == 0
        print("targets met (cold = K processes, warm = 0)" if ok else "TARGETS MISSED")
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
