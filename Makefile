# Two entry points: `make demo` (the product on embedded SQLite) and `make test` (everything,
# the install check included).
# Reliability at full size: `make crash-test` (200 kills per backend) and `make reliability`
# (every reliability suite at full size, then the figures for docs/RELIABILITY.md).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo serve test lint typecheck unit clean crash-test reliability bench-reports \
	bench bench-tools browser screenshots install-check

# requirements.lock: runtime + dev, requirements-runtime.lock: runtime only; both pinned with
# hashes. Each header gives the command that regenerates it (uv, from the repo root):
# requirements.lock first, then requirements-runtime.lock, which it constrains.
$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/postback demo

serve: install
	$(BIN)/postback serve

lint: install
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests

typecheck: install
	$(BIN)/mypy

test: lint typecheck browser install-check
	$(BIN)/pytest --cov --cov-report=term:skip-covered

# The wheel alone in a fresh venv outside the checkout (runtime lock, no dev extras): --help,
# migrate, demo --check, every module imported alone.
install-check: install
	PYTHON=$(PYTHON) scripts/check_install.sh

# The console's browser tests drive Debian's Chromium (Playwright never downloads its own).
# Missing: installed when running as root; otherwise a note locally and a failure in CI.
CHROMIUM := /usr/bin/chromium
browser:
	@if [ ! -x $(CHROMIUM) ]; then \
		if [ "$$(id -u)" = 0 ]; then \
			apt-get update && apt-get install -y --no-install-recommends chromium; \
		elif [ "$${CI:-}" = true ]; then \
			echo "$(CHROMIUM) is missing and this is not root: install chromium"; exit 1; \
		else \
			echo "note: $(CHROMIUM) is missing (apt-get install chromium); browser tests skip"; \
		fi; \
	fi

# Refresh the README's console screenshots (docs/screenshots/) from a demo-like server.
screenshots: install browser
	$(BIN)/python scripts/screenshots.py

CRASH_KILLS ?= 200
FUZZ_EXAMPLES ?= 1000
REPORT := $(CURDIR)/reliability-report.jsonl
RELIABILITY_TESTS := tests/e2e/test_crash.py tests/e2e/test_database_outage.py \
	tests/dispatch/test_partner_faults.py tests/dispatch/test_target_policy.py \
	tests/edge tests/e2e/test_hostile_http.py tests/e2e/test_authentication.py

crash-test: install
	POSTBACK_CRASH_KILLS=$(CRASH_KILLS) $(BIN)/pytest tests/e2e/test_crash.py

reliability: install
	rm -f $(REPORT)
	POSTBACK_RELIABILITY_REPORT=$(REPORT) POSTBACK_CRASH_KILLS=$(CRASH_KILLS) \
		POSTBACK_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/pytest $(RELIABILITY_TESTS)
	$(BIN)/python -m tests.reliability_report $(REPORT)

# Not part of the tests: loads 10M clicks per backend (SQLite, PostgreSQL on 127.0.0.1).
bench-reports: install
	$(BIN)/python bench/reports.py

# Not part of the tests: clicks, incoming postbacks and deliveries against bare nginx on
# both backends, each load on a fresh database, in topologies a, b and c (about 15
# minutes), results into bench/results/latest.md and docs/BENCHMARKS.md.
BENCH_ARGS ?=
bench: install bench-tools
	$(BIN)/python bench/suite.py $(BENCH_ARGS)

bench-tools:
	@if ! command -v wrk >/dev/null || ! command -v nginx >/dev/null; then \
		if [ "$$(id -u)" = 0 ]; then \
			apt-get update && (apt-get install -y --no-install-recommends wrk nginx-light \
				|| apt-get install -y --no-install-recommends wrk nginx); \
		else echo "make bench needs wrk and nginx: apt-get install wrk nginx-light"; exit 1; fi; \
	fi

clean:
	rm -rf $(VENV) postback.db postback.db-wal postback.db-shm postback-demo.db* $(REPORT)
