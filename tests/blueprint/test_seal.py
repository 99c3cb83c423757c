"""`tenantforge seal` wraps the real kubeseal: strict scope, offline certificate, plaintext only on stdin."""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path

import pytest
import yaml

from checks import tools
from tests.helpers import CLI, make_cert


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_cert(tmp_path_factory.mktemp("seal"))


def seal(cert: Path, stdin: str, *extra: str, namespace: str = "acme-shop-prod") -> subprocess.CompletedProcess[str]:
    cmd = [str(CLI), "seal", "--cert", str(cert), "--namespace", namespace,
           "--name", "odoo-config", *extra]  # fmt: skip
    return subprocess.run(cmd, input=stdin, capture_output=True, text=True, check=False, timeout=120)


def unseal(key: Path, namespace: str, encrypted: dict[str, str], tmp: Path) -> subprocess.CompletedProcess[str]:
    manifest = {
        "apiVersion": "bitnami.com/v1alpha1",
        "kind": "SealedSecret",
        "metadata": {"name": "odoo-config", "namespace": namespace},
        "spec": {"encryptedData": encrypted, "template": {"metadata": {"name": "odoo-config"}}},
    }
    path = tmp / "sealed.json"
    path.write_text(json.dumps(manifest))
    return subprocess.run(
        [str(tools.require_tool("kubeseal")), "--recovery-unseal", "--recovery-private-key", str(key),
         "--format", "json", "-f", str(path)],
        capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip


def test_sealed_values_decrypt_only_as_that_secret_in_that_namespace(pair: tuple[Path, Path], tmp_path: Path) -> None:
    cert, key = pair
    secret_file = tmp_path / "hash.txt"
    secret_file.write_text("pbkdf2-sha512$600000$c2FsdA$aGFzaA")
    result = seal(cert, "# comment\n\ndb_password=p@ss: w0rd #1\n", "--from-file", f"admin_passwd={secret_file}")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("# kubeseal, strict scope: Secret odoo-config in namespace acme-shop-prod")
    assert "p@ss" not in result.stdout and "pbkdf2" not in result.stdout
    encrypted = yaml.safe_load(result.stdout)
    assert sorted(encrypted) == ["admin_passwd", "db_password"]
    opened = unseal(key, "acme-shop-prod", encrypted, tmp_path)
    assert opened.returncode == 0, opened.stderr
    data = json.loads(opened.stdout)["data"]
    assert base64.b64decode(data["db_password"]).decode() == "p@ss: w0rd #1"
    assert base64.b64decode(data["admin_passwd"]).decode() == secret_file.read_text()
    moved = unseal(key, "acme-shop-dev", encrypted, tmp_path)
    assert moved.returncode != 0


@pytest.mark.parametrize(
    ("stdin", "extra", "namespace", "message"),
    [
        ("just-a-value\n", (), "acme-shop-prod", "stdin line 1: expected KEY=VALUE"),
        ("a=1\na=2\n", (), "acme-shop-prod", "stdin line 2: key a given twice"),
        ("b=1\na=\n", (), "acme-shop-prod", "stdin line 2: a has an empty value; a sealed secret needs a value"),
        (
            "",
            ("--from-file", "x=/dev/null"),
            "acme-shop-prod",
            "--from-file x: /dev/null is empty; a sealed secret needs a value",
        ),
        ("", (), "acme-shop-prod", "nothing to seal"),
        ("a=1\n", (), "Acme_Prod", "--namespace 'Acme_Prod' is not a namespace name"),
        ("", ("--from-file", "x=/nonexistent/file"), "acme-shop-prod", "--from-file x: cannot read /nonexistent/file"),
    ],
)
def test_bad_input_is_one_line_naming_what_is_wrong(
    pair: tuple[Path, Path], stdin: str, extra: tuple[str, ...], namespace: str, message: str
) -> None:
    result = seal(pair[0], stdin, *extra, namespace=namespace)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.strip().splitlines() == [f"error: {message}"] or (
        len(result.stderr.strip().splitlines()) == 1 and message in result.stderr
    )


def test_a_certificate_that_is_not_one_is_refused(tmp_path: Path) -> None:
    missing = seal(tmp_path / "nope.pem", "a=1\n")
    assert missing.returncode == 1 and "--cert" in missing.stderr and "cannot read" in missing.stderr
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    refused = seal(garbage, "a=1\n")
    assert refused.returncode == 1 and "not a PEM certificate" in refused.stderr
    broken = tmp_path / "broken.pem"
    broken.write_text("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    failed = seal(broken, "a=1\n")
    assert failed.returncode == 1 and "kubeseal refused to seal" in failed.stderr
    assert "Traceback" not in failed.stderr


def test_answers_mode_writes_into_the_answers_file_keeping_comments(pair: tuple[Path, Path], tmp_path: Path) -> None:
    answers = tmp_path / "answers.yml"
    answers.write_text(
        "# our shop\ntenant_slug: acme-shop  # the slug\nsealed:\n  dev:\n    redis-auth: {password: x}\n"
    )
    result = seal(pair[0], "db_password=a\nadmin_passwd=b\n", "--answers", str(answers), "--env", "prod")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"sealed admin_passwd, db_password into {answers} at sealed.prod.odoo-config"
    text = answers.read_text()
    assert text.startswith("# our shop\ntenant_slug: acme-shop  # the slug\n")
    data = yaml.safe_load(text)
    assert data["sealed"]["dev"] == {"redis-auth": {"password": "x"}}
    assert sorted(data["sealed"]["prod"]["odoo-config"]) == ["admin_passwd", "db_password"]
    before = answers.read_text()
    wrong = seal(pair[0], "a=1\n", "--answers", str(answers), "--env", "dev")
    assert wrong.returncode == 1 and "is not the namespace of environment dev" in wrong.stderr
    alone = seal(pair[0], "a=1\n", "--answers", str(answers))
    assert alone.returncode == 1 and "--answers and --env go together" in alone.stderr
    assert answers.read_text() == before


def test_answers_mode_refuses_an_environment_the_tenant_does_not_have(pair: tuple[Path, Path], tmp_path: Path) -> None:
    answers = tmp_path / "answers.yml"
    answers.write_text("tenant_slug: acme-shop\nenvironments: [staging, prod]\n")
    result = seal(pair[0], "a=1\n", "--answers", str(answers), "--env", "dev", namespace="acme-shop-dev")
    assert (result.returncode, result.stderr.strip()) == (
        1,
        f"error: --env dev: {answers} has no such environment (it has: staging, prod)",
    )
    assert answers.read_text() == "tenant_slug: acme-shop\nenvironments: [staging, prod]\n"
