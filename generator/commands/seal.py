"""`tenantforge seal`: seal secret values offline with kubeseal (strict scope)."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from generator import seal as sealing
from generator.console import out
from generator.errors import UserError


def seal_command(
    cert: Path = typer.Option(..., "--cert", help="Public certificate of the sealed-secrets controller (PEM)."),
    namespace: str = typer.Option(..., "--namespace", help="Namespace the Secret will live in."),
    name: str = typer.Option(..., "--name", help="Name of the Secret (e.g. odoo-config)."),
    from_file: list[str] = typer.Option([], "--from-file", help="KEY=PATH: seal the content of PATH (repeatable)."),
) -> None:
    """Seal KEY=VALUE lines from stdin (and --from-file values); print the ciphertext as YAML for the answers."""
    values: dict[str, str] = {}
    if not sys.stdin.isatty():
        values.update(sealing.parse_values(sys.stdin, "stdin"))
    for item in from_file:
        key, sep, path = item.partition("=")
        if not sep or not key:
            raise UserError(f"--from-file {item!r}: expected KEY=PATH")
        if key in values:
            raise UserError(f"--from-file {key}: key given twice")
        try:
            values[key] = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise UserError(f"--from-file {key}: cannot read {path} ({exc.strerror or exc})") from exc
    sealed = sealing.seal(cert, namespace, name, values)
    out.print(sealing.as_yaml(namespace, name, sealed), end="", markup=False)


def register(app: typer.Typer) -> None:
    app.command("seal")(seal_command)
