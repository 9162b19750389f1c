# Picbucket: `make run` to try it, `make test` to check everything.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip

.PHONY: run run-emulated test lint check-infra format clean bench mutants faults load

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

# Stamp files re-run an install only when its requirements change.
$(VENV)/.runtime: requirements.txt requirements-local.txt | $(BIN)/python
	$(PIP) install --quiet -r requirements-local.txt
	$(PIP) install --quiet --no-deps -e .
	touch $@

$(VENV)/.dev: requirements-dev.txt $(VENV)/.runtime
	$(PIP) install --quiet -r requirements-dev.txt
	touch $@

run: $(VENV)/.runtime
	$(BIN)/python -m picbucket.devserver

run-emulated: $(VENV)/.dev
	$(BIN)/python -m picbucket.devserver --emulated

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy src
	$(BIN)/mypy tests

check-infra: $(VENV)/.dev
	bash scripts/check-infra.sh

test: lint check-infra
	$(BIN)/python -m pytest --cov --cov-report=term

format: $(VENV)/.dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(VENV)/.dev
	$(BIN)/python scripts/bench.py

# The fault suite at full length (make test runs its short form): gunicorn on the
# emulators and a tmpfs, 64 slow clients, 35 kill -9s. Needs root for the tmpfs.
faults: $(VENV)/.dev
	PICBUCKET_FAULTS=full $(BIN)/python -m pytest -m faults tests/faults -p no:cacheprovider

# A fixed-time mixed load on gunicorn: p50/p95/p99 per route, errors, peak RSS.
load: $(VENV)/.runtime
	$(BIN)/python scripts/load.py --seconds 60 --users 16

# Mutation testing (slow, so not in `make test`): what it mutates and which tests it
# runs are in pyproject.toml [tool.mutmut]; results are cached in mutants/.
mutants: $(VENV)/.dev
	$(BIN)/mutmut run --max-children 2
	$(BIN)/mutmut results

clean:
	rm -rf $(VENV) .venv-checkov .pytest_cache .mypy_cache .ruff_cache mutants .coverage
