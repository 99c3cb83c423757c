"""examples/rendered/<tenant>/ is exactly what the blueprint renders from examples/<tenant>.yml, and the gate
passes on every rendered example."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from tests.blueprint.conftest import EXAMPLE_NAMES, Rendered
from tests.helpers import CANONICAL_SRC, EXAMPLES, run_cli, tree_snapshot

examples = pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.xdist_group(n)) for n in EXAMPLE_NAMES])


def test_there_are_three_examples_with_real_ciphertext() -> None:
    assert EXAMPLE_NAMES == ["city-outfitters", "corner-bakery", "nordmarkt"]
    for name in EXAMPLE_NAMES:
        text = (EXAMPLES / f"{name}.yml").read_text()
        assert "sealed:" in text and re.search(r"admin_passwd: [A-Za-z0-9+/]{300,}", text)


@examples
def test_rendered_example_is_in_sync_with_its_answers(name: str, rendered: Callable[[str], Rendered]) -> None:
    fresh = tree_snapshot(rendered(name).root)
    committed = tree_snapshot(EXAMPLES / "rendered" / name)
    assert sorted(fresh) == sorted(committed), "run: .venv/bin/python scripts/examples.py render"
    stale = [path for path in fresh if fresh[path] != committed[path]]
    assert stale == [], f"stale files {stale}; run: .venv/bin/python scripts/examples.py render"
    answers = (EXAMPLES / "rendered" / name / ".copier-answers.yml").read_text()
    assert f"_src_path: {CANONICAL_SRC}\n" in answers and "_commit: v0.1.0\n" in answers


@examples
def test_gate_passes_on_the_rendered_example(name: str) -> None:
    result = run_cli("check", str(EXAMPLES / "rendered" / name))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    assert result.stdout.strip().splitlines()[-1].startswith("gate passed:")
