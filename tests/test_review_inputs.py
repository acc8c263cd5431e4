"""Review findings on input handling: each test reproduces a defect that was found by trying to break
the engine, and pins the behaviour README describes."""

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import tf2eng
from tf2eng.engine.errors import InputError
from tf2eng.engine.synth import write_synthetic


@pytest.fixture(scope="module")
def tracks(tmp_path_factory):
    d = tmp_path_factory.mktemp("review")
    write_synthetic(d / "all.parquet", 40, seed=11)
    return pq.read_table(d / "all.parquet").drop(["category"])


def _bytes(out, name):
    return (out / name).read_bytes()


def test_incremental_run_after_a_partition_changes_the_column_type(tracks, tmp_path, monkeypatch):
    """README, Input: hive partitions are int32 where every value is one, else text.  A new partition
    `cat=x` turns `cat` into text for every file: the units of the earlier run, made with int32
    groups, must not be reused (their keys digest the columns' types), and the incremental run gives
    the bytes of a full one."""
    monkeypatch.setenv("TF2ENG_UNIT_ROWS", "1")
    data = tmp_path / "data"
    for i in range(4):
        (data / f"cat={1 + i % 2}").mkdir(parents=True, exist_ok=True)
        pq.write_table(tracks.slice(10 * i, 10), data / f"cat={1 + i % 2}" / f"f{i}.parquet")
    tf2eng.run(data, tmp_path / "out", by="cat", plot=False)
    (data / "cat=x").mkdir()
    pq.write_table(tracks.slice(0, 5), data / "cat=x" / "g.parquet")
    again = tf2eng.run(data, tmp_path / "out", by="cat", plot=False)
    full = tf2eng.run(data, tmp_path / "full", by="cat", plot=False, full=True)
    assert again.summary["units"]["reused"] == 0
    assert again.summary["rows"]["read"] == 45
    for name in ("stage_means.parquet", "curve.parquet"):
        assert _bytes(tmp_path / "out", name) == _bytes(tmp_path / "full", name)
    assert full.stage_means["cat"].to_list()[0] == "1"


def test_jsonl_line_that_names_a_read_column_twice_is_a_bad_row(tmp_path):
    """A JSON Lines row naming `scores` twice is ambiguous (Arrow's reader refuses it, Python's json
    keeps the last value): README, Bad input: `bad_value`, never read silently as one of the two.
    A member the run does not read may repeat."""
    path = tmp_path / "s.jsonl"
    path.write_text('{"video_id": "a", "scores": [0.1, 0.5]}\n'
                    '{"video_id": "b", "scores": [0.1, 0.5], "scores": [0.9]}\n'
                    '{"video_id": "c", "scores": [0.2, 0.4], "note": 1, "note": 2}\n')
    result = tf2eng.run(path, tmp_path / "out", plot=False)
    assert result.summary["rows"]["rejected_by_reason"] == {"bad_value": 1}
    rejected = pq.read_table(tmp_path / "out" / "rejected.parquet").to_pylist()
    assert [(r["video_id"], r["reason"], r["row"]) for r in rejected] == [("b", "bad_value", 1)]
    assert rejected[0]["scores"] is None
    assert sorted(result.stages().collect()["video_id"].to_list()) == ["a", "c"]


def test_directory_reads_symlinked_subdirectories_once(tracks, tmp_path):
    """README, Input: a symbolic link to a directory inside the input is read as that directory (as
    Arrow's own dataset discovery does), and a directory reached twice (a loop, or a second link to
    one already read) is read once, so no row is read twice or silently left out."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    pq.write_table(tracks.slice(0, 10), elsewhere / "a.parquet")
    data = tmp_path / "data"
    data.mkdir()
    pq.write_table(tracks.slice(10, 10), data / "b.parquet")
    (data / "linked").symlink_to(elsewhere)
    (data / "linked_again").symlink_to(elsewhere)
    (data / "loop").symlink_to(data)
    result = tf2eng.run(data, tmp_path / "out", plot=False)
    assert result.summary["rows"]["read"] == 20
    paths = [entry["path"] for entry in result.summary["input"]["fingerprint"]["files"]]
    assert [p.split("data/")[-1] for p in paths] == ["b.parquet", "linked/a.parquet"]


@pytest.mark.parametrize("glob", [False, True])
def test_broken_symlink_to_a_data_file_stops_the_run(tracks, tmp_path, glob):
    """A data file's name that leads nowhere (a broken symbolic link) is an unreadable input: one line
    naming it, exit 2 (README, Bad input), not a file silently left out."""
    data = tmp_path / "data"
    data.mkdir()
    pq.write_table(tracks.slice(0, 10), data / "a.parquet")
    (data / "b.parquet").symlink_to(tmp_path / "gone.parquet")
    (data / "notes.txt").symlink_to(tmp_path / "gone.txt")  # not a data file's name: skipped, as any note
    with pytest.raises(InputError, match=r"b\.parquet: a symbolic link to .*gone\.parquet, which does not exist"):
        tf2eng.run(str(data / "*.parquet") if glob else data, tmp_path / "out", plot=False)


@pytest.mark.parametrize("beside", [False, True])
def test_arrow_ipc_stream_file_is_named_as_such(tracks, tmp_path, beside):
    """An Arrow IPC *stream* (`pyarrow.ipc.new_stream`, polars' `write_ipc_stream`) is not the IPC file
    format Arrow's dataset reads: one line naming the file and saying what it is, exit 2 (README,
    Input formats), alone or beside readable IPC files."""
    import pyarrow as pa
    import pyarrow.feather as pf

    data = tmp_path / "data"
    data.mkdir()
    if beside:
        pf.write_feather(tracks, data / "a.arrow")
    with pa.ipc.new_stream(data / "b.arrows", tracks.schema) as writer:
        writer.write_table(tracks)
    with pytest.raises(InputError, match=r"b\.arrows: an Arrow IPC stream; tf2eng reads the Arrow IPC file format"):
        tf2eng.run(data, tmp_path / "out", plot=False)


def test_csv_files_whose_first_blocks_type_a_column_differently_read_it_as_text(tmp_path):
    """Per-video CSV files of Ref-YouTube-VOS-like names: one video's frames start at "10000" (no
    leading zero: integers by themselves) and one video id is all digits.  Where files' first blocks
    give a column text in some and numbers in others, every file reads it as text (README, Input
    formats), so the tracks give what they give in one Parquet file, instead of stopping the run."""
    import pyarrow as pa

    tracks = {  # video -> (first frame number, scores, key frame position)
        "003234408d": (0, [0.1, 0.4, 0.9, 0.3], 2),
        "1234567890": (110, [0.2, 0.8, 0.5], 1),
        "a9f23c45e1": (10000, [0.3, 0.6, 0.2, 0.1, 0.7], 4),
    }
    rows = []
    data = tmp_path / "csv"
    data.mkdir()
    for video, (start, scores, key) in tracks.items():
        frames = [f"{start + 5 * i:05d}" for i in range(len(scores))]
        lines = ["video_id,frame,score,key_frame"]
        lines += [f"{video},{frame},{score},{frames[key]}" for frame, score in zip(frames, scores)]
        (data / f"{video}.csv").write_text("\n".join(lines) + "\n")
        rows += [{"video_id": video, "frame": frame, "score": score, "key_frame": frames[key]}
                 for frame, score in zip(frames, scores)]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "long.parquet")
    from_csv = tf2eng.run(data, tmp_path / "out_csv", plot=False)
    from_parquet = tf2eng.run(tmp_path / "long.parquet", tmp_path / "out_pq", plot=False)
    assert from_csv.summary["rows"]["written"] == 3
    for name in ("stage_means.parquet", "curve.parquet"):
        assert _bytes(tmp_path / "out_csv", name) == _bytes(tmp_path / "out_pq", name)
    stages = from_csv.stages().collect().sort("video_id")
    assert stages["video_id"].to_list() == sorted(tracks)
    assert stages["key_label"].to_list() == ["00010", "00115", "10020"]


@pytest.mark.parametrize("twice, once, key, want", [
    (["--by", "grp", "--by", "exp_id", "--id-cols", "video_id", "--id-cols", "exp_id"],
     ["--by", "grp,exp_id", "--id-cols", "video_id,exp_id"], ("columns", "by"), ["grp", "exp_id"]),
    (["--lam", "0.5", "--lam", "2", "--stages", "5", "--stages", "10"], ["--lam", "0.5,2", "--stages", "5,10"],
     ("parameters", "lam"), [0.5, 2.0]),
])
def test_a_list_option_given_twice_is_one_list(tracks, tmp_path, twice, once, key, want):
    """`--by a --by b` groups by both (as `--by a,b`) and `--lam 0.5 --lam 2` sweeps both (as `--lam 0.5,2`), not
    the last alone; so for --id-cols and --stages."""
    from typer.testing import CliRunner

    from tf2eng.cli.app import app

    groups = pa.array(["a" if i % 3 else "b" for i in range(tracks.num_rows)])
    pq.write_table(tracks.append_column("grp", groups), tmp_path / "in.parquet")
    runs = {}
    for name, args in (("twice", twice), ("once", once)):
        result = CliRunner().invoke(app, ["run", str(tmp_path / "in.parquet"), "-o", str(tmp_path / name), "--no-plot",
                                          "-q", *args])
        assert result.exit_code == 0, result.output
        runs[name] = json.loads((tmp_path / name / "summary.json").read_text())
    for part in ("columns", "parameters", "digests"):
        assert runs["twice"][part] == runs["once"][part]
    assert runs["twice"][key[0]][key[1]] == want


@pytest.mark.parametrize("option, value, shown", [("--by", ",", "','"), ("--by", "category,,exp_id", "'category,,exp_id'"),
                                                  ("--id-cols", "video_id,", "'video_id,'")])
def test_empty_item_in_a_column_list_is_a_bad_option(tracks, tmp_path, option, value, shown):
    """`--by ,` must not silently mean no grouping, nor `video_id,` drop an item: an empty item in a
    list of columns is one line naming the option, exit 2, as an empty item of --lam is (README,
    Parameter sweeps; Bad input)."""
    from typer.testing import CliRunner

    from tf2eng.cli.app import app

    pq.write_table(tracks, tmp_path / "in.parquet")
    result = CliRunner().invoke(app, ["run", str(tmp_path / "in.parquet"), "-o", str(tmp_path / "out"), "--no-plot",
                                      "-q", option, value])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [f"tf2eng: error: {option} has an empty item: {shown}"]
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("damage, stored_name", [(b"garbage\n", "*.npz"), (None, "*.npz"),
                                                 (b"garbage\n", "*.rejected.parquet")])
def test_damaged_stored_unit_results_stop_with_one_line(tracks, tmp_path, damage, stored_name):
    """A previous output whose stored unit results (`_tf2eng/KEY.npz`) were damaged after it was written
    (garbage, or cut short): the incremental run stops with one line naming the file and what to do,
    exit 2, the previous output untouched, instead of an internal error; --full then recomputes."""
    pq.write_table(tracks, tmp_path / "in.parquet")
    tf2eng.run(tmp_path / "in.parquet", tmp_path / "out", plot=False)
    (stored,) = (tmp_path / "out" / "_tf2eng").glob(stored_name)
    stored.write_bytes(damage if damage is not None else stored.read_bytes()[:200])
    summary = (tmp_path / "out" / "summary.json").read_bytes()
    with pytest.raises(InputError, match=r"_tf2eng/\w+\.(npz|rejected\.parquet): the stored results of a unit cannot be read .*--full"):
        tf2eng.run(tmp_path / "in.parquet", tmp_path / "out", plot=False)
    assert (tmp_path / "out" / "summary.json").read_bytes() == summary
    again = tf2eng.run(tmp_path / "in.parquet", tmp_path / "out", plot=False, full=True)
    assert again.summary["rows"]["read"] == len(tracks)


@pytest.mark.parametrize("text, found", [("null", "null"), ("[]", "an array"), ('"x"', "a string"), ("3", "a number"),
                                         ("true", "true")])
def test_json_file_of_another_shape_names_the_json_type(tmp_path, text, found):
    """Messages about JSON name JSON's types (null, an array, a string), not Python's (NoneType, list)."""
    (tmp_path / "a.json").write_text(text + "\n")
    with pytest.raises(InputError, match=rf"a\.json: expected a JSON object .*, found {found}$"):
        tf2eng.run(tmp_path / "a.json", tmp_path / "out", plot=False)
    (tmp_path / "a.jsonl").write_text('{"video_id": "a", "scores": [0.5]}\n' + text + "\n")
    if text != "null":  # (a bare null line has a message of its own)
        with pytest.raises(InputError, match=rf"a\.jsonl: cannot read as JSON Lines: row 1 \(0-based\) is {found}, "
                                             "expected an object"):
            tf2eng.run(tmp_path / "a.jsonl", tmp_path / "out2", plot=False)


def test_recursive_glob_through_a_symlink_loop_reads_each_file_once(tracks, tmp_path):
    """`data/**/*.parquet` where `data/sub/loop` links back to `data`: Python's glob follows the loop
    some 40 levels deep, which read every file 41 times.  Each directory is read once, at its shortest
    path (README, Input)."""
    sub = tmp_path / "data" / "sub"
    sub.mkdir(parents=True)
    pq.write_table(tracks.slice(0, 10), sub / "z.parquet")
    (sub / "loop").symlink_to(tmp_path / "data")
    (tmp_path / "data" / "again").symlink_to(sub)
    result = tf2eng.run(str(tmp_path / "data" / "**" / "*.parquet"), tmp_path / "out", plot=False)
    assert result.summary["rows"]["read"] == 10
    (entry,) = result.summary["input"]["fingerprint"]["files"]
    assert entry["path"].endswith("data/again/z.parquet")  # the shortest path: data/again, before data/sub


@pytest.mark.parametrize("pattern", ["**/*.parquet", "*/*.parquet"])
def test_glob_skips_files_of_a_tf2eng_output_inside_it(tracks, tmp_path, pattern):
    """README, Input: an output written inside its own input is not read back as input, for a glob as
    for a directory: the second run of `'data/**/*.parquet' -o data/out` read data/out/curve.parquet
    and stopped (missing column)."""
    data = tmp_path / "data"
    (data / "x").mkdir(parents=True)
    pq.write_table(tracks, data / "x" / "a.parquet")
    first = tf2eng.run(str(data / pattern), data / "out", plot=False)
    again = tf2eng.run(str(data / pattern), data / "out", plot=False)
    assert again.summary["rows"] == first.summary["rows"]
    assert [e["path"] for e in again.summary["input"]["fingerprint"]["files"]] == [str(data / "x" / "a.parquet")]


@pytest.mark.parametrize("where", ["only file", "second file", "arrow file"])
def test_a_file_naming_a_column_twice_stops_in_one_line_naming_it(tmp_path, where):
    """Before: Arrow's "Can't unify schema with duplicate field names" without the column, or (a later
    file of a directory) an internal error, exit 1."""
    import pyarrow as pa
    import pyarrow.feather as feather
    from typer.testing import CliRunner

    from tf2eng.cli.app import app

    good = pa.table({"video_id": ["a"], "exp_id": [0], "scores": [[0.1, 0.6, 0.2]]})
    bad = good.append_column("n", pa.array([1])).rename_columns(["video_id", "exp_id", "scores", "exp_id"])
    data = tmp_path / "data"
    data.mkdir()
    if where == "only file":
        pq.write_table(bad, data / "b.parquet")
    elif where == "second file":
        pq.write_table(good, data / "a.parquet")
        pq.write_table(bad, data / "b.parquet")
    else:
        feather.write_feather(bad, data / "b.arrow")
    done = CliRunner().invoke(app, ["run", str(data), "-o", str(tmp_path / "out"), "--no-plot", "-q"])
    assert done.exit_code == 2, done.output
    assert done.output.strip().splitlines() == [
        f"tf2eng: error: {data / ('b.arrow' if where == 'arrow file' else 'b.parquet')}: names column 'exp_id' "
        "twice; give each column one name"]
