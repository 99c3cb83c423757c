"""kubeconform: strict schema validation of every rendered object, decided from its JSON report.

kubeconform exits 1 both for invalid resources and for its own failures, so the exit status is only used to tell
"printed a report" from "crashed". We never pass -ignore-missing-schemas: a kind without a schema is a
`TF-SCHEMA-MISSING` finding (the gate cannot decide, exit 2) unless tenantforge.yml's `schemas.allow_missing` lists it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from checks import schemas
from checks.adapters.base import Failed, Member, Outcome, Pending, first_line, locate, tool_failure, wait
from checks.errors import GateError
from checks.finding import Finding, Severity
from checks.tools import require_tool, tool_env

TOOL = "kubeconform"
TIMEOUT_SECONDS = 600
_MSG_DETAIL = re.compile(r" - at '([^']*)': (.*)$")


@dataclass
class _Running:
    proc: subprocess.Popen[bytes]
    crd_source: str
    started: float = field(default_factory=time.perf_counter)

    def finish(self, members: Sequence[Member]) -> list[Outcome]:
        result = wait(self.proc, TIMEOUT_SECONDS)
        seconds = time.perf_counter() - self.started

        def everyone(message: str) -> list[Outcome]:
            return [Outcome(TOOL, (tool_failure(TOOL, message),), seconds, 0) for _ in members]

        if result is None:
            return everyone(f"kubeconform did not finish within {TIMEOUT_SECONDS}s")
        code, out, err = result
        try:
            report = json.loads(out.decode("utf-8"))
            resources = report["resources"] or []
            summary = report["summary"]
            counted = sum(int(summary[k]) for k in ("valid", "invalid", "errors", "skipped"))
            if not isinstance(resources, list):
                raise TypeError
        except (ValueError, KeyError, TypeError, UnicodeDecodeError):
            detail = (
                first_line(err.decode("utf-8", "replace"))
                if err.strip()
                else first_line(out.decode("utf-8", "replace"))
            )
            return everyone(f"kubeconform exited {code} without a usable JSON report: {detail}")
        expected = sum(m.work.objects for m in members)
        if counted < expected:
            return everyone(f"kubeconform reported on {counted} of {expected} objects")
        if code != 0 and not any(r.get("status") in ("statusInvalid", "statusError") for r in resources):
            stderr = first_line(err.decode("utf-8", "replace"))
            return everyone(f"kubeconform exited {code} but reported no failures: {stderr}")
        findings: dict[int, list[Finding]] = {id(m): [] for m in members}
        for resource in resources:
            found = locate(members, str(resource.get("filename", "")))
            if found is None:
                return everyone(f"kubeconform reported on a file the gate did not write: {resource.get('filename')!r}")
            member, rel = found
            finding = self._finding(resource, member, rel)
            if finding is not None:
                findings[id(member)].append(finding)
        return [Outcome(TOOL, tuple(findings[id(m)]), seconds, m.work.objects) for m in members]

    def _finding(self, result: dict[str, Any], member: Member, rel: str) -> Finding | None:
        status = result.get("status")
        if status in ("statusValid", "statusSkipped"):
            return None
        work, ctx = member.work, member.ctx
        obj = work.find(rel, result.get("kind"), result.get("name"))
        kind = str(result.get("kind") or (obj.kind if obj else "")) or None
        name = str(result.get("name") or (obj.name if obj else "")) or None
        api_version = str(result.get("version") or (obj.api_version if obj else ""))
        msg = str(result.get("msg") or "")
        common: dict[str, Any] = {
            "tool": TOOL,
            "env": obj.env if obj else work.envs.get(rel),
            "kind": kind,
            "namespace": obj.namespace if obj else None,
            "name": name,
            "file": obj.file if obj else None,
            "line": obj.line if obj else None,
        }
        if status == "statusError" and ("could not find schema" in msg or "failed downloading schema" in msg):
            if kind and ctx.config.schemas.allows_missing(api_version, kind):
                return None
            if self.crd_source.startswith(("http://", "https://")):
                where = (
                    f" in {self.crd_source} (if that catalog is unreachable from here, point --schemas-dir or "
                    "TENANTFORGE_CRD_SCHEMAS at a local copy)"
                )
            else:
                where = f" in {self.crd_source}"
            return Finding(
                rule_id="TF-SCHEMA-MISSING",
                severity=Severity.HIGH,
                message=f"no schema for {api_version}/{kind}{where}; add its schema there, or list the kind "
                "in tenantforge.yml schemas.allow_missing",
                **common,
            )
        if status == "statusInvalid":
            errors = result.get("validationErrors") or []
            detail = _MSG_DETAIL.search(msg)
            text = f"at {detail.group(1) or '/'}: {detail.group(2)}" if detail else msg
            return Finding(
                rule_id="TF-SCHEMA-INVALID",
                severity=Severity.CRITICAL,
                message=f"{api_version}/{kind} does not match its schema {text}",
                details={"validation_errors": [dict(e) for e in errors if isinstance(e, dict)]},
                **common,
            )
        if status == "statusError":
            return Finding(
                rule_id="TF-SCHEMA-INVALID",
                severity=Severity.CRITICAL,
                message=f"kubeconform cannot validate this object: {msg}",
                **common,
            )
        return tool_failure(TOOL, f"kubeconform reported unknown status {status!r} for {rel}")


def _cache_dir() -> Path:
    """Downloaded CRD schemas are kept between runs (only used when the CRD source is a URL)."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    cache = base / "tenantforge" / "kubeconform"
    cache.mkdir(parents=True, exist_ok=True)
    return cache


@dataclass(frozen=True)
class Kubeconform:
    tool: str = TOOL
    early_start: bool = False  # it walks its target at once

    def start(self, root: Path, k8s_version: str, crd_source: str) -> Pending:
        try:
            binary = require_tool(TOOL)
            core = schemas.core_schema_location(k8s_version)
            crd = schemas.crd_schema_location(crd_source)
        except GateError as exc:
            return Failed(TOOL, str(exc))
        args = [
            str(binary),
            "-strict",
            "-summary",
            "-output",
            "json",
            "-kubernetes-version",
            k8s_version,
            "-schema-location",
            core,
            "-schema-location",
            crd,
            "-n",
            str(max(2, os.cpu_count() or 2)),
        ]
        if crd_source.startswith(("http://", "https://")):
            args += ["-cache", str(_cache_dir())]
        args.append(".")
        try:
            proc = subprocess.Popen(args, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=tool_env())
        except OSError as exc:
            return Failed(TOOL, f"cannot run {binary}: {exc.strerror}")
        return _Running(proc, crd_source)


ADAPTER = Kubeconform()
