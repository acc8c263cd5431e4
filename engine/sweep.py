"""Parameter sweeps (README, Parameter sweeps): every combination of a list of λ and a list of K,
computed in one read of the data.

A sweep is a list of configurations, each a complete :class:`Options` (so
that, for instance, the grid step is checked for every K).  A unit reads a
batch once and runs the kernel once per configuration
(``stream._UnitScorer``); the configurations' moments are laid side by side
along the last axis (stage scores: K_1 + K_2 + ... columns, curves:
M_1 + M_2 + ... grid points), so that units merge them exactly as they
merge one configuration's, and :meth:`Sweep.finalize` splits them again.
Merging is elementwise, so each configuration's aggregates are those of a
run with that configuration alone.
"""

from __future__ import annotations

import hashlib
import numbers
from collections.abc import Sequence
from dataclasses import dataclass, replace

from .errors import InputError
from .options import Options, _is_real

# The leading columns a sweep adds to stages/, stage_means.parquet and curve.parquet.
LAM, STAGES = "lam", "stages"
# Beyond this many configurations a sweep stops (exit 2): each one costs a kernel pass per
# batch, and its panels must stay readable.
MAX_CONFIGURATIONS = 64


def parse_list(name: str, text: str, kind: type) -> tuple:
    """A comma-separated option value as numbers (``kind``: float or int): '0.5,0.7,1' -> (0.5, 0.7, 1.0)."""
    values = []
    for item in str(text).split(","):
        item = item.strip()
        if not item:
            raise InputError(f"{name}: an empty value in {text!r}; give numbers separated by commas")
        try:
            if "_" in item or not item.isascii():  # Python reads '0_7' as 7 and '١٠' as 10; a typo here
                raise ValueError(item)
            values.append(kind(item))
        except ValueError:
            what = "a number" if kind is float else "a whole number"
            raise InputError(f"{name} must be {what} or a comma-separated list of them, got {item!r}") from None
    return tuple(values)


def sweep_values(name: str, value, kind: type) -> tuple:
    """The values of ``--lam`` (kind float) or ``--stages`` (kind int): one number or a list or tuple of
    them, as a sorted tuple; an empty list, a value that is not a number and a value given twice are
    errors.  Ranges are checked by :class:`Options`."""
    items = tuple(value) if isinstance(value, (list, tuple)) else (value,)
    if not items:
        raise InputError(f"{name}: an empty list; give at least one value")
    for item in items:
        if kind is float and not _is_real(item):
            raise InputError(f"{name} must be a number, got {item!r}")
        if kind is int and not (isinstance(item, numbers.Integral) and not isinstance(item, bool)):
            raise InputError(f"{name} must be a whole number, got {item!r}")
    converted = [kind(item) for item in items]
    seen = set()
    for item in converted:
        if item in seen:
            raise InputError(f"{name} lists {item:g} twice")
        seen.add(item)
    return tuple(sorted(converted))


@dataclass(frozen=True)
class Sweep:
    """The configurations of a run, in order: λ ascending, then K ascending within each λ."""

    configurations: tuple[Options, ...]

    @classmethod
    def of(cls, options: Options, lams: Sequence[float], stages: Sequence[int]) -> Sweep:
        """Every (λ, K) of the two lists, each with the other options of ``options``."""
        count = len(lams) * len(stages)
        if count > MAX_CONFIGURATIONS:
            raise InputError(f"--lam and --stages make {count} configurations; at most {MAX_CONFIGURATIONS}")
        return cls(tuple(replace(options, lam=lam, stages=k) for lam in lams for k in stages))

    @property
    def options(self) -> Options:
        """The first configuration: the options every configuration shares, besides λ and K."""
        return self.configurations[0]

    @property
    def is_sweep(self) -> bool:
        """More than one configuration: the outputs carry the ``lam`` and ``stages`` columns."""
        return len(self.configurations) > 1

    @property
    def lams(self) -> list[float]:
        return sorted({o.lam for o in self.configurations})

    @property
    def stages(self) -> list[int]:
        return sorted({o.stages for o in self.configurations})

    def digest(self, meta_sha256: str | None = None) -> str:
        """What the unit keys take from the options (and the --meta files' contents): a single
        configuration's digest as before (engine/units.py, options_digest); for a sweep, a digest of
        every configuration's."""
        from .units import options_digest

        digests = [options_digest(o, meta_sha256) for o in self.configurations]
        if len(digests) == 1:
            return digests[0]
        return hashlib.sha256(("sweep\n" + "\n".join(digests)).encode()).hexdigest()

    @property
    def stage_width(self) -> int:
        return sum(o.stages for o in self.configurations)

    @property
    def curve_width(self) -> int:
        return sum(o.grid_size for o in self.configurations)

    def check_columns(self, carried: Sequence[str]) -> None:
        """A sweep adds ``lam`` and ``stages`` columns: an id or --by column of that name would clash."""
        if not self.is_sweep:
            return
        for name in carried:
            if name in (LAM, STAGES):
                raise InputError(f"column {name!r}: a sweep adds a {name!r} column to the outputs; "
                                 "rename the input column or run one configuration")

    def label(self, options: Options) -> str:
        return f"λ={options.lam:g}, K={options.stages}"

    def summary(self) -> list[dict]:
        return [{LAM: o.lam, STAGES: o.stages} for o in self.configurations]

    # --- one batch ------------------------------------------------------------------

    def kernel_passes(self) -> list[list[Options]]:
        """The configurations, in order, as the kernel passes that score them: on the CPU, all in one
        (each track checked once, ln S once, the powers once per λ, kernels/sweep.py); on a GPU, one
        each."""
        if self.options.device == "cpu":
            return [list(self.configurations)]
        return [[options] for options in self.configurations]


    def combine(self, results: list):
        """The BatchResults of one batch, one per configuration, as one: stage rows of every
        configuration (with the lam and stages columns), the rejected rows once (they do not
        depend on λ or K; checked), the moments side by side."""
        if len(results) == 1:
            return results[0]
        import numpy as np
        import pyarrow as pa

        from .batch import BatchResult

        first = results[0]
        for result in results[1:]:
            if not np.array_equal(result.reason_codes, first.reason_codes):
                raise RuntimeError("a row was rejected in some configurations of the sweep and not in others")
        tables = []
        for options, result in zip(self.configurations, results):
            n = result.stages.num_rows
            table = result.stages.add_column(0, STAGES, pa.array(np.full(n, options.stages, np.int32)))
            tables.append(table.add_column(0, LAM, pa.array(np.full(n, options.lam, np.float64))))
        return BatchResult(
            pa.concat_tables(tables),
            first.rejected,
            np.concatenate([r.stage_partial for r in results], axis=2),
            np.concatenate([r.curve_partial for r in results], axis=2),
            first.reason_codes,
            first.group,
        )

    def stage_schema(self, schema):
        """stages/'s schema: the single run's, with ``lam`` and ``stages`` first for a sweep."""
        if not self.is_sweep:
            return schema
        import pyarrow as pa

        return pa.schema([pa.field(LAM, pa.float64()), pa.field(STAGES, pa.int32())] + list(schema))

    # --- the dataset ----------------------------------------------------------------

    def split(self, moments) -> list:
        """A GroupMoments of every configuration side by side, as one GroupMoments per configuration."""
        import numpy as np

        from .aggregate import GroupMoments

        parts = []
        s = c = 0
        for options in self.configurations:
            part = GroupMoments(options.stages, options.grid_size)
            part.stage = np.ascontiguousarray(moments.stage[..., s: s + options.stages])
            part.curve = np.ascontiguousarray(moments.curve[..., c: c + options.grid_size])
            s += options.stages
            c += options.grid_size
            parts.append(part)
        return parts

    def finalize(self, moments, groups) -> tuple[list, list]:
        """(stage_means, curve) tables of each configuration, in order."""
        moments.grow(groups.size)
        stage_means, curves = [], []
        for options, part in zip(self.configurations, self.split(moments)):
            s, c = part.finalize(groups, options.stages, options.grid_step)
            stage_means.append(s)
            curves.append(c)
        return stage_means, curves

    def tables(self, frames: list):
        """One configuration's table as it is; a sweep's stacked, with ``lam`` and ``stages`` first."""
        import polars as pl

        if not self.is_sweep:
            return frames[0]
        return pl.concat([
            frame.with_columns(pl.lit(o.lam, pl.Float64).alias(LAM), pl.lit(o.stages, pl.Int32).alias(STAGES))
            .select([LAM, STAGES, *frame.columns])
            for o, frame in zip(self.configurations, frames)
        ], how="vertical")
