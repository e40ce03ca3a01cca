# sitcen — make targets. `make run` and `make test` are the two commands of the README.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DAY ?= 2026-11-24
BRANCHES ?= 162
SEED ?= 7
DATA := .sitcen/data

.PHONY: setup run test test-fast bench clean help

help:  ## list targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*##/ —/'

setup: $(VENV)/.installed  ## create .venv and install sitcen into it (idempotent)

$(VENV)/.installed: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	$(BIN)/python -m jobs.udf build
	$(BIN)/python -m jobs.warmup
	@touch $@

FAULTS ?= --duplicates 0.02 --out-of-order 0.02 --late-allowed 0.005 --late 0.005 --malformed 0.005

run: setup  ## simulate a national day, run the SLA job on the mini-cluster into a fresh embedded store, verify, report
	$(BIN)/sitcen simulate --branches $(BRANCHES) --date $(DAY) --seed $(SEED) $(FAULTS) --out $(DATA)/day.jsonl
	rm -rf .sitcen/store
	$(BIN)/sitcen run --input $(DATA)/day.jsonl
	$(BIN)/sitcen verify --truth $(DATA)/day.jsonl.truth
	$(BIN)/sitcen report

test: setup  ## run the whole test suite
	$(BIN)/python -m pytest -q

test-fast: setup  ## unit tests only (no mini-cluster)
	$(BIN)/python -m pytest -q -m "not integration"

bench: setup  ## throughput benchmark: sitcen vs naive vs JVM ceiling on a national day
	$(BIN)/python -m bench.throughput

clean:  ## remove the embedded store and generated data (keeps .venv)
	rm -rf .sitcen build
