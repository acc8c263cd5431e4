"""The floor of bench/startup.py: one tiny kernel cached by numba (``cache=True``).

Any process that calls a cached numba function pays, at its first call, numba's
lazily loaded typing and lowering registries; ``tf2eng run`` calls cached
kernels, so a process that imports numba and pyarrow.parquet and calls this
one is the least it could take.  The module lives in a file (not ``python -c``)
so that numba can cache its compiled code beside it.
"""

import numpy as np
from numba import njit


@njit(cache=True)
def total(values):
    s = 0.0
    for v in values:
        s += v
    return s


def call() -> float:
    return total(np.ones(3))
