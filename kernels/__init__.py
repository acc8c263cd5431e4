"""Numeric kernels: arrays in, arrays out; no I/O, no Arrow objects, no polars."""
