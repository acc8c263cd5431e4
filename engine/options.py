"""The parameters of a run, checked once, in one place."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from ..kernels.grid import grid_size
from .errors import InputError

REDUCTIONS = ("sum", "mean")
KEY_MODES = ("column", "auto")
LAYOUTS = ("wide", "long")
NORMALIZATIONS = ("none", "minmax")
ON_INVALID = ("quarantine", "error")
DEVICES = ("cpu", "cuda")
ENGINES = ("local", "dask")


@dataclass(frozen=True)
class Options:
    """Everything that shapes the results of a run (SPEC section 1 and 2)."""

    lam: float = 0.7
    stages: int = 10
    reduce: str = "sum"
    grid_step: float = 0.01
    key: str = "column"  # "column": the key column where the input has one, else arg-max
    key_col: str = "key_frame"
    scores_col: str | None = None  # default "scores" (wide) or "score" (long)
    frame_col: str = "frame"  # long layout only
    id_cols: tuple[str, ...] | None = None  # default video_id [, exp_id]
    by: tuple[str, ...] = field(default_factory=tuple)
    layout: str | None = None  # None: detected from the columns
    normalize: str = "none"
    on_invalid: str = "quarantine"
    device: str = "cpu"  # resolved: "auto" is decided before Options are made

    def __post_init__(self):
        if not (self.lam > 0.0 and self.lam < float("inf")):
            raise InputError(f"--lam must be a positive number, got {self.lam}")
        if not (1 <= self.stages <= 10_000):
            raise InputError(f"--stages must be between 1 and 10000, got {self.stages}")
        if not (self.grid_step > 0.0 and grid_size(self.stages, self.grid_step) <= 1_000_001):
            raise InputError(f"--grid-step must be positive and give at most 10**6 grid points, got {self.grid_step}")
        for name, value, allowed in (
            ("--reduce", self.reduce, REDUCTIONS),
            ("--key", self.key, KEY_MODES),
            ("--normalize", self.normalize, NORMALIZATIONS),
            ("--on-invalid", self.on_invalid, ON_INVALID),
            ("--device", self.device, DEVICES),
        ):
            if value not in allowed:
                raise InputError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")
        if self.layout is not None and self.layout not in LAYOUTS:
            raise InputError(f"--layout must be one of {', '.join(LAYOUTS)}, got {self.layout!r}")
        if len(set(self.by)) != len(self.by):
            raise InputError(f"--by names a column twice: {', '.join(self.by)}")

    @property
    def grid_size(self) -> int:
        return grid_size(self.stages, self.grid_step)

    def as_dict(self) -> dict:
        d = asdict(self)
        d["id_cols"] = list(self.id_cols) if self.id_cols is not None else None
        d["by"] = list(self.by)
        return d
