# cellseg-nb: the two commands a new user needs are `make demo` and `make test`.
# Both create .venv with python3 -m venv and install the package into it first.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
CLI    := $(VENV)/bin/cellseg-nb
STAMP  := $(VENV)/.installed
DEMO_DATA ?= data/demo

.PHONY: setup test demo demo-data browser clean help

help:
	@echo "make demo   - set up .venv, build the demo dataset, run every notebook, write reports/demo/index.html"
	@echo "make test   - set up .venv and run the test suite"

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip setuptools wheel
	$(PY) -m pip install --progress-bar off -c constraints.txt -e ".[test]"
	touch $(STAMP)

setup: $(STAMP)

test: setup
	$(PY) -m pytest

demo: setup
	$(CLI) demo-data --dest $(DEMO_DATA)

clean:
	rm -rf $(VENV) runs reports/demo .pytest_cache
