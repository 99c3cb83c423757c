"""Image references in rendered objects, and kustomize `images:` entries that did not reach them."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from checks.finding import Finding, Severity

ORIGIN_ANNOTATION = "config.kubernetes.io/origin"
IMPLICIT = "TF-IMAGE-IMPLICIT"
_CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")
_DIGEST_RE = re.compile(r"^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[0-9a-fA-F]{32,}$")
# Image fields outside pod specs, for kinds the blueprints render (kustomize's images transformer does not touch them
# unless a `configurations:` fieldSpec says so).
_EXTRA_FIELDS: dict[tuple[str, str], tuple[str, ...]] = {
    ("postgresql.cnpg.io", "Cluster"): ("spec", "imageName"),
}
_IMAGE_LIST_FIELDS: dict[tuple[str, str], tuple[str, ...]] = {
    ("postgresql.cnpg.io", "ImageCatalog"): ("spec", "images"),
    ("postgresql.cnpg.io", "ClusterImageCatalog"): ("spec", "images"),
}


@dataclass(frozen=True)
class ImageRef:
    """`[registry/]repository[:tag][@digest]`, split the way kustomize's images transformer splits it."""

    raw: str
    repository: str
    tag: str | None
    digest: str | None

    @classmethod
    def parse(cls, raw: str) -> ImageRef:
        rest, _, digest = raw.partition("@")
        slash = rest.rfind("/")
        colon = rest.rfind(":")
        if colon > slash:
            repository, tag = rest[:colon], rest[colon + 1 :]
        else:
            repository, tag = rest, None
        return cls(raw=raw, repository=repository, tag=tag or None, digest=digest or None)

    @property
    def pinned_digest(self) -> str | None:
        return self.digest if self.digest and _DIGEST_RE.match(self.digest) else None


@dataclass(frozen=True)
class ImageUse:
    """One image field of one rendered object."""

    ref: str
    env: str
    kind: str
    namespace: str | None
    name: str
    field: str
    file: str | None = None
    line: int | None = None

    @property
    def resource(self) -> str:
        return "/".join(p for p in (self.kind, self.namespace, self.name) if p)


def origin_of(obj: Mapping[str, Any]) -> str | None:
    """The source file kustomize recorded for an object (`buildMetadata: [originAnnotations]`), if any."""
    meta = obj.get("metadata")
    annotations = meta.get("annotations") if isinstance(meta, Mapping) else None
    text = annotations.get(ORIGIN_ANNOTATION) if isinstance(annotations, Mapping) else None
    if not isinstance(text, str):
        return None
    try:
        origin = yaml.safe_load(text)
    except yaml.YAMLError:
        return None
    path = origin.get("path") if isinstance(origin, dict) else None
    return path if isinstance(path, str) else None


def _walk_containers(node: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(node, Mapping):
        for key, value in node.items():
            here = f"{path}.{key}" if path else str(key)
            if key in _CONTAINER_LISTS and isinstance(value, list):
                for index, container in enumerate(value):
                    if isinstance(container, Mapping) and isinstance(container.get("image"), str):
                        label = container.get("name", index)
                        yield f"{here}[{label}].image", container["image"]
            else:
                yield from _walk_containers(value, here)
    elif isinstance(node, list):
        for index, item in enumerate(node):
            yield from _walk_containers(item, f"{path}[{index}]")


def _dig(obj: Mapping[str, Any], keys: Sequence[str]) -> Any:
    node: Any = obj
    for key in keys:
        if not isinstance(node, Mapping):
            return None
        node = node.get(key)
    return node


def images_in_object(
    obj: Mapping[str, Any], env: str, file: str | None = None, line: int | None = None
) -> list[ImageUse]:
    """Every image field of one rendered object: pod-spec containers anywhere in it, plus known CRD fields."""
    kind = str(obj.get("kind", ""))
    api_version = str(obj.get("apiVersion", ""))
    group = api_version.split("/", maxsplit=1)[0] if "/" in api_version else ""
    meta_value = obj.get("metadata")
    meta: Mapping[str, Any] = meta_value if isinstance(meta_value, Mapping) else {}
    namespace = meta.get("namespace") if isinstance(meta.get("namespace"), str) else None
    name = str(meta.get("name", ""))
    found: list[tuple[str, str]] = list(_walk_containers(obj.get("spec"), "spec"))
    extra = _EXTRA_FIELDS.get((group, kind))
    if extra and isinstance(_dig(obj, extra), str):
        found.append((".".join(extra), _dig(obj, extra)))
    listed = _IMAGE_LIST_FIELDS.get((group, kind))
    if listed and isinstance(_dig(obj, listed), list):
        for index, entry in enumerate(_dig(obj, listed)):
            if isinstance(entry, Mapping) and isinstance(entry.get("image"), str):
                found.append((f"{'.'.join(listed)}[{index}].image", entry["image"]))
    file = file or origin_of(obj)
    return [
        ImageUse(ref=ref.strip(), env=env, kind=kind, namespace=namespace, name=name, field=field, file=file, line=line)
        for field, ref in found
        if ref.strip()
    ]


def implicit_image_findings(
    obj: Mapping[str, Any], env: str, file: str | None = None, line: int | None = None
) -> list[Finding]:
    """Objects whose image the operator picks at run time, so no scan can see it (CNPG `Cluster` without an image)."""
    kind = str(obj.get("kind", ""))
    api_version = str(obj.get("apiVersion", ""))
    if kind != "Cluster" or not api_version.startswith("postgresql.cnpg.io/"):
        return []
    spec = obj.get("spec")
    if isinstance(spec, Mapping) and (spec.get("imageName") or spec.get("imageCatalogRef")):
        return []
    meta_value = obj.get("metadata")
    meta: Mapping[str, Any] = meta_value if isinstance(meta_value, Mapping) else {}
    namespace = meta.get("namespace") if isinstance(meta.get("namespace"), str) else None
    return [
        Finding(
            rule_id=IMPLICIT,
            severity=Severity.INFO,
            tool="trivy-image",
            message=(
                "no spec.imageName or spec.imageCatalogRef: CloudNativePG runs its built-in default PostgreSQL image, "
                "which this gate cannot see or scan; pin spec.imageName (by digest) to have it scanned"
            ),
            env=env,
            kind=kind,
            namespace=namespace,
            name=str(meta.get("name", "")),
            file=file or origin_of(obj),
            line=line,
        )
    ]


def images_in_objects(objects: Iterable[Mapping[str, Any]], env: str) -> list[ImageUse]:
    return [use for obj in objects if isinstance(obj, Mapping) for use in images_in_object(obj, env)]


# ------------------------------------------------------------------------------- kustomize `images:` entries


@dataclass(frozen=True)
class ImagePin:
    """One entry of a kustomization's `images:` list."""

    name: str
    new_name: str | None
    new_tag: str | None
    digest: str | None
    file: str
    line: int

    @property
    def target_repository(self) -> str:
        return self.new_name or self.name

    def describe(self) -> str:
        result = self.target_repository
        if self.new_tag:
            result += f":{self.new_tag}"
        if self.digest:
            result += f"@{self.digest}"
        return f"{self.name} -> {result}"

    def applied_to(self, ref: ImageRef) -> bool:
        """Is `ref` what kustomize makes of an image this entry reached?"""
        if ref.repository != self.target_repository:
            return False
        if self.digest and ref.digest != self.digest:
            return False
        return not (self.new_tag and not self.digest and ref.tag != self.new_tag)

    def missed(self, ref: ImageRef) -> bool:
        """Is `ref` still the image this entry should have rewritten?"""
        return ref.repository == self.name and not self.applied_to(ref)


KUSTOMIZATION_NAMES = ("kustomization.yaml", "kustomization.yml", "Kustomization")


def image_pins(overlay: Path, display_root: Path | None = None) -> list[ImagePin]:
    """The `images:` entries of an overlay's kustomization (with their line), or [] when it has none or is unreadable.

    An unreadable kustomization is the render stage's finding, not this one's.
    """
    path = next((overlay / n for n in KUSTOMIZATION_NAMES if (overlay / n).is_file()), None)
    if path is None:
        return []
    try:
        root = yaml.compose(path.read_text(), Loader=yaml.SafeLoader)
    except (OSError, yaml.YAMLError):
        return []
    if not isinstance(root, yaml.MappingNode):
        return []
    shown = str(path.relative_to(display_root)) if display_root and path.is_relative_to(display_root) else str(path)
    pins: list[ImagePin] = []
    for key, value in root.value:
        if key.value != "images" or not isinstance(value, yaml.SequenceNode):
            continue
        for item in value.value:
            if not isinstance(item, yaml.MappingNode):
                continue
            fields = {k.value: v.value for k, v in item.value if isinstance(v, yaml.ScalarNode)}
            if not fields.get("name"):
                continue
            pins.append(
                ImagePin(
                    name=str(fields["name"]),
                    new_name=fields.get("newName") or None,
                    new_tag=fields.get("newTag") or None,
                    digest=fields.get("digest") or None,
                    file=shown,
                    line=item.start_mark.line + 1,
                )
            )
    return pins


def pin_findings(env: str, pins: Sequence[ImagePin], uses: Sequence[ImageUse]) -> list[Finding]:
    """Fields the `images:` transformer did not reach, and entries that reached nothing."""
    findings: list[Finding] = []
    for pin in pins:
        refs = [(use, ImageRef.parse(use.ref)) for use in uses]
        missed = [use for use, ref in refs if pin.missed(ref)]
        for use in missed:
            findings.append(
                Finding(
                    rule_id="TF-IMAGE-UNREACHED",
                    severity=Severity.HIGH,
                    tool="trivy-image",
                    message=(
                        f"{use.resource} {use.field} still runs {use.ref}: the kustomize `images:` entry "
                        f"{pin.describe()} ({pin.file}:{pin.line}) does not reach this field; set the image in a "
                        "patch or add a `configurations:` fieldSpec for it"
                    ),
                    env=env,
                    kind=use.kind,
                    namespace=use.namespace,
                    name=use.name,
                    file=use.file or pin.file,
                    line=use.line if use.file else pin.line,
                    details={"image": use.ref, "field": use.field, "pin": pin.describe()},
                )
            )
        if not missed and not any(pin.applied_to(ref) for _, ref in refs):
            findings.append(
                Finding(
                    rule_id="TF-IMAGE-PIN-UNUSED",
                    severity=Severity.HIGH,
                    tool="trivy-image",
                    message=(
                        f"kustomize `images:` entry {pin.describe()} matches no image the overlay renders: "
                        f"no container uses `{pin.name}` (check the name against the base's image references)"
                    ),
                    env=env,
                    kind="Kustomization",
                    file=pin.file,
                    line=pin.line,
                    details={"pin": pin.describe()},
                )
            )
    return findings
