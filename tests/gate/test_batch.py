"""Several repositories gated with one run of each tool give each repository exactly its own gate result, and a
trivy started before the workspace existed is run again rather than trusted."""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

from checks import policies
from checks.adapters import trivy
from checks.adapters.base import CheckContext, Member, Unit, publish
from checks.adapters.kustomize import render
from checks.config import load_config
from checks.errors import ConfigError
from checks.finding import Finding
from checks.gate import GateRequest, GateResult, run_gate, run_gates
from checks.schemas import default_k8s_version
from generator.fleet.gatebatch import GateBatcher

CRDS = str(Path(__file__).parents[3] / "shared" / "crd-schemas")


def _seen(result: GateResult) -> list[tuple[object, ...]]:
    return sorted(
        (f.rule_id, f.env, f.kind, f.name, f.file, f.line, f.message, f.waived_by, result.failing(f))
        for f in result.findings
    )


def _break(repo: Path) -> Path:
    """A writable root filesystem: our TF-POD-003 objects, and trivy's KSV-0014 (reported under our id)."""
    odoo = repo / "base" / "deployment.yaml"
    text = odoo.read_text()
    assert "readOnlyRootFilesystem: true" in text
    odoo.write_text(text.replace("readOnlyRootFilesystem: true", "readOnlyRootFilesystem: false"))
    return repo


def test_a_batch_gives_every_repo_its_own_result(good_repo: Path, tmp_path: Path) -> None:
    broken = _break(Path(shutil.copytree(good_repo, tmp_path / "broken")))
    bad_config = Path(shutil.copytree(good_repo, tmp_path / "bad-config"))
    (bad_config / "tenantforge.yml").write_text("version: 1\nenvironments:\n  dev: {threshold: loud}\n")
    requests = [
        GateRequest(repo=good_repo, schemas_dir=CRDS),
        GateRequest(repo=broken, schemas_dir=CRDS),
        GateRequest(repo=bad_config, schemas_dir=CRDS),
        GateRequest(repo=broken, envs=("prod",), schemas_dir=CRDS),
    ]
    batch = run_gates(requests)

    alone = [run_gate(requests[i]) for i in (0, 1, 3)]
    good, bad, error, prod_only = batch
    assert isinstance(error, ConfigError)
    assert "tenantforge.yml: environments.dev.threshold" in str(error)
    for together, single in zip((good, bad, prod_only), alone, strict=True):
        assert isinstance(together, GateResult)
        assert (together.exit_code, together.objects, together.envs) == (single.exit_code, single.objects, single.envs)
        assert _seen(together) == _seen(single)
        assert together.checks == single.checks
    assert (good.exit_code, bad.exit_code) == (0, 1)
    assert good.timings["trivy-config"] == bad.timings["trivy-config"]  # one run served the batch
    assert any(f.rule_id == "TF-POD-003" and f.file == "base/deployment.yaml" for f in bad.findings if bad.failing(f))
    assert {f.env for f in prod_only.findings} <= {"prod"}


def test_trivy_that_looked_before_the_workspace_existed_runs_again(good_repo: Path, tmp_path: Path) -> None:
    broken = _break(Path(shutil.copytree(good_repo, tmp_path / "broken")))
    units = [Unit(o.name, render(o, o.name, broken).objects) for o in sorted((broken / "overlays").iterdir())]
    ctx = CheckContext(
        load_config(broken / "tenantforge.yml"), default_k8s_version(), CRDS, policies.REGISTRY.aliases()
    )

    def scan(root: Path, *, publish_after_trivy_gave_up: bool) -> list[Finding]:
        pending = trivy.ADAPTER.start(root, ctx.k8s_version, ctx.crd_source)
        if publish_after_trivy_gave_up:
            assert isinstance(pending, trivy._Running) and pending.early
            deadline = time.monotonic() + 120
            while pending.proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.05)
            assert pending.proc.returncode not in (None, 0), "trivy should fail on the missing workspace"
        (work,) = publish(root, [units])
        (outcome,) = pending.finish([Member(work, ctx)])
        return sorted(outcome.findings, key=lambda f: (f.rule_id, f.env or "", f.name or "", f.message))

    late = scan(tmp_path / "late", publish_after_trivy_gave_up=True)
    normal = scan(tmp_path / "normal", publish_after_trivy_gave_up=False)
    assert late == normal
    assert not any(f.rule_id == "TF-GATE-TOOL" for f in late)
    assert any(f.rule_id == "TF-POD-003" for f in late)  # trivy's KSV-0014, reported under our rule id


def test_tenants_at_the_gate_together_share_one_run(good_repo: Path, tmp_path: Path) -> None:
    broken = _break(Path(shutil.copytree(good_repo, tmp_path / "broken")))
    repos = [good_repo, broken, good_repo]
    batcher = GateBatcher(linger=60)
    results: dict[int, GateResult] = {}
    ready = threading.Barrier(len(repos))

    def tenant(index: int) -> None:
        with batcher.participant():
            ready.wait()
            results[index] = batcher.gate(GateRequest(repo=repos[index], schemas_dir=CRDS))

    threads = [threading.Thread(target=tenant, args=(i,)) for i in range(len(repos))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert [results[i].exit_code for i in range(3)] == [0, 1, 0]
    # one trivy run served all three: they share its wall time to the last digit
    assert len({results[i].timings["trivy-config"] for i in range(3)}) == 1
    assert _seen(results[1]) == _seen(run_gate(GateRequest(repo=broken, schemas_dir=CRDS)))


def test_a_tenant_never_waits_longer_than_the_linger_for_one_that_does_not_come(good_repo: Path) -> None:
    batcher = GateBatcher(linger=0.5)
    release = threading.Event()

    def busy_elsewhere() -> None:
        with batcher.participant():
            release.wait(timeout=120)

    other = threading.Thread(target=busy_elsewhere)
    other.start()
    try:
        alone = run_gate(GateRequest(repo=good_repo, schemas_dir=CRDS)).timings["total"]
        started = time.monotonic()
        with batcher.participant():
            result = batcher.gate(GateRequest(repo=good_repo, schemas_dir=CRDS))
        waited = time.monotonic() - started
    finally:
        release.set()
        other.join()
    assert result.exit_code == 0
    assert waited < alone + 0.5 + 10  # the linger, plus generous slack for a busy CI runner
    assert waited >= 0.5


def test_a_gate_error_reaches_only_its_own_tenant(good_repo: Path, tmp_path: Path) -> None:
    bad_config = Path(shutil.copytree(good_repo, tmp_path / "bad-config"))
    (bad_config / "tenantforge.yml").write_text("version: 1\nsurprise: true\n")
    batcher = GateBatcher(linger=60)
    outcome: dict[str, object] = {}
    ready = threading.Barrier(2)

    def tenant(name: str, repo: Path) -> None:
        with batcher.participant():
            ready.wait()
            try:
                outcome[name] = batcher.gate(GateRequest(repo=repo, schemas_dir=CRDS)).exit_code
            except ConfigError as exc:
                outcome[name] = str(exc)

    threads = [
        threading.Thread(target=tenant, args=("good", good_repo)),
        threading.Thread(target=tenant, args=("bad", bad_config)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert outcome["good"] == 0
    assert str(outcome["bad"]).startswith("tenantforge.yml: surprise: unknown key")
