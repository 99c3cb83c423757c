"""kustomize: render overlays, optionally recording where every object came from.

The user's repository is never modified: to get origin annotations we build a throw-away kustomization in a temp
directory that has `buildMetadata: [originAnnotations]` and the overlay as its only resource (by relative path —
kustomize refuses absolute resource roots, but a relative directory outside the wrapper is allowed).
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from checks.errors import GateError, ToolFailed
from checks.finding import Finding, Severity
from checks.manifests import K8sObject, parse_rendered
from checks.tools import require_tool, tool_env
from checks.yamlsafe import YamlError

TOOL = "kustomize"
TIMEOUT_SECONDS = 300
MAX_OUTPUT_BYTES = 512 << 20
KUSTOMIZATION_NAMES = ("kustomization.yaml", "kustomization.yml", "Kustomization")


@dataclass(frozen=True)
class Rendered:
    """One overlay after `kustomize build`: its objects, or the finding that says why it did not build."""

    env: str
    overlay: Path
    objects: tuple[K8sObject, ...]
    failure: Finding | None
    seconds: float


def kustomization_file(overlay: Path) -> Path | None:
    for name in KUSTOMIZATION_NAMES:
        if (overlay / name).is_file():
            return overlay / name
    return None


def _run(target: Path) -> tuple[int, str, str]:
    binary = require_tool(TOOL)
    try:
        proc = subprocess.run(
            [str(binary), "build", str(target)],
            capture_output=True,
            timeout=TIMEOUT_SECONDS,
            check=False,
            env=tool_env(KUSTOMIZE_PLUGIN_HOME=os.devnull),
        )
    except subprocess.TimeoutExpired:
        return -1, "", f"kustomize build did not finish within {TIMEOUT_SECONDS}s"
    except OSError as exc:
        raise ToolFailed(f"cannot run {binary}: {exc.strerror}") from None
    if len(proc.stdout) > MAX_OUTPUT_BYTES:
        return -1, "", f"kustomize build printed more than {MAX_OUTPUT_BYTES >> 20} MiB"
    try:
        return proc.returncode, proc.stdout.decode("utf-8"), proc.stderr.decode("utf-8", "replace")
    except UnicodeDecodeError:
        return -1, "", "kustomize build printed output that is not UTF-8"


def _error_line(stderr: str) -> str:
    """kustomize's error on one line: from its last `Error:` line to the end, where the cause of a failed remote
    fetch (git's own message) spans several lines before kustomize's closing `: exit status N`."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    starts = [i for i, ln in enumerate(lines) if ln.startswith("Error: ")]
    text = " ".join(lines[starts[-1] if starts else -1 :]) if lines else "kustomize build failed without a message"
    return text.removeprefix("Error: ").replace(" : exit status", ": exit status")


def build(overlay: Path) -> str:
    """`kustomize build overlay` as text (no origin annotations). Raises `GateError` naming the overlay."""
    code, out, err = _run(overlay)
    if code != 0:
        raise GateError(f"kustomize build {overlay} failed: {_error_line(err)}")
    return out


def render(overlay: Path, env: str, repo: Path) -> Rendered:
    """Build `overlay` with origin annotations and parse it; a build or parse error becomes a TF-BUILD finding."""
    started = time.perf_counter()
    overlay = overlay.resolve()
    repo = repo.resolve()
    kfile = kustomization_file(overlay)
    rel_overlay = _display(kfile or overlay, repo)
    if kfile is None:
        return _failed(env, overlay, rel_overlay, "no kustomization.yaml in the overlay directory", started)
    with tempfile.TemporaryDirectory(prefix="tf-wrap-") as tmp:
        wrapper = Path(tmp)
        (wrapper / "kustomization.yaml").write_text(
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
            "buildMetadata: [originAnnotations]\n"
            f"resources:\n- {os.path.relpath(overlay, wrapper)}\n"
        )
        code, out, err = _run(wrapper)
        if code != 0:
            return _failed(env, overlay, rel_overlay, _error_line(err), started)
        try:
            objects = parse_rendered(out, env, built_from=wrapper, repo=repo, rendered_name=rel_overlay)
        except YamlError as exc:
            return _failed(env, overlay, rel_overlay, f"rendered output is not valid YAML: {exc}", started)
    return Rendered(env, overlay, tuple(objects), None, time.perf_counter() - started)


def _display(path: Path, repo: Path) -> str:
    try:
        return path.relative_to(repo).as_posix()
    except ValueError:
        return path.as_posix()


def _failed(env: str, overlay: Path, rel: str, message: str, started: float) -> Rendered:
    finding = Finding(
        rule_id="TF-BUILD",
        severity=Severity.CRITICAL,
        tool=TOOL,
        message=f"overlay does not build: {message}",
        env=env,
        file=rel,
        line=1,
    )
    return Rendered(env, overlay, (), finding, time.perf_counter() - started)
