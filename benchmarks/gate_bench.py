"""Gate benchmark: the example tenant and a synthetic large repo (>= 5,000 objects over >= 50 overlays).

Prints, for each repo: wall time per stage of a real `run_gate`, then — on the same rendered manifests, in the same
run — each tool alone: our policy stage (YAML parse + every rule) against `trivy config` (throughput ratio, target
>= 100x) and the whole gate against its slowest single tool (target <= 1.2x). Not a timed test: run by hand,
`.venv/bin/python benchmarks/gate_bench.py [--overlays 50] [--per-overlay 100]`, and record the figures.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from checks import policies  # noqa: E402
from checks.adapters import CHECKERS  # noqa: E402
from checks.adapters import kustomize as kustomize_adapter  # noqa: E402
from checks.adapters.base import CheckContext, Unit, Workspace  # noqa: E402
from checks.config import load_config  # noqa: E402
from checks.gate import GateRequest, run_gate  # noqa: E402
from checks.manifests import parse_rendered  # noqa: E402
from checks.schemas import default_k8s_version  # noqa: E402
from tests.gate import tenant  # noqa: E402
from tests.helpers import write_tree  # noqa: E402

T = TypeVar("T")
CRDS = ROOT.parent / "shared" / "crd-schemas"


def timed(fn: Callable[[], T]) -> tuple[T, float]:
    started = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - started


def synthetic_repo(root: Path, overlays: int, per_overlay: int) -> Path:
    """A base of `per_overlay` objects (a quarter each Deployment/Service/ConfigMap/PDB) and `overlays` overlays."""
    groups = max(per_overlay // 4, 1)
    files: dict[str, str] = {}
    names = []
    for i in range(groups):
        app = f"app-{i:03d}"
        hardened = i % 3 != 0  # two thirds pass every rule, one third trips several
        deployment = tenant.DEPLOYMENT.replace("odoo-web", app).replace("component: web", f"component: {app}")
        if not hardened:
            deployment = deployment.replace("readOnlyRootFilesystem: true", "readOnlyRootFilesystem: false").replace(
                "odoo:17.0-20250101", "odoo:latest"
            )
        files[f"base/{app}.yaml"] = "\n---\n".join(
            [
                deployment.replace("replicas: 1", "replicas: 2"),
                tenant.SERVICE.replace("odoo-web", app).replace("component: web", f"component: {app}"),
                tenant.PDB.replace("odoo-web", app).replace("component: web", f"component: {app}"),
                f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {app}\ndata:\n  mode: fast\n",
            ]
        )
        names.append(f"{app}.yaml")
    files["base/kustomization.yaml"] = "resources:\n" + "".join(f"  - {n}\n" for n in names)
    for n in range(overlays):
        env = f"env{n:03d}"
        files[f"overlays/{env}/kustomization.yaml"] = f"namespace: shop-{env}\nresources: [../../base]\n"
    return write_tree(root, files)


def bench(label: str, repo: Path) -> None:
    print(f"\n== {label}: {repo}")
    result, gate_wall = timed(lambda: run_gate(GateRequest(repo=repo, schemas_dir=str(CRDS))))
    print(f"gate: exit {result.exit_code}, {result.objects} objects, {len(result.envs)} units, {gate_wall:.2f}s wall")
    print("  " + result.summary())
    for stage, seconds in result.timings.items():
        print(f"  stage {stage:<13} {seconds:8.3f}s")

    # The same manifests, each tool alone, one after the other.
    config = load_config(repo / "tenantforge.yml")
    overlays = sorted(p for p in (repo / "overlays").iterdir() if p.is_dir())
    texts = [(o.name, kustomize_adapter.build(o)) for o in overlays]
    n_objects = 0

    def policy_stage() -> int:
        count = 0
        for env, text in texts:
            objects = parse_rendered(text, env)
            count += len(objects)
            policies.evaluate(objects, config.environment(env), config)
        return count

    # Best of three: the stage takes milliseconds, so one scheduler hiccup on a shared machine would dominate it.
    runs = [timed(policy_stage) for _ in range(3)]
    n_objects, policy_s = runs[0][0], min(seconds for _, seconds in runs)
    rendered = [kustomize_adapter.render(o, o.name, repo) for o in overlays]
    units = [Unit(r.env, r.objects) for r in rendered]
    ctx = CheckContext(config, default_k8s_version(), str(CRDS), policies.REGISTRY.aliases())
    alone: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Workspace.write(Path(tmp) / "rendered", units)
        for name, checker in CHECKERS.items():
            outcome, seconds = timed(lambda c=checker: c.start(work, ctx).finish())  # type: ignore[misc]
            alone[name] = seconds
            bad = [f for f in outcome.findings if f.rule_id == "TF-GATE-TOOL"]
            if bad:
                print(f"  !! {name}: {bad[0].message}")
    _, render_s = timed(lambda: [kustomize_adapter.build(o) for o in overlays])
    alone["kustomize (all overlays, serial)"] = render_s
    print(f"tools alone on the same {n_objects} objects:")
    label = f"policy stage (parse + {len(policies.REGISTRY)} rules)"
    print(f"  {label:<32} {policy_s:8.3f}s  {n_objects / policy_s:10.0f} objects/s")
    for name, seconds in alone.items():
        print(f"  {name:<32} {seconds:8.3f}s  {n_objects / seconds:10.0f} objects/s")
    trivy_rate = n_objects / alone["trivy-config"]
    policy_rate = n_objects / policy_s
    slowest = max(alone.items(), key=lambda kv: kv[1])
    print(f"policy throughput / trivy config throughput: {policy_rate / trivy_rate:.0f}x (target >= 100x)")
    print(f"whole gate / slowest tool ({slowest[0]}): {gate_wall / slowest[1]:.2f}x (target <= 1.2x)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--overlays", type=int, default=50)
    parser.add_argument("--per-overlay", type=int, default=100)
    args = parser.parse_args()
    os.environ.setdefault("TENANTFORGE_CRD_SCHEMAS", str(CRDS))
    with tempfile.TemporaryDirectory(prefix="tf-bench-") as tmp:
        example = write_tree(Path(tmp) / "example", tenant.files())
        examples = sorted((ROOT / "examples" / "rendered").glob("*/tenantforge.yml"))
        if examples:
            example = examples[0].parent
        bench("example tenant", example)
        bench(
            f"synthetic: {args.overlays} overlays x {args.per_overlay} objects",
            synthetic_repo(Path(tmp) / "synthetic", args.overlays, args.per_overlay),
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
