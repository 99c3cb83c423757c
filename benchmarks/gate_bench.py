"""Gate benchmark: the example tenant and a synthetic large repo (>= 5,000 objects over >= 50 overlays).

Prints, for each repo and each of `--repeat` rounds: wall time per stage of a real `run_gate`, then — on the same
rendered manifests, in the same round — each tool alone: our policy stage (YAML parse + every rule) against
`trivy config` as a user runs it, with Go's own runtime defaults (throughput ratio, target >= 100x), and the whole gate
against its slowest single tool as the gate runs it, with the gate's GOGC/GOMEMLIMIT (target <= 1.2x), from the
median round. Not a timed test: run by hand,
`.venv/bin/python benchmarks/gate_bench.py [--overlays 50] [--per-overlay 100] [--repeat 3]`, and record the figures.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from checks import policies  # noqa: E402
from checks.adapters import CHECKERS  # noqa: E402
from checks.adapters import kustomize as kustomize_adapter  # noqa: E402
from checks.adapters.base import CheckContext, Member, Unit, publish  # noqa: E402
from checks.config import load_config  # noqa: E402
from checks.gate import GateRequest, run_gate  # noqa: E402
from checks.manifests import parse_rendered  # noqa: E402
from checks.schemas import default_k8s_version  # noqa: E402
from tests.gate import tenant  # noqa: E402
from tests.helpers import write_tree  # noqa: E402

T = TypeVar("T")
CRDS = ROOT.parent / "shared" / "crd-schemas"
PEER = "trivy-config (Go defaults)"


@contextlib.contextmanager
def go_runtime_defaults() -> Iterator[None]:
    """Run tools with Go's own GOGC/GOMEMLIMIT instead of the gate's, as `trivy config` runs for a user."""
    saved = {k: os.environ.get(k) for k in ("GOGC", "GOMEMLIMIT")}
    os.environ.update(GOGC="100", GOMEMLIMIT="off")
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


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


def bench(label: str, repo: Path, repeat: int) -> None:
    """`repeat` rounds, each: the whole gate, then every tool alone on the same manifests. Rounds interleave the
    gate and the tools so that a noisy neighbour slows both; the ratios use the median round of each."""
    print(f"\n== {label}: {repo}")
    config = load_config(repo / "tenantforge.yml")
    overlays = sorted(p for p in (repo / "overlays").iterdir() if p.is_dir())
    texts = [(o.name, kustomize_adapter.build(o)) for o in overlays]

    def policy_stage() -> int:
        count = 0
        for env, text in texts:
            objects = parse_rendered(text, env)
            count += len(objects)
            policies.evaluate(objects, config.environment(env), config)
        return count

    rendered = [kustomize_adapter.render(o, o.name, repo) for o in overlays]
    units = [Unit(r.env, r.objects) for r in rendered]
    ctx = CheckContext(config, default_k8s_version(), str(CRDS), policies.REGISTRY.aliases())
    gate_walls: list[float] = []
    alone: dict[str, list[float]] = {}
    n_objects = 0
    for round_ in range(repeat):
        result, wall = timed(lambda: run_gate(GateRequest(repo=repo, schemas_dir=str(CRDS))))
        gate_walls.append(wall)
        if round_ == 0:
            print(f"gate: exit {result.exit_code}, {result.objects} objects, {len(result.envs)} units")
            print("  " + result.summary())
        stages = "  ".join(f"{k} {v:.2f}s" for k, v in result.timings.items())
        print(f"  round {round_ + 1}: gate {wall:.2f}s wall ({stages})")
        # Best of three inside a round: the stage takes milliseconds, so one scheduler hiccup would dominate it.
        runs = [timed(policy_stage) for _ in range(3)]
        n_objects = runs[0][0]
        alone.setdefault(f"policy stage (parse + {len(policies.REGISTRY)} rules)", []).append(min(s for _, s in runs))
        runs_alone = [(name, checker, contextlib.nullcontext()) for name, checker in CHECKERS.items()]
        runs_alone.append((PEER, CHECKERS["trivy-config"], go_runtime_defaults()))
        for name, checker, runtime in runs_alone:
            with tempfile.TemporaryDirectory() as tmp, runtime:
                root = Path(tmp) / "rendered"
                (work,) = publish(root, [units])
                member = Member(work, ctx)
                (outcome,), seconds = timed(
                    lambda c=checker, r=root, m=member: c.start(r, ctx.k8s_version, ctx.crd_source).finish([m])  # type: ignore[misc]
                )
            alone.setdefault(name, []).append(seconds)
            bad = [f for f in outcome.findings if f.rule_id == "TF-GATE-TOOL"]
            if bad:
                print(f"  !! {name}: {bad[0].message}")
        _, render_s = timed(lambda: [kustomize_adapter.build(o) for o in overlays])
        alone.setdefault("kustomize (all overlays, serial)", []).append(render_s)

    summarise(n_objects, gate_walls, alone)


def summarise(n_objects: int, gate_walls: list[float], alone: dict[str, list[float]]) -> None:
    """The median round of each measurement, and the two ratios the targets are about."""
    gate_s = statistics.median(gate_walls)
    medians = {name: statistics.median(times) for name, times in alone.items()}
    print(f"median of {len(gate_walls)} round(s), each tool alone on the same {n_objects} objects:")
    print(f"  {'whole gate':<36} {gate_s:8.3f}s  (spread {min(gate_walls):.2f}-{max(gate_walls):.2f}s)")
    for name, seconds in medians.items():
        spread = f"{min(alone[name]):.2f}-{max(alone[name]):.2f}s"
        print(f"  {name:<36} {seconds:8.3f}s  {n_objects / seconds:10.0f} objects/s  (spread {spread})")
    policy_s = next(v for k, v in medians.items() if k.startswith("policy stage"))
    tools = {k: v for k, v in medians.items() if not k.startswith("policy stage") and k != PEER}
    slowest = max(tools.items(), key=lambda kv: kv[1])
    print(f"policy throughput / trivy config throughput: {medians[PEER] / policy_s:.0f}x (target >= 100x)")
    print(f"  (against trivy config with the gate's Go settings: {medians['trivy-config'] / policy_s:.0f}x)")
    print(f"whole gate / slowest tool as the gate runs it ({slowest[0]}): {gate_s / slowest[1]:.2f}x (target <= 1.2x)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--overlays", type=int, default=50)
    parser.add_argument("--per-overlay", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3, help="rounds per repo (default 3; the median is reported)")
    parser.add_argument("--skip-synthetic", action="store_true", help="only the example tenant")
    args = parser.parse_args()
    os.environ.setdefault("TENANTFORGE_CRD_SCHEMAS", str(CRDS))
    with tempfile.TemporaryDirectory(prefix="tf-bench-") as tmp:
        example = write_tree(Path(tmp) / "example", tenant.files())
        examples = sorted((ROOT / "examples" / "rendered").glob("*/tenantforge.yml"))
        if examples:
            example = examples[0].parent
        bench("example tenant", example, args.repeat)
        if not args.skip_synthetic:
            bench(
                f"synthetic: {args.overlays} overlays x {args.per_overlay} objects",
                synthetic_repo(Path(tmp) / "synthetic", args.overlays, args.per_overlay),
                args.repeat,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
