# The two commands a fresh clone needs: `make demo` and `make test`. Both set up first.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PY := .venv/bin/python
TF := .venv/bin/tenantforge
# Tests and the demo use the CRD schemas shipped beside the checkout when they exist; users configure their own.
SHARED_CRDS := $(abspath ../shared/crd-schemas)
export TENANTFORGE_CRD_SCHEMAS ?= $(if $(wildcard $(SHARED_CRDS)),$(SHARED_CRDS),)
DEMO_OUT := .demo

.PHONY: setup demo test lint typecheck pytest clean

setup:
	@python3 scripts/setup.py

demo: setup
	@bash scripts/demo.sh "$(DEMO_OUT)"

# Folders git does not track yet (empty in a fresh clone) are left out rather than failing ruff.
LINT_DIRS := $(wildcard generator checks tests scripts benchmarks)

lint: setup
	$(PY) -m ruff format --check $(LINT_DIRS)
	$(PY) -m ruff check $(LINT_DIRS)

typecheck: setup
	$(PY) -m mypy

pytest: setup
	$(PY) -m pytest -n 2 --dist loadgroup -q

test: lint typecheck pytest

clean:
	rm -rf .venv .tools .demo .pytest_cache .mypy_cache .ruff_cache build *.egg-info
