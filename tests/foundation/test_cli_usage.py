"""Usage errors (unknown option, missing argument) are reported by the CLI, never as a traceback."""

from __future__ import annotations

import pytest

from tests.helpers import run_cli


@pytest.mark.parametrize(
    ("args", "message"),
    [(("new",), "Missing argument 'dest'"), (("check", "--no-such-flag"), "No such option: --no-such-flag")],
)
def test_usage_error_exits_2_with_the_usage_and_no_traceback(args: tuple[str, ...], message: str) -> None:
    result = run_cli(*args)
    assert result.returncode == 2
    assert message in result.stderr and "Usage: tenantforge" in result.stderr
    assert "Traceback" not in result.stderr
