# olist-pipeline: every entry point a user or CI needs. `make help` lists them.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
STATE := .olist
export ZENML_ANALYTICS_OPT_IN := false
export AUTO_OPEN_DASHBOARD := false
# The venv's bin on PATH: ZenML and MLflow spawn their own CLIs (uvicorn, mlflow) from there.
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.DEFAULT_GOAL := help
.PHONY: help setup stack run test test-fast bench report-real data ui clean clean-state

help: ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}'

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c requirements.lock -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP) ## create .venv, install the package, initialise the ZenML repository, provision the stack
	$(PY) -m olist_pipeline.setup_project $(STACK_ARGS)

stack: setup ## provision the configured stack only and print what changed (STACK_ARGS="stack=local")

# `run` provisions the stack itself (idempotently) before the pipeline, so it needs only the venv.
run: $(STAMP) ## train on the embedded sample with the dev overlay (extra overrides: ARGS="model=ridge")
	$(PY) -m olist_pipeline +env=dev $(ARGS)

test: $(STAMP) ## the full test suite (unit, config, end-to-end; isolated ZenML/MLflow homes)
	$(PY) -m pytest $(PYTEST_ARGS)

test-fast: $(STAMP) ## only the fast unit and config tests
	$(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

bench: $(STAMP) ## time the plain script vs the pipeline (cold and cached); writes BENCHMARKS.md
	$(PY) scripts/bench.py

report-real: $(STAMP) ## models x features x splits on the real merged table -> README table (needs ../shared data)
	$(PY) scripts/report_real.py

data: $(STAMP) ## regenerate the embedded sample in data/ with the project's generator
	$(PY) scripts/generate_sample.py

ui: $(STAMP) ## open the MLflow UI on the local tracking store
	$(PY) -m olist_pipeline.tracking_ui

clean-state: ## forget every local run: ZenML store, MLflow store, artifacts (keeps .venv)
	rm -rf $(STATE) .zen outputs multirun

clean: clean-state ## also remove .venv
	rm -rf $(VENV)
