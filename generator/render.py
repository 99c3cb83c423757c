"""Render a tenant repository from the blueprint with the Copier API (`tenantforge new`).

The render goes into a staging directory beside the destination and is moved into place only when Copier finished:
bad answers stop it with one line naming the question, and nothing is written at the destination.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from checks.tools import checkout_root
from checks.yamlsafe import YamlError, load_one
from generator.errors import UserError

BLUEPRINT_ENV = "TENANTFORGE_BLUEPRINT"
_VALIDATION = re.compile(r"^Validation error for question '(?P<question>[^']+)': (?P<message>.*)$", re.DOTALL)
_CHOICE = re.compile(r"^Invalid choice for '(?P<question>[^']+)': (?P<value>.*) is not in (?P<choices>.*)$", re.DOTALL)


@dataclass(frozen=True)
class RenderResult:
    dest: Path
    template: str
    version: str | None
    files: int


def default_template() -> str:
    """The blueprint source: $TENANTFORGE_BLUEPRINT, else the tenantforge checkout this code runs from."""
    override = os.environ.get(BLUEPRINT_ENV)
    if override:
        return override
    root = checkout_root()
    if root is None:
        raise UserError(f"no blueprint source: pass --template or set {BLUEPRINT_ENV} to the tenantforge repository")
    return str(root)


def load_answers(path: Path) -> dict[str, Any]:
    """Read an answers file (a YAML mapping of question -> answer); errors name the file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UserError(f"{path}: cannot read the answers file ({exc.strerror or exc})") from exc
    try:
        data = load_one(text)
    except YamlError as exc:
        raise UserError(f"{path}: {exc} (not valid YAML)") from exc
    if data is None:
        raise UserError(f"{path}: the answers file is empty; write one `question: answer` per line")
    if not isinstance(data, dict) or not all(isinstance(k, str) for k in data):
        raise UserError(f"{path}: must be a YAML mapping of question names to answers")
    return {k: v for k, v in data.items() if not k.startswith("_")}


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _describe(exc: Exception, answers_path: Path) -> str:
    """Turn what Copier raised into one line that names the question and what is allowed."""
    message = _one_line(str(exc))
    match = _VALIDATION.match(message)
    if match:
        return f"{answers_path}: {match['question']}: {match['message']}"
    match = _CHOICE.match(message)
    if match:
        return f"{answers_path}: {match['question']}: {match['value']} is not allowed; choose one of {match['choices']}"
    return f"{answers_path}: {message}"


def _absolute_source(template: str) -> str:
    """Copier stores the source verbatim as _src_path; a relative path breaks every later update."""
    if "://" in template or template.startswith("git@"):
        return template
    path = Path(template).expanduser()
    if not path.exists():
        raise UserError(f"blueprint source {template} does not exist")
    return str(path.resolve())


def _check_template(template: Any, source: str, vcs_ref: str | None) -> None:
    """Problems of the blueprint itself are named as such, not blamed on the answers file."""
    try:
        root: Path = template.local_abspath
    except ValueError as exc:
        if vcs_ref is not None and str(exc).startswith("Unknown revision"):
            raise UserError(
                f"--vcs-ref {vcs_ref}: no such tag, branch or commit in the blueprint repository {source}"
            ) from exc
        raise UserError(f"blueprint {source}: {_one_line(str(exc))}") from exc
    if not any(p.is_file() and p.suffix.lower() in {".yml", ".yaml"} for p in root.glob("copier.*")):
        at = f" at {vcs_ref}" if vcs_ref else ""
        raise UserError(f"blueprint {source}{at} has no copier.yml: it is not a Copier template")


def render(dest: Path, answers_path: Path, *, template: str | None = None, vcs_ref: str | None = None) -> RenderResult:
    """Render the blueprint with the answers into `dest` (absent or empty); all or nothing."""
    from copier import Worker
    from copier.errors import CopierError

    answers = load_answers(answers_path)
    source = _absolute_source(template or default_template())
    dest = dest.absolute()
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise UserError(f"{dest} exists and is not an empty directory; choose a new destination")
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    except OSError as exc:
        raise UserError(f"{dest}: cannot create the destination here ({exc.strerror or exc})") from exc
    out = staging / "tenant"
    try:
        with warnings.catch_warnings():
            # Copying from a working tree with local edits is a normal developer flow, not an error.
            warnings.simplefilter("ignore")
            worker = Worker(
                src_path=source,
                dst_path=out,
                data=answers,
                defaults=True,
                vcs_ref=vcs_ref,
                quiet=True,
                overwrite=False,
                unsafe=False,
                cleanup_on_error=False,
            )
            with worker:
                _check_template(worker.template, source, vcs_ref)
                unknown = sorted(set(answers) - set(worker.template.questions_data))
                if unknown:
                    raise UserError(
                        f"{answers_path}: unknown question(s) {', '.join(unknown)}; "
                        f"the blueprint asks: {', '.join(worker.template.questions_data)}"
                    )
                worker.run_copy()
                version = worker.template.version
        if dest.exists():
            dest.rmdir()
        out.rename(dest)
    except UserError:
        raise
    except (CopierError, ValueError) as exc:
        raise UserError(_describe(exc, answers_path)) from exc
    except Exception as exc:
        # Jinja raises its own errors (the cross-field guard, a template bug): still one line, still nothing written.
        from jinja2 import TemplateError

        if isinstance(exc, TemplateError):
            raise UserError(_describe(exc, answers_path)) from exc
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    files = sum(1 for p in dest.rglob("*") if p.is_file())
    return RenderResult(dest=dest, template=source, version=str(version) if version else None, files=files)
