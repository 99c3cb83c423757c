"""One module per report format; `FORMATS` maps each `--format` name to its renderer."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType

from checks.gate import GateResult
from checks.reports import codequality, junit, sarif, text
from checks.reports import json as json_report

Renderer = Callable[[GateResult, bool], str]

FORMATS: Mapping[str, Renderer] = MappingProxyType(
    {
        "text": text.render,
        "json": json_report.render,
        "sarif": sarif.render,
        "junit": junit.render,
        "codequality": codequality.render,
    }
)
