"""`tenantforge doctor`."""

from __future__ import annotations

import json
from enum import StrEnum

import typer
from rich.table import Table

from generator import doctor
from generator.console import out


class DoctorFormat(StrEnum):
    text = "text"
    json = "json"


def doctor_command(
    output_format: DoctorFormat = typer.Option(DoctorFormat.text, "--format", help="text or json"),
) -> None:
    """Show every tool the gate needs (found, path, version, pinned version) and the schema sources."""
    reports = doctor.tool_reports()
    schema = doctor.schema_report()
    if output_format is DoctorFormat.json:
        out.print_json(json.dumps(doctor.as_json(reports, schema)))
    else:
        table = Table(title="tools")
        for col in ("tool", "status", "version", "pinned", "path"):
            table.add_column(col)
        for r in reports:
            if not r.found:
                status = "[red]missing[/red]"
            elif r.matches:
                status = "[green]ok[/green]"
            else:
                status = "[yellow]version mismatch[/yellow]"
            table.add_row(r.name, status, r.version or "-", r.pinned, r.path or "-")
        out.print(table)
        out.print(f"core schemas: {schema['core_source']}")
        out.print(f"  versions: {', '.join(schema['core_versions'])}; gate default {schema['kubernetes_version']}")
        out.print(f"  prepared in: {schema['core_cache']}")
        crd_state = "ok" if schema["crd_ok"] else f"[red]{schema.get('crd_error')}[/red]"
        out.print(f"CRD schemas: {schema['crd_source']} ({crd_state})")
        if not all(r.found and r.matches for r in reports if r.required):
            out.print("[red]some required tools are missing or at the wrong version: run `make setup`[/red]")
    raise typer.Exit(0 if doctor.healthy(reports, schema) else 1)


def register(app: typer.Typer) -> None:
    app.command("doctor")(doctor_command)
