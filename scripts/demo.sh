#!/usr/bin/env bash
# `make demo`: show the tools, render the bundled example tenant with the blueprint, and gate it.
set -euo pipefail
out=${1:-.demo}
tf=.venv/bin/tenantforge
$tf doctor
example=examples/city-outfitters.yml
tenant="$out/$(basename "$example" .yml)"
rm -rf "$out"
mkdir -p "$out"
echo "== tenantforge new $tenant --answers $example"
$tf new "$tenant" --answers "$example" --template "$PWD"
echo "== tenantforge check $tenant --routes"
$tf check "$tenant" --routes
