# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# Compiled kernels are cached in folders named by a hash of every kernel
# source (kernels/cache.py), so an edit never loads stale code; after an edit
# this only frees the disk space of caches compiled from earlier sources.
KERNEL_CACHE := kernels/__pycache__/.sources-stamp
# The PTX compilation tests (tests/test_ptx.py) need numba-cuda with NVVM and
# ptxas, a large download kept out of the test environment: they get their own.
CUDA_VENV ?= .venv-cuda
CUDA_BIN := $(CUDA_VENV)/bin
CUDA_STAMP := $(CUDA_VENV)/.installed-stamp

.PHONY: demo test bench clean ptx

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

$(CUDA_STAMP): pyproject.toml
	$(PYTHON) -m venv $(CUDA_VENV)
	$(CUDA_BIN)/python -m pip install --quiet --upgrade pip
	$(CUDA_BIN)/python -m pip install --quiet -e '.[test,cuda]' 'numba-cuda[cu12]'
	touch $(CUDA_STAMP)

# The CUDA kernels compiled for sm_80 and sm_90 without a GPU: the real CUDA
# target (not the simulator the other tests use), failing if NVVM is missing.
ptx: $(CUDA_STAMP) $(KERNEL_CACHE)
	NUMBA_ENABLE_CUDASIM=0 TF2ENG_PTX_REQUIRED=1 $(CUDA_BIN)/python -m pytest -q tests/test_ptx.py -k ptx

clean:
	rm -rf $(VENV) $(CUDA_VENV) demo-out .pytest_cache .hypothesis
