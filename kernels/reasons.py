"""Why a track is rejected: one small integer per reason, shared by kernels and engine.

The kernels write these codes; the engine turns them into the names that
appear in ``rejected.parquet`` and ``summary.json``.
"""

OK = 0
# Set by the per-track kernel (README, Bad input; checked in this order).
NULL_SCORES = 1  # the score list itself is null
EMPTY_SCORES = 2  # the score list has no element
NULL_SCORE = 3  # one score in the list is null
NONFINITE_SCORE = 4  # NaN or +-inf
SCORE_OUT_OF_RANGE = 5  # outside [0, 1] without --normalize minmax
CONSTANT_SCORES = 6  # --normalize minmax on a track whose scores are all equal
NULL_KEY_FRAME = 7
KEY_FRAME_OUT_OF_RANGE = 8  # outside 0 ... T-1 (long layout: a label not among the frames)
# Set by the engine before the kernel runs.
NULL_ID = 9  # an id column is null: the track could not be told apart
BAD_FRAME_INDEX = 10  # long layout: a null frame label
INCONSISTENT_KEY_FRAME = 11  # long layout: key_frame differs between frames of a track
DUPLICATE_FRAME = 12  # long layout: two rows of a track with the same frame label
# Set by the readers of text files (engine/formats.py), carried in the column BAD_VALUE_COLUMN.
BAD_VALUE = 13  # a value of the wrong type for its column (a string where numbers belong)
BAD_FIELD_COUNT = 14  # CSV / TSV: a row with more or fewer fields than the header

NAMES = {
    NULL_SCORES: "null_scores",
    EMPTY_SCORES: "empty_scores",
    NULL_SCORE: "null_score",
    NONFINITE_SCORE: "nonfinite_score",
    SCORE_OUT_OF_RANGE: "score_out_of_range",
    CONSTANT_SCORES: "constant_scores",
    NULL_KEY_FRAME: "null_key_frame",
    KEY_FRAME_OUT_OF_RANGE: "key_frame_out_of_range",
    NULL_ID: "null_id",
    BAD_FRAME_INDEX: "bad_frame_index",
    INCONSISTENT_KEY_FRAME: "inconsistent_key_frame",
    DUPLICATE_FRAME: "duplicate_frame",
    BAD_VALUE: "bad_value",
    BAD_FIELD_COUNT: "bad_field_count",
}
