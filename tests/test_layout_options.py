"""Which layout a run reads when --scores-col names the scores (README, Input: Long layout), and
--frame-col where it cannot apply."""

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

import tf2eng
from tf2eng.cli.app import app
from tf2eng.engine.errors import InputError


def _long_rows(score_name: str) -> pa.Table:
    rng = np.random.default_rng(5)
    ids, frames, scores = [], [], []
    for v in range(6):
        T = 8 + 3 * v
        ids += [f"v{v}"] * T
        frames += list(range(T))
        scores += list(rng.random(T))
    return pa.table({"video_id": ids, "frame": frames, score_name: scores})


def _stages(out) -> list[dict]:
    return sorted(pq.read_table(out / "stages").to_pylist(), key=lambda r: r["video_id"])


@pytest.mark.parametrize("kind", ["parquet", "csv"])
def test_a_scores_column_of_numbers_beside_a_frame_column_is_read_in_the_long_layout(tmp_path, kind):
    """Before, `--scores-col myscore` on long data was read as the wide layout and stopped: "has type
    double, expected list".  Now it gives the run of the same data with the column named `score`."""
    paths = {}
    for name in ("score", "myscore"):
        paths[name] = tmp_path / f"{name}.{kind}"
        table = _long_rows(name)
        pq.write_table(table, paths[name]) if kind == "parquet" else pacsv.write_csv(table, paths[name])
    tf2eng.run(paths["score"], tmp_path / "plain", plot=False)
    named = tf2eng.run(paths["myscore"], tmp_path / "named", scores_col="myscore", plot=False)
    assert named.summary["rows"]["written"] == 6
    assert _stages(tmp_path / "named") == _stages(tmp_path / "plain")
    assert (tmp_path / "named" / "stage_means.parquet").read_bytes() == \
        (tmp_path / "plain" / "stage_means.parquet").read_bytes()


def test_a_named_list_column_stays_wide_even_beside_a_frame_column(tmp_path):
    table = pa.table({"video_id": ["a", "b"], "frame": [0, 1],
                      "s": pa.array([[0.1, 0.6, 0.2], [0.3, 0.9, 0.1, 0.2]], pa.list_(pa.float64()))})
    pq.write_table(table, tmp_path / "w.parquet")
    result = tf2eng.run(tmp_path / "w.parquet", tmp_path / "out", scores_col="s", plot=False)
    assert result.summary["input"]["layout"] == "wide"
    assert result.summary["rows"]["written"] == 2


def test_a_named_column_of_numbers_without_a_frame_column_still_says_what_is_missing(tmp_path):
    pq.write_table(pa.table({"video_id": ["a"], "s": [0.5]}), tmp_path / "x.parquet")
    with pytest.raises(InputError, match="'s' has type double, expected list"):
        tf2eng.run(tmp_path / "x.parquet", tmp_path / "out", scores_col="s", plot=False)


def test_frame_col_on_wide_input_is_refused_in_one_line(tmp_path):
    """--frame-col on a wide input did nothing, silently; now the run stops and says why (exit 2)."""
    pq.write_table(pa.table({"video_id": ["a"], "scores": [[0.1, 0.7, 0.2]]}), tmp_path / "w.parquet")
    done = CliRunner().invoke(app, ["run", str(tmp_path / "w.parquet"), "-o", str(tmp_path / "out"),
                                    "--frame-col", "f", "--no-plot", "-q"])
    assert done.exit_code == 2
    assert "--frame-col 'f'" in done.output and "wide layout" in done.output
    assert len(done.output.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()
    with pytest.raises(InputError, match="long layout"):
        tf2eng.align(pa.table({"video_id": ["a"], "scores": [[0.1, 0.7, 0.2]]}), frame_col="f")
