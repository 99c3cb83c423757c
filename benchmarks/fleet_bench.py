"""Fleet benchmark: `tenantforge fleet status` and `fleet upgrade` over 10 / 100 / 1,000 generated tenant repos on
local bare remotes, against the naive loop (clone, `copier update`, `tenantforge check`, commit, push — one tenant
after another), measured in the same run on the same machine.

Tenants are rendered from the fleet test blueprint (tests/fleet/blueprint.py, releases v1.0.0 and v1.1.0): one
Copier render at v1.0.0, copied per tenant with the tenant name substituted (what Copier would render for that
name), committed and pushed to its own bare remote.

    python benchmarks/fleet_bench.py [--sizes 10,100,1000] [--upgrade-sizes 10,100] [--naive-sizes 10,100] [-j 4]

Prints one line per measurement and writes them as JSON to benchmarks/out/fleet.json. Not a timed test.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fleet.blueprint import build_blueprint  # noqa: E402

CLI = ROOT / ".venv" / "bin" / "tenantforge"
COPIER = ROOT / ".venv" / "bin" / "copier"
TARGET = "v1.1.0"
_RENDER = """
import json, sys
from copier import run_copy
a = json.loads(sys.argv[1])
run_copy(a["src"], a["dst"], data=a["data"], vcs_ref="v1.0.0", defaults=True, quiet=True)
"""


def git(cwd: Path, *args: str) -> str:
    proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"git {' '.join(args)} failed in {cwd}: {proc.stderr.strip()}")
    return proc.stdout


def isolated_env(home: Path) -> dict[str, str]:
    home.mkdir(parents=True, exist_ok=True)
    (home / ".gitconfig").write_text(
        "[user]\n\tname = Bench\n\temail = bench@example.test\n[init]\n\tdefaultBranch = main\n"
        '[protocol "file"]\n\tallow = always\n'
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("TENANTFORGE_") or k == "TENANTFORGE_CRD_SCHEMAS"}
    crds = ROOT.parent / "shared" / "crd-schemas"
    if crds.is_dir():
        env.setdefault("TENANTFORGE_CRD_SCHEMAS", str(crds))
    env.update(
        HOME=str(home),
        GIT_CONFIG_GLOBAL=str(home / ".gitconfig"),
        GIT_CONFIG_NOSYSTEM="1",
        XDG_CACHE_HOME=str(home / ".cache"),
        COPIER_CACHE_DIR=str(home / ".cache" / "copier"),
    )
    return env


def make_fleet(root: Path, count: int, prototype: Path) -> Path:
    """`count` tenants t0000.. at v1.0.0, each a bare remote; returns the inventory path."""
    fleet = root / f"fleet-{count}"
    remotes = fleet / "remotes"
    remotes.mkdir(parents=True)
    entries = []
    for index in range(count):
        name = f"t{index:04d}"
        work = fleet / "src" / name
        shutil.copytree(prototype, work)
        for path in work.rglob("*"):
            if path.is_file():
                text = path.read_text()
                if "proto" in text:
                    path.write_text(text.replace("proto", name))
        bare = remotes / f"{name}.git"
        git(work, "init", "--quiet", "--initial-branch=main")
        git(work, "add", "--all")
        git(work, "commit", "--quiet", "-m", "render v1.0.0")
        git(fleet, "clone", "--quiet", "--bare", str(work), str(bare))
        shutil.rmtree(work)
        entries.append(f"  - {{name: {name}, url: {bare}}}\n")
    inventory = fleet / "fleet.yaml"
    inventory.write_text("version: 1\ntenants:\n" + "".join(entries))
    return inventory


def timed(
    cmd: list[str], env: dict[str, str], cwd: Path | None = None
) -> tuple[float, subprocess.CompletedProcess[str]]:
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    return time.perf_counter() - start, proc


def naive_loop(inventory: Path, env: dict[str, str], scratch: Path) -> float:
    """What an operator's shell loop does: one tenant after another, every step a fresh process."""
    remotes = sorted((inventory.parent / "remotes").glob("*.git"))
    start = time.perf_counter()
    for bare in remotes:
        clone = scratch / bare.stem
        git(scratch, "clone", "--quiet", str(bare), str(clone))
        update = [
            str(COPIER),
            "update",
            "--trust",
            "--defaults",
            "--quiet",
            "--vcs-ref",
            TARGET,
            "--conflict",
            "inline",
        ]
        subprocess.run(update, cwd=clone, env=env, check=True, capture_output=True)
        subprocess.run([str(CLI), "check", str(clone)], env=env, check=False, capture_output=True)
        git(clone, "checkout", "--quiet", "-b", f"naive/{TARGET}")
        git(clone, "add", "--all")
        git(clone, "commit", "--quiet", "-m", f"upgrade to {TARGET}")
        git(clone, "push", "--quiet", "origin", f"naive/{TARGET}")
        shutil.rmtree(clone)
    return time.perf_counter() - start


def measure(
    size: int, root: Path, prototype: Path, env: dict[str, str], *, args: argparse.Namespace, record: Any
) -> None:
    """Every measurement for one fleet size, on a fleet generated for it."""
    t0 = time.perf_counter()
    inventory = make_fleet(root, size, prototype)
    record(size, "generate fleet", time.perf_counter() - t0)
    jobs = ["-j", str(args.concurrency)]
    status = [str(CLI), "fleet", "status", "-i", str(inventory), "--format", "json", *jobs]
    seconds, proc = timed([*status, "--no-drift"], env)
    record(size, "status --no-drift (cold clones)", seconds, exit=proc.returncode)
    seconds, proc = timed([*status, "--no-drift"], env)
    record(size, "status --no-drift (warm)", seconds, exit=proc.returncode)
    if size in _sizes(args.drift_sizes):
        seconds, proc = timed(status, env)
        record(size, "status with drift (cold)", seconds, exit=proc.returncode)
        seconds, proc = timed(status, env)
        record(size, "status with drift (cached)", seconds, exit=proc.returncode)
    if size in _sizes(args.naive_sizes):
        scratch = root / f"naive-{size}"
        scratch.mkdir()
        record(size, "naive loop upgrade", naive_loop(inventory, env, scratch))
    if size in _sizes(args.upgrade_sizes):
        upgrade = [str(CLI), "fleet", "upgrade", "--to", TARGET, "-i", str(inventory), "--format", "json"]
        seconds, proc = timed([*upgrade, *jobs], env)
        report = json.loads(proc.stdout) if proc.stdout.strip() else {}
        record(size, f"fleet upgrade -j {args.concurrency}", seconds, summary=report.get("summary"))
        seconds, proc = timed([*upgrade, *jobs], env)
        report = json.loads(proc.stdout) if proc.stdout.strip() else {}
        record(size, "fleet upgrade again (no-op)", seconds, summary=report.get("summary"))


def _sizes(text: str) -> set[int]:
    return {int(s) for s in text.split(",") if s}


def main() -> None:
    parser = argparse.ArgumentParser(description="fleet status and upgrade against the naive loop")
    parser.add_argument("--sizes", default="10,100,1000")
    parser.add_argument("--upgrade-sizes", default="10,100")
    parser.add_argument("--naive-sizes", default="10,100")
    parser.add_argument("--drift-sizes", default="10,100")
    parser.add_argument("-j", "--concurrency", type=int, default=4)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out" / "fleet.json")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s]
    results: list[dict[str, Any]] = []

    def record(size: int, what: str, seconds: float, **extra: Any) -> None:
        row = {"tenants": size, "what": what, "seconds": round(seconds, 2), **extra}
        results.append(row)
        per = seconds / size if size else 0
        print(f"{size:5d} tenants  {what:32s} {seconds:9.2f} s  ({per:6.3f} s/tenant) {extra or ''}", flush=True)

    with tempfile.TemporaryDirectory(prefix="fleet-bench-") as tmp:
        root = Path(tmp)
        env = isolated_env(root / "home")
        os.environ.update(env)
        blueprint = build_blueprint(root / "blueprint")
        prototype = root / "proto-render"
        payload = json.dumps({"src": str(blueprint), "dst": str(prototype), "data": {"tenant": "proto"}})
        subprocess.run([sys.executable, "-c", _RENDER, payload], env=env, check=True)
        for size in sizes:
            measure(size, root, prototype, env, args=args, record=record)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
