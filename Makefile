# Two entry points: `make demo` (the product on embedded SQLite) and `make test` (everything).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo serve test lint typecheck unit clean bench-reports

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

test: lint typecheck
	$(BIN)/pytest

# Not part of the tests: loads 10M clicks per backend (SQLite, PostgreSQL on 127.0.0.1).
bench-reports: install
	$(BIN)/python bench/reports.py

clean:
	rm -rf $(VENV) postback.db postback.db-wal postback.db-shm postback-demo.db*
