# cellseg-nb: the two commands a new user needs are `make demo` and `make test`.
# Both create .venv with python3 -m venv and install the package into it first.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
CLI    := $(VENV)/bin/cellseg-nb
STAMP  := $(VENV)/.installed
DEMO_CONFIG ?= configs/demo.yaml

.PHONY: setup browser test demo clean help

help:
	@echo "make demo   - set up .venv, build the demo dataset, run every notebook, write reports/demo/index.html"
	@echo "make test   - set up .venv (and Chromium for the report checks) and run the test suite"

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip setuptools wheel
	$(PY) -m pip install --progress-bar off -c constraints.txt -e ".[test]"
	touch $(STAMP)

setup: $(STAMP)

# Debian's Chromium for the headless report checks (Playwright drives it; no browser download).
browser:
	sh scripts/install_browser.sh

test: setup browser
	$(PY) -m pytest

# `cellseg-nb run` builds the demo dataset into data/demo when it is missing, then runs every notebook.
demo: setup
	$(CLI) run --config $(DEMO_CONFIG)
	@echo "open reports/demo/index.html"

clean:
	rm -rf $(VENV) runs reports/demo .pytest_cache
