# The two commands: `make demo` runs charter on the bundled example, `make test` passes the
# tests and the code-quality gates. Each creates the virtual environment it needs.
SHELL := /bin/bash
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
EXAMPLE := examples/telco-churn

.PHONY: demo test install lint typecheck layers pytest bench clean lock

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 10), "charter needs Python >= 3.10"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev,postgres,spark]'
	@touch $(STAMP)

install: $(STAMP)

# The telco-churn journey: validate the charter, run audit -> train -> validate -> register,
# promote the new candidate to champion (its deploy gates must pass), serve it, replay normal
# then shifted traffic with feedback, monitor (drift incident, notification, retrain and
# promote-or-refuse), and show where the project stands.
demo: $(STAMP)
	$(BIN)/charter check --charter $(EXAMPLE)
	$(BIN)/charter run --charter $(EXAMPLE)
	$(BIN)/charter promote candidate --charter $(EXAMPLE)
	$(EXAMPLE)/monitor-loop.sh $(BIN)
	$(BIN)/charter status --charter $(EXAMPLE)

test: lint typecheck layers pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy

layers: $(STAMP)
	$(BIN)/lint-imports

pytest: $(STAMP)
	$(BIN)/python -m pytest

# Re-pin every dependency after changing pyproject.toml (then commit constraints.txt).
lock:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/python -m pip install --quiet --upgrade pip
	.lock-venv/bin/python -m pip install --quiet -e '.[dev,postgres,spark]'
	.lock-venv/bin/python -m pip freeze --exclude-editable | grep -v '^charter' > constraints.txt
	rm -rf .lock-venv

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache $(EXAMPLE)/.charter

bench: $(STAMP)
	$(BIN)/python benchmarks/cli_startup.py
	$(BIN)/python benchmarks/run_time.py
	$(BIN)/python benchmarks/automl_quality.py
	$(BIN)/python benchmarks/serving.py
	$(BIN)/python benchmarks/drift.py
	$(BIN)/python benchmarks/monitor_scale.py
	$(BIN)/python benchmarks/spark_scale.py
	$(BIN)/python benchmarks/spark_audit_stage.py
