"""The parameters of a run, checked once, in one place."""

from __future__ import annotations

import math
import numbers
from dataclasses import asdict, dataclass, field

from .errors import InputError

REDUCTIONS = ("sum", "mean")
KEY_MODES = ("column", "auto")
LAYOUTS = ("wide", "long")
# --format: auto (by each file's name) or one format to force (README, Input formats); arrow is IPC / Feather.
FORMATS = ("auto", "parquet", "arrow", "jsonl", "csv", "tsv", "json", "npy")
NORMALIZATIONS = ("none", "minmax")
ON_INVALID = ("quarantine", "error")
DEVICES = ("cpu", "cuda")
ENGINES = ("local", "dask")
MAX_STAGES = 10_000
PLOT_FORMATS = ("png", "svg", "pdf")
PLOT_DPI = 110  # alignment.png's resolution; SVG and PDF keep their lines as vectors
# The largest figure (twelve panels, 15.6 x 15.2 in) at 600 dpi is about 85 Mpixel, 340 MB to raster;
# beyond, a vector format serves better.
MAX_PLOT_DPI = 600
# Below about 7 dpi FreeType cannot size the figure's 7-point text for the PNG (invalid ppem); 10 keeps a margin.
MIN_PLOT_DPI = 10
MAX_GRID_STEPS = 10**6  # intervals of the common grid: at most 10**6 + 1 points
MAX_REPLICATES = 10_000  # --bootstrap: beyond, the percentiles gain nothing a paper can show
DEFAULT_CI = 0.95  # --bootstrap without --ci


def _is_real(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _check_grid_step(step: float, stages: int) -> None:
    """The grid step h must give 2 to 10**6 + 1 grid points, the first two within the range
    of aligned positions [-1, 1 - 1/K] (README, The method): (2K - 1) / (K * 10**6) <= h <= 2 - 1/K."""
    span = (2 * stages - 1) / stages
    steps = span / step if step > 0 else math.inf  # inf, not an overflow, for a subnormal step
    if not (math.isfinite(step) and 0 < step <= span and steps < MAX_GRID_STEPS + 0.5):
        raise InputError(f"--grid-step must be a number from {span / MAX_GRID_STEPS:.3g} to {span:g} for "
                         f"--stages {stages} (2 to 10**6 + 1 grid points in [-1, {1 - 1 / stages:g}]), got {step}")


def check_plot_options(plot_format: str, plot_dpi: int) -> None:
    """--plot-format is one of PLOT_FORMATS; --plot-dpi a whole number from MIN_PLOT_DPI to MAX_PLOT_DPI."""
    if plot_format not in PLOT_FORMATS:
        raise InputError(f"--plot-format must be one of {', '.join(PLOT_FORMATS)}, got {plot_format!r}")
    if not (isinstance(plot_dpi, numbers.Integral) and not isinstance(plot_dpi, bool) and MIN_PLOT_DPI <= plot_dpi <= MAX_PLOT_DPI):
        raise InputError(f"--plot-dpi must be a whole number from {MIN_PLOT_DPI} to {MAX_PLOT_DPI}, got {plot_dpi!r}")


@dataclass(frozen=True)
class Options:
    """Everything that shapes the results of a run (README, The method and Input)."""

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
    meta: tuple[str, ...] = field(default_factory=tuple)  # --meta files (engine/meta.py)
    ci: float | None = None  # confidence level of ci_low, ci_high (README, Confidence bands); None: no bands
    bootstrap: int | None = None  # Poisson-bootstrap replicates; None: normal-theory (Student t) bands
    seed: int = 0  # of the bootstrap weights

    def __post_init__(self):
        self._check_bands()
        for name, value in (("--lam", self.lam), ("--grid-step", self.grid_step)):
            if not _is_real(value):
                raise InputError(f"{name} must be a number, got {value!r}")
        if not (isinstance(self.stages, numbers.Integral) and not isinstance(self.stages, bool)):
            raise InputError(f"--stages must be a whole number, got {self.stages!r}")
        if not (self.lam > 0.0 and math.isfinite(self.lam)):
            raise InputError(f"--lam must be a positive number, got {self.lam}")
        if not (1 <= self.stages <= MAX_STAGES):
            raise InputError(f"--stages must be between 1 and {MAX_STAGES}, got {self.stages}")
        _check_grid_step(float(self.grid_step), int(self.stages))
        # numpy numbers are taken, as Python's (summary.json and the unit keys hold them as JSON)
        for name, value in (("lam", float(self.lam)), ("grid_step", float(self.grid_step)), ("stages", int(self.stages))):
            object.__setattr__(self, name, value)
        for name, value, allowed in (
            ("--reduce", self.reduce, REDUCTIONS),
            ("--key", self.key, KEY_MODES),
            ("--normalize", self.normalize, NORMALIZATIONS),
            ("--on-invalid", self.on_invalid, ON_INVALID),
            ("--device", self.device, DEVICES),
        ):
            if value not in allowed:
                raise InputError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")
        for name, value in (("--scores-col", self.scores_col), ("--key-col", self.key_col),
                            ("--frame-col", self.frame_col)):
            if value == "":  # (not the default, which --scores-col's None stands for)
                raise InputError(f"{name} names no column (an empty name); give a column's name or leave it out")
        if self.layout is not None and self.layout not in LAYOUTS:
            raise InputError(f"--layout must be one of {', '.join(LAYOUTS)}, got {self.layout!r}")
        if len(set(self.by)) != len(self.by):
            raise InputError(f"--by names a column twice: {', '.join(self.by)}")
        if self.id_cols is not None and len(set(self.id_cols)) != len(self.id_cols):
            raise InputError(f"--id-cols names a column twice: {', '.join(self.id_cols)}")

    def _check_bands(self) -> None:
        """--ci, --bootstrap and --seed (README, Confidence bands); --bootstrap alone means --ci 0.95."""
        if self.ci is not None and not (_is_real(self.ci) and 0.0 < self.ci < 1.0):
            raise InputError(f"--ci must be a number strictly between 0 and 1 (e.g. 0.95), got {self.ci!r}")
        if self.bootstrap is not None:
            if not (isinstance(self.bootstrap, numbers.Integral) and not isinstance(self.bootstrap, bool)
                    and 2 <= self.bootstrap <= MAX_REPLICATES):  # one replicate has no spread
                raise InputError(f"--bootstrap must be a whole number of replicates from 2 to {MAX_REPLICATES:,}, "
                                 f"got {self.bootstrap!r}")
            if self.ci is None:
                object.__setattr__(self, "ci", DEFAULT_CI)
        if not (isinstance(self.seed, numbers.Integral) and not isinstance(self.seed, bool) and 0 <= self.seed < 2**64):
            raise InputError(f"--seed must be a whole number from 0 to 2**64 - 1, got {self.seed!r}")
        if self.ci is not None:
            object.__setattr__(self, "ci", float(self.ci))
        # numpy integers are taken, as Python's (summary.json and the unit keys hold them as JSON)
        object.__setattr__(self, "seed", int(self.seed))
        if self.bootstrap is not None:
            object.__setattr__(self, "bootstrap", int(self.bootstrap))

    @property
    def grid_size(self) -> int:
        # Imported here: the CLI reads this module's choices before it may load numba (cli/app.py: main).
        from ..kernels.grid import grid_size

        return grid_size(self.stages, self.grid_step)

    def as_dict(self) -> dict:
        d = asdict(self)
        d["id_cols"] = list(self.id_cols) if self.id_cols is not None else None
        d["by"] = list(self.by)
        d["meta"] = list(self.meta)
        return d
