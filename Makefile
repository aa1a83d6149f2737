# olist-pipeline: every entry point a user or CI needs. `make help` lists them.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
STATE := .olist
# The env overlay of run / cd / serve / predict / lineage (make cd ENV=prod).
ENV ?= dev
export ZENML_ANALYTICS_OPT_IN := false
export AUTO_OPEN_DASHBOARD := false
# The venv's bin on PATH: ZenML and MLflow spawn their own CLIs (uvicorn, mlflow) from there.
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.DEFAULT_GOAL := help
.PHONY: lint-imports help setup stack run cd serve serve-stop predict lineage reproduce compare services-up services-down services-status slurm-up slurm-down sweep resident-up resident-down resident-status dashboard test test-fast bench report-real data ui clean clean-state

help: ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}'

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c requirements.lock -e '.[dev,server]'
	touch $(STAMP)

setup: $(STAMP) ## create .venv, install the package, initialise the ZenML repository, provision the stack
	$(PY) -m olist_pipeline.app.setup $(STACK_ARGS)

stack: setup ## provision the configured stack only and print what changed (STACK_ARGS="stack=local")

# `run` provisions the stack itself (idempotently) before the pipeline, so it needs only the venv.
run: $(STAMP) ## train + promotion gate on the embedded sample, dev overlay (extra overrides: ARGS="model=ridge")
	$(PY) -m olist_pipeline +env=$(ENV) $(ARGS)

cd: $(STAMP) ## retrain, gate, and redeploy only if the candidate was promoted
	$(PY) -m olist_pipeline pipeline=cd +env=$(ENV) $(ARGS)

serve: $(STAMP) ## serve the production model over HTTP on 127.0.0.1 (replaces the one served before)
	$(PY) -m olist_pipeline pipeline=deploy +env=$(ENV) $(ARGS)

serve-stop: $(STAMP) ## stop the model server
	$(PY) -m olist_pipeline pipeline=undeploy +env=$(ENV) $(ARGS)

predict: $(STAMP) ## batch predictions for INPUT=orders.csv with the production model -> outputs/predictions/
	@test -n "$(INPUT)" || { echo "usage: make predict INPUT=path/to/orders.csv" >&2; exit 2; }
	$(PY) -m olist_pipeline pipeline=inference dataset=olist_merged dataset.path=$(abspath $(INPUT)) +env=$(ENV) $(ARGS)

lineage: $(STAMP) ## data, code, config and runs behind a model version (VERSION=17|production|latest|mlflow:N)
	$(PY) -m olist_pipeline pipeline=lineage model_version=$(or $(VERSION),latest) +env=$(ENV) $(ARGS)

reproduce: $(STAMP) ## re-run a version's training from its commit, config and data; exit 0 only if it matches (VERSION=17)
	$(PY) -m olist_pipeline pipeline=reproduce model_version=$(or $(VERSION),latest) +env=$(ENV) $(ARGS)

compare: $(STAMP) ## two versions side by side: config, data, code, both scored on B's test rows, gates (A=3 B=5)
	@test -n "$(A)" -a -n "$(B)" || { echo "usage: make compare A=<version> B=<version>" >&2; exit 2; }
	$(PY) -m olist_pipeline pipeline=compare a=$(A) b=$(B) +env=$(ENV) $(ARGS)

services-up: $(STAMP) ## start MariaDB, PostgreSQL, S3 (moto), ZenML and MLflow servers on 127.0.0.1 (idempotent)
	$(PY) scripts/services.py up $(ARGS)

services-down: $(STAMP) ## stop them (and reset their data: moto keeps S3 in memory)
	$(PY) scripts/services.py down $(ARGS)

services-status: $(STAMP) ## each service of the server stack, its URL and health
	$(PY) scripts/services.py status $(ARGS)

sweep: $(STAMP) ## a Hydra multirun, e.g. make sweep ARGS="model=ridge,random_forest"; RESUME=<sweep dir> runs only its unfinished jobs
	$(PY) -m olist_pipeline -m +env=$(ENV) $(if $(RESUME),hydra.sweep.dir=$(abspath $(RESUME))) $(ARGS)

resident-up: $(STAMP) ## start the resident runner: later `python -m olist_pipeline` calls skip ~6 s of imports
	$(PY) -m olist_pipeline.speed.resident start $(ARGS)

resident-down: $(STAMP) ## stop it (calls run in their own process again)
	$(PY) -m olist_pipeline.speed.resident stop

resident-status: $(STAMP) ## is it running, and where it listens
	$(PY) -m olist_pipeline.speed.resident status

slurm-up: $(STAMP) ## a one-node SLURM cluster on 127.0.0.1 for hydra/launcher=olist_slurm (root; prints SLURM_CONF)
	$(PY) scripts/slurm_local.py up

slurm-down: $(STAMP) ## stop it
	$(PY) scripts/slurm_local.py down

dashboard: $(STAMP) ## the ZenML dashboard of the active stack (local: a ZenML server on the local store)
	$(PY) -m olist_pipeline.app.dashboard +env=$(ENV) $(ARGS)

test: $(STAMP) ## the architecture contracts, then the full test suite (unit, config, end-to-end; isolated ZenML/MLflow homes)
	$(VENV)/bin/lint-imports --no-cache
	$(PY) -m pytest $(PYTEST_ARGS)

test-fast: $(STAMP) ## the architecture contracts, then only the fast unit and config tests
	$(VENV)/bin/lint-imports --no-cache
	$(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

lint-imports: $(STAMP) ## check the architecture contracts (layers, pure domain, no cycles, private APIs): docs/architecture.md
	$(VENV)/bin/lint-imports --no-cache

bench: $(STAMP) ## overhead vs the plain script (5k/100k/1M/real rows), sweep speedup, serving latency -> BENCHMARKS.md (~1 h)
	$(PY) scripts/bench.py $(BENCH_ARGS)
	$(PY) scripts/bench_sweep.py
	$(PY) scripts/bench_sweep.py --profile-only
	$(PY) scripts/bench_serving.py

report-real: $(STAMP) ## models x features x splits on the real merged table -> README table (needs ../shared data)
	$(PY) scripts/report_real.py

data: $(STAMP) ## regenerate the embedded sample in data/ with the project's generator
	$(PY) scripts/generate_sample.py

ui: $(STAMP) ## the MLflow UI of the active stack (local: on the SQLite store, 127.0.0.1:5000)
	$(PY) -m olist_pipeline.app.ui +env=$(ENV) $(ARGS)

clean-state: ## stop the model server; forget every local run: ZenML store, MLflow store, artifacts (keeps .venv)
	@if [ -x $(PY) ] && [ -d $(STATE)/serving ]; then $(PY) -c "from olist_pipeline.stack.serving import stop_all; [print('stopped', s.model_name, s.url) for s in stop_all('$(STATE)/serving')]"; fi
	rm -rf $(STATE) .zen outputs multirun

clean: clean-state ## also remove .venv
	rm -rf $(VENV)
