"""The `tenantforge` command line. Thin: each command lives in generator/commands/; errors end here."""

from __future__ import annotations

import os
import sys
import traceback

import typer

from checks.errors import GateError
from generator import __version__
from generator.commands import check, doctor, fleet, new, promote, scan, seal
from generator.console import err
from generator.errors import UserError

DEBUG_ENV = "TENANTFORGE_DEBUG"

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


def _os_error(exc: OSError) -> str:
    what = exc.strerror or str(exc)
    paths = [str(p) for p in (exc.filename, exc.filename2) if p is not None]
    return f"{what} ({' -> '.join(paths)})" if paths else what


def main() -> None:
    """Run the CLI; the one place where exceptions become exit codes and one-line messages."""
    command = typer.main.get_command(app)
    try:
        # Standalone mode: click reports usage errors (exit 2), --help, --version and Ctrl-C itself and exits;
        # only our own exceptions (and unexpected ones) come back here.
        command.main(prog_name="tenantforge", standalone_mode=True)
        code = 0
    except GateError as exc:
        err.print(f"error: {exc}", markup=False)
        code = 2
    except UserError as exc:
        err.print(f"error: {exc}", markup=False)
        code = 1
    except OSError as exc:
        err.print(f"error: {_os_error(exc)}", markup=False)
        code = 2
    except KeyboardInterrupt:
        code = 130
    except Exception as exc:
        if os.environ.get(DEBUG_ENV) == "1":
            traceback.print_exc()
        err.print(
            f"internal error: {type(exc).__name__}: {' '.join(str(exc).split())} — "
            f"rerun with {DEBUG_ENV}=1 for the traceback",
            markup=False,
        )
        code = 3
    sys.exit(code)
