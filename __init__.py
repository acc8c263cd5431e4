"""tf2eng: the key-frame alignment analysis of per-frame text-frame scores, in batch.

``tf2eng.run(path, ...)`` is the Python entry point; ``tf2eng run`` the CLI;
``tf2eng.align(data, ...)`` the same analysis of data in memory, returning an ``Alignment``;
``tf2eng.compare(a, b, output, ...)`` compares two runs' outputs (``tf2eng compare`` in the CLI).
"""

__version__ = "0.1.0"

__all__ = ["run", "align", "Alignment", "compare", "__version__"]


def __getattr__(name):
    # Imported on first use so that `tf2eng --version` and the CLI's help do
    # not pay for numba, pyarrow and polars.
    if name == "run":
        from .engine.api import run

        return run
    if name in ("align", "Alignment"):
        from .engine import memory

        return getattr(memory, name)
    if name == "compare":
        from .engine.compare import compare

        return compare
    raise AttributeError(f"module 'tf2eng' has no attribute {name!r}")
