"""Rendered Kubernetes objects, each knowing where it came from in the tenant repository.

`kustomize build` with `buildMetadata: [originAnnotations]` writes a `config.kubernetes.io/origin` annotation on
every object (the source file, relative to the kustomization that was built). We turn that into a path relative to
the repository plus the line where the object starts in that file, and drop the annotation again.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Any

from checks.yamlsafe import YamlError, load_all, load_one

ORIGIN_ANNOTATION = "config.kubernetes.io/origin"
_SEPARATOR = re.compile(r"^---[ \t]*(?:#.*)?$", re.MULTILINE)
_CONTENT_LINE = re.compile(r"^[^\S\n]*[^\s#]", re.MULTILINE)  # neither blank nor a comment

# Kinds that exist once per cluster; everything else is treated as namespaced.
CLUSTER_SCOPED_KINDS = frozenset(
    {
        "APIService",
        "CertificateSigningRequest",
        "ClusterIssuer",
        "ClusterRole",
        "ClusterRoleBinding",
        "ClusterSecretStore",
        "ClusterExternalSecret",
        "ClusterImagePolicy",
        "ClusterPolicy",
        "ComponentStatus",
        "CSIDriver",
        "CSINode",
        "CustomResourceDefinition",
        "FlowSchema",
        "GatewayClass",
        "IngressClass",
        "MutatingWebhookConfiguration",
        "Namespace",
        "Node",
        "PersistentVolume",
        "PriorityClass",
        "PriorityLevelConfiguration",
        "RuntimeClass",
        "StorageClass",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
        "ValidatingWebhookConfiguration",
        "VolumeAttachment",
    }
)


@dataclass(frozen=True, slots=True)
class K8sObject:
    """One rendered object. `file`/`line` point at its source in the repo (or at the rendered stream if unknown)."""

    doc: Mapping[str, Any]
    env: str
    index: int
    file: str | None = None
    line: int | None = None
    text: str = field(default="", repr=False, compare=False)

    @property
    def kind(self) -> str:
        return str(self.doc.get("kind") or "")

    @property
    def api_version(self) -> str:
        return str(self.doc.get("apiVersion") or "")

    @property
    def group(self) -> str:
        return self.api_version.rpartition("/")[0]

    @property
    def metadata(self) -> Mapping[str, Any]:
        meta = self.doc.get("metadata")
        return meta if isinstance(meta, dict) else {}

    @property
    def name(self) -> str:
        return str(self.metadata.get("name") or "")

    @property
    def namespace(self) -> str | None:
        ns = self.metadata.get("namespace")
        return str(ns) if ns else None

    @property
    def labels(self) -> Mapping[str, str]:
        labels = self.metadata.get("labels")
        return labels if isinstance(labels, dict) else {}

    @property
    def annotations(self) -> Mapping[str, str]:
        annotations = self.metadata.get("annotations")
        return annotations if isinstance(annotations, dict) else {}

    @property
    def spec(self) -> Mapping[str, Any]:
        spec = self.doc.get("spec")
        return spec if isinstance(spec, dict) else {}

    @property
    def cluster_scoped(self) -> bool:
        return self.kind in CLUSTER_SCOPED_KINDS

    @property
    def ref(self) -> str:
        return "/".join(p for p in (self.kind, self.namespace, self.name) if p)


@dataclass(frozen=True, slots=True)
class Chunk:
    text: str
    line: int


def split_documents(text: str) -> Iterator[Chunk]:
    """Split a YAML stream on `---` lines, keeping the 1-based line each document's text starts on."""
    start = 0
    line = 1
    for match in _SEPARATOR.finditer(text):
        yield Chunk(text[start : match.start()], line)
        line += text.count("\n", start, match.end()) + 1
        start = match.end() + 1
    yield Chunk(text[start:], line)


def _first_content_line(chunk: Chunk) -> int:
    match = _CONTENT_LINE.search(chunk.text)
    return chunk.line + (chunk.text.count("\n", 0, match.start()) if match else 0)


@dataclass(frozen=True, slots=True)
class SourceDoc:
    kind: str
    name: str
    line: int


@lru_cache(maxsize=4096)
def _source_index(path: str, mtime_ns: int) -> tuple[SourceDoc, ...]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return ()
    docs = []
    for chunk in split_documents(text):
        try:
            data = load_one(chunk.text)
        except YamlError:
            continue
        if isinstance(data, dict):
            meta = data.get("metadata")
            name = str(meta.get("name") or "") if isinstance(meta, dict) else ""
            docs.append(SourceDoc(str(data.get("kind") or ""), name, _first_content_line(chunk)))
    return tuple(docs)


def source_line(path: Path, kind: str, name: str) -> int | None:
    """The line where the object `kind/name` starts in `path` (name prefixes/suffixes from kustomize allowed)."""
    try:
        mtime = path.stat().st_mtime_ns
    except OSError:
        return None
    docs = [d for d in _source_index(str(path), mtime) if d.kind == kind]
    for doc in docs:
        if doc.name == name:
            return doc.line
    for doc in docs:
        if doc.name and doc.name in name:
            return doc.line
    if len(docs) == 1:
        return docs[0].line
    return None


def _generator_line(path: Path, name: str) -> int | None:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    pattern = re.compile(rf"^\s*-?\s*name:\s*['\"]?{re.escape(name)}['\"]?\s*$")
    for number, text in enumerate(lines, start=1):
        if pattern.match(text):
            return number
    return None


@dataclass(frozen=True)
class Origin:
    file: str | None
    line: int | None


@lru_cache(maxsize=8192)
def _origin_fields(annotation: str) -> Mapping[str, Any] | None:
    # Every object of one source file carries the same annotation text: parse it once.
    try:
        data = load_one(annotation)
    except YamlError:
        return None
    return MappingProxyType(data) if isinstance(data, dict) else None


def resolve_origin(annotation: str, built_from: Path, repo: Path, kind: str, name: str) -> Origin:
    """Map kustomize's origin annotation (paths relative to `built_from`) to a repo-relative file and line."""
    data = _origin_fields(annotation)
    if data is None:
        return Origin(None, None)
    if data.get("repo"):
        return Origin(f"{data['repo']}//{data.get('path', '')}", None)
    configured_in = data.get("configuredIn")
    if isinstance(configured_in, str):
        path = Path(os.path.normpath(built_from / configured_in))
        configured_by = data.get("configuredBy")
        base_name = str(configured_by.get("name", "")) if isinstance(configured_by, dict) else ""
        return Origin(_display(path, repo), _generator_line(path, base_name) if base_name else None)
    rel = data.get("path")
    if not isinstance(rel, str):
        return Origin(None, None)
    path = Path(os.path.normpath(built_from / rel))
    return Origin(_display(path, repo), source_line(path, kind, name))


def _display(path: Path, repo: Path) -> str:
    try:
        return path.relative_to(repo).as_posix()
    except ValueError:
        return path.as_posix()


def parse_rendered(
    text: str, env: str, *, built_from: Path | None = None, repo: Path | None = None, rendered_name: str | None = None
) -> list[K8sObject]:
    """Parse `kustomize build` output into objects (`kind: List` expanded, empty documents dropped).

    With `built_from`/`repo`, origin annotations are resolved and removed; otherwise objects point at
    `rendered_name` and the line in the stream. Raises `YamlError` naming the line for unparsable output.
    """
    objects: list[K8sObject] = []
    for chunk in split_documents(text):
        if not chunk.text.strip():
            continue
        try:
            docs = list(load_all(chunk.text, check_aliases="*" in chunk.text))
        except YamlError as exc:
            raise YamlError(_shift(str(exc), chunk.line - 1)) from None
        for doc in docs:
            for item in _expand(doc):
                objects.append(_make(item, env, len(objects), chunk, built_from, repo, rendered_name))
    return objects


def _shift(message: str, offset: int) -> str:
    return re.sub(r"^line (\d+)", lambda m: f"line {int(m.group(1)) + offset}", message)


def _expand(doc: Any) -> Iterator[dict[str, Any]]:
    if not isinstance(doc, dict):
        if doc is not None:
            raise YamlError(f"a document is a {type(doc).__name__}, not a Kubernetes object")
        return
    if doc.get("kind") == "List" or (str(doc.get("kind", "")).endswith("List") and isinstance(doc.get("items"), list)):
        for item in doc.get("items") or []:
            yield from _expand(item)
        return
    yield doc


def _make(  # noqa: PLR0917
    doc: dict[str, Any],
    env: str,
    index: int,
    chunk: Chunk,
    built_from: Path | None,
    repo: Path | None,
    rendered_name: str | None,
) -> K8sObject:
    meta = doc.get("metadata")
    annotations = meta.get("annotations") if isinstance(meta, dict) else None
    origin = Origin(rendered_name, _first_content_line(chunk))
    if isinstance(annotations, dict) and ORIGIN_ANNOTATION in annotations:
        raw = annotations.pop(ORIGIN_ANNOTATION)
        if not annotations and isinstance(meta, dict):
            meta.pop("annotations")
        if built_from is not None and repo is not None and isinstance(raw, str):
            name = str(meta.get("name") or "") if isinstance(meta, dict) else ""
            resolved = resolve_origin(raw, built_from, repo, str(doc.get("kind") or ""), name)
            if resolved.file is not None:
                origin = resolved
    return K8sObject(doc=doc, env=env, index=index, file=origin.file, line=origin.line, text=chunk.text)
