"""Seal secret values offline with the real kubeseal (`tenantforge seal`).

The plaintext goes to kubeseal on stdin as a Secret manifest, never on a command line and never to disk. The scope
is always strict: the ciphertext decrypts only as the named Secret in the named namespace, which is what the
blueprint's SealedSecrets are (`sealed.<env>.<name>` in the answers).
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path

from checks.errors import ToolFailed
from checks.tools import require_tool
from generator.errors import UserError

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")
_PEM = "-----BEGIN CERTIFICATE-----"


def parse_values(lines: Iterable[str], source: str) -> dict[str, str]:
    """`KEY=VALUE` lines (blank lines and `#` comments skipped) into a mapping; errors name the line."""
    values: dict[str, str] = {}
    for number, raw in enumerate(lines, start=1):
        line = raw.rstrip("\r\n")
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not _KEY.match(key):
            raise UserError(f"{source} line {number}: expected KEY=VALUE with KEY of letters, digits, '-', '_' or '.'")
        if key in values:
            raise UserError(f"{source} line {number}: key {key} given twice")
        if not value:
            raise UserError(f"{source} line {number}: {key} has an empty value; a sealed secret needs a value")
        values[key] = value
    return values


def check_target(cert: Path, namespace: str, name: str) -> None:
    if not _DNS_LABEL.match(namespace):
        raise UserError(f"--namespace {namespace!r} is not a namespace name (DNS-1123 label)")
    if not _DNS_SUBDOMAIN.match(name):
        raise UserError(f"--name {name!r} is not a Secret name (DNS-1123 subdomain)")
    try:
        head = cert.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise UserError(f"--cert {cert}: cannot read it ({exc.strerror or exc})") from exc
    if _PEM not in head:
        raise UserError(f"--cert {cert}: not a PEM certificate (the sealed-secrets controller's public cert)")


def seal(cert: Path, namespace: str, name: str, values: Mapping[str, str]) -> dict[str, str]:
    """Seal `values` for Secret `name` in `namespace` with strict scope; returns key -> ciphertext."""
    check_target(cert, namespace, name)
    if not values:
        raise UserError("nothing to seal: give KEY=VALUE lines on stdin or --from-file KEY=PATH")
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace},
        "type": "Opaque",
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in sorted(values.items())},
    }
    kubeseal = require_tool("kubeseal")
    cmd = [str(kubeseal), "--cert", str(cert), "--scope", "strict", "--format", "json"]
    try:
        proc = subprocess.run(cmd, input=json.dumps(secret), capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ToolFailed(f"kubeseal could not run: {exc}") from exc
    if proc.returncode != 0:
        detail = (proc.stderr.strip().splitlines() or ["no message"])[-1]
        raise UserError(f"kubeseal refused to seal with --cert {cert}: {detail}")
    try:
        sealed = json.loads(proc.stdout)
        encrypted = sealed["spec"]["encryptedData"]
    except (ValueError, KeyError, TypeError) as exc:
        raise ToolFailed("kubeseal printed something that is not a SealedSecret") from exc
    if not isinstance(encrypted, dict) or set(encrypted) != set(values):
        raise ToolFailed("kubeseal returned other keys than it was given")
    return {k: str(encrypted[k]) for k in sorted(encrypted)}


def as_yaml(namespace: str, name: str, sealed: Mapping[str, str]) -> str:
    """The snippet to paste under `sealed.<env>.<name>` of the answers."""
    lines = [f"# kubeseal, strict scope: Secret {name} in namespace {namespace}; paste under sealed.<env>.{name}"]
    lines += [f"{key}: {value}" for key, value in sealed.items()]
    return "\n".join(lines) + "\n"


def write_into_answers(answers: Path, env: str, namespace: str, name: str, sealed: Mapping[str, str]) -> None:
    """Put the ciphertext at `sealed.<env>.<name>` of an answers file, keeping its comments; atomic."""
    import os
    import tempfile

    from ruamel.yaml import YAML
    from ruamel.yaml.comments import CommentedMap
    from ruamel.yaml.error import YAMLError

    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 4096
    try:
        data = yaml.load(answers.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UserError(f"--answers {answers}: cannot read it ({exc.strerror or exc})") from exc
    except YAMLError as exc:
        raise UserError(f"--answers {answers}: not valid YAML") from exc
    if not isinstance(data, dict):
        raise UserError(f"--answers {answers}: must be a YAML mapping of question names to answers")
    envs = data.get("environments")
    if isinstance(envs, list) and env not in envs:
        raise UserError(f"--env {env}: {answers} has no such environment (it has: {', '.join(map(str, envs))})")
    slug = data.get("tenant_slug")
    if slug is not None and namespace != f"{slug}-{env}":
        raise UserError(
            f"--namespace {namespace} is not the namespace of environment {env} in {answers} ({slug}-{env}); "
            "strict-scope ciphertext only decrypts in its own namespace"
        )
    store = data.setdefault("sealed", CommentedMap())
    if not isinstance(store, dict):
        raise UserError(f"--answers {answers}: sealed must be a mapping of environments")
    per_env = store.setdefault(env, CommentedMap())
    if not isinstance(per_env, dict):
        raise UserError(f"--answers {answers}: sealed.{env} must be a mapping of secret names")
    per_env[name] = CommentedMap(sealed)
    fd, tmp = tempfile.mkstemp(prefix=f".{answers.name}.", dir=answers.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            yaml.dump(data, fh)
        os.replace(tmp, answers)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
