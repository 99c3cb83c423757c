"""`tenantforge seal`: seal secret values offline with kubeseal (strict scope)."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from generator import seal as sealing
from generator.console import out
from generator.errors import UserError


def seal_command(  # noqa: PLR0917 (typer maps parameters to options)
    cert: Path = typer.Option(..., "--cert", help="Public certificate of the sealed-secrets controller (PEM)."),
    namespace: str = typer.Option(..., "--namespace", help="Namespace the Secret will live in."),
    name: str = typer.Option(..., "--name", help="Name of the Secret (e.g. odoo-config)."),
    from_file: list[str] = typer.Option([], "--from-file", help="KEY=PATH: seal the content of PATH (repeatable)."),
    answers: Path | None = typer.Option(None, "--answers", help="Write into sealed.ENV.NAME of this answers file."),
    env: str | None = typer.Option(None, "--env", help="Environment of --answers the Secret belongs to."),
) -> None:
    """Seal KEY=VALUE lines from stdin (and --from-file values); print the ciphertext as YAML for the answers,
    or with --answers/--env write it into the answers file (comments kept)."""
    if (answers is None) != (env is None):
        raise UserError("--answers and --env go together: the file and the environment to write the ciphertext to")
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
        if not values[key]:
            raise UserError(f"--from-file {key}: {path} is empty; a sealed secret needs a value")
    sealed = sealing.seal(cert, namespace, name, values)
    if answers is not None and env is not None:
        sealing.write_into_answers(answers, env, namespace, name, sealed)
        out.print(f"sealed {', '.join(sealed)} into {answers} at sealed.{env}.{name}", markup=False)
    else:
        out.print(sealing.as_yaml(namespace, name, sealed), end="", markup=False)


def register(app: typer.Typer) -> None:
    app.command("seal")(seal_command)
