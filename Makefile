# Two commands matter: `make demo` (the main job) and `make test` (the test suite).
# Both bootstrap .venv with the pinned lock on a fresh machine.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
export AIRFLOW__COSMOS__ENABLE_TELEMETRY := False
export GX_ANALYTICS_ENABLED := false
export DO_NOT_TRACK := 1

.PHONY: venv system-packages manifest demo test test-fast lint bench schema runbook clean local-up local-down ui

venv:
	@bash scripts/bootstrap.sh

system-packages:  ## Chromium, MariaDB, sshd for the tests that drive them (skipped when absent)
	@bash scripts/system_packages.sh

manifest: venv  ## dbt manifest for cosmos (LoadMode.DBT_MANIFEST); never built at DAG-parse time
	@cd dbt_project && ../$(BIN)/dbt parse --profiles-dir . --target parse -q

demo: venv manifest
	@$(BIN)/medallion demo

test: venv system-packages manifest
	@$(BIN)/ruff check .
	@$(BIN)/pytest -q

test-fast: venv manifest  ## the tests that start no real server and run no pipeline (-m integration selects the rest)
	@$(BIN)/pytest -q -m "not integration and not slow"

lint: venv
	@$(BIN)/ruff check . && $(BIN)/ruff format --check .

bench: venv manifest
	@for b in benchmarks/bench_*.py; do $(BIN)/python $$b || exit 1; done

schema: venv
	@$(BIN)/medallion schema > dag_configs/schema.json
	@$(BIN)/medallion schema --markdown > docs/spec-reference.md

runbook: venv  ## docs/runbook.md from include/medallion/alerts/hints.yaml (a test checks it is current)
	@$(BIN)/medallion runbook > docs/runbook.md

ui: venv manifest  ## Airflow UI on the local runtime: http://127.0.0.1:8080 (admin/admin)
	@$(BIN)/medallion ui

local-up: venv
	@$(BIN)/medallion local up

local-down: venv
	@$(BIN)/medallion local down

clean:
	rm -rf .local dbt_project/target dbt_project/logs
