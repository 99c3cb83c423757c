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


class _StrictLoader(yaml.CSafeLoader):
    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Hashable, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
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


# Timestamps stay strings: the config validates dates itself, and manifests never want datetime objects.
_StrictLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.CSafeLoader.yaml_implicit_resolvers.items()
}


_STR = "tag:yaml.org,2002:str"
_MERGE = "tag:yaml.org,2002:merge"


class _Fallback(Exception):
    """The document uses a feature the fast path does not handle (merge keys); construct it the slow way."""


def _build(node: yaml.Node, loader: _StrictLoader, memo: dict[int, Any]) -> Any:
    """Construct Python data from a composed node: the common cases inline, the rest through PyYAML.

    PyYAML's generic constructor (a generator per node) costs more than libyaml's parsing; manifests are plain
    mappings, sequences and scalars, so this is several times faster while giving the same result.
    """
    known = memo.get(id(node))
    if known is not None:
        return known
    if isinstance(node, yaml.ScalarNode):
        return node.value if node.tag == _STR else loader.construct_object(node)
    if isinstance(node, yaml.SequenceNode):
        items: list[Any] = []
        memo[id(node)] = items
        items.extend(_build(child, loader, memo) for child in node.value)
        return items
    if isinstance(node, yaml.MappingNode):
        mapping: dict[Any, Any] = {}
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
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                yield None
                continue
            if check_aliases and _expanded_size(node, {}, MAX_EXPANDED_NODES) > MAX_EXPANDED_NODES:
                raise YamlError(
                    f"line {node.start_mark.line + 1}: document expands to more than {MAX_EXPANDED_NODES:,} nodes "
                    "through aliases (a YAML alias bomb?)"
                )
            try:
                data = _build(node, loader, {})
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
