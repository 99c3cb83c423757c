"""`tenantforge check`: the gate (checks.gate) with reports; exit 0 passed, 1 failing findings, 2 could not run."""

from __future__ import annotations

import errno
import os
import stat
import sys
import tempfile
from enum import StrEnum
from pathlib import Path

import typer

from checks.errors import ConfigError, GateError
from checks.gate import GateRequest, GateResult, run_gate
from checks.reports import FORMATS
from generator.console import err, out
from generator.routetable import route_table


class ReportWriteError(GateError):
    """A report could not be written to its --output path."""


class ReportFormat(StrEnum):
    text = "text"
    json = "json"
    sarif = "sarif"
    junit = "junit"
    codequality = "codequality"


IMAGE_DIR_OPTION = typer.Option(
    None, "--image-dir", help="Directory of `docker save` tarballs to scan (default: image_scan.image_dir)."
)
PULL_OPTION = typer.Option(
    None, "--pull/--no-pull", help="Let trivy pull images not found locally (default: image_scan.pull)."
)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _refuse_unwritable(path: Path) -> None:
    """Fail before the gate runs when an --output can never be written (a directory, a missing parent)."""
    if path.is_dir():
        raise ReportWriteError(f"--output {path}: cannot write the report: Is a directory")
    target = Path(os.path.realpath(path))
    if not target.parent.is_dir():
        raise ReportWriteError(f"--output {path}: cannot write the report: {target.parent} is not a directory")


def _write(path: Path, content: str) -> None:
    """Write a report to `path`: a regular file (or a new path) is replaced atomically, a symlink's target is written,
    a device or fifo (or anything under /dev, /proc: /dev/stdout may be a shell's log file) is written directly.
    Any OS error is one line naming the path (exit 2)."""
    try:
        try:
            st: os.stat_result | None = path.stat()
        except FileNotFoundError:
            st = None
        if st is not None and stat.S_ISDIR(st.st_mode):
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR))
        special = path.absolute().is_relative_to("/dev") or path.absolute().is_relative_to("/proc")
        if st is not None and (special or not stat.S_ISREG(st.st_mode)):
            with path.open("a", encoding="utf-8") as fh:  # never truncate what a shell redirect points at
                fh.write(content)
            return
        target = Path(os.path.realpath(path)) if path.is_symlink() else path
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
        try:
            os.fchmod(fd, 0o666 & ~_umask())
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(content)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise ReportWriteError(f"--output {path}: cannot write the report: {reason}") from None


def _default_repo(overlays: list[Path]) -> Path:
    if not overlays:
        return Path.cwd()
    parents = [str(p.resolve().parent.parent) for p in overlays]
    return Path(os.path.commonpath(parents))


def check_command(  # noqa: PLR0917 (typer maps parameters to options)
    repo: Path | None = typer.Argument(
        None,
        help="The Kustomize repository (overlays/*/kustomization.yaml); default: the current directory, or "
        "with --overlay the folder above the overlays' parents.",
    ),
    env: list[str] = typer.Option([], "--env", help="Gate only this environment (repeatable)."),
    overlay: list[Path] = typer.Option([], "--overlay", help="Gate this overlay directory instead (repeatable)."),
    formats: list[ReportFormat] = typer.Option([], "--format", help="Report format (repeatable)."),
    outputs: list[Path] = typer.Option([], "--output", help="File for the format at the same position (repeatable)."),
    schemas_dir: str | None = typer.Option(None, "--schemas-dir", help="CRD schema directory or URL template."),
    k8s_version: str | None = typer.Option(None, "--k8s-version", help="Kubernetes version X.Y.Z for core schemas."),
    config: Path | None = typer.Option(
        None, "--config", help="Path of tenantforge.yml (default: REPO/tenantforge.yml)."
    ),
    images: bool = typer.Option(False, "--images", help="Also scan every rendered image with trivy image."),
    image_dir: Path | None = IMAGE_DIR_OPTION,
    pull: bool | None = PULL_OPTION,
    routes: bool = typer.Option(
        False, "--routes", help="Also prove the routes in a real Traefik on loopback ports and show the route table."
    ),
) -> None:
    """Render every overlay and gate it: kubeconform, policy rules, trivy config (and trivy image with --images)."""
    paired = pair_reports(formats, outputs)
    result = run_gate(
        GateRequest(
            repo=repo if repo is not None else _default_repo(overlay),
            envs=tuple(env),
            overlays=tuple(overlay),
            config_path=config,
            schemas_dir=schemas_dir,
            k8s_version=k8s_version,
            images=images,
            image_dir=image_dir,
            pull_images=pull,
            routes=routes,
        )
    )
    if routes and any(fmt is ReportFormat.text and path is None for fmt, path in paired):
        out.print(route_table(result.routes))
    emit_reports(result, paired)


def pair_reports(formats: list[ReportFormat], outputs: list[Path]) -> list[tuple[ReportFormat, Path | None]]:
    """Pair each --format with the --output at the same position; at most one report goes to the terminal."""
    chosen = list(formats) or [ReportFormat.text]
    if len(outputs) > len(chosen):
        raise ConfigError(
            f"--output given {len(outputs)} times for {len(chosen)} --format(s); pair each output with a format"
        )
    paired: list[tuple[ReportFormat, Path | None]] = [
        (fmt, outputs[i] if i < len(outputs) else None) for i, fmt in enumerate(chosen)
    ]
    seen: dict[Path, ReportFormat] = {}
    for fmt, path in paired:
        if path is None:
            continue
        key = Path(os.path.abspath(path))
        if key in seen:
            raise ConfigError(
                f"--output {path} is given for --format {seen[key]} and --format {fmt}: each report needs its own file"
            )
        seen[key] = fmt
        _refuse_unwritable(path)
    to_stdout = [fmt for fmt, path in paired if path is None]
    if len(to_stdout) > 1:
        raise ConfigError(
            f"--format {', '.join(to_stdout)}: only one report can go to the terminal; give the others an --output"
        )
    return paired


def emit_reports(result: GateResult, paired: list[tuple[ReportFormat, Path | None]]) -> None:
    """Write every report (files first, atomically), then exit with the gate's code."""
    for fmt, path in paired:
        if path is not None:
            _write(path, FORMATS[fmt.value](result, False))
    for fmt, path in paired:
        if path is None:
            color = fmt is ReportFormat.text and sys.stdout.isatty()
            sys.stdout.write(FORMATS[fmt.value](result, color))
            sys.stdout.flush()
    if all(path is not None for _, path in paired):
        err.print(result.summary(), markup=False)
    raise typer.Exit(result.exit_code)


def register(app: typer.Typer) -> None:
    app.command("check")(check_command)
