"""typer's checks of the command's option values, without building a pydantic validator where the
value needs none (README, "Start-up and compilation").

typer (0.2x) checks and converts the value of every option through a pydantic
validator it builds for that option: for ``tf2eng run``'s thirty options about
0.06 s, and pydantic's import.  Most values need nothing: an option left
out is its default or None, a text option's text stays as it is, a choice
given as a member of its choices stays that member.  Those are returned as
they are (as typer's validators return them), a choice given as text is
matched with typer's own rule for choices, and a path with typer's own path
checks; every other value, and every value one of those rules refuses, goes
through typer's validator, so results and messages are typer's.

Only the command's own process installs this (``main``); where typer has no
such validators (other versions) nothing is changed.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path


def install() -> bool:
    """Answer the values above before typer's validators; False where this typer has none."""
    try:
        from typer import _param_types
        from typer.core import _TyperParameter
    except ImportError:
        return False
    typer_way = getattr(_TyperParameter, "get_runtime_param", None)
    needed = ("coerce_cli_choice", "coerce_cli_path")
    if typer_way is None or not all(hasattr(_param_types, name) for name in needed):
        return False
    if getattr(typer_way, "_tf2eng", False):
        return True

    def get_runtime_param(self):
        return _Quick(self, typer_way)

    get_runtime_param._tf2eng = True
    _TyperParameter.get_runtime_param = get_runtime_param
    return True


class _Quick:
    """One parameter's check: the value as it is where it needs no conversion, else typer's."""

    def __init__(self, param, typer_way):
        self.param = param
        self.typer_way = typer_way

    def coerce(self, value, param, ctx):
        found = _as_is(value, param, ctx)
        if found is not _TYPER:
            return found
        return self.typer_way(param).coerce(value, param=param, ctx=ctx)


_TYPER = object()  # "ask typer's validator"


def _as_is(value, param, ctx):
    from typer import _param_types

    descriptor = getattr(param, "type_descriptor", None)
    info = getattr(descriptor, "parameter_info", None)
    if descriptor is None or info is None:
        return _TYPER
    multiple = param.multiple or param.nargs == -1
    if value is None:
        return () if multiple else None
    if multiple and descriptor.annotation == list[str] and getattr(info, "parser", None) is None \
            and isinstance(value, (list, tuple)) and all(type(v) is str for v in value):
        return list(value)  # texts given once or more (--lam, --by), as typer's validator returns them
    if multiple or getattr(info, "parser", None) is not None or getattr(descriptor, "file_annotation", None) is not None:
        return _TYPER
    kind = descriptor.annotation
    if kind is str and type(value) is str:
        return value
    if kind in (int, float) and type(value) is kind and info.min is None and info.max is None:
        return value
    if isinstance(kind, type) and issubclass(kind, Enum):
        if type(value) is kind:
            return value
        if type(value) is str:
            try:
                return _param_types.coerce_cli_choice(value, choices=list(kind), case_sensitive=info.case_sensitive,
                                                      ctx=ctx)
            except ValueError:
                return _TYPER
        return _TYPER
    if kind is Path and getattr(info, "path_type", None) is None and type(value) is str:
        # What typer's validator does with a path given as text: pathlib's Path of it, then its checks.
        return _param_types.coerce_cli_path(Path(value), info, path_type=Path, param=param, ctx=ctx)
    return _TYPER
