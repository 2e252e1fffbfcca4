# The two set-up commands: `make run` and `make test`. Everything else is optional.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEVSTAMP := $(VENV)/.dev-installed

.PHONY: run test lint typecheck bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e .
	touch $(STAMP)

$(DEVSTAMP): $(STAMP)
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(DEVSTAMP)

# Evaluate the bundled example offline and print the results tables: the templates through
# the echo provider, then two prompt versions against the program under test. Exit code 100
# means "some tests failed", which the example shows on purpose (v1 does not answer in JSON).
run: $(STAMP)
	cd examples/quickstart && ../../$(BIN)/promptyard eval --no-progress -c templates.yaml
	cd examples/quickstart && ../../$(BIN)/promptyard eval --no-progress; \
	  status=$$?; [ $$status -eq 0 ] || [ $$status -eq 100 ]

# Lint, type-check and run the whole suite.
test: $(DEVSTAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy
	$(BIN)/python -m pytest

lint: $(DEVSTAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(DEVSTAMP)
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python -m bench.eval_bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
