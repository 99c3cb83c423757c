"""The one small Protocol every post-render tool adapter satisfies, and the workspace they share.

The gate writes each rendered object once into a `Workspace`, then `start`s every checker over the folder that holds
the workspaces — each launches its tool and returns at once, so the tools run side by side while the gate evaluates
its own policies — and finally `finish`es them in turn. One tool run can serve several gates at once (the fleet gates
many tenants together): each gate is a `Member` whose workspace is one sub-folder of the run's root, and `finish`
returns one `Outcome` per member.

Contract for adapters: never raise for bad input or a misbehaving tool. A tool that is missing, crashes, times out
or prints something we cannot parse becomes a `TF-GATE-TOOL` finding (the gate then exits 2); a result that cannot
be trusted is never turned into "no findings".
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from checks.config import Config
from checks.finding import Finding, Severity
from checks.manifests import K8sObject

GATE_TOOL_RULE = "TF-GATE-TOOL"


@dataclass(frozen=True)
class Unit:
    """One rendered environment as the checkers see it."""

    env: str
    objects: Sequence[K8sObject]


@dataclass(frozen=True)
class Placed:
    """An object and the lines it occupies in its workspace file (1-based, inclusive)."""

    start: int
    end: int
    obj: K8sObject


@dataclass
class Workspace:
    """Each unit's rendered objects as one multi-document file `<root>/uNNN.yaml`, and where each object sits in it
    (trivy reports lines, kubeconform reports kind and name: both map back to exactly one object)."""

    root: Path
    files: dict[str, list[Placed]] = field(default_factory=dict)
    envs: dict[str, str] = field(default_factory=dict)

    @classmethod
    def write(cls, root: Path, units: Sequence[Unit]) -> Workspace:
        # File names must not be environment names: trivy silently skips paths called `dev`.
        work = cls(root)
        root.mkdir(parents=True, exist_ok=True)
        for u, unit in enumerate(units):
            rel = f"u{u:03d}.yaml"
            parts: list[str] = []
            placed: list[Placed] = []
            line = 1
            written: set[int] = set()
            for obj in unit.objects:
                if id(obj.text) in written or not obj.text.strip():
                    continue
                written.add(id(obj.text))
                text = obj.text if obj.text.endswith("\n") else obj.text + "\n"
                lines = text.count("\n")
                placed.append(Placed(line, line + lines - 1, obj))
                parts.append(text)
                line += lines + 1  # the `---` separator
            (root / rel).write_text("---\n".join(parts))
            work.files[rel] = placed
            work.envs[rel] = unit.env
        return work

    @property
    def objects(self) -> int:
        return sum(len(p) for p in self.files.values())

    def at_line(self, rel: str, line: int | None) -> K8sObject | None:
        for placed in self.files.get(rel, ()):
            if line is not None and placed.start <= line <= placed.end:
                return placed.obj
        return None

    def mentioned(self, rel: str, message: str) -> K8sObject | None:
        """The one object of the file whose kind and quoted name the message mentions (trivy reports some checks
        without a line)."""
        lowered = message.lower()
        hits = [
            p.obj
            for p in self.files.get(rel, ())
            if p.obj.name and f"'{p.obj.name}'" in message and p.obj.kind.lower() in lowered
        ]
        return hits[0] if len(hits) == 1 else None

    def find(self, rel: str, kind: str | None, name: str | None) -> K8sObject | None:
        for placed in self.files.get(rel, ()):
            if placed.obj.kind == kind and placed.obj.name == name:
                return placed.obj
        return None


@dataclass(frozen=True)
class CheckContext:
    config: Config
    k8s_version: str
    crd_source: str
    # trivy check id (e.g. KSV-0014) -> our rule id that covers the same thing
    rule_aliases: Mapping[str, str]


@dataclass(frozen=True)
class Outcome:
    tool: str
    findings: tuple[Finding, ...]
    seconds: float
    checked: int


@dataclass(frozen=True)
class Member:
    """One gate's share of a tool run: its workspace, a direct sub-folder of the run's root, and its context."""

    work: Workspace
    ctx: CheckContext


def locate(members: Sequence[Member], path: str) -> tuple[Member, str] | None:
    """The member a path reported by a tool (relative to the run's root) belongs to, and the path inside it."""
    head, _, rest = os.path.normpath(path).partition(os.sep)
    for member in members:
        if member.work.root.name == head:
            return member, rest
    return None


class Pending(Protocol):
    def finish(self, members: Sequence[Member]) -> list[Outcome]:
        """Wait for the tool and turn its output into findings: one outcome per member, in order."""
        ...


class Checker(Protocol):
    """A tool that judges rendered objects. `tool` is the executable name `checks.tools.require_tool` resolves."""

    @property
    def tool(self) -> str: ...

    @property
    def early_start(self) -> bool:
        """Whether `start` may come before `root` exists: the tool is started while the gate still renders, and
        `finish` runs it again if it looked for `root` too early (the gate publishes `root` in one rename)."""
        ...

    def start(self, root: Path, k8s_version: str, crd_source: str) -> Pending:
        """Launch the tool over every workspace under `root` and return without waiting."""
        ...


def tool_failure(tool: str, message: str) -> Finding:
    return Finding(rule_id=GATE_TOOL_RULE, severity=Severity.CRITICAL, tool=tool, message=message)


@dataclass
class Failed:
    """A `Pending` for a tool that could not even start."""

    tool: str
    message: str
    started: float = field(default_factory=time.perf_counter)

    def finish(self, members: Sequence[Member]) -> list[Outcome]:
        seconds = time.perf_counter() - self.started
        return [Outcome(self.tool, (tool_failure(self.tool, self.message),), seconds, 0) for _ in members]


def first_line(text: str, limit: int = 300) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return (lines[-1] if lines else "no output")[:limit]


def wait(proc: subprocess.Popen[bytes], timeout: float) -> tuple[int, bytes, bytes] | None:
    """Wait for `proc`; None when it ran out of time (it is killed)."""
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        return None
    return proc.returncode, out, err


def publish(root: Path, gates: Sequence[Sequence[Unit]]) -> list[Workspace]:
    """Write one workspace per gate (`root/r000/`, `root/r001/`, …) in a sibling folder, then rename that into
    place: a tool that was started early finds either no `root` at all or every file complete."""
    staging = root.with_name(root.name + ".partial")
    staging.mkdir(parents=True)
    written = [Workspace.write(staging / f"r{i:03d}", units) for i, units in enumerate(gates)]
    staging.rename(root)
    return [Workspace(root / w.root.name, w.files, w.envs) for w in written]
