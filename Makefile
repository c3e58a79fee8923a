# shopsense — the two commands a newcomer needs:
#   make demo   set up everything, build the engine on the bundled sample and show/serve it
#   make test   set up everything and run the test suite
# Set-up is idempotent: the venv is (re)built only when pyproject.toml changes.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
# implicit / LightGBM / torch each start their own BLAS or OpenMP pool; on 2 cores they fight
export OPENBLAS_NUM_THREADS ?= 1

.PHONY: setup demo test test-slow bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# torch is pinned to the CPU wheel; an unpinned torch pulls GBs of CUDA packages
	$(BIN)/python -m pip install -q "torch==2.13.0"
	$(BIN)/python -m pip install -q -e ".[all,dev]"
	touch $(STAMP)

demo: setup
	$(BIN)/shopsense --data-dir var/demo demo

test: setup
	$(BIN)/python -m pytest

test-slow: setup
	$(BIN)/python -m pytest -m slow

bench: setup
	$(BIN)/python benchmarks/bench_ingest.py

clean:
	rm -rf var .pytest_cache
