"""Schema sources for kubeconform: core Kubernetes schemas (offline) and CRD schemas (configurable).

kubernetes-validate ships strict schemas whose `$ref`s point at `/api/_definitions.json`, an absolute path that
kubeconform cannot resolve from a file location, so kubeconform reports "could not find schema". We write each
kind's schema once as a self-contained file (its definitions inlined under `$defs`) into a cache directory laid out
the way kubeconform's templated `-schema-location` expects: `<root>/vX.Y.Z-local-strict/<kind>-<group>-<ver>.json`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from checks.errors import ConfigError, GateError
from checks.tools import checkout_root, project_config

# Kind files point into _definitions.json by absolute path; definitions point at each other locally.
_REF_PREFIXES = ("/api/_definitions.json#/$defs/", "#/$defs/")
_STAMP = ".complete"
_VERSION_RE = re.compile(r"^\d+\.\d+\.\d+$")
DEFAULT_K8S_VERSION = "1.33.0"
DEFAULT_CRD_CATALOG = "https://raw.githubusercontent.com/datreeio/CRDs-catalog/main/{group}/{kind}_{version}.json"


def kubernetes_validate_dir() -> Path:
    import kubernetes_validate

    return Path(kubernetes_validate.__file__).resolve().parent / "kubernetes-json-schema"


def available_versions() -> list[str]:
    """Kubernetes versions kubernetes-validate ships strict schemas for, oldest first."""
    found = [
        p.name.removeprefix("v").removesuffix("-local-strict")
        for p in kubernetes_validate_dir().glob("v*-local-strict")
    ]
    return sorted(found, key=lambda v: tuple(int(x) for x in v.split(".")))


def default_k8s_version() -> str:
    return str(project_config().get("schemas", {}).get("kubernetes_version", DEFAULT_K8S_VERSION))


def cache_root() -> Path:
    """Where prepared schemas live: $TENANTFORGE_SCHEMA_CACHE, .tools/schemas in a checkout, else ~/.cache."""
    override = os.environ.get("TENANTFORGE_SCHEMA_CACHE")
    if override:
        return Path(override)
    root = checkout_root()
    if root is not None:
        return root / ".tools" / "schemas"
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return base / "tenantforge" / "schemas"


def _collect_refs(node: Any, into: set[str]) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                into.add(_definition_name(value))
            else:
                _collect_refs(value, into)
    elif isinstance(node, list):
        for item in node:
            _collect_refs(item, into)


def _definition_name(ref: str) -> str:
    for prefix in _REF_PREFIXES:
        if ref.startswith(prefix):
            return ref.removeprefix(prefix)
    raise GateError(f"unexpected $ref {ref!r} in the kubernetes-validate schemas")


def _localise(node: Any) -> Any:
    if isinstance(node, dict):
        return {
            k: ("#/$defs/" + _definition_name(v) if k == "$ref" and isinstance(v, str) else _localise(v))
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_localise(item) for item in node]
    return node


def _self_contained(schema: dict[str, Any], definitions: dict[str, Any]) -> dict[str, Any]:
    needed: set[str] = set()
    _collect_refs(schema, needed)
    pending = list(needed)
    while pending:
        found: set[str] = set()
        _collect_refs(definitions[pending.pop()], found)
        for name in found - needed:
            needed.add(name)
            pending.append(name)
    out: dict[str, Any] = _localise(schema)
    out.pop("$id", None)
    if needed:
        out["$defs"] = {name: _localise(definitions[name]) for name in sorted(needed)}
    return out


def check_version(version: str) -> str:
    version = version.lstrip("v")
    if not _VERSION_RE.match(version):
        raise ConfigError(f"Kubernetes version {version!r} must look like X.Y.Z (for example 1.33.0)")
    if version not in available_versions():
        raise ConfigError(f"no core schemas for Kubernetes {version}; available: {', '.join(available_versions())}")
    return version


def ensure_core_schemas(version: str) -> Path:
    """Prepare (once) the self-contained strict schemas for `version`; return the root kubeconform templates use."""
    version = check_version(version)
    root = cache_root()
    target = root / f"v{version}-local-strict"
    if (target / _STAMP).exists():
        return root
    source = kubernetes_validate_dir() / f"v{version}-local-strict"
    try:
        definitions = json.loads((source / "_definitions.json").read_text())["$defs"]
        root.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".v{version}-", dir=root))
        for path in source.glob("*.json"):
            if path.name in {"_definitions.json", "all.json"}:
                continue
            schema = json.loads(path.read_text())
            (staging / path.name).write_text(json.dumps(_self_contained(schema, definitions)))
        (staging / _STAMP).write_text(version)
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    except OSError as exc:
        raise GateError(f"cannot prepare core schemas for Kubernetes {version} in {root}: {exc}") from exc
    return root


def core_schema_location(version: str) -> str:
    root = ensure_core_schemas(version)
    return (
        str(root)
        + "/{{ .NormalizedKubernetesVersion }}-local{{ .StrictSuffix }}/{{ .ResourceKind }}{{ .KindSuffix }}.json"
    )


def crd_source(explicit: str | None = None) -> str:
    """The CRD schema source: --schemas-dir, then $TENANTFORGE_CRD_SCHEMAS, then pyproject's catalog default."""
    if explicit:
        return explicit
    env = os.environ.get("TENANTFORGE_CRD_SCHEMAS")
    if env:
        return env
    return str(project_config().get("schemas", {}).get("crd_catalog", DEFAULT_CRD_CATALOG))


def crd_schema_location(source: str) -> str:
    """Turn a directory or a `{group}/{kind}_{version}` URL template into a kubeconform -schema-location."""
    if source.startswith(("http://", "https://")):
        if "{group}" not in source or "{kind}" not in source or "{version}" not in source:
            raise ConfigError(f"CRD schema URL {source!r} must contain {{group}}, {{kind}} and {{version}}")
        return (
            source.replace("{group}", "{{ .Group }}")
            .replace("{kind}", "{{ .ResourceKind }}")
            .replace("{version}", "{{ .ResourceAPIVersion }}")
        )
    path = Path(source)
    if not path.is_dir():
        raise ConfigError(f"CRD schema directory {source} does not exist")
    return str(path.resolve()) + "/{{ .Group }}/{{ .ResourceKind }}_{{ .ResourceAPIVersion }}.json"


def main() -> int:
    version = sys.argv[1] if len(sys.argv) > 1 else default_k8s_version()
    try:
        root = ensure_core_schemas(version)
    except GateError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"core schemas for Kubernetes {version} ready in {root}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
