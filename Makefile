# The two set-up commands: `make run` and `make test`. Everything else is optional.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEVSTAMP := $(VENV)/.dev-installed

.PHONY: run test lint typecheck bench dist clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml clients/python/pyproject.toml
	$(BIN)/pip install --quiet -e clients/python
	$(BIN)/pip install --quiet -e .
	@# Bytecode now, as a wheel install would: with PYTHONDONTWRITEBYTECODE set, every command
	@# would otherwise compile the sources it imports again (~0.1 s per start).
	$(BIN)/python -m compileall -q src
	touch $(STAMP)

$(DEVSTAMP): $(STAMP)
	@# torch first, pinned: it comes from this machine's disk as a CPU build; left to the
	@# embeddings extra (sentence-transformers) pip would fetch a multi-GB CUDA build.
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev,embeddings]'
	@# Browser tests drive Debian's Chromium through Playwright (never `playwright install`).
	@if [ ! -x /usr/bin/chromium ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "Installing Debian's chromium for the browser tests (apt-get, ~20 s)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	  else \
	    echo "NOTE: /usr/bin/chromium is missing: the browser tests (tests/e2e/test_report_browser.py)"; \
	    echo "      will skip, and fail under CI=true. Install it as root: apt-get install chromium"; \
	  fi; \
	fi
	@# The UI's JavaScript modules are unit-tested with node's own runner (tests/js).
	@if ! command -v node >/dev/null; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "Installing Debian's nodejs for the JavaScript module tests (apt-get)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs; \
	  else \
	    echo "NOTE: node is missing: tests/ui/test_js_modules.py will skip, and fail under CI=true."; \
	  fi; \
	fi
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
	$(BIN)/ruff check src tests bench clients
	$(BIN)/ruff format --check src tests bench clients
	$(BIN)/mypy
	@# Both cores: a test file stays on one worker (its module fixtures and order intact).
	$(BIN)/python -m pytest -n 2 --dist loadfile

lint: $(DEVSTAMP)
	$(BIN)/ruff check src tests bench clients
	$(BIN)/ruff format --check src tests bench clients

typecheck: $(DEVSTAMP)
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python -m bench.eval_bench

# Wheels and sdists of both distributions in dist/, checked as PyPI would check them.
dist: $(BIN)/python
	$(BIN)/pip install --quiet build twine
	rm -rf dist
	$(BIN)/python -m build --outdir dist .
	$(BIN)/python -m build --outdir dist clients/python
	$(BIN)/twine check --strict dist/*

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache dist
