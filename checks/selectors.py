"""Kubernetes label-selector semantics, shared by the policy rules and the integrity stages."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def label_selector_matches(selector: Any, labels: Mapping[str, Any]) -> bool:
    """LabelSelector semantics: matchLabels AND every matchExpression; `{}` (or no selector) selects everything."""
    sel = selector if isinstance(selector, Mapping) else {}
    match_labels = sel.get("matchLabels")
    if isinstance(match_labels, Mapping):
        for key, value in match_labels.items():
            if str(labels.get(str(key))) != str(value) or str(key) not in labels:
                return False
    expressions = sel.get("matchExpressions")
    for expr in expressions if isinstance(expressions, list) else []:
        if not isinstance(expr, Mapping):
            continue
        key = str(expr.get("key") or "")
        operator = str(expr.get("operator") or "")
        raw_values = expr.get("values")
        values = [str(v) for v in raw_values] if isinstance(raw_values, list) else []
        present = key in labels
        if operator == "In" and not (present and str(labels[key]) in values):
            return False
        if operator == "NotIn" and present and str(labels[key]) in values:
            return False
        if operator == "Exists" and not present:
            return False
        if operator == "DoesNotExist" and present:
            return False
    return True
