# cellseg-nb: the two commands a new user needs are `make demo` and `make test`.
# Both create .venv with python3 -m venv and install the package into it first.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
CLI    := $(VENV)/bin/cellseg-nb
STAMP  := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test
DEMO_CONFIG ?= configs/demo.yaml

.PHONY: setup browser test demo clean help

help:
	@echo "make demo   - set up .venv, build the demo dataset, run every notebook, write reports/demo/index.html"
	@echo "make test   - set up .venv (and Chromium for the report checks) and run the test suite"

# --no-compile: byte-compile on first import instead of every module of every package at install (the
# demo imports a small part of torch and jupyterlab); the test extras only for `make test`.
$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip setuptools wheel
	$(PY) -m pip install --no-compile --progress-bar off -c constraints.txt -e .
	touch $(STAMP)

$(TEST_STAMP): $(STAMP)
	$(PY) -m pip install --no-compile --progress-bar off -c constraints.txt -e ".[test]"
	touch $(TEST_STAMP)

setup: $(STAMP)

# Debian's Chromium for the headless report checks (Playwright drives it; no browser download).
browser:
	sh scripts/install_browser.sh

test: $(TEST_STAMP) browser
	$(PY) -m pytest

# `cellseg-nb run` builds the demo dataset into data/demo when it is missing, then runs every notebook.
demo: setup
	$(CLI) run --config $(DEMO_CONFIG)
	@echo "open reports/demo/index.html"

clean:
	rm -rf $(VENV) runs reports/demo .pytest_cache
