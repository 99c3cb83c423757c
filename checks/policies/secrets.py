"""Secrets: never plaintext in git, SealedSecrets strictly scoped, nothing credential-shaped anywhere."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from checks.finding import Severity
from checks.manifests import K8sObject
from checks.policies.rule import Family, Hit, RuleContext, as_dict, containers, dicts, per_object, pod_spec

family = Family("secrets")

_SCOPE_ANNOTATIONS = ("sealedsecrets.bitnami.com/namespace-wide", "sealedsecrets.bitnami.com/cluster-wide")
_PATTERNS = (
    ("a private key", re.compile(r"-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----")),
    ("an AWS access key id", re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")),
    ("a GitHub token", re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36,}\b")),
    ("a GitLab token", re.compile(r"\bglpat-[A-Za-z0-9_-]{20,}\b")),
    ("a Slack token", re.compile(r"\bxox[baprs]-[A-Za-z0-9-]{10,}\b")),
    ("a password in a URL", re.compile(r"\b[a-z][a-z0-9+.-]*://[^/\s:@]+:[^/\s@{}$]{3,}@")),
    (
        "a password assignment",
        re.compile(
            r"(?im)^\s*(?:db_password|admin_passwd|password|passwd|secret_key|api_key|token)\s*[=:]\s*"
            r"(?!\s*$)(?!['\"]?(?:\{\{|\$\{|\$[A-Z_]|<|False\b|None\b|changeme\b))['\"]?[^\s'\"]{4,}"
        ),
    ),
)
# One pass over every string first; only strings it flags are tried pattern by pattern.
_ANY = re.compile("|".join(f"(?:{p.pattern.removeprefix('(?im)')})" for _, p in _PATTERNS), re.I | re.M)
# No pattern matches fewer characters (`a://b:ccc@`, `token=abcd`): most strings of a manifest are shorter.
_SHORTEST_MATCH = 10
_SECRET_ENV = re.compile(r"(?i)(password|passwd|secret|token|api_?key|private_?key|credentials?)")
# Names like ADMIN_TOKEN_FILE point at where a credential is mounted, not at the credential.
_REFERENCE_ENV = re.compile(r"(?i)_(file|path|dir|url|name|key_?ref)$")


@family.rule(
    "TF-SEC-001",
    Severity.CRITICAL,
    "Plain Secret in the rendered manifests",
    rationale="A `kind: Secret` in git is a leaked secret: base64 is not encryption.",
    fix="Seal it: `tenantforge seal` (kubeseal, strict scope) and commit the SealedSecret instead.",
    references=("CKV_SECRET_*",),
)
@per_object("Secret")
def no_plain_secret(obj: K8sObject, ctx: RuleContext) -> Iterator[str]:
    yield f"Secret {obj.name!r} would be committed in plain text (base64 is not encryption)"


@family.rule(
    "TF-SEC-002",
    Severity.HIGH,
    "SealedSecret is not strict-scoped",
    rationale="namespace-wide or cluster-wide sealed data can be copied into another tenant's namespace and decrypted.",
    fix="Reseal with `--scope strict` (the default) and remove the sealedsecrets.bitnami.com/*-wide annotations.",
)
@per_object("SealedSecret")
def sealed_secret_strict(obj: K8sObject, ctx: RuleContext) -> Iterator[str]:
    template_meta = as_dict(as_dict(obj.spec.get("template")).get("metadata"))
    for source in (obj.annotations, as_dict(template_meta.get("annotations"))):
        for key in _SCOPE_ANNOTATIONS:
            if str(source.get(key, "")).lower() == "true":
                yield f"SealedSecret {obj.name!r} is sealed with {key.rsplit('/', 1)[1]} scope"
                return


def _suspect_strings(node: Any, trail: list[object], into: list[tuple[str, str]]) -> None:
    """Every string leaf `_ANY` matches, with its path (`spec.containers[0].env[1].value`); the path is only
    spelled out for the rare hit, because this walks every leaf of every object."""
    if isinstance(node, str):
        if len(node) >= _SHORTEST_MATCH and _ANY.search(node):
            into.append((_path(trail), node))
    elif isinstance(node, dict):
        for key, value in node.items():
            trail.append(key)
            _suspect_strings(value, trail, into)
            trail.pop()
    elif isinstance(node, list):
        for i, value in enumerate(node):
            trail.append((i,))
            _suspect_strings(value, trail, into)
            trail.pop()


def _path(trail: list[object]) -> str:
    path = ""
    for step in trail:
        if isinstance(step, tuple):
            path += f"[{step[0]}]"
        else:
            path = f"{path}.{step}" if path else str(step)
    return path


@family.rule(
    "TF-SEC-003",
    Severity.HIGH,
    "Something that looks like a credential in a rendered object",
    rationale="Credentials in ConfigMaps, env values or annotations end up in git, in Argo CD and in every backup.",
    fix="Move the value into a SealedSecret and reference it (secretKeyRef, or a template in the SealedSecret).",
    references=("CKV_K8S_35", "KSV-0109", "KSV-1010"),
)
def no_credentials(ctx: RuleContext) -> Iterator[Hit]:
    for obj in ctx.objects:
        if obj.kind in ("SealedSecret", "Secret"):
            continue
        yield from (Hit(obj, m) for m in _credential_messages(obj))


def _credential_messages(obj: K8sObject) -> Iterator[str]:
    suspects: list[tuple[str, str]] = []
    _suspect_strings(obj.doc, [], suspects)
    for path, value in suspects:
        for what, pattern in _PATTERNS:
            if pattern.search(value):
                yield f"{path} contains {what}"
                break
    pod = pod_spec(obj)
    if pod is None:
        return
    for c in containers(pod):
        for env in dicts(c.spec.get("env")):
            literal = env.get("value")
            name = str(env.get("name", ""))
            if (
                isinstance(literal, str)
                and literal.strip()
                and not literal.startswith("/")
                and _SECRET_ENV.search(name)
                and not _REFERENCE_ENV.search(name)
            ):
                yield f"{c.label} sets env {env.get('name')} to a literal value"
