"""Compilation settings shared by every CPU kernel, each with its reason."""

from .cache import writable

# Compiled code is cached on disk, so the next process (a scheduled run, a
# test worker, the CLI started again) loads it instead of recompiling; the
# cache is keyed by every kernel source (cache.py).  Where no cache folder can
# be written (a read-only install and home), every process compiles instead:
# numba would refuse to define a cached function.
CACHE = writable()

# Floating-point flags for the arithmetic kernels:
# - reassoc lets LLVM reorder sums, so per-stage sums vectorize;
# - contract lets it fuse multiply-adds in the power polynomials.
# Flags that assume no NaN or inf (nnan, ninf, "fast") are left out: a bad
# score must stay visible as NaN or inf to be rejected.
ARITHMETIC_FLAGS = frozenset({"reassoc", "contract"})

# Error model "numpy": a float division by zero gives inf/NaN instead of
# raising, which removes a branch per division and lets loops vectorize.
ERROR_MODEL = "numpy"

# Helpers and serial kernels with IEEE-exact rounding: no fast-math flag at
# all (the double-double moments rely on it).  LLVM inlines the small ones;
# numba's own IR inlining is not used: it mis-compiled writes through a tuple
# of arrays inside a parallel loop, and it would impose the caller's flags.
EXACT = dict(cache=CACHE, nogil=True, error_model=ERROR_MODEL)

# Helpers and kernels that do the per-frame arithmetic.
ARITHMETIC = dict(cache=CACHE, nogil=True, error_model=ERROR_MODEL, fastmath=set(ARITHMETIC_FLAGS))

# The same, inlined into the caller at numba's IR level so that the caller's
# loop sees plain arithmetic and can be vectorized.  Only for pure scalar
# functions whose caller has the same flags.
ARITHMETIC_INLINE = dict(ARITHMETIC, inline="always")

# The batch kernels: tracks are independent, so chunks of them run on
# separate threads (thread count follows numba.set_num_threads).
PARALLEL = dict(ARITHMETIC, parallel=True)
