"""The footers `tf2eng run` reads ahead (engine/source.py, read_footers_ahead) serve only the run of the
command that read them (README, Start-up and compilation)."""

import pyarrow.parquet as pq

import tf2eng
from conftest import assert_one_error, invoke_cli, wide_table
from tf2eng.engine import source


def _write(directory, i: int) -> None:
    tracks = [[0.1 * (i % 9 + 1), 0.5, 0.2], [0.3, 0.9]]
    pq.write_table(wide_table(tracks, [0, 1]), directory / f"f{i}.parquet")


def test_footers_read_ahead_by_a_command_that_failed_are_not_taken_by_a_later_run(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    for i in range(3):
        _write(data, i)
    for bad in (["--lam", "x"], ["--stages", "0"], ["--threads", "0"]):
        assert_one_error(invoke_cli("run", data, *bad, "--no-plot", "-q"), bad[0])
        assert not source._AHEAD  # nothing left behind for the next Source of this path
    _write(data, 3)  # a file added since: a later run in the same process reads it
    result = tf2eng.run(data, tmp_path / "out", plot=False)
    assert result.summary["rows"]["read"] == 8
