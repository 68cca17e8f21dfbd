# The Makefile only orchestrates; pyproject.toml is the one source of truth for dependencies and tools.
# `make run` and `make test` each set up .venv from a fresh clone before doing their job.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PLUGIN_PROJECTS := $(wildcard plugins/*/pyproject.toml)
TRIALS ?=
SEED ?=
PYTEST_ARGS ?=

.PHONY: all venv run test lint bench clean

all: test

$(STAMP): pyproject.toml $(PLUGIN_PROJECTS)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check --upgrade pip
	$(PY) -m pip install -q --disable-pip-version-check -e '.[dev]' $(foreach p,$(PLUGIN_PROJECTS),-e $(dir $(p)))
	touch $(STAMP)

venv: $(STAMP)

run: venv
	$(VENV)/bin/resilience run scenarios --report reports $(if $(TRIALS),--trials $(TRIALS)) $(if $(SEED),--seed $(SEED))

test: venv
	$(PY) -m pytest $(PYTEST_ARGS)

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

bench: venv
	$(PY) -m benchmarks

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis reports/*.json reports/*.xml reports/*.md
