"""checks.yamlsafe builds data its own (faster) way: it must build exactly what PyYAML's safe loader builds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from checks.yamlsafe import YamlError, load_all

ROOT = Path(__file__).resolve().parents[2]


class _Reference(yaml.SafeLoader):
    """PyYAML's pure-Python safe loader with the one documented difference: timestamps stay strings."""


_Reference.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _reference(text: str) -> list[Any]:
    return list(yaml.load_all(text, Loader=_Reference))


# YAML 1.1 scalars whose type is easy to get wrong, each plain, quoted and as a key.
SCALARS = [
    *("yes", "no", "on", "off", "y", "n", "true", "False", "TRUE", "~", "null", "Null", ""),
    *("010", "0o10", "0x1F", "0b101", "1_000", "+12", "-0", "1:30", "190:20:30", "-1:30"),
    *("1.5", "1e3", "1.0e+3", ".inf", "-.Inf", ".nan", "6.8523015e+5", "0.", "+.5"),
    *("2026-12-03", "2026-12-03T10:00:00Z", "12:30", "v1.0", "1.2.3", "0755", "08", "09.5"),
    *("<<", "=", "'", "#x", "a: b", "- x", "*x", "&x"),
]


@pytest.mark.parametrize("value", SCALARS)
def test_scalar_types_match_pyyaml(value: str) -> None:
    quoted = json.dumps(value)
    text = f"quoted: {quoted}\n{quoted}: key\nlist: [{quoted}]\n"
    plain = f"plain: {value}\nlist: [{value}]\n"
    for _ in range(2):  # the second parse is served from the memoised resolutions
        assert list(load_all(text)) == _reference(text)
        try:
            (theirs,) = _reference(plain)
        except yaml.YAMLError:
            with pytest.raises(YamlError):
                list(load_all(plain))
            continue
        (ours,) = load_all(plain)
        assert ours == theirs
        assert [type(v) for v in ours.values()] == [type(v) for v in theirs.values()]


def test_every_bundled_yaml_file_loads_as_pyyaml_loads_it() -> None:
    files = [p for p in sorted(ROOT.glob("examples/**/*.y*ml")) if p.is_file()]
    assert len(files) > 50
    for path in files:
        text = path.read_text(encoding="utf-8")
        assert list(load_all(text)) == _reference(text), path


def test_aliases_share_one_object_and_anchors_alone_need_no_memo() -> None:
    (doc,) = load_all("a: &x {k: [1, 2]}\nb: *x\nc: &y [3]\n")
    assert doc == {"a": {"k": [1, 2]}, "b": {"k": [1, 2]}, "c": [3]}
    assert doc["a"] is doc["b"]
    (merged,) = load_all("base: &b {x: 1}\nchild:\n  <<: *b\n  y: 2\n")
    assert merged["child"] == {"x": 1, "y": 2}


def test_duplicate_keys_are_refused_with_and_without_aliases() -> None:
    with pytest.raises(YamlError, match=r"line 3: duplicate key 'a'"):
        list(load_all("a: 1\nb: 2\na: 3\n"))
    with pytest.raises(YamlError, match=r"line 3: duplicate key 'a'"):
        list(load_all("a: &x 1\nb: *x\na: 3\n"))


def test_constructed_values_are_not_shared_between_documents() -> None:
    first, second = load_all("ports: [80]\n---\nports: [80]\n")
    first["ports"].append(443)
    assert second == {"ports": [80]}
