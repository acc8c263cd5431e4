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


def test_the_command_with_footers_read_ahead_writes_the_bytes_of_a_run_from_python(tmp_path, monkeypatch):
    """Hive partitions named in --by, a file of no rows, a key column int32 in some files and int64 in
    others, a dictionary-encoded column in one file, an extra column in another."""
    import pyarrow as pa

    data = tmp_path / "data"
    for part in ("a", "b"):
        (data / f"split={part}").mkdir(parents=True)
        for i in range(4):
            tracks = [[0.1 * ((i + j) % 9 + 1), 0.5, 0.2 * (j % 4)] for j in range(3 + i)]
            table = wide_table(tracks, [j % 3 for j in range(len(tracks))],
                               key_type=pa.int32() if i % 2 else pa.int64())
            grp = pa.array([f"g{j % 2}" for j in range(len(tracks))])
            table = table.append_column("grp", grp.dictionary_encode() if i == 2 else grp)
            if i == 3:
                table = table.append_column("extra", pa.array(range(len(tracks))))
            pq.write_table(table.slice(0, 0) if (part, i) == ("a", 1) else table,
                           data / f"split={part}" / f"f{i}.parquet")
    read_ahead, started = source.read_footers_ahead, []

    def spy(path, input_format="auto"):
        read_ahead(path, input_format)
        started.append((str(path), input_format) in source._AHEAD)

    monkeypatch.setattr(source, "read_footers_ahead", spy)
    cli = invoke_cli("run", f"{data}/", "--by", "split,grp", "--no-plot", "-q", "-o", tmp_path / "cli")
    assert cli.exit_code == 0, cli.output
    assert started == [True] and not source._AHEAD  # read ahead, and taken
    tf2eng.run(f"{data}/", tmp_path / "py", by=["split", "grp"], plot=False)
    for name in ("stage_means.parquet", "curve.parquet", "rejected.parquet"):
        assert (tmp_path / "cli" / name).read_bytes() == (tmp_path / "py" / name).read_bytes(), name
