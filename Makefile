# Two set-up commands for a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
SPARK_STAMP := $(VENV)/.spark-installed-stamp

.PHONY: demo test test-slow test-all notebooks lint bench synth-demo clean

# (Re)create the virtualenv when it is missing, broken (moved, other Python) or older
# than pyproject.toml; otherwise this is a no-op, so re-running is quick.
$(STAMP): pyproject.toml
	@if ! $(BIN)/python -c "import sys" >/dev/null 2>&1; then \
		echo "creating $(VENV)"; rm -rf $(VENV); $(PYTHON) -m venv $(VENV); fi
	$(BIN)/python -m pip install -q --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install -q --disable-pip-version-check -e ".[dev,notebooks]"
	@touch $(STAMP)

# The Spark extra (PySpark and the Ibis PySpark backend; Java 17+), for the slow test that
# runs the event derivation on Spark: only `make test-slow` and `make test-all` install it.
$(SPARK_STAMP): $(STAMP)
	$(BIN)/python -m pip install -q --disable-pip-version-check -e ".[dev,notebooks,spark]"
	@touch $(SPARK_STAMP)

demo: $(STAMP)
	$(BIN)/milestones discover data/synthetic/demo --out reports/demo

test: $(STAMP)
	$(BIN)/python -m pytest

# planted-truth acceptance checks over several seeds at 20k accounts (~2 min), and the
# DuckDB-vs-Spark byte-identical framework.json check (installs the Spark extra)
test-slow: $(SPARK_STAMP)
	$(BIN)/python -m pytest -m slow

test-all: $(SPARK_STAMP)
	$(BIN)/python -m pytest -m "slow or not slow"

# runs the study once into reports/notebooks/run (reused while data, config and code are unchanged),
# then every notebook on it; writes executed copies and offline HTML pages to reports/notebooks/
notebooks: $(STAMP)
	$(BIN)/python -m milestone_discovery.notebooks --dataset data/synthetic/demo --out reports/notebooks

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/ruff format --check src tests benchmarks examples

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_synth.py
	$(BIN)/python benchmarks/bench_features.py --accounts 20000

# Regenerates the committed demo dataset.
synth-demo: $(STAMP)
	$(BIN)/milestones synth --accounts 3000 --seed 7 --format parquet --out data/synthetic/demo

clean:
	rm -rf $(VENV) reports/demo reports/notebooks
