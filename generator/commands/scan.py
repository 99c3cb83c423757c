"""`tenantforge scan`: render the overlays and run the image stage of the gate alone (docs/image-scan.md)."""

from __future__ import annotations

from pathlib import Path

import typer

from checks.gate import GateRequest, run_gate
from generator.commands.check import IMAGE_DIR_OPTION, PULL_OPTION, ReportFormat, emit_reports, pair_reports


def scan_command(  # noqa: PLR0917 (typer maps parameters to options)
    repo: Path = typer.Argument(Path("."), help="The Kustomize repository (overlays/*/kustomization.yaml)."),
    env: list[str] = typer.Option([], "--env", help="Scan only this environment (repeatable)."),
    overlay: list[Path] = typer.Option([], "--overlay", help="Scan this overlay directory instead (repeatable)."),
    formats: list[ReportFormat] = typer.Option([], "--format", help="Report format (repeatable)."),
    outputs: list[Path] = typer.Option([], "--output", help="File for the format at the same position (repeatable)."),
    config: Path | None = typer.Option(
        None, "--config", help="Path of tenantforge.yml (default: REPO/tenantforge.yml)."
    ),
    image_dir: Path | None = IMAGE_DIR_OPTION,
    pull: bool | None = PULL_OPTION,
) -> None:
    """Scan every image the rendered overlays run with trivy image, offline; exit 0 passed, 1 failing, 2 no scan."""
    paired = pair_reports(formats, outputs)
    result = run_gate(
        GateRequest(
            repo=repo,
            envs=tuple(env),
            overlays=tuple(overlay),
            config_path=config,
            only_images=True,
            image_dir=image_dir,
            pull_images=pull,
        )
    )
    emit_reports(result, paired)


def register(app: typer.Typer) -> None:
    app.command("scan")(scan_command)
