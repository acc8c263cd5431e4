"""Compilation settings shared by every CPU kernel, each with its reason."""

# Compiled code is cached on disk, so the next process (a scheduled run, a
# test worker, the CLI started again) loads it instead of recompiling.
CACHE = True

# IEEE arithmetic, no fast-math: the moment accumulators depend on exact
# rounding (error-free transformations), and a bad score must stay visible
# as NaN or inf to be rejected.
FASTMATH = False

# Options for small helpers called from the kernels.  LLVM inlines them;
# numba's own IR inlining is not used: it mis-compiled writes through a
# tuple of arrays inside a parallel loop.
INLINE = dict(cache=CACHE, fastmath=FASTMATH, nogil=True)

# Options for serial whole-array kernels.
SERIAL = dict(cache=CACHE, fastmath=FASTMATH, nogil=True)

# Options for the batch kernels: tracks are independent, so chunks of them
# run on separate threads (thread count follows numba.set_num_threads).
PARALLEL = dict(cache=CACHE, fastmath=FASTMATH, nogil=True, parallel=True)
