"""The training-efficiency normalisation of the paper's Table 1.

Methods differ in how many frames one processing step consumes.  For a
fair comparison every method processes the same number of frames: the
least common multiple (over the rationals) of the frames per step.  A
method then needs LCM / frames_per_step steps, or LCM steps if it
processes frames one at a time (sequential).  A sequential method's step
is one frame, so where there is one the LCM is also a whole number of
frames: OnlineRefer:2.5:sequential alone needs 5 frames, 5 steps.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from fractions import Fraction

from ..errors import InputError

# Frames per step: a decimal (exponent of at most three digits) or a
# fraction of integers.  Fraction() alone would accept "1e-99999999" and
# spend minutes building its denominator.
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d{1,3})?|\d+/\d+")
MAX_FRAMES_PER_STEP = 10**9
MIN_FRAMES_PER_STEP = Fraction(1, 10**9)  # below, a denominator of any size (1e-400) is no real method
# Beyond this the common number of frames is of no use, and no float holds it.
MAX_COMMON_FRAMES = 10**15


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
        if not _NUMBER.fullmatch(value):
            raise ValueError(value)
        frames = Fraction(value)
    except (ValueError, ZeroDivisionError):
        raise InputError(f"method {spec!r}: frames per step {value!r} is not a number") from None
    if not 0 < frames <= MAX_FRAMES_PER_STEP:
        raise InputError(f"method {spec!r}: frames per step must be positive and at most {MAX_FRAMES_PER_STEP:,}")
    if frames < MIN_FRAMES_PER_STEP:
        raise InputError(f"method {spec!r}: frames per step must be at least {float(MIN_FRAMES_PER_STEP):.0e}")
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
    lcm = rational_lcm(_common_multiples(methods))
    if lcm > MAX_COMMON_FRAMES:
        digits = len(str(math.floor(lcm)))
        raise InputError(f"the common number of frames of these methods has {digits} digits, more than "
                         f"{MAX_COMMON_FRAMES:.0e} frames: round the frames per step")
    fastest = min(times.values()) if times else None
    rows = []
    for m in methods:
        # lcm is a multiple of every value _common_multiples gives, so both are whole numbers.
        steps = lcm if m.sequential else lcm / m.frames_per_step
        seconds = times.get(m.name)
        ratio = seconds / fastest if seconds is not None else None
        if ratio is not None and not math.isfinite(ratio):
            raise InputError(f"--time: {m.name}'s {seconds:g} s is too far from the fastest {fastest:g} s to compare")
        rows.append(StepRow(m, steps.numerator, seconds, ratio))
    return lcm, rows


def _common_multiples(methods: list[Method]) -> list[Fraction]:
    """What the common number of frames must be a multiple of: every method's frames
    per step, and one frame (a sequential method's step) where any method is sequential."""
    values = [m.frames_per_step for m in methods]
    if any(m.sequential for m in methods):
        values.append(Fraction(1))
    return values
