# risk-platform: `make demo` sets up and runs the main job; `make test` runs the tests.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export DAGSTER_HOME := $(CURDIR)/var/dagster_home

.PHONY: install demo test test-all ui mlflow-ui monitor lint bench clean

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -c constraints.txt -e ".[dev,distributed,kafka]"
	touch $@

install: $(VENV)/.installed

$(DAGSTER_HOME)/dagster.yaml: resources/instance/embedded.yaml
	mkdir -p $(DAGSTER_HOME)
	cp $< $@

demo: install $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/risk-platform-demo

test: install
	$(BIN)/pytest -m "not slow" --durations=30

test-all: install
	$(BIN)/pytest

# PostgreSQL, Chromium and redis-server for the integration tests (PostgreSQL-backed instance, UI in a browser,
# the Celery executor's broker): apt-get
# installs what is missing when run as root or with password-less sudo (.ci/run does this before make test)
.PHONY: system-deps
system-deps:
	sh .ci/system-deps

ui: install $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/dagster dev -h 127.0.0.1 -p 3000 -w workspace.yaml

mlflow-ui: install
	$(BIN)/risk-platform mlflow-ui --port 5000

# the live monitor replaying COVID from the bundled data at 1 update/s, its page on http://127.0.0.1:8050/
monitor: install
	$(BIN)/risk-platform monitor --replay risk_platform/bundled/market/prices.csv --start 2020-02-20 --speed 1 \
		--page-port 8050

lint: install
	$(BIN)/ruff check .

bench: install $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/python -m bench
	$(BIN)/python -m bench --models

clean:
	rm -rf var
