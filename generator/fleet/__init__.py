"""Fleet operations (issue 7): the status of every tenant repo, and blueprint upgrades rolled across them.

Public API: `load_inventory`, `choose`, `fleet_status`, `fleet_upgrade`; per tenant `tenant_status` and
`upgrade_tenant`. Reports live in `generator.fleet.report`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from generator.fleet.inventory import (
    Inventory,
    Tenant,
    load_inventory,
    parse_shard,
    parse_waves,
    plan_waves,
    select,
    shard,
)
from generator.fleet.outcome import Outcome, Status
from generator.fleet.runner import Progress, run_all, run_waves
from generator.fleet.status import TenantStatus, tenant_status
from generator.fleet.template import TemplateSources
from generator.fleet.upgrade import FleetContext, upgrade_tenant
from generator.fleet.workspace import Workspace

__all__ = [
    "FleetContext",
    "Inventory",
    "Outcome",
    "Status",
    "Tenant",
    "TenantStatus",
    "choose",
    "context",
    "fleet_status",
    "fleet_upgrade",
    "load_inventory",
    "tenant_status",
    "upgrade_tenant",
]


def choose(inventory: Inventory, selectors: Sequence[str] = (), shard_spec: str | None = None) -> tuple[Tenant, ...]:
    """The tenants one run works on: those matching `selectors`, then only this runner's `I/N` shard."""
    tenants = select(inventory.tenants, selectors)
    if shard_spec:
        index, count = parse_shard(shard_spec)
        tenants = shard(tenants, index, count)
    return tenants


def context(inventory: Inventory, work_dir: Path | None = None) -> FleetContext:
    root = (work_dir or inventory.path.resolve().parent / ".fleet").resolve()
    workspace = Workspace(root)
    return FleetContext(workspace=workspace, templates=TemplateSources(workspace.templates), hosting=inventory.hosting)


def fleet_status(
    tenants: Sequence[Tenant],
    ctx: FleetContext,
    *,
    concurrency: int = 4,
    drift: bool = True,
    progress: Progress | None = None,
) -> list[TenantStatus]:
    def crashed(tenant: Tenant, exc: Exception) -> TenantStatus:
        return TenantStatus(tenant.name, tenant.url, tenant.branch, problem=f"error: {type(exc).__name__}: {exc}")

    return run_all(
        tenants,
        lambda t: tenant_status(t, ctx, drift),
        crashed,
        concurrency,
        progress=progress,
        describe=lambda r: r.state,
    )


def fleet_upgrade(
    tenants: Sequence[Tenant],
    target: str,
    ctx: FleetContext,
    *,
    waves: str | None = None,
    concurrency: int = 4,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> list[Outcome]:
    plan = plan_waves(tenants, parse_waves(waves) if waves else ())
    return run_waves(plan, lambda t: upgrade_tenant(t, target, ctx, dry_run), concurrency, progress)
