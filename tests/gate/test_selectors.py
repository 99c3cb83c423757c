"""The one label-selector implementation the policy rules and integrity stages share."""

from __future__ import annotations

from checks.selectors import label_selector_matches

LABELS = {"app": "odoo", "tier": "web"}


def test_match_labels_and_expressions() -> None:
    assert label_selector_matches({}, LABELS)
    assert label_selector_matches(None, LABELS)
    assert label_selector_matches({"matchLabels": {"app": "odoo"}}, LABELS)
    assert not label_selector_matches({"matchLabels": {"app": "redis"}}, LABELS)
    assert not label_selector_matches({"matchLabels": {"role": "x"}}, LABELS)
    expr = {"matchExpressions": [{"key": "tier", "operator": "In", "values": ["web", "cron"]}]}
    assert label_selector_matches(expr, LABELS)
    assert not label_selector_matches(
        {"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["web"]}]}, LABELS
    )
    assert not label_selector_matches({"matchExpressions": [{"key": "x", "operator": "Exists"}]}, LABELS)
    assert label_selector_matches({"matchExpressions": [{"key": "x", "operator": "DoesNotExist"}]}, LABELS)
