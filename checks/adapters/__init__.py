"""One module per external tool. kustomize renders; the checkers below judge what it rendered.

`CHECKERS` is the one explicit list of post-render tools the gate runs (each satisfies `base.Checker`).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from checks.adapters import kubeconform, trivy
from checks.adapters.base import Checker

CHECKERS: Mapping[str, Checker] = MappingProxyType(
    {
        "kubeconform": kubeconform.ADAPTER,
        "trivy-config": trivy.ADAPTER,
    }
)
