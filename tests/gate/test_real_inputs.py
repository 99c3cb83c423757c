"""The gate on Kustomize repos we did not write (../shared/real-inputs): no crash, and findings a reviewer signs."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import SHARED
from tests.helpers import run_cli

REAL = SHARED / "real-inputs"
NORPPA = REAL / "kustomize-dilaz-norppalive-service" / "k8s"
REGALIA = REAL / "kustomize-ictsc-regalia-release" / "at-80c4e88-2025-11-cnpg-gateway"


def _findings(*args: str) -> tuple[int, set[tuple[str, str, str]], str]:
    result = run_cli("check", *args, "--format", "json")
    assert "Traceback" not in result.stderr, result.stderr
    report = json.loads(result.stdout)
    found = {(f["rule_id"], f["file"] or "", f["message"]) for f in report["findings"] if f["failing"]}
    return result.returncode, found, report["summary"]


def test_norppalive_prod_overlay(tmp_path: Path) -> None:
    code, found, summary = _findings("--overlay", str(NORPPA / "overlays" / "prod"))
    assert code == 1, summary
    rules = {(rule, file) for rule, file, _ in found}
    # Images pinned by a `sha-...` tag, not a digest; no NetworkPolicy at all; no securityContext whatsoever;
    # an ExternalName Service (traffic leaves the cluster under a name the cluster controls).
    assert ("TF-IMG-002", "base/deployment.yaml") in rules
    assert ("TF-ISO-003", "base/deployment.yaml") in rules
    assert ("KSV-0118", "base/deployment.yaml") in rules
    assert ("KSV-0108", "base/redpanda-egress.yaml") in rules
    # The ConfigMap has credential-named keys, all empty: not a leak, so neither our rule nor trivy's copy fires.
    assert not [f for f in found if f[0] in ("TF-SEC-003", "KSV-0109")]
    # SealedSecrets are fine and validate against the CRD schema (with template metadata).
    assert not [f for f in found if f[0].startswith("TF-SCHEMA")]


def test_regalia_dev_and_prod_overlays_name_the_missing_crd_schemas() -> None:
    code, found, summary = _findings(
        str(REGALIA), "--overlay", str(REGALIA / "dev"), "--overlay", str(REGALIA / "prod")
    )
    assert code == 2, summary  # Cilium and Gateway API kinds have no schema here: the gate cannot decide
    missing = {msg.split(" (")[0].split(" in ")[0] for rule, _, msg in found if rule == "TF-SCHEMA-MISSING"}
    assert "no schema for gateway.networking.k8s.io/v1/HTTPRoute" in missing
    assert "no schema for cilium.io/v2/CiliumNetworkPolicy" in missing
    files = {file for rule, file, _ in found if rule == "TF-POD-001"}
    assert "base/batch/stateful-set.yaml" in files
    # Not an Odoo app: the database-manager rule has nothing to say about its routes.
    assert not [f for f in found if f[0] == "TF-ING-004"]
