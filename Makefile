# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# numba's on-disk cache checks only the timestamp of the file that defines a
# function, so a kernel that calls into an edited module would load stale
# code: after any kernel source changes, drop the compiled caches.
KERNEL_CACHE := kernels/__pycache__/.sources-stamp

.PHONY: demo test bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,dask]'
	touch $(STAMP)

$(KERNEL_CACHE): kernels/*.py
	rm -f kernels/__pycache__/*.nbi kernels/__pycache__/*.nbc tests/__pycache__/*.nbi tests/__pycache__/*.nbc
	mkdir -p kernels/__pycache__
	touch $@

demo: $(STAMP) $(KERNEL_CACHE)
	$(BIN)/tf2eng run bench/data/demo.parquet -o demo-out --by category

test: $(STAMP) $(KERNEL_CACHE)
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) demo-out .pytest_cache .hypothesis
