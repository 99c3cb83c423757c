"""`check --output`: where a report lands (regular file, symlink, device, fifo) and how a write failure reads."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import threading
from pathlib import Path

import pytest

from tests.helpers import CLI, run_cli


def test_regular_file_symlink_and_fifo_are_written_where_they_point(repo: Path, tmp_path: Path) -> None:
    fresh, real, link, fifo = tmp_path / "fresh.json", tmp_path / "real.json", tmp_path / "link.json", tmp_path / "ff"
    real.write_text("old")
    link.symlink_to(real.name)
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()))
    reader.start()
    result = run_cli(
        "check", str(repo), "--env", "dev",
        "--format", "json", "--output", str(fresh),
        "--format", "sarif", "--output", str(link),
        "--format", "junit", "--output", str(fifo),
    )  # fmt: skip
    reader.join(timeout=30)
    assert result.returncode == 0, result.stderr
    assert json.loads(fresh.read_text())["status"] == "passed"
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o666 & ~0o022  # the suite's umask; not mkstemp's 0600
    assert link.is_symlink() and json.loads(real.read_text())["version"] == "2.1.0"
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    assert received and received[0].startswith(b'<?xml version="1.0"')


@pytest.mark.parametrize(
    ("target", "reason"),
    [("/dev/full", "No space left on device"), ("DIR", "Is a directory"), ("MISSING/r.json", "is not a directory")],
)
def test_an_unwritable_output_is_one_line_and_exit_2(repo: Path, tmp_path: Path, target: str, reason: str) -> None:
    output = target.replace("DIR", str(tmp_path)).replace("MISSING", str(tmp_path / "missing"))
    result = run_cli("check", str(repo), "--env", "dev", "--format", "json", "--output", output)
    assert result.returncode == 2
    assert result.stderr.strip() == f"error: --output {output}: cannot write the report: " + (
        f"{tmp_path / 'missing'} is not a directory" if target.startswith("MISSING") else reason
    )
    if target == "/dev/full":
        assert stat.S_ISCHR(os.stat("/dev/full").st_mode)


def test_dev_stdout_redirected_to_a_file_is_written_not_replaced(repo: Path, tmp_path: Path) -> None:
    log = tmp_path / "log.txt"
    log.write_text("earlier line\n")
    with log.open("a") as fh:
        proc = subprocess.run(
            [str(CLI), "check", str(repo), "--env", "dev", "--format", "json", "--output", "/dev/stdout"],
            stdout=fh, stderr=subprocess.PIPE, text=True, check=False, timeout=300,
        )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    text = log.read_text()
    assert text.startswith("earlier line\n{") and json.loads(text.split("\n", 1)[1])["status"] == "passed"
