"""`tenantforge new` blames the right input: the answers file, the template, or the --vcs-ref."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tests.helpers import run_cli


def _new(tmp_path: Path, answers: Path, *args: str) -> tuple[int, str]:
    result = run_cli("new", str(tmp_path / "tenant"), "--answers", str(answers), *args)
    assert not (tmp_path / "tenant").exists()
    assert "Traceback" not in result.stderr
    return result.returncode, result.stderr


def test_a_duplicate_question_in_the_answers_file_is_refused_with_its_line(
    valid_answers: dict[str, Any], blueprint_source: Path, tmp_path: Path
) -> None:
    answers = tmp_path / "answers.yml"
    answers.write_text(yaml.safe_dump(valid_answers) + "tenant_slug: other-shop\n")
    line = answers.read_text().count("\n")
    code, err = _new(tmp_path, answers, "--template", str(blueprint_source))
    assert code == 1
    assert err == f"error: {answers}: line {line}: duplicate key 'tenant_slug' (not valid YAML)\n"


def test_an_empty_answers_file_says_it_is_empty(blueprint_source: Path, tmp_path: Path) -> None:
    answers = tmp_path / "answers.yml"
    answers.write_text("# nothing yet\n")
    code, err = _new(tmp_path, answers, "--template", str(blueprint_source))
    assert code == 1
    assert err == f"error: {answers}: the answers file is empty; write one `question: answer` per line\n"


def test_a_template_without_copier_yml_is_named_not_the_answers(valid_answers: dict[str, Any], tmp_path: Path) -> None:
    answers = tmp_path / "answers.yml"
    answers.write_text(yaml.safe_dump(valid_answers))
    empty = tmp_path / "empty-template"
    empty.mkdir()
    code, err = _new(tmp_path, answers, "--template", str(empty))
    assert code == 1
    assert err == f"error: blueprint {empty} has no copier.yml: it is not a Copier template\n"


def test_a_missing_vcs_ref_says_the_ref_does_not_exist(
    valid_answers: dict[str, Any], blueprint_source: Path, tmp_path: Path
) -> None:
    answers = tmp_path / "answers.yml"
    answers.write_text(yaml.safe_dump(valid_answers))
    code, err = _new(tmp_path, answers, "--template", str(blueprint_source), "--vcs-ref", "v9.9.9")
    assert code == 1
    assert err == (
        f"error: --vcs-ref v9.9.9: no such tag, branch or commit in the blueprint repository {blueprint_source}\n"
    )
