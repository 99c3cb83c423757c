"""Run a per-tenant job over many tenants: a thread pool, waves that stop on failure, progress callbacks.

The jobs themselves are subprocess-bound (git, Copier in a child process, kustomize, the gate's tools), so threads
give real parallelism; `--concurrency` bounds how many tenants are worked on at once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import TypeVar

from generator.fleet.inventory import Tenant, Wave
from generator.fleet.outcome import Outcome, Status

R = TypeVar("R")
Progress = Callable[[str, str], None]  # (tenant, one-word result) as each tenant finishes


def run_waves(
    waves: Sequence[Wave], job: Callable[[Tenant], Outcome], concurrency: int, progress: Progress | None = None
) -> list[Outcome]:
    """Run `job` for every tenant, wave after wave; a wave starts only when every tenant of the earlier waves
    ended well (`Status.ok`), otherwise its tenants are `held`. Results come back in inventory order."""
    outcomes: dict[str, Outcome] = {}
    blocker: str | None = None
    for wave in waves:
        if blocker is not None:
            for tenant in wave.tenants:
                held = Outcome(tenant=tenant.name, status=Status.HELD, message=blocker, wave=wave.name)
                outcomes[tenant.name] = held
                if progress:
                    progress(tenant.name, str(held.status))
            continue
        results = run_all(wave.tenants, job, _crashed, concurrency, progress=progress, describe=lambda o: str(o.status))
        for outcome in results:
            outcomes[outcome.tenant] = outcome.but(wave=wave.name) if len(waves) > 1 else outcome
        failed = [o for o in results if not o.status.ok]
        if failed and wave is not waves[-1]:
            names = ", ".join(f"{o.tenant} ({o.status})" for o in failed[:3])
            blocker = f"wave {wave.name} did not pass: {names}"
    order = [t.name for w in waves for t in w.tenants]
    return [outcomes[name] for name in order]


def _crashed(tenant: Tenant, exc: Exception) -> Outcome:
    return Outcome(tenant=tenant.name, status=Status.ERROR, message=f"{type(exc).__name__}: {exc}")


def run_all(
    tenants: Sequence[Tenant],
    job: Callable[[Tenant], R],
    crashed: Callable[[Tenant, Exception], R],
    concurrency: int,
    *,
    progress: Progress | None = None,
    describe: Callable[[R], str] = str,
) -> list[R]:
    """Run `job` on every tenant with at most `concurrency` at once; results in the order of `tenants`.

    Jobs are meant to turn every failure into their result; `crashed` is the last line of defence."""
    results: dict[str, R] = {}
    with ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="fleet") as pool:
        futures = {pool.submit(job, tenant): tenant for tenant in tenants}
        for future in as_completed(futures):
            tenant = futures[future]
            try:
                result = future.result()
            except Exception as exc:
                result = crashed(tenant, exc)
            results[tenant.name] = result
            if progress:
                progress(tenant.name, describe(result))
    return [results[t.name] for t in tenants]
