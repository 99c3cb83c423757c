"""`tenantforge fleet status|upgrade`: see and upgrade every tenant repository of the inventory."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from generator import fleet
from generator.console import err, out
from generator.errors import UserError
from generator.fleet import report
from generator.fleet.runner import Progress as ProgressCallback

fleet_app = typer.Typer(
    help="See every tenant repository of the fleet inventory, and roll blueprint releases across them.",
    no_args_is_help=True,
)

DEFAULT_CONCURRENCY = max(2, min(8, (os.cpu_count() or 2) * 2))


class StatusFormat(StrEnum):
    text = "text"
    json = "json"
    html = "html"


class UpgradeFormat(StrEnum):
    text = "text"
    json = "json"


INVENTORY = typer.Option(Path("fleet.yaml"), "--inventory", "-i", help="The fleet inventory (fleet.yaml).")
WORK_DIR = typer.Option(
    None, "--work-dir", help="Where work clones and per-tenant results live (default: .fleet beside the inventory)."
)
SELECT = typer.Option(
    [], "--select", "-s", help="Tenants to include: NAME-GLOB, LABEL=GLOB or LABEL!=GLOB, comma = and; repeat = or."
)
SHARD = typer.Option(None, "--shard", help="Only shard I of N (e.g. 2/8): for a CI matrix; stable per tenant name.")
CONCURRENCY = typer.Option(DEFAULT_CONCURRENCY, "--concurrency", "-j", min=1, max=64, help="Tenants at once.")


@contextmanager
def _progress(total: int, verb: str) -> Iterator[ProgressCallback | None]:
    """A progress bar on a terminal (stderr), nothing otherwise."""
    if not err.is_terminal or total == 0:
        yield None
        return
    with Progress(
        TextColumn(f"[bold]{verb}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    ) as bar:
        task = bar.add_task("", total=total)

        def advance(tenant: str, result: str) -> None:
            bar.update(task, advance=1, description=f"{tenant}: {result}")

        yield advance


@fleet_app.command("status")
def status_command(  # noqa: PLR0917 (typer maps parameters to options)
    inventory: Path = INVENTORY,
    work_dir: Path | None = WORK_DIR,
    select: list[str] = SELECT,
    shard: str | None = SHARD,
    concurrency: int = CONCURRENCY,
    output_format: StatusFormat = typer.Option(StatusFormat.text, "--format", help="text, json or html."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write the report to this file."),
    drift: bool = typer.Option(True, "--drift/--no-drift", help="Compare each repo with a render of its version."),
) -> None:
    """Per tenant: blueprint version, latest release, drift from its version's render, upgrade branches, last gate.

    Exit 1 when a tenant could not be read (unreachable, not a Copier project, ...)."""
    inv = fleet.load_inventory(inventory)
    tenants = fleet.choose(inv, select, shard)
    ctx = fleet.context(inv, work_dir)
    with _progress(len(tenants), "status") as progress:
        rows = fleet.fleet_status(tenants, ctx, concurrency=concurrency, drift=drift, progress=progress)
    if output_format is StatusFormat.html:
        _emit(report.status_html(rows), output)
    elif output_format is StatusFormat.json:
        _emit(report.status_json(rows) + "\n", output)
    else:
        if output is not None:
            raise UserError("--output needs --format json or html")
        out.print(report.status_table(rows))
        out.print(report.status_summary(rows))
    raise typer.Exit(1 if any(r.problem for r in rows) else 0)


@fleet_app.command("upgrade")
def upgrade_command(  # noqa: PLR0917 (typer maps parameters to options)
    to: str = typer.Option(..., "--to", help="The blueprint release (git tag) to upgrade to."),
    inventory: Path = INVENTORY,
    work_dir: Path | None = WORK_DIR,
    select: list[str] = SELECT,
    shard: str | None = SHARD,
    wave: str | None = typer.Option(
        None, "--wave", help="Waves, e.g. canary=2,early=10: a wave starts only if the earlier ones all passed."
    ),
    concurrency: int = CONCURRENCY,
    dry_run: bool = typer.Option(False, "--dry-run", help="Update, check and gate in the work clones; push nothing."),
    output_format: UpgradeFormat = typer.Option(UpgradeFormat.text, "--format", help="text or json."),
) -> None:
    """Upgrade every selected tenant to a blueprint release as a reviewed branch `upgrade/<tag>` with a merge request.

    Per tenant: fetch, copier update (3-way, migrations), conflict and data-loss checks, manifest diff per
    environment, gate, commit, push (never forced), merge request. Exit 1 when any tenant did not end well."""
    inv = fleet.load_inventory(inventory)
    tenants = fleet.choose(inv, select, shard)
    ctx = fleet.context(inv, work_dir)
    with _progress(len(tenants), "upgrade") as progress:
        outcomes = fleet.fleet_upgrade(
            tenants, to, ctx, waves=wave, concurrency=concurrency, dry_run=dry_run, progress=progress
        )
    if output_format is UpgradeFormat.json:
        out.print_json(report.upgrade_json(outcomes, to, dry_run))
    else:
        out.print(report.upgrade_table(outcomes))
        out.print(report.upgrade_summary(outcomes, to))
    raise typer.Exit(0 if all(o.status.ok for o in outcomes) else 1)


def _emit(text: str, output: Path | None) -> None:
    if output is None:
        out.file.write(text)
        return
    tmp = output.with_name(output.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(output)
    err.print(f"wrote {output}")


def register(app: typer.Typer) -> None:
    app.add_typer(fleet_app, name="fleet")
