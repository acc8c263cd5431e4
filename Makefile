# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# Compiled kernels are cached in folders named by a hash of every kernel
# source (kernels/cache.py), so an edit never loads stale code; after an edit
# this only frees the disk space of caches compiled from earlier sources.
KERNEL_CACHE := kernels/__pycache__/.sources-stamp

.PHONY: demo test bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,dask]'
	touch $(STAMP)

$(KERNEL_CACHE): kernels/*.py
	rm -rf */__pycache__/kernels-*
	mkdir -p kernels/__pycache__
	touch $@

demo: $(STAMP) $(KERNEL_CACHE)
	$(BIN)/tf2eng run bench/data/demo.parquet -o demo-out --by category

test: $(STAMP) $(KERNEL_CACHE)
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) demo-out .pytest_cache .hypothesis
