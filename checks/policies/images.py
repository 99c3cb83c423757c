"""Images: from an allowed registry, never a floating tag, pinned by digest in prod."""

from __future__ import annotations

import re
from collections.abc import Iterator

from checks.finding import Severity
from checks.manifests import K8sObject
from checks.policies.rule import Family, RuleContext, containers, per_object, pod_spec

family = Family("images")

FLOATING_TAGS = frozenset({"latest", "nightly", "edge", "main", "master", "dev", "stable"})
_DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")


def split_image(image: str) -> tuple[str, str | None, str | None]:
    """`registry/path:tag@digest` -> (name, tag, digest)."""
    name, _, digest = image.partition("@")
    last = name.rsplit("/", 1)[-1]
    tag = None
    if ":" in last:
        name, _, tag = name.rpartition(":")
    return name, tag, digest or None


def _images(obj: K8sObject) -> Iterator[tuple[str, str]]:
    pod = pod_spec(obj)
    if pod is None:
        return
    for c in containers(pod):
        image = c.spec.get("image")
        yield c.label, image if isinstance(image, str) else ""


def _registry_of(name: str) -> str:
    first = name.split("/", 1)[0]
    if "/" not in name or ("." not in first and ":" not in first and first != "localhost"):
        return "docker.io"
    return first


@family.rule(
    "TF-IMG-001",
    Severity.HIGH,
    "Image comes from a registry that is not allowed",
    rationale="Only registries the platform mirrors and scans may run in a tenant namespace.",
    fix="Pull the image through one of the registries listed under `registries:` in tenantforge.yml.",
    references=("KSV-0125",),
)
@per_object()
def registry_allowed(obj: K8sObject, ctx: RuleContext) -> Iterator[str]:
    allowed = ctx.config.registries
    if not allowed:
        return
    for label, image in _images(obj):
        name = split_image(image)[0]
        if not any(name == prefix or name.startswith(prefix.rstrip("/") + "/") for prefix in allowed):
            yield f"{label} uses {image or 'no image'} from {_registry_of(name)}, not one of: {', '.join(allowed)}"


@family.rule(
    "TF-IMG-002",
    Severity.HIGH,
    "Prod image is not pinned by digest",
    rationale="A tag can be moved after the gate passed; only a digest pins what prod actually runs.",
    fix="Pin the image with `digest:` in the overlay's `images:` (kustomize edit set image name@sha256:...).",
    references=("CKV_K8S_43",),
)
@per_object()
def digest_in_prod(obj: K8sObject, ctx: RuleContext) -> Iterator[str]:
    if not ctx.env.prod:
        return
    for label, image in _images(obj):
        if not _DIGEST.search(image):
            yield f"{label} image {image or '(none)'} is not pinned by @sha256 digest (prod environment {ctx.env.name})"


@family.rule(
    "TF-IMG-003",
    Severity.HIGH,
    "Image uses a floating or missing tag",
    rationale="`latest` and friends change under your feet: rollbacks and audits cannot tell what ran.",
    fix="Use an immutable version tag (e.g. odoo:17.0-20250101) or a digest.",
    references=("CKV_K8S_14", "KSV-0013", "kube-linter latest-tag"),
)
@per_object()
def no_floating_tag(obj: K8sObject, ctx: RuleContext) -> Iterator[str]:
    for label, image in _images(obj):
        if not image:
            yield f"{label} has no image"
            continue
        _, tag, digest = split_image(image)
        if digest:
            continue
        if tag is None:
            yield f"{label} image {image} has no tag (means latest)"
        elif tag.lower() in FLOATING_TAGS:
            yield f"{label} image {image} uses the floating tag {tag!r}"
