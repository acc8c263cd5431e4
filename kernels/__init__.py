"""Numeric kernels: arrays in, arrays out; no I/O, no Arrow objects, no polars."""

from .cache import register

# Before any kernel is compiled: cached machine code is keyed by every kernel source (see cache.py).
register()
