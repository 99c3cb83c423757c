"""The `tenantforge` command line. Thin: each command lives in generator/commands/; errors end here."""

from __future__ import annotations

import sys

import click
import typer

from checks.errors import GateError
from generator import __version__
from generator.commands import check, doctor, fleet, new, promote, scan, seal
from generator.console import err
from generator.errors import UserError

app = typer.Typer(
    name="tenantforge",
    help="Scaffold, gate and roll out GitOps repositories for Odoo tenants on Kubernetes.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

for module in (doctor, check, new, seal, promote, scan, fleet):
    module.register(app)


def _show_version(value: bool) -> None:
    if value:
        print(f"tenantforge {__version__}")
        raise typer.Exit(0)


@app.callback()
def root(
    version: bool = typer.Option(
        False, "--version", callback=_show_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Scaffold, gate and roll out GitOps repositories for Odoo tenants on Kubernetes."""


def main() -> None:
    """Run the CLI; the one place where exceptions become exit codes and one-line messages."""
    command = typer.main.get_command(app)
    try:
        # standalone_mode=False would let usage errors escape as typer's vendored click exceptions, which the
        # clauses below (real click) do not match: they printed a traceback. Standalone mode reports them itself
        # (usage line + one error line, exit 2) and still lets our own exceptions through to the clauses below.
        code = command.main(prog_name="tenantforge", standalone_mode=True)
    except click.exceptions.Exit as exc:
        code = exc.exit_code
    except click.exceptions.Abort:
        err.print("aborted")
        code = 130
    except click.ClickException as exc:
        exc.show()
        code = exc.exit_code
    except GateError as exc:
        err.print(f"error: {exc}", markup=False)
        code = 2
    except UserError as exc:
        err.print(f"error: {exc}", markup=False)
        code = 1
    except KeyboardInterrupt:
        code = 130
    sys.exit(code if isinstance(code, int) else 0)
