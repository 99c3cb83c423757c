#!/usr/bin/env bash
# `make demo`: show the tools, render the bundled example tenant with the blueprint, and gate it.
set -euo pipefail
out=${1:-.demo}
tf=.venv/bin/tenantforge
$tf doctor
