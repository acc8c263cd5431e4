"""The training-efficiency normalisation of the paper's Table 1.

Methods differ in how many frames one processing step consumes.  For a
fair comparison every method processes the same number of frames: the
least common multiple (over the rationals) of the frames per step.  A
method then needs LCM / frames_per_step steps, or LCM steps if it
processes frames one at a time (sequential).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

from .errors import InputError


@dataclass(frozen=True)
class Method:
    name: str
    frames_per_step: Fraction
    sequential: bool = False


@dataclass(frozen=True)
class StepRow:
    method: Method
    steps: int
    seconds: float | None = None  # measured time per epoch
    ratio: float | None = None  # seconds / the fastest method's seconds


def parse_method(spec: str) -> Method:
    """NAME:FRAMES_PER_STEP[:sequential], frames per step a positive integer, decimal or fraction."""
    parts = spec.split(":")
    if len(parts) not in (2, 3) or not parts[0].strip():
        raise InputError(f"method {spec!r}: expected NAME:FRAMES_PER_STEP[:sequential]")
    name, value = parts[0].strip(), parts[1].strip()
    try:
        frames = Fraction(value)
    except (ValueError, ZeroDivisionError):
        raise InputError(f"method {spec!r}: frames per step {value!r} is not a number") from None
    if frames <= 0:
        raise InputError(f"method {spec!r}: frames per step must be positive")
    sequential = False
    if len(parts) == 3:
        if parts[2].strip().lower() != "sequential":
            raise InputError(f"method {spec!r}: the third field can only be 'sequential'")
        sequential = True
    return Method(name, frames, sequential)


def parse_time(spec: str) -> tuple[str, float]:
    name, sep, value = spec.partition("=")
    try:
        seconds = float(value)
    except ValueError:
        seconds = float("nan")
    if not sep or not name.strip() or not (seconds > 0 and math.isfinite(seconds)):
        raise InputError(f"--time {spec!r}: expected NAME=SECONDS with a positive number of seconds")
    return name.strip(), seconds


def rational_lcm(values: list[Fraction]) -> Fraction:
    """The least positive rational that is an integer multiple of every value."""
    numerators = math.lcm(*(v.numerator for v in values))
    denominators = math.gcd(*(v.denominator for v in values))
    return Fraction(numerators, denominators)


def steps_table(methods: list[Method], times: dict[str, float] | None = None) -> tuple[Fraction, list[StepRow]]:
    if not methods:
        raise InputError("give at least one method, e.g. ReferFormer:5")
    names = [m.name for m in methods]
    if len(set(names)) != len(names):
        raise InputError(f"a method is named twice: {', '.join(names)}")
    times = times or {}
    unknown = sorted(set(times) - set(names))
    if unknown:
        raise InputError(f"--time names an unknown method: {', '.join(unknown)}")
    lcm = rational_lcm([m.frames_per_step for m in methods])
    fastest = min(times.values()) if times else None
    rows = []
    for m in methods:
        steps = lcm if m.sequential else lcm / m.frames_per_step
        assert steps.denominator == 1
        seconds = times.get(m.name)
        rows.append(StepRow(m, int(steps), seconds, seconds / fastest if seconds is not None else None))
    return lcm, rows
