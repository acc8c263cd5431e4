"""The shortcuts taken to list and check thousands of files give what the plain calls give: the listing
(os.scandir against os.walk), the paths fingerprints name (against str(Path)), the relative paths units
are packed on (against os.path.relpath), and the file checks of consecutive files (against a check
of each file on its own)."""

import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tf2eng
from conftest import wide_table
from tf2eng.engine import source
from tf2eng.engine.errors import InputError
from tf2eng.engine.options import Options
from tf2eng.engine.units import relative_paths

PARTS = st.sampled_from(["a", "b", ".", "..", "", "x.parquet", "é"])
PATHS = st.builds(lambda lead, parts: lead + "/".join(parts),
                  st.sampled_from(["", "/", "//", "./", "../", "/tmp/", "a/"]), st.lists(PARTS, max_size=5))


@given(PATHS)
def test_path_string_is_str_of_path(path):
    assert source._path_string(path) == str(Path(path))


@given(st.lists(PATHS, max_size=6), st.sampled_from([".", "./", "a", "a/", "./a/b", "/", "/tmp", "a/../b", "..", "a//b"]))
def test_relative_paths_are_relpath(paths, root):
    paths = [p for p in paths if p]
    assert relative_paths(paths, root) == [os.path.relpath(p, root) for p in paths]


def walk_reference(directory):
    """The listing as os.walk gives it (the former implementation)."""
    files = []
    seen = {os.path.realpath(directory)}
    for root, dirs, names in os.walk(directory, followlinks=True):
        kept = []
        for d in sorted(dirs):
            full = os.path.join(root, d)
            if d.startswith((".", "_")) or source._is_output(full) or os.path.realpath(full) in seen:
                continue
            seen.add(os.path.realpath(full))
            kept.append(d)
        dirs[:] = kept
        for name in names:
            full = os.path.join(root, name)
            if name.startswith((".", "_")):
                continue
            source._check_link(full)
            if os.path.isfile(full):
                files.append(full)
    return sorted(files)


def test_listing_matches_os_walk(tmp_path):
    root = tmp_path / "data"
    for rel in ["a.parquet", "b/c.parquet", "b/d/e.parquet", "_skip/f.parquet", ".hidden/g.parquet",
                "b/_h.parquet", "b/.i.parquet", "z/notes.txt", "y/k.parquet"]:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"PAR1")
    (root / "loop").symlink_to(root)  # a loop: read once
    (root / "again").symlink_to(root / "b")  # a second way to b: b is met first? "again" sorts first
    (root / "file-link.parquet").symlink_to(root / "a.parquet")
    (root / "dir-link").symlink_to(root / "y")
    os.mkfifo(root / "pipe.parquet")
    out = root / "out"  # a tf2eng output inside its input
    (out / "_tf2eng").mkdir(parents=True)
    (out / "summary.json").write_text("{}")
    (out / "stages").mkdir()
    (out / "stages" / "part.parquet").write_bytes(b"PAR1")
    for directory in (str(root), str(root) + "/", str(root / "b")):
        assert source._all_files(directory) == walk_reference(directory)
    assert str(root / "again" / "c.parquet") in source._all_files(str(root))  # the first way to b, in path order


def test_listing_stops_on_a_broken_data_link(tmp_path):
    (tmp_path / "a.parquet").write_bytes(b"PAR1")
    (tmp_path / "gone.parquet").symlink_to(tmp_path / "missing.parquet")
    (tmp_path / "gone.txt").symlink_to(tmp_path / "missing.txt")  # not a data file: skipped
    with pytest.raises(InputError, match="gone.parquet: a symbolic link"):
        source._all_files(str(tmp_path))
    os.remove(tmp_path / "gone.parquet")
    assert source._all_files(str(tmp_path)) == walk_reference(str(tmp_path)) == [str(tmp_path / "a.parquet")]


def write(path, table):
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)


def test_consecutive_checks_keep_each_files_types(tmp_path):
    """Files alternate between schemas (exp_id int32 or int64, a column more or less): each file's scan
    schema is what a check of that file alone gives, whether the check of the file before was taken
    over or not, and the run equals one over the same rows in one file."""
    tracks = [[0.1, 0.5, 0.2], [0.3, 0.9, 0.4, 0.2]]
    base = wide_table(tracks)
    wide_ids = base.set_column(1, "exp_id", base.column("exp_id").cast(pa.int64()))
    more = base.append_column("note", pa.array(["x", "y"]))
    kinds = [base, base, wide_ids, wide_ids, base, more, more, base]
    kinds = [t.set_column(0, "video_id", pa.array([f"f{i}-{j}" for j in range(t.num_rows)])) for i, t in enumerate(kinds)]
    for i, table in enumerate(kinds):
        write(tmp_path / "in" / f"part-{i:02d}.parquet", table)
    src = source.Source(str(tmp_path / "in"), Options())
    for i, fragment in enumerate(src.fragments):  # each as its own check gives it
        partition = source.ds.get_partition_keys(fragment.partition_expression)
        assert src.scan_schema(i) == src._scan_schema(fragment.path, fragment.physical_schema, partition)
        assert src.rows_in(i) == kinds[i].num_rows
    many = tf2eng.run(tmp_path / "in", tmp_path / "out-many", plot=False)
    one_schema = wide_ids.schema
    write(tmp_path / "one.parquet", pa.concat_tables([t.select(one_schema.names).cast(one_schema) for t in kinds]))
    one = tf2eng.run(tmp_path / "one.parquet", tmp_path / "out-one", plot=False)
    assert (tmp_path / "out-many" / "stage_means.parquet").read_bytes() == (tmp_path / "out-one" / "stage_means.parquet").read_bytes()
    assert many.summary["rows"] == one.summary["rows"]


def test_a_later_file_missing_a_column_is_named(tmp_path):
    tracks = [[0.1, 0.5, 0.2], [0.3, 0.9, 0.4, 0.2]]
    base = wide_table(tracks)
    for i in range(5):
        write(tmp_path / "in" / f"part-{i}.parquet", base)
    write(tmp_path / "in" / "part-5.parquet", base.drop_columns(["scores"]))
    with pytest.raises(InputError, match="part-5.parquet: missing column 'scores'"):
        source.Source(str(tmp_path / "in"), Options())
