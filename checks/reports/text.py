"""Human report: grouped by environment, then severity; colour only when writing to a terminal."""

from __future__ import annotations

import io
from itertools import groupby

from rich.console import Console

from checks.finding import Finding, Severity
from checks.gate import GateResult
from checks.reports.common import rule_info

_STYLE = {
    Severity.CRITICAL: "bold red",
    Severity.HIGH: "red",
    Severity.MEDIUM: "yellow",
    Severity.LOW: "cyan",
    Severity.INFO: "dim",
}


def _where(f: Finding) -> str:
    location = f"{f.file}:{f.line}" if f.file and f.line else (f.file or "")
    parts = [p for p in (f.resource, location) if p]
    return " ".join(f"({p})" if i else p for i, p in enumerate(parts))


def render(result: GateResult, color: bool = False) -> str:
    buffer = io.StringIO()
    console = Console(
        file=buffer, force_terminal=color, no_color=not color, highlight=False, width=10_000, soft_wrap=True
    )
    by_env = groupby(result.findings, key=lambda f: f.env or "")
    for env, env_findings in by_env:
        items = list(env_findings)
        threshold = result.thresholds.get(env)
        header = f"{env or 'gate'}" + (f" (fails at {threshold.label}+)" if threshold is not None else "")
        console.print(f"[bold]{header}[/bold]", markup=True)
        for severity, group in groupby(items, key=lambda f: f.severity):
            console.print(f"  [{_STYLE[severity]}]{severity.label.upper()}[/]")
            for f in group:
                state = "waived" if f.waived_by else ("FAIL" if result.failing(f) else "warn")
                head = " ".join(p for p in (f.rule_id, _where(f)) if p)
                line = f"    {state:<6} {head}: {f.message}"
                console.print(line, markup=False, style="dim" if f.waived_by else None)
                if f.waived_by:
                    console.print(f"           waived by {f.waived_by}", markup=False, style="dim")
                elif result.failing(f):
                    fix = rule_info(f).get("fix")
                    if fix:
                        console.print(f"           fix: {fix}", markup=False, style="dim")
    style = {0: "green", 1: "red", 2: "bold red"}[result.exit_code]
    console.print(result.summary(), style=style, markup=False)
    return buffer.getvalue()
