"""The blueprint repository a tenant was rendered from, as the fleet sees it: release tags and Copier settings.

Each template source (`_src_path` of the tenants' answers) is mirrored once per run into the fleet work dir, so a
thousand tenants cost one fetch, not a thousand.
"""

from __future__ import annotations

import fnmatch
import hashlib
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from generator.fleet.versions import parse_version, release_tags
from generator.gitrepo import GitError, GitRepo, run_git


@dataclass(frozen=True)
class _Include:
    pattern: str


class _CopierYamlLoader(yaml.SafeLoader):
    """Copier's settings: several YAML documents, `!include <glob>` (relative to the repo root) merged in."""


def _include(loader: yaml.SafeLoader, node: yaml.Node) -> _Include:
    if not isinstance(node, yaml.ScalarNode):
        raise yaml.constructor.ConstructorError(None, None, "!include takes one glob", node.start_mark)
    return _Include(str(loader.construct_scalar(node)))


_CopierYamlLoader.add_constructor("!include", _include)


@dataclass(frozen=True)
class Migration:
    version: str
    command: str
    when: str


class TemplateSource:
    """A bare mirror of one template repository."""

    def __init__(self, url: str, mirror: Path) -> None:
        self.url = url
        self.mirror = mirror
        self._lock = threading.Lock()
        self._fetched = False
        self._configs: dict[str, dict[str, Any]] = {}

    def _ensure(self) -> None:
        with self._lock:
            if self._fetched:
                return
            if (self.mirror / "HEAD").is_file():
                proc = run_git(["fetch", "--quiet", "--prune", "--tags", "--force", "origin"], self.mirror, check=False)
            else:
                self.mirror.parent.mkdir(parents=True, exist_ok=True)
                proc = run_git(
                    ["clone", "--quiet", "--mirror", self.url, str(self.mirror)], self.mirror.parent, check=False
                )
            if proc.returncode != 0:
                reason = (proc.stderr.strip().splitlines() or ["no output"])[-1]
                raise GitError(f"cannot fetch the blueprint {self.url}: {reason}")
            self._fetched = True

    def tags(self) -> list[str]:
        self._ensure()
        out = run_git(["tag", "--list"], self.mirror).stdout
        return [t for t in out.splitlines() if t]

    def releases(self) -> list[str]:
        return release_tags(self.tags())

    def has_tag(self, tag: str) -> bool:
        return tag in self.tags()

    def config(self, ref: str) -> dict[str, Any]:
        """The Copier settings file (`copier.yml`/`copier.yaml`) at `ref`; empty if there is none."""
        self._ensure()
        with self._lock:
            if ref in self._configs:
                return self._configs[ref]
        repo = GitRepo(self.mirror)
        config: dict[str, Any] = {}
        for name in ("copier.yml", "copier.yaml"):
            raw = repo.show_file(ref, name)
            if raw is not None:
                config = self._merged(repo, ref, raw, depth=0)
                break
        with self._lock:
            self._configs[ref] = config
        return config

    def _merged(self, repo: GitRepo, ref: str, raw: bytes, depth: int) -> dict[str, Any]:
        """Merge the documents of one settings file, expanding `!include` as Copier does (later keys win)."""
        merged: dict[str, Any] = {}
        try:
            docs = list(yaml.load_all(raw.decode("utf-8"), Loader=_CopierYamlLoader))
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            raise GitError(f"the blueprint's copier.yml at {ref} is not valid YAML: {exc}") from None
        for doc in docs:
            if isinstance(doc, _Include) and depth < 5:
                files = repo.git("ls-tree", "-r", "--name-only", ref).splitlines()
                for path in sorted(f for f in files if fnmatch.fnmatch(f, doc.pattern)):
                    included = repo.show_file(ref, path)
                    if included is not None:
                        merged.update(self._merged(repo, ref, included, depth + 1))
            elif isinstance(doc, Mapping):
                merged.update(doc)
        return merged

    def migrations(self, old: str, new: str) -> list[Migration]:
        """The `_migrations` of `new` that Copier runs going from `old` to `new` (new >= version > old)."""
        old_v, new_v = parse_version(old), parse_version(new)
        found: list[Migration] = []
        raw = self.config(new).get("_migrations") or []
        for item in raw if isinstance(raw, list) else []:
            if isinstance(item, Mapping):
                version = str(item.get("version", ""))
                command = item.get("command", "")
                when = str(item.get("when", "after"))
            else:
                version, command, when = "", item, "after"
            item_v = parse_version(version) if version else None
            if item_v is None or (old_v is not None and new_v is not None and old_v < item_v <= new_v):
                text = " ".join(str(c) for c in command) if isinstance(command, list) else str(command)
                found.append(Migration(version=version, command=text, when=when))
        return found


class TemplateSources:
    """One `TemplateSource` per URL, shared by every tenant of a run."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._lock = threading.Lock()
        self._sources: dict[str, TemplateSource] = {}

    def get(self, url: str) -> TemplateSource:
        with self._lock:
            if url not in self._sources:
                key = hashlib.sha256(url.encode()).hexdigest()[:16]
                self._sources[url] = TemplateSource(url, self.root / f"{key}.git")
            return self._sources[url]
