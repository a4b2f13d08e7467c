# Set-up and checks. `make demo` and `make test` are the README's two commands;
# both create .venv on first use, so they work on a fresh machine.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# Runs the example policies against the example manifests, no cluster needed.
# Exit status 1 means "something was denied", which the examples are meant to show.
demo: $(STAMP)
	$(BIN)/jspolicy apply examples/policies --resource examples/resources --cluster examples/cluster; \
	status=$$?; [ $$status -le 1 ] || exit $$status

test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check jspolicy tests
	$(BIN)/ruff format --check jspolicy tests
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/jspolicy bench
