# Mercato developer commands. `make help` lists them.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

VENV := .venv
PY := $(VENV)/bin/python
RUFF := $(VENV)/bin/ruff
# Extra pytest arguments: make test PYTEST_ARGS="-k imports -x"
PYTEST_ARGS ?=
# Test processes (pytest-xdist): auto = one per CPU core; 0 = serial, in one process.
MERCATO_TEST_WORKERS ?= auto

.PHONY: help bootstrap run test lint fmt bench

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

bootstrap: ## create .venv and install requirements.txt when it changed
	@scripts/bootstrap.sh

run: ## run web + worker + scheduler on http://127.0.0.1:5000 (demo data, private Redis)
	@scripts/run.sh

test: bootstrap ## run the test suite in parallel (MERCATO_TEST_WORKERS=auto; 0 = serial)
	@scripts/ensure_chromium.sh  # tests/browser drive Debian's /usr/bin/chromium
	@MERCATO_ENV=test scripts/with-redis.sh --fresh $(PY) -m pytest -q --durations=20 \
		-n $(MERCATO_TEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

lint: bootstrap ## ruff check + ruff format --check + lint-imports (import contracts)
	$(RUFF) check .
	$(RUFF) format --check .
	$(VENV)/bin/lint-imports

fmt: bootstrap ## ruff format + ruff check --fix
	$(RUFF) format .
	$(RUFF) check --fix .

bench: bootstrap ## run each bench/*.py that has a __main__ block (results go to bench/out/)
	@shopt -s nullglob; files=(); \
	for f in bench/*.py; do grep -q "^if __name__ == .__main__.:" "$$f" && files+=("$$f"); done; \
	if (( $${#files[@]} == 0 )); then echo "make bench: no benchmarks in bench/"; exit 0; fi; \
	mkdir -p bench/out; \
	for f in "$${files[@]}"; do \
		module=$${f%.py}; module=$${module//\//.}; \
		echo "==> $(PY) -m $$module"; \
		MERCATO_ENV=test scripts/with-redis.sh --fresh $(PY) -m "$$module"; \
	done
