# Everything a fresh machine needs: `make run` and `make test` install the locked environment first.
SHELL := /bin/bash
VENV := .venv
# uv is run as a module of the machine's python3, so it is found wherever pip put it.
UV := python3 -m uv
START ?= 2026-04-05
END ?= 2026-05-04
SYMBOLS ?= BTCUSDT

.PHONY: setup test-deps run test test-fast dev bench

# Python packages only (the locked environment, test tools included): `make run` needs nothing but python3.
setup:
	@$(UV) --version >/dev/null 2>&1 || python3 -m pip install --quiet uv
	$(UV) sync --frozen --extra dev --compile-bytecode

# What only the tests need beyond Python (Debian packages): Redis, the Celery executor's broker (its test starts one
# on 127.0.0.1), and headless Chromium, which loads the live map's page.
TEST_PACKAGES := redis-server:redis-server chromium:chromium
test-deps: setup
	@missing=$$(for p in $(TEST_PACKAGES); do command -v $${p%%:*} >/dev/null 2>&1 || echo $${p##*:}; done); \
	if [ -n "$$missing" ]; then SUDO=$$([ "$$(id -u)" = 0 ] || echo "sudo -n"); \
		echo "installing $$missing (Debian packages, for the tests)"; \
		$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq $$missing >/dev/null; fi

## The whole pipeline on the built-in simulated market (no network), into ./data and ./dagster_home.
run: setup
	$(VENV)/bin/liq run --source simulated --symbols $(SYMBOLS) --start $(START) --end $(END)

## Every test, the slow end-to-end ones included.
test: test-deps
	$(VENV)/bin/python -m pytest -q -n auto --dist worksteal --durations=15

## Unit and asset tests only (skips the end-to-end runs).
test-fast: test-deps
	$(VENV)/bin/python -m pytest -q -n auto --dist worksteal -m "not slow"

## The Dagster UI on http://127.0.0.1:3000 (lineage, partitions, checks, reruns); Ctrl-C stops it.
dev: setup
	DAGSTER_HOME=$${DAGSTER_HOME:-$(CURDIR)/dagster_home} exec $(VENV)/bin/liq ui

bench: setup
	$(VENV)/bin/python bench/run_all.py
