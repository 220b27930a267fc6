# Two set-up commands: `make demo` and `make test`. Each creates .venv when missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export DBT_SEND_ANONYMOUS_USAGE_STATS := false
export DAGSTER_DISABLE_TELEMETRY := true
export DBT_PROFILES_DIR := $(CURDIR)

.PHONY: install demo test dev dbt-parse bench-warehouse bench-models bench-recommender bench-recommender-scale clean

# The project installs with uv (pip-installed into the venv, from PyPI): 35 s on 2 cores with the venv,
# 20 s of it compiling bytecode, against pip's 107 s for the same pinned ranges from pyproject.toml.
# Compiling at install (as pip does by default) means no run pays for it, even where
# PYTHONDONTWRITEBYTECODE is set.
# `make INSTALLER=pip ...` installs with pip instead, e.g. where only pip is set up for a private index.
INSTALLER ?= uv
ifeq ($(INSTALLER),pip)
INSTALL_PROJECT := $(BIN)/python -m pip install --quiet -e ".[dev]"
else ifeq ($(INSTALLER),uv)
INSTALL_PROJECT := $(BIN)/python -m pip install --quiet "uv>=0.9,<1" && \
	$(BIN)/uv pip install --quiet --python $(BIN)/python --compile-bytecode -e ".[dev]"
else
$(error INSTALLER must be uv or pip, got '$(INSTALLER)')
endif

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(INSTALL_PROJECT)
	touch $(STAMP)

install: $(STAMP)

# dagster-dbt needs the dbt manifest at import time: prepare it once per change of the dbt project.
# Parsed for the warehouse path the demo and a default `anticipate run` use: the path is part of dbt's
# profile, and a parse made for another path is thrown away by their first dbt step.
target/manifest.json: $(STAMP) dbt_project.yml $(shell find dbt_project seeds -type f 2>/dev/null)
	ANTICIPATE_WAREHOUSE=$(CURDIR)/warehouse/anticipate.duckdb $(BIN)/dbt parse --quiet --project-dir . --profiles-dir .

dbt-parse: target/manifest.json

demo: $(STAMP) target/manifest.json
	$(BIN)/anticipate demo

test: $(STAMP) target/manifest.json
	$(BIN)/python -m pytest -n 2 --dist loadgroup

# The venv's bin on PATH: under `dagster dev`, dagster-dbt re-parses the project with the `dbt` it finds there.
dev: $(STAMP) target/manifest.json
	mkdir -p .dagster_home
	test -f .dagster_home/dagster.yaml || cp orchestration/dagster.yaml .dagster_home/dagster.yaml
	PATH="$(CURDIR)/$(BIN):$$PATH" DAGSTER_HOME=$(CURDIR)/.dagster_home $(BIN)/dagster dev -m orchestration.definitions -h 127.0.0.1 -p 3000

bench-warehouse: $(STAMP) target/manifest.json
	$(BIN)/python -m benchmarks.bench_warehouse

# Churn and propensity models vs baselines on the real datasets in ../shared/data (about 10 minutes).
bench-models: $(STAMP) target/manifest.json
	$(BIN)/python -m benchmarks.bench_models

# Recommenders (two-stage model and baselines) on the real datasets in ../shared/data (about 12 minutes).
bench-recommender: $(STAMP) target/manifest.json
	$(BIN)/python -m benchmarks.bench_recommender

bench-recommender-scale: $(STAMP)
	$(BIN)/python -m benchmarks.bench_recommender_scale

clean:
	rm -rf warehouse data/landing target logs .dagster_home
