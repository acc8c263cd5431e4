"""Modules loaded on first use, for the ones a run may not need at all.

``from .lazy import polars as pl`` reads like the plain import and works
the same, but polars loads only when an attribute of it is first looked up:
a wide-layout run without --by never needs it (about 0.1-0.2 s of start-up,
README, "Start-up and compilation").  Annotations stay plain names under
``from __future__ import annotations``.
"""

from __future__ import annotations

import importlib
import types


class LazyModule(types.ModuleType):
    """Stands for the module ``name`` and imports it at the first attribute lookup."""

    def __init__(self, name: str):
        super().__init__(name)
        self.__dict__["_lazy_target"] = name

    def __getattr__(self, attr: str):
        if attr.startswith("__") and attr.endswith("__"):
            # Probes such as __file__ or __path__ (numba's cache locator, inspect) do not load it.
            raise AttributeError(attr)
        module = importlib.import_module(self.__dict__["_lazy_target"])
        value = getattr(module, attr)
        self.__dict__[attr] = value  # later lookups are plain attribute reads
        return value

    def __dir__(self):
        return dir(importlib.import_module(self.__dict__["_lazy_target"]))


polars = LazyModule("polars")


class Unavailable:
    """An import hook (for ``sys.meta_path``) under which the named top-level packages are missing,
    as if not installed: ``pyarrow.dataset`` loads pandas where it is installed, and a process of
    the tf2eng command needs none of it (about 0.45 s of start-up).  ``why`` ends the message."""

    def __init__(self, *names: str, why: str = ""):
        self.names = frozenset(names)
        self.why = why

    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in self.names:
            raise ModuleNotFoundError(f"No module named {name!r}{self.why}", name=name)
        return None
