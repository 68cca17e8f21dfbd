# The Makefile only orchestrates; pyproject.toml is the one source of truth for dependencies and tools.
# `make run` and `make test` each set up .venv from a fresh clone before doing their job.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PLUGIN_PROJECTS := $(wildcard plugins/*/pyproject.toml)
TRIALS ?=
SEED ?=
WORKERS ?= 2
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
	$(VENV)/bin/resilience run scenarios --report reports -n $(WORKERS) $(if $(TRIALS),--trials $(TRIALS)) $(if $(SEED),--seed $(SEED)); \
	status=$$?; baseline=$$(ls baselines/*/journal.json 2>/dev/null | sort -V | tail -n 1); \
	if [ -n "$$baseline" ] && [ -f reports/journal.json ]; then \
	  $(VENV)/bin/resilience report diff "$$baseline" reports/journal.json --out reports/diff.md >/dev/null; diff_status=$$?; \
	  cat reports/diff.md; [ $$diff_status -eq 0 ] || echo "make run: recovery is worse than $$baseline (see reports/diff.md)"; \
	fi; exit $$status

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
