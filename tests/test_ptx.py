"""The CUDA kernels compiled for real GPUs, without one: PTX for sm_80 and sm_90.

Under numba's CUDA simulator (the test suite's default, see conftest.py) the
kernels run as Python and the shared per-track functions as CPU code, so
nothing there shows that they compile for a GPU.  These tests compile every
kernel with numba-cuda's NVVM, for every argument-type signature that
kernels/cuda.py launches it with (``SIGNATURES``; tests/test_cuda.py checks
that list against the launches), and assemble the PTX with ptxas.  They need
the real CUDA target and NVVM: ``make ptx`` installs numba-cuda[cu12] into
.venv-cuda and runs them with the simulator off; elsewhere they skip.
"""

import functools
import math
import os
import random
import re
import shutil
import subprocess
import sys
from fractions import Fraction
from unittest import mock

import numba
import numpy as np
import pytest
from numba import types
from numba.core.dispatcher import Dispatcher

from tf2eng.kernels import cuda as cuda_kernels
from tf2eng.kernels.moments import two_prod

# The compute capabilities compiled for: A100 (sm_80) and H100/H200 (sm_90).
CCS = [(8, 0), (9, 0)]


def _array(dtype, ndim=1):
    """A C-contiguous, writable array type: how numba types a contiguous device array."""
    return types.Array(numba.from_dtype(np.dtype(dtype)), ndim, "C")


def _track_kernel_signature(values_dtype):
    return (
        _array(np.int64),  # offsets: list and large_list offsets both arrive as int64
        _array(values_dtype),  # values: float32 or float64, as the column stores them
        _array(np.uint8), types.int64,  # list validity bitmap (empty: no nulls), its bit offset
        _array(np.uint8), types.int64,  # value validity bitmap, its bit offset
        _array(np.int64), _array(np.bool_),  # given key frames and their validity (empty: arg-max)
        types.float64, types.boolean, types.boolean, types.float64,  # lam, reduce_mean, minmax, step
        _array(np.uint8), _array(np.int64), _array(np.float64),  # reason, key frame, pos_key
        _array(np.float64, 2), _array(np.int32, 2), _array(np.float64, 2),  # Y, counts, curves
    )


# Every signature each kernel is launched with.  Bitmaps, key frames and the
# flags are the same types whether or not a batch has nulls, key frames,
# --reduce mean or --normalize minmax, so only the scores' dtype varies.
SIGNATURES = {
    "track_kernel": [_track_kernel_signature(np.float32), _track_kernel_signature(np.float64)],
    "moments_kernel": [
        (_array(np.float64, 2), _array(np.uint8), _array(np.int32), types.int64, _array(np.float64, 4)),
    ],
    "merge_kernel": [(_array(np.float64, 4), _array(np.float64, 3))],
    "zero_kernel": [(_array(np.uint32),)],
}

CASES = [(kernel, i) for kernel, signatures in SIGNATURES.items() for i in range(len(signatures))]
CASE_IDS = [f"{kernel}-{SIGNATURES[kernel][i][1].dtype}" if kernel == "track_kernel" else kernel for kernel, i in CASES]


def _unavailable() -> str | None:
    if cuda_kernels.SIMULATOR:
        return "PTX needs the real CUDA target, not the simulator (run `make ptx`)"
    try:
        from numba.cuda.cudadrv import nvvm

        if nvvm.is_available():
            return None
    except Exception:  # noqa: BLE001 - any failure to load NVVM means: not installed
        pass
    return "numba-cuda's NVVM is not installed (run `make ptx`)"


# `make ptx` sets this: there a missing NVVM or ptxas fails the tests instead of skipping them.
REQUIRED = os.environ.get("TF2ENG_PTX_REQUIRED") == "1"

needs_nvvm = pytest.mark.skipif(not REQUIRED and _unavailable() is not None, reason=str(_unavailable()))


class _Device:
    """Stands in for the current device: numba-cuda asks it for the compute
    capability when it compiles a device function, which would need a driver."""

    def __init__(self, cc):
        self.compute_capability = cc


def _forget_device_functions():
    """Drop the device-function versions numba-cuda keeps of the shared @njit
    functions, so that each compute capability compiles its own."""
    for name, module in list(sys.modules.items()):
        if name.startswith("tf2eng.kernels."):
            for value in vars(module).values():
                if isinstance(value, Dispatcher):
                    vars(value).pop("_CUDATypingContext__dispatcher", None)


@functools.lru_cache(maxsize=None)
def _ptx(kernel: str, index: int, cc: tuple) -> str:
    from numba import cuda

    signature = SIGNATURES[kernel][index]
    with mock.patch.object(cuda.dispatcher, "get_current_device", lambda: _Device(cc)):
        _forget_device_functions()
        try:
            ptx, _ = cuda.compile_ptx(getattr(cuda_kernels, kernel).py_func, signature, cc=cc)
        finally:
            _forget_device_functions()
    return ptx


def _ptxas() -> str | None:
    try:
        import nvidia.cuda_nvcc

        for folder in nvidia.cuda_nvcc.__path__:
            path = os.path.join(folder, "bin", "ptxas")
            if os.access(path, os.X_OK):
                return path
    except ImportError:
        pass
    return shutil.which("ptxas")


def _sm(cc):
    return f"sm_{cc[0]}{cc[1]}"


@pytest.mark.skipif(not REQUIRED, reason="only where the PTX tests must run (make ptx)")
def test_ptx_toolchain_is_installed():
    assert _unavailable() is None, _unavailable()
    assert _ptxas() is not None, "ptxas is not installed"


@needs_nvvm
@pytest.mark.parametrize("cc", CCS, ids=_sm)
@pytest.mark.parametrize("kernel, index", CASES, ids=CASE_IDS)
def test_kernel_compiles_to_ptx(kernel, index, cc):
    ptx = _ptx(kernel, index, cc)
    assert re.search(rf"^\.target {_sm(cc)}\b", ptx, re.M)
    assert re.search(rf"^\.visible \.entry \w*{kernel}", ptx, re.M)
    # A call left to a function NVVM could not resolve would fail only when the GPU loads it.
    assert not re.search(r"^\.extern \.func", ptx, re.M)


@needs_nvvm
@pytest.mark.skipif(not REQUIRED and _ptxas() is None,
                    reason="ptxas is not installed (nvidia-cuda-nvcc-cu12, brought by numba-cuda[cu12])")
@pytest.mark.parametrize("cc", CCS, ids=_sm)
@pytest.mark.parametrize("kernel, index", CASES, ids=CASE_IDS)
def test_ptx_assembles_for_the_gpu(kernel, index, cc, tmp_path):
    """ptxas turns the PTX into machine code for the GPU, as the driver does when it loads a kernel."""
    source = tmp_path / f"{kernel}.ptx"
    source.write_text(_ptx(kernel, index, cc))
    done = subprocess.run([_ptxas(), f"-arch={_sm(cc)}", str(source), "-o", str(tmp_path / "k.cubin")],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "k.cubin").stat().st_size > 0


@needs_nvvm
@pytest.mark.parametrize("cc", CCS, ids=_sm)
def test_ptx_moment_products_are_rounded_on_their_own(cc):
    """The double-double moments need every product rounded by itself.  PTX lets the
    assembler fuse an unrounded ``mul.f64`` with a later addition into one fma, which
    would break the error-free transformations of moments.py: the moments kernel
    must multiply only with ``mul.rn.f64`` (or an explicit fma)."""
    ptx = _ptx("moments_kernel", 0, cc)
    assert "mul.rn.f64" in ptx
    assert not re.search(r"\bmul\.f64\b", ptx)


def test_two_prod_is_exact_on_the_cpu():
    """The product of two_prod is the IEEE product (the same bits as Python's) and
    product + error is the exact product, whichever way the product is compiled."""
    rng = random.Random(3)
    pairs = [(rng.uniform(-1, 1) * 2.0 ** rng.randint(-60, 60), rng.uniform(-1, 1) * 2.0 ** rng.randint(-60, 60))
             for _ in range(2000)]
    pairs += [(0.1, 0.1), (1.0 / 3.0, 3.0), (-0.0, 2.0), (1e-200, 1e-200), (math.pi, math.e)]
    for a, b in pairs:
        p, e = two_prod(a, b)
        assert np.float64(p).tobytes() == np.float64(a * b).tobytes()
        if p != 0.0 and abs(p) > 1e-290:
            assert Fraction(p) + Fraction(e) == Fraction(a) * Fraction(b)
