"""`tf2eng run` writes the bytes that tf2eng.run writes from Python for the same dataset."""

import pyarrow.parquet as pq

import tf2eng
from conftest import invoke_cli, wide_table


def test_the_command_writes_the_bytes_of_a_run_from_python(tmp_path):
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
    cli = invoke_cli("run", f"{data}/", "--by", "split,grp", "--no-plot", "-q", "-o", tmp_path / "cli")
    assert cli.exit_code == 0, cli.output
    tf2eng.run(f"{data}/", tmp_path / "py", by=["split", "grp"], plot=False)
    for name in ("stage_means.parquet", "curve.parquet", "rejected.parquet"):
        assert (tmp_path / "cli" / name).read_bytes() == (tmp_path / "py" / name).read_bytes(), name
