"""The per-track checks, written once for every backend, in the README's order."""

import math

import numpy as np
import pytest

from tf2eng.kernels import reasons
from tf2eng.kernels.track import validate_track

NAN = math.nan
NO_KEYS = (np.zeros(0, np.int64), np.zeros(0, np.bool_))


def _check(scores, keys=NO_KEYS, minmax=False, clean=False, null_list=False, null_at=None):
    """validate_track on one track; null_at: the index of a null score."""
    values = np.array(scores, np.float64)
    offsets = np.array([0, values.size], np.int64)
    list_bits = np.array([0], np.uint8) if null_list else np.zeros(0, np.uint8)
    value_bits = np.zeros(0, np.uint8)
    if null_at is not None:
        valid = np.ones(max(values.size, 1), np.bool_)
        valid[null_at] = False
        value_bits = np.packbits(valid, bitorder="little")
    return validate_track(offsets, values, list_bits, 0, value_bits, 0, keys[0], keys[1], 0, minmax, clean)


def _key(frame, valid=True):
    return np.array([frame], np.int64), np.array([valid])


@pytest.mark.parametrize("case, want", [
    (dict(scores=[], null_list=True, keys=_key(9)), reasons.NULL_SCORES),
    (dict(scores=[], keys=_key(9)), reasons.EMPTY_SCORES),
    (dict(scores=[0.5, 0.2, NAN], null_at=1, keys=_key(9)), reasons.NULL_SCORE),
    (dict(scores=[0.5, NAN, 2.0], keys=_key(9)), reasons.NONFINITE_SCORE),
    (dict(scores=[0.5, 2.0, NAN], keys=_key(9)), reasons.SCORE_OUT_OF_RANGE),
    (dict(scores=[0.5, 2.0, NAN], minmax=True), reasons.NONFINITE_SCORE),
    (dict(scores=[3.0, 3.0], minmax=True, keys=_key(9)), reasons.CONSTANT_SCORES),
    (dict(scores=[0.1, 0.2, 0.3], keys=_key(9, valid=False)), reasons.NULL_KEY_FRAME),
    (dict(scores=[0.1, 0.2, 0.3], keys=_key(3)), reasons.KEY_FRAME_OUT_OF_RANGE),
    (dict(scores=[0.1, 0.2, 0.3], keys=_key(-1)), reasons.KEY_FRAME_OUT_OF_RANGE),
])
def test_the_first_failed_check_gives_the_reason(case, want):
    assert _check(**case)[0] == want


@pytest.mark.parametrize("clean", [False, True])
def test_the_key_frame_is_the_given_one_else_the_first_arg_max(clean):
    assert _check([0.2, 0.9, 0.1, 0.9], clean=clean) == (reasons.OK, 1, 0.0, 1.0)
    assert _check([0.2, 0.9, 0.1, 0.9], keys=_key(2), clean=clean) == (reasons.OK, 2, 0.0, 1.0)


def test_min_max_scaling_maps_the_track_onto_zero_to_one():
    reason, key, shift, scale = _check([2.0, 6.0, 4.0], minmax=True)
    assert (reason, key, shift, scale) == (reasons.OK, 1, 2.0, 0.25)
