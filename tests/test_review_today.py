"""Review findings on the layout detection by --scores-col, the check of columns named twice and the
start-up of the command: each test reproduces a defect found by trying to break them, and pins the
behaviour README describes."""

import pyarrow as pa
import pyarrow.feather as feather
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

import tf2eng
from tf2eng.cli.app import app
from tf2eng.engine.errors import InputError


def _long(score_name: str = "myscore") -> pa.Table:
    return pa.table({"video_id": ["a", "a", "a", "b", "b"], "frame": [0, 1, 2, 0, 1],
                     score_name: [0.1, 0.7, 0.2, 0.4, 0.3]})


def _invoke(*args: str):
    return CliRunner().invoke(app, ["run", *map(str, args), "--no-plot", "-q"])


@pytest.mark.parametrize("kind", ["Table", "RecordBatch"])
def test_a_named_score_column_given_twice_in_memory_is_an_input_error(kind):
    """README, Input: no column may be named twice.  tf2eng.align of an Arrow table naming the
    --scores-col column twice raised KeyError from the layout detection (a traceback); now the
    InputError that names the input and the column, as for any other column named twice."""
    table = _long()
    twice = pa.table(table.columns + [table["myscore"]], names=table.column_names + ["myscore"])
    data = twice if kind == "Table" else twice.to_batches()[0]
    with pytest.raises(InputError, match="^data: names column 'myscore' twice"):
        tf2eng.align(data, scores_col="myscore")


def test_a_later_arrow_file_naming_a_column_twice_stops_naming_the_column(tmp_path):
    """README, Bad input: an Arrow IPC file that names a column twice stops the run in one line.  A
    later file of a directory stopped with Arrow's "Multiple matches for FieldRef.Name(...) in
    video_id: string" instead (its row count was asked before its names were checked)."""
    data = tmp_path / "data"
    data.mkdir()
    table = _long("score").append_column("note", pa.array([1] * 5))
    feather.write_feather(table, data / "a.arrow")
    feather.write_feather(pa.table(table.columns + [table["note"]], names=table.column_names + ["note"]),
                          data / "b.arrow")
    feather.write_feather(table, data / "c.arrow")
    done = _invoke(data, "-o", tmp_path / "out")
    assert done.exit_code == 2, done.output
    assert done.output.strip().splitlines() == [
        f"tf2eng: error: {data / 'b.arrow'}: names column 'note' twice; give each column one name"]


@pytest.mark.parametrize("options", [["--frame-col", "f"], ["--frame-col", "f", "--scores-col", "s"]])
def test_a_json_lines_input_without_rows_with_a_frame_column_named_completes_empty(tmp_path, options):
    """README, Input: an input without any row completes with empty outputs (exit 0): a scheduled run
    on a day without data is no failure.  A long-layout JSON Lines run naming its frame column
    (--frame-col) stopped with exit 2 on such a day: the columns of no data were the wide layout's,
    and --frame-col on a wide input is refused."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "day.jsonl").write_bytes(b"")
    done = _invoke(data, "-o", tmp_path / "out", *options)
    assert done.exit_code == 0, done.output
    summary = tf2eng.run(data, tmp_path / "again", frame_col="f", plot=False).summary
    assert summary["rows"]["read"] == 0
    assert summary["input"]["layout"] == "long"
