"""Bad answers stop the render with one line naming the question and what is allowed; nothing is written."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helpers import ROOT, run_cli

BAD: dict[str, tuple[dict[str, Any], str, str]] = {
    # case: (answers that differ from a valid tenant, question named, what the message says is allowed)
    "slug with capitals": ({"tenant_slug": "Acme_Shop"}, "tenant_slug", "DNS-1123 label"),
    "slug too long": ({"tenant_slug": "a" * 41}, "tenant_slug", "at most 40 characters"),
    "hostname with wildcard": (
        {"hostnames": {"dev": ["*.acme.example.net"], "staging": ["s.acme.example.net"], "prod": ["acme.example.net"]}},
        "hostnames",
        "fully qualified hostname",
    ),
    "hostname shared by two environments": (
        {"hostnames": {"dev": ["a.example.net"], "staging": ["a.example.net"], "prod": ["b.example.net"]}},
        "hostnames",
        "used twice",
    ),
    "odoo version": ({"odoo_version": "15.0"}, "odoo_version", "choose one of ['16.0', '17.0', '18.0']"),
    "image repository without registry": ({"image_repository": "odoo"}, "image_repository", "registry host"),
    "latest tag": ({"image_tags": {"dev": "latest", "staging": "17.0", "prod": "17.0@sha256:" + "a" * 64}},
                   "image_tags", "not latest"),
    "prod without digest": ({"image_tags": {"dev": "17.0", "staging": "17.0", "prod": "17.0"}},
                            "image_tags", "pinned by digest"),
    "admin CIDR": ({"admin_cidrs": ["10.0.0.300/24"]}, "admin_cidrs", "IPv4 CIDR"),
    "admin CIDR open to all": ({"admin_cidrs": ["0.0.0.0/0"]}, "admin_cidrs", "everyone"),
    "admin CIDR with host bits": (
        {"admin_cidrs": ["192.0.2.0/28", "10.0.0.1/16"]},
        "admin_cidrs",
        "'10.0.0.1/16' has host bits set; use the network address 10.0.0.0/16",
    ),
    "admin CIDR with host bits in a /29": (
        {"admin_cidrs": ["198.51.100.77/29"]},
        "admin_cidrs",
        "use the network address 198.51.100.72/29",
    ),
    "backup cron with five fields": ({"backup_schedule": "0 2 * * *"}, "backup_schedule", "six cron fields"),
    "backup cron out of range": ({"backup_schedule": "0 0 25 * * *"}, "backup_schedule", "out of range"),
    "freeze window cron": (
        {"freeze_windows": [{"name": "xmas", "schedule": "0 0 32 12 *", "duration": "48h", "timezone": "UTC",
                             "environments": ["prod"]}]},
        "freeze_windows", "out of range",
    ),
    "prod with one replica": (
        {"sizing": {e: {"replicas": 1, "workers": 2, "cron_threads": 1, "cpu_request": "250m", "cpu_limit": "1",
                        "memory_request": "1Gi", "memory_limit": "2Gi"} for e in ("dev", "staging", "prod")}},
        "sizing", "at least 2 replicas",
    ),
    "prod database with one instance": ({"db_instances": {"dev": 1, "staging": 1, "prod": 1}}, "db_instances",
                                        "at least 2 instances"),
    "replicas with per-pod sessions": (
        {"sessions": "filesystem", "attachment_storage": "s3"}, "sessions", "sessions must be shared"),
    "connection budget": ({"db_maxconn": 64}, "db_max_connections", "must stay below max_connections"),
    "postgres as the Odoo role": ({"db_user": "postgres"}, "db_user", "superuser"),
    "ciphertext that is plaintext": (
        {"sealed": {"dev": {"odoo-config": {"admin_passwd": "hunter2", "db_password": "x"}}}},
        "sealed", "tenantforge seal",
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_answer_stops_tenantforge_new_naming_the_question(
    case: str, valid_answers: dict[str, Any], blueprint_source: Path, tmp_path: Path
) -> None:
    change, question, allowed = BAD[case]
    answers = {**valid_answers, **change}
    if change.get("sessions") == "filesystem":
        answers["sealed"] = {e: {k: v for k, v in s.items() if k != "redis-auth"} for e, s in answers["sealed"].items()}
    path = tmp_path / "answers.yml"
    path.write_text(yaml.safe_dump(answers))
    dest = tmp_path / "tenant"
    result = run_cli("new", str(dest), "--answers", str(path), "--template", str(blueprint_source))
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert lines[0].startswith(f"error: {path}: {question}: "), lines[0]
    assert allowed in lines[0]
    assert not dest.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["answers.yml"]


def test_plain_copier_stops_on_a_bad_answer_and_writes_nothing(
    valid_answers: dict[str, Any], blueprint_source: Path, tmp_path: Path
) -> None:
    path = tmp_path / "answers.yml"
    path.write_text(yaml.safe_dump({**valid_answers, "admin_cidrs": ["not-a-cidr"]}))
    proc = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "copier"), "copy", "--defaults", "--data-file", str(path), "--vcs-ref", "v0.1.0",
         str(blueprint_source), str(tmp_path / "tenant")],
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert proc.returncode != 0
    assert "Validation error for question 'admin_cidrs'" in proc.stderr and "IPv4 CIDR" in proc.stderr
    assert not (tmp_path / "tenant").exists()


def test_unknown_question_and_non_empty_destination_are_refused(
    valid_answers: dict[str, Any], blueprint_source: Path, tmp_path: Path
) -> None:
    path = tmp_path / "answers.yml"
    path.write_text(yaml.safe_dump({**valid_answers, "tenant_slgu": "typo"}))
    result = run_cli("new", str(tmp_path / "t"), "--answers", str(path), "--template", str(blueprint_source))
    assert result.returncode == 1 and "unknown question(s) tenant_slgu" in result.stderr
    assert not (tmp_path / "t").exists()
    occupied = tmp_path / "occupied"
    occupied.mkdir()
    (occupied / "keep.txt").write_text("mine")
    path.write_text(yaml.safe_dump(valid_answers))
    result = run_cli("new", str(occupied), "--answers", str(path), "--template", str(blueprint_source))
    assert result.returncode == 1 and "exists and is not an empty directory" in result.stderr
    assert [p.name for p in occupied.iterdir()] == ["keep.txt"]
    broken = tmp_path / "broken.yml"
    broken.write_text("tenant_slug: [unclosed\n")
    result = run_cli("new", str(tmp_path / "t"), "--answers", str(broken), "--template", str(blueprint_source))
    assert result.returncode == 1 and result.stderr.startswith(f"error: {broken}: line") and "YAML" in result.stderr
