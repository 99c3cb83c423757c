"""`tenantforge new`: render a tenant repository from the blueprint."""

from __future__ import annotations

from pathlib import Path

import typer

from generator import render
from generator.console import out


def new_command(
    dest: Path = typer.Argument(..., help="Directory to create (absent or empty)."),
    answers: Path = typer.Option(..., "--answers", help="YAML answers file (question: answer)."),
    vcs_ref: str | None = typer.Option(None, "--vcs-ref", help="Blueprint release (git tag) to render."),
    template: str | None = typer.Option(
        None, "--template", help="Blueprint repository (default: $TENANTFORGE_BLUEPRINT or this checkout)."
    ),
) -> None:
    """Render the odoo-tenant blueprint into DEST with the answers; nothing is written when an answer is wrong."""
    result = render.render(dest, answers, template=template, vcs_ref=vcs_ref)
    version = f" at {result.version}" if result.version else ""
    out.print(f"rendered {result.files} files into {result.dest} from {result.template}{version}", markup=False)


def register(app: typer.Typer) -> None:
    app.command("new")(new_command)
