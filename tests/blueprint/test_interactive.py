"""Plain `copier copy` of this repository works interactively (driven through a pseudo-terminal): a wrong answer
is refused at its prompt with the validator's message, defaults are accepted with Enter, and the tag is recorded."""

from __future__ import annotations

import os
from pathlib import Path

import pexpect
import yaml

from tests.helpers import ROOT, make_cert, seal_answers

PROMPT_START = r"\x1b\[\?2004h\x1b\[\?1l"


def test_interactive_copy_validates_at_the_prompt_and_renders(blueprint_source: Path, tmp_path: Path) -> None:
    cert, _ = make_cert(tmp_path)
    sealed = seal_answers({"tenant_slug": "pty-shop"}, cert)["sealed"]
    data = tmp_path / "sealed.yml"
    data.write_text(yaml.safe_dump({"sealed": sealed}))
    dest = tmp_path / "tenant"
    child = pexpect.spawn(
        str(ROOT / ".venv" / "bin" / "copier"),
        ["copy", "--data-file", str(data), "--vcs-ref", "v0.1.0", str(blueprint_source), str(dest)],
        env={**os.environ, "TERM": "xterm"},
        encoding="utf-8",
        timeout=90,
        dimensions=(40, 250),
    )
    child.expect("Tenant slug")
    child.send("\x15Bad_Slug\r")
    child.expect("must be a DNS-1123 label")
    child.send("\x15pty-shop\r")
    prompts = 1
    while child.expect([PROMPT_START, pexpect.EOF]) == 0:
        prompts += 1
        child.send("\r")
    child.close()
    assert child.exitstatus == 0, child.before
    assert prompts >= 40
    answers = yaml.safe_load((dest / ".copier-answers.yml").read_text())
    assert answers["_commit"] == "v0.1.0" and answers["tenant_slug"] == "pty-shop"
    assert sorted(p.name for p in (dest / "overlays").iterdir()) == ["dev", "prod", "staging"]
    assert "namespace: pty-shop-prod" in (dest / "overlays" / "prod" / "kustomization.yaml").read_text()
