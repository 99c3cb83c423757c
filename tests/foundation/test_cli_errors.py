"""The CLI's error boundary: operating-system errors and unexpected exceptions end as one line, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.helpers import ROOT, make_git_repo, run_cli

EXAMPLE_ANSWERS = ROOT / "examples" / "corner-bakery.yml"


def test_new_into_a_place_where_nothing_can_be_created_names_the_destination() -> None:
    result = run_cli("new", "/proc/x", "--answers", str(EXAMPLE_ANSWERS))
    assert result.returncode == 1
    assert result.stderr == "error: /proc/x: cannot create the destination here (No such file or directory)\n"


def test_an_os_error_escaping_a_command_is_one_line_naming_the_path_exit_2(tmp_path: Path) -> None:
    make_git_repo(tmp_path / "acme-shop", {"README.md": "x\n"})
    (tmp_path / "fleet.yaml").write_text("version: 1\ntenants:\n  - {name: acme-shop, url: ./acme-shop}\n")
    result = run_cli(
        "fleet", "status", "--no-drift", "--format", "json", "--output", "/proc/x/report.json", cwd=tmp_path
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.startswith("error: No such file or directory (/proc/x/report.json")
    assert result.stderr.count("\n") == 1


BROKEN_COMMAND = """
from generator import cli

@cli.app.command("explode")
def explode() -> None:
    raise RuntimeError("first line\\nsecond line")

cli.main()
"""


def _run_broken(debug: str | None) -> subprocess.CompletedProcess[str]:
    env = {"TENANTFORGE_DEBUG": debug} if debug is not None else {}
    return subprocess.run(
        [sys.executable, "-c", BROKEN_COMMAND, "explode"],
        cwd=ROOT,
        env={**_base_env(), **env},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def _base_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "TENANTFORGE_DEBUG"}


def test_an_unexpected_exception_is_one_internal_error_line_exit_3() -> None:
    result = _run_broken(None)
    assert result.returncode == 3
    assert result.stderr == (
        "internal error: RuntimeError: first line second line — rerun with TENANTFORGE_DEBUG=1 for the traceback\n"
    )


def test_tenantforge_debug_adds_the_traceback() -> None:
    result = _run_broken("1")
    assert result.returncode == 3
    assert result.stderr.startswith("Traceback (most recent call last):")
    assert "\nRuntimeError: first line\nsecond line\n" in result.stderr
    assert result.stderr.endswith("rerun with TENANTFORGE_DEBUG=1 for the traceback\n")
