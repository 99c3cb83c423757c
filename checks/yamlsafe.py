"""Strict, fast YAML loading for untrusted input (tenantforge.yml, rendered manifests, rule fixtures).

PyYAML's C loader does the parsing. On top of it we refuse duplicate mapping keys (kubectl and Argo CD silently keep
the last one), keep dates as strings (so `2026-13-01` becomes our error, not a constructor traceback) and refuse
alias bombs: anchors are fine, but a document whose alias expansion exceeds a node budget is rejected before
anything walks it ("billion laughs").
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator
from typing import Any

import yaml

MAX_EXPANDED_NODES = 1_000_000


class YamlError(ValueError):
    """The text is not acceptable YAML; the message says where (line numbers are 1-based)."""


_STR = "tag:yaml.org,2002:str"
_SEQ = "tag:yaml.org,2002:seq"
_MAP = "tag:yaml.org,2002:map"
_MERGE = "tag:yaml.org,2002:merge"
_CACHE_LIMIT = 1 << 16
# Plain scalars repeat endlessly in manifests (`true`, `80`, `TCP`, `name`): each is resolved and constructed once.
_resolved: dict[str, str] = {}
_constructed: dict[tuple[str, str], Any] = {}


class _StrictLoader(yaml.CSafeLoader):
    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Hashable, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == _MERGE:
                continue
            key = self.construct_object(key_node, deep=deep)
            try:
                first = seen.get(key)
            except TypeError:
                raise YamlError(f"line {key_node.start_mark.line + 1}: unhashable mapping key") from None
            if first is not None:
                raise YamlError(
                    f"line {key_node.start_mark.line + 1}: duplicate key {key!r} (first defined on line {first})"
                )
            seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)

    # libyaml calls the three hooks below once per node, which makes them the hottest Python code of a parse.
    # No path resolver is ever registered on this loader, so PyYAML's versions reduce to what is written here.
    def resolve(self, kind: type[yaml.Node], value: Any, implicit: Any) -> str:
        if kind is yaml.ScalarNode:
            if not implicit[0]:
                return _STR
            tag = _resolved.get(value)
            if tag is None:
                tag = super().resolve(kind, value, implicit)  # type: ignore[no-untyped-call]
                if len(_resolved) < _CACHE_LIMIT:
                    _resolved[value] = tag
            return tag
        return _SEQ if kind is yaml.SequenceNode else _MAP

    def descend_resolver(self, current_node: Any, current_index: Any) -> None:
        pass

    def ascend_resolver(self) -> None:
        pass


# Timestamps stay strings: the config validates dates itself, and manifests never want datetime objects.
_StrictLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.CSafeLoader.yaml_implicit_resolvers.items()
}


class _Fallback(Exception):
    """The document uses a feature the fast path does not handle (merge keys); construct it the slow way."""


def _build(node: yaml.Node, loader: _StrictLoader, memo: dict[int, Any] | None) -> Any:
    """Construct Python data from a composed node: the common cases inline, the rest through PyYAML.

    PyYAML's generic constructor (a generator per node) costs more than libyaml's parsing; manifests are plain
    mappings, sequences and scalars, so this is several times faster while giving the same result. `memo` maps
    nodes already built, so aliases share one object; a document without aliases passes None and skips it.
    """
    if memo is not None:
        known = memo.get(id(node))
        if known is not None:
            return known
    cls = node.__class__
    if cls is yaml.ScalarNode:
        return _scalar(node, loader)
    if cls is yaml.SequenceNode:
        items: list[Any] = []
        if memo is not None:
            memo[id(node)] = items
        items.extend([_build(child, loader, memo) for child in node.value])
        return items
    if cls is yaml.MappingNode:
        mapping: dict[Any, Any] = {}
        if memo is not None:
            memo[id(node)] = mapping
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:
                raise _Fallback
            key = _build(key_node, loader, memo)
            try:
                duplicate = key in mapping
            except TypeError:
                raise YamlError(f"line {key_node.start_mark.line + 1}: unhashable mapping key") from None
            if duplicate:
                raise YamlError(f"line {key_node.start_mark.line + 1}: duplicate key {key!r}")
            mapping[key] = _build(value_node, loader, memo)
        return mapping
    return loader.construct_object(node)


_IMMUTABLE = (bool, int, float, str, bytes, type(None))


def _scalar(node: yaml.Node, loader: _StrictLoader) -> Any:
    tag = node.tag
    if tag == _STR:
        return node.value
    key = (tag, node.value)
    try:
        return _constructed[key]
    except KeyError:
        pass
    value = loader.construct_object(node)
    if isinstance(value, _IMMUTABLE) and len(_constructed) < _CACHE_LIMIT:
        _constructed[key] = value
    return value


def _expanded_size(node: yaml.Node, memo: dict[int, int], budget: int) -> int:
    """Number of nodes the document has once every alias is expanded (shared nodes counted per use)."""
    known = memo.get(id(node))
    if known is not None:
        return known
    total = 1
    if isinstance(node, yaml.SequenceNode):
        for child in node.value:
            total += _expanded_size(child, memo, budget)
            if total > budget:
                break
    elif isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            total += _expanded_size(key, memo, budget) + _expanded_size(value, memo, budget)
            if total > budget:
                break
    memo[id(node)] = total
    return total


def _mark(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    if mark is not None:
        return f"line {mark.line + 1}: {problem}"
    return str(problem)


def load_all(text: str, *, check_aliases: bool = True) -> Iterator[Any]:
    """Yield each document of `text` (None for an empty one). Raises `YamlError` with a line number."""
    loader = _StrictLoader(text)
    aliased = "*" in text  # without an alias token no node can be used twice
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                yield None
                continue
            if aliased and check_aliases and _expanded_size(node, {}, MAX_EXPANDED_NODES) > MAX_EXPANDED_NODES:
                raise YamlError(
                    f"line {node.start_mark.line + 1}: document expands to more than {MAX_EXPANDED_NODES:,} nodes "
                    "through aliases (a YAML alias bomb?)"
                )
            try:
                data = _build(node, loader, {} if aliased else None)
            except _Fallback:
                data = loader.construct_document(node)
            loader.constructed_objects.clear()
            yield data
    except yaml.YAMLError as exc:
        raise YamlError(_mark(exc)) from None
    except RecursionError:
        raise YamlError("nesting too deep") from None
    finally:
        loader.dispose()


def load_one(text: str) -> Any:
    """The single document of `text`; more than one document is an error."""
    docs = list(load_all(text))
    if len(docs) > 1:
        raise YamlError("expected one YAML document, found several (a stray `---`?)")
    return docs[0] if docs else None
