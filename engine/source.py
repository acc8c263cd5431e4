"""Finding, checking and streaming the input (README, Input).

A path is one file, a directory (hive partitions welcome) or a glob, of
Parquet or Arrow IPC / Feather files, or of one of the formats that
engine/formats.py reads (JSON Lines, CSV / TSV, nested JSON, NumPy).  Every file's schema is checked
before any work starts, so a missing column or a column of the wrong type
stops the run with one line naming the file and the column.
"""

from __future__ import annotations

import functools
import glob as globlib
import hashlib
import os
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from types import MappingProxyType

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from . import formats
from .errors import InputError
from .options import Options

BATCH_ROWS = 65_536
READAHEAD_BATCHES = 2  # IPC / Feather batches decoded ahead by Arrow; more costs memory, gains nothing
# Arrow IPC / Feather batches come from jemalloc where Arrow has it: it
# reuses freed buffers where the system allocator faults in fresh pages.
try:
    READ_POOL = pa.jemalloc_memory_pool()
except NotImplementedError:  # an Arrow build without jemalloc
    READ_POOL = pa.default_memory_pool()
# Parquet column chunks are streamed through a buffer of this size instead
# of being read whole (a 100,000-row chunk of scores is tens of MiB).
READ_BUFFER_BYTES = 1 << 20
OUTPUT_COLUMNS = ("T", "key_frame", "pos_key", "stage_scores", "stage_counts")
# What the outputs add beside the id and --by columns (README, Output): an input column of one of these
# names in --id-cols or --by would be written twice.  rejected.parquet's, and stage_means.parquet's and
# curve.parquet's (where only --by columns go); the long layout's (also key_label with --meta).
REJECTED_COLUMNS = ("reason", "source", "row")
AGGREGATE_COLUMNS = ("stage", "x", "mean", "std", "count", "ci_low", "ci_high")
LONG_OUTPUT_COLUMNS = ("key_label", "frames", "rows")
# Files whose footers (and tails, for the fingerprint) are read at once: a
# dataset of many small files pays a file's open and footer read in
# parallel, not one after another (Arrow releases the GIL while it reads).
# A thread per CPU, at most 8: on files in the page cache the work is CPU
# bound (more threads only contend); on slower storage they hide latency.
METADATA_THREADS = max(2, min(8, os.cpu_count() or 2))


def parallel_map(fn, items: list) -> list:
    """[fn(item) for item in items], on METADATA_THREADS threads; the first item's error (in order) is raised."""
    if len(items) < 2:
        return [fn(item) for item in items]
    # Items go to the threads in runs of consecutive items, not one task each: with thousands of
    # small files a task per file cost more than the work (2,000 fingerprints: 0.28 s, in runs 0.17 s).
    size = max(1, min(64, len(items) // (4 * METADATA_THREADS)))
    runs = [items[i:i + size] for i in range(0, len(items), size)]
    with ThreadPoolExecutor(min(METADATA_THREADS, len(runs))) as pool:
        return [out for run in pool.map(lambda run: [fn(item) for item in run], runs) for out in run]


# A file looked at in longer than this waits on its storage (in the page cache it takes ~25 µs).
SLOW_LOOK_S = 1e-4


def _each_file(fn, paths: list[str]) -> list:
    """[fn(path) for path in paths] for a cheap look at each file (an open and a read or two): in this
    thread where the files answer fast, as from the page cache (two threads only contended for Python's
    lock there: 2,000 files took 0.07-0.08 s, one thread 0.045 s), on METADATA_THREADS threads where the
    first files answered slowly (their waits on the storage overlap)."""
    first = paths[:64]
    t = time.perf_counter()
    looked = [fn(path) for path in first]
    if time.perf_counter() - t < SLOW_LOOK_S * len(first):
        return looked + [fn(path) for path in paths[len(first):]]
    return looked + parallel_map(fn, paths[len(first):])


@dataclass(frozen=True)
class Columns:
    """Which input column plays which part, resolved against the schema."""

    layout: str  # "wide" or "long"
    scores: str  # list of scores (wide) or one score (long)
    key: str | None  # None: key frame is the first arg-max
    ids: tuple[str, ...]
    by: tuple[str, ...]
    frame: str | None = None  # long layout: frame label (integer or string)
    meta: tuple[str, ...] = ()  # columns --meta adds (engine/meta.py); not read from the input

    @property
    def carried(self) -> tuple[str, ...]:
        """Id, --by and --meta columns, each once: they travel to stages/ and rejected.parquet."""
        return tuple(dict.fromkeys(self.ids + self.by + self.meta))

    @property
    def carried_in_input(self) -> list[str]:
        """The carried columns the input holds: all but those --meta adds, which are joined later."""
        return [c for c in self.carried if c not in self.meta]

    @property
    def read(self) -> list[str]:
        names = self.carried_in_input + [self.scores]
        names += [c for c in (self.key, self.frame) if c is not None]
        return list(dict.fromkeys(names))


def _is_id_type(t: pa.DataType) -> bool:
    return pa.types.is_integer(t) or is_string_type(t)


def _is_label_type(t: pa.DataType, layout: str) -> bool:
    """Key and frame columns: integers; in the long layout also string labels (engine/long.py)."""
    if layout == "long" and pa.types.is_dictionary(t):
        t = t.value_type
    return pa.types.is_integer(t) or (layout == "long" and is_string_type(t))


def _label_kind(t: pa.DataType) -> str:
    """"integer" or "string": the kind of a key or frame column's labels (a dictionary's values)."""
    if pa.types.is_dictionary(t):
        t = t.value_type
    return "integer" if pa.types.is_integer(t) else "string"


def _same_kind(a: pa.DataType, b: pa.DataType) -> bool:
    """True where values of type a can be cast to b without surprises (either may be a dictionary:
    its values count)."""
    if pa.types.is_dictionary(a):
        a = a.value_type
    if pa.types.is_dictionary(b):
        b = b.value_type
    if a == b:
        return True
    return any(kind(a) and kind(b) for kind in (pa.types.is_integer, pa.types.is_floating, is_string_type))


def _values_name(schema: pa.Schema, name: str) -> str | None:
    """The name column ``name`` (the scores) gives its list's values ("item", "element"), else None.
    Arrow's equality of schemas leaves it out (list<item: double> equals list<element: double>), but a
    file's scan schema takes the file's own scores type."""
    try:
        field = getattr(schema.field(name).type, "value_field", None)
    except KeyError:
        return None
    return None if field is None else field.name


def is_string_type(t: pa.DataType) -> bool:
    """string, large_string or string_view."""
    return pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t)


def _is_plain(t: pa.DataType) -> bool:
    """A type whose values --by can group (polars) and the outputs can hold (Parquet)."""
    if pa.types.is_dictionary(t):
        return _is_plain(t.value_type)
    return any(kind(t) for kind in (
        pa.types.is_null, pa.types.is_boolean, pa.types.is_integer, pa.types.is_floating, is_string_type,
        pa.types.is_binary, pa.types.is_large_binary, pa.types.is_binary_view, pa.types.is_fixed_size_binary,
        pa.types.is_date, pa.types.is_time, pa.types.is_timestamp, pa.types.is_duration, pa.types.is_decimal128,
    ))


def _is_score_list(t: pa.DataType) -> bool:
    return (pa.types.is_list(t) or pa.types.is_large_list(t)) and t.value_type in (pa.float32(), pa.float64())


def _is_scalar_score(t: pa.DataType) -> bool:
    """A column of one number per row (the long layout's scores), of any numeric type."""
    return pa.types.is_floating(t) or pa.types.is_integer(t) or pa.types.is_decimal(t)


def _format_of(path: str, forced: str | None = None, head: bytes | None = None) -> str:
    """"parquet" or "ipc": what the file's first bytes (``head``, where already read) say, else the
    format its name says (engine/formats.py); ``forced`` (--format) wins."""
    if head is None:
        try:
            with open(path, "rb") as f:
                head = f.read(6)
        except OSError as exc:
            raise InputError(f"{path}: cannot read: {exc.strerror}") from None
    found = _magic(head)
    if forced is not None:
        if found is not None and forced not in ("parquet", "ipc") and _ends_like(path, found):  # not text
            kind = "a Parquet" if found == "parquet" else "an Arrow IPC"
            raise InputError(f"{path}: is {kind} file (its first bytes), not {formats.NAMES.get(forced, forced)}; "
                             f"leave out --format, or give --format {found if found == 'parquet' else 'arrow'}")
        return forced
    if found is None:  # e.g. a damaged file: the reader will say what is wrong with it
        found = formats.format_by_name(path)
    if found is None:
        raise InputError(f"{path}: not a format tf2eng reads by its name (Parquet, Arrow IPC, JSON Lines, "
                         "CSV, TSV, JSON, NumPy); give --format")
    return found


def _ends_like(path: str, found: str) -> bool:
    """Whether the file also ends with the magic bytes of ``found`` (a Parquet or Arrow IPC file does)."""
    tail = b"PAR1" if found == "parquet" else b"ARROW1"
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - len(tail)))
            return f.read() == tail
    except OSError:
        return False


def _magic(head: bytes) -> str | None:
    """"parquet" or "ipc" from a file's first six bytes, else None."""
    if head[:4] == b"PAR1":
        return "parquet"
    if head == b"ARROW1":
        return "ipc"
    return None


def glob_base(path: str) -> str | None:
    """The directory before a glob's first wildcard, or None when path is no glob: without
    wildcards, or naming a file or directory that exists ("scores[1].parquet")."""
    if not any(ch in path for ch in "*?[") or os.path.exists(path):
        return None
    return os.path.dirname(path[: min(path.index(ch) for ch in "*?[" if ch in path)]) or "."


def _data_files(directory: str, forced: str | None = None) -> list[str]:
    """The data files of a dataset directory, sorted by path: files named as Parquet or Arrow
    IPC, and unnamed files that start like one; where there is none, the files named as one
    of the formats of engine/formats.py (``forced``, from --format: only the files of that
    format).  Skipped: names starting with "." or "_" (as Arrow skips them), other files
    (notes, images), and tf2eng output directories (an output written inside its own input
    is not read back as input)."""
    candidates = _all_files(directory)
    if forced in formats.READERS:
        return [f for f in candidates if formats.format_by_name(f) == forced]
    kinds = [_arrow_format(f) for f in candidates]
    arrow = [f for f, kind in zip(candidates, kinds) if kind is not None and forced in (None, kind)]
    if arrow or forced is not None:
        return arrow
    return [f for f in candidates if formats.format_by_name(f) in formats.READERS]


def _arrow_format(path: str) -> str | None:
    """"parquet" or "ipc" where a file is named as one, or starts like one; else None."""
    by_name = formats.format_by_name(path)
    return by_name if by_name in ("parquet", "ipc") else _sniff(path)


def _all_files(directory: str) -> list[str]:
    """Every file under ``directory``, symbolic links followed (as Arrow's dataset discovery does); a
    directory reached again (a loop, a second link to one already read) is read once, where it is
    first met in path order.  Directories are read with os.scandir, whose entries say what they are:
    a file costs a system call only where it is a symbolic link (thousands of files are listed)."""
    files = []
    seen = {os.path.realpath(directory)}
    pending = [directory]  # depth first, in path order, as os.walk goes
    while pending:
        root = pending.pop()
        try:
            with os.scandir(root) as listing:
                entries = list(listing)
        except OSError:  # unreadable: skipped, as os.walk does
            continue
        dirs = []
        for entry in entries:
            if entry.name.startswith((".", "_")):
                continue
            if _entry_is(entry.is_dir):
                dirs.append(entry.name)
                continue
            if entry.is_symlink():
                _check_link(entry.path)
            if _entry_is(entry.is_file):
                files.append(entry.path)
        kept = []
        for d in sorted(dirs):
            full = os.path.join(root, d)
            if _is_output(full) or os.path.realpath(full) in seen:
                continue
            seen.add(os.path.realpath(full))
            kept.append(full)
        pending.extend(reversed(kept))
    return sorted(files)


def _entry_is(test) -> bool:
    """A directory entry's is_dir or is_file (following links), False where it cannot be told."""
    try:
        return test()
    except OSError:
        return False


def _recursive_glob(pattern: str, base: str) -> list[str]:
    """What ``glob.glob(pattern, recursive=True)`` matches, with each real directory visited once, at its
    shortest path: Python's glob follows symbolic links under ``**`` into loops (every file read some
    40 times over, or for ever where two links loop).  Names starting with "." match only a pattern
    part that does, as in glob."""
    import fnmatch
    import heapq

    parts = [p for p in pattern[len(base):].split(os.sep) if p] if base != "." else \
        [p for p in pattern.split(os.sep) if p and p != "."]
    found, seen = [], set()
    # directories breadth first, in path order: the shortest path to a real directory comes first
    pending = [(0, base, ())] if os.path.isdir(base) else []
    while pending:
        depth, directory, rel = heapq.heappop(pending)
        real = os.path.realpath(directory)
        if real in seen:
            continue
        seen.add(real)
        try:
            names = sorted(os.listdir(directory))
        except OSError:
            continue
        for name in names:
            full = os.path.join(directory, name)
            if _glob_match((*rel, name), parts, fnmatch):
                found.append(full[2:] if base == "." and full.startswith("./") else full)
            if os.path.isdir(full) and not name.startswith("."):
                heapq.heappush(pending, (depth + 1, full, (*rel, name)))
    return found


def _glob_match(names: tuple, parts: list, fnmatch) -> bool:
    """Path parts against pattern parts; ``**`` matches any number of directories (none too)."""
    if not parts:
        return not names
    if parts[0] == "**":
        return any(_glob_match(names[i:], parts[1:], fnmatch) for i in range(len(names) + 1)) if len(parts) > 1 \
            else all(not n.startswith(".") for n in names) and bool(names)
    if not names or (names[0].startswith(".") and not parts[0].startswith(".")):
        return False
    return fnmatch.fnmatchcase(names[0], parts[0]) and _glob_match(names[1:], parts[1:], fnmatch)


def _inside_output(path: str, base: str, outputs: dict[str, bool]) -> bool:
    """Whether a glob's match lies in a tf2eng output directory below the glob's base directory (an
    output written inside its own input is not read back as input, as in a directory)."""
    relative = os.path.relpath(os.path.dirname(path) or os.curdir, base)  # ("f.parquet": matched by "*.parquet")
    if relative == "." or relative.startswith(".."):
        return False
    directory = base
    for name in relative.split(os.sep):
        directory = os.path.join(directory, name)
        if directory not in outputs:
            outputs[directory] = _is_output(directory)
        if outputs[directory]:
            return True
    return False


def _check_link(path: str) -> None:
    """A data file's name that is a broken symbolic link stops the run (an input that cannot be
    read), instead of being left out silently; other names (notes) are skipped as ever."""
    if os.path.islink(path) and not os.path.exists(path) and formats.format_by_name(path) is not None:
        raise InputError(f"{path}: a symbolic link to {os.readlink(path)}, which does not exist")


def _one_format(path: str, files: list[str], forced: str | None = None) -> tuple[str, list[Look]]:
    """The format of the files (one for all), from one look at each file."""
    looks = _each_file(_look, files)
    kinds = {_format_of(f, forced, look.head) for f, look in zip(files, looks)}
    found = [kind for kind in formats.NAMES if kind in kinds]
    if len(found) > 1:
        names = " and ".join(formats.NAMES[f] for f in found)
        raise InputError(f"{path}: holds both {names} files; give one kind (e.g. a glob, or --format)")
    return found.pop(), looks


def _is_output(directory: str) -> bool:
    """A tf2eng run's output (summary.json and _tf2eng/) or tf2eng compare's (summary.json and compare.parquet)."""
    return os.path.isfile(os.path.join(directory, "summary.json")) and (
        os.path.isdir(os.path.join(directory, "_tf2eng")) or os.path.isfile(os.path.join(directory, "compare.parquet")))


def _check_unique_names(path: str, names: list[str]) -> None:
    """A file naming a column twice stops the run, naming the column: which of the two is meant?"""
    if len(set(names)) == len(names):  # (asked of every file: no count per name, which grows as its square)
        return
    twice = min(name for name in names if names.count(name) > 1)
    raise InputError(f"{path}: names column '{twice}' twice; give each column one name")


def _file_schema(path: str, fmt: str) -> pa.Schema | None:
    """One Parquet or Arrow IPC file's own columns; None where they cannot be read."""
    try:
        if fmt == "ipc":
            with pa.ipc.open_file(path) as reader:
                return reader.schema
        return pq.read_schema(path)
    except (pa.ArrowException, OSError):
        return None


def _check_not_stream(path: str, fmt: str) -> None:
    """Name an Arrow IPC stream (its first bytes the continuation marker) as such where the IPC file
    format was expected: Arrow's dataset reads only the file format (README, Input formats)."""
    try:
        with open(path, "rb") as f:
            head = f.read(4)
    except OSError:
        return
    if fmt == "ipc" and head == b"\xff\xff\xff\xff":
        raise InputError(f"{path}: an Arrow IPC stream; tf2eng reads the Arrow IPC file format (.arrow, .feather): "
                         "rewrite it as one (pyarrow.feather.write_feather) or as Parquet")


def _sniff(path: str) -> str | None:
    """"parquet" or "ipc" from a file's first bytes; None for anything else or an unreadable file."""
    try:
        with open(path, "rb") as f:
            return _magic(f.read(6))
    except OSError:
        return None


def _expand(path: str, forced: str | None = None) -> tuple[list[str] | str, str, list[Look], str | None]:
    """(what ds.dataset takes, format, the looks at the files of a directory or glob that told their format,
    base directory for hive partitions; a file given alone is looked at too); ``forced``: the format --format
    names, else None."""
    target, base = _listed(path, forced)
    if isinstance(target, str):
        look = _look(target)
        return target, _format_of(target, forced, look.head), [look], base
    return target, *_one_format(path, target, forced), base


def _listed(path: str, forced: str | None = None) -> tuple[list[str] | str, str | None]:
    """(the data files of a directory or glob, or the path of a single file; base directory for hive
    partitions)."""
    base = glob_base(path)
    if base is not None:
        matches = _recursive_glob(path, base) if "**" in path else globlib.glob(path)
        for match in matches:
            _check_link(match)
        outputs: dict[str, bool] = {}  # directory -> is it a tf2eng output (asked once per directory)
        files = sorted(p for p in matches if os.path.isfile(p) and not _inside_output(p, base, outputs))
        if not files:
            raise InputError(f"{path}: no file matches")
        return files, base
    if os.path.isdir(path):
        files = _data_files(path, forced)
        if not files:
            kind = formats.NAMES[forced] if forced else "Parquet, Arrow IPC, JSON Lines, CSV, TSV, JSON or NumPy"
            raise InputError(f"{path}: directory holds no {kind} file")
        return files, path
    if os.path.isfile(path):
        return path, None
    if os.path.exists(path):
        raise InputError(f"{path}: not a regular file or directory (a FIFO, device or socket)")
    raise InputError(f"{path}: no such file or directory")


def _arrow_dataset(target: list[str] | str, fmt: str, base: str | None) -> ds.Dataset:
    """Arrow's dataset of Parquet or Arrow IPC files, with hive partitions under ``base``."""
    kind = "ipc" if fmt == "ipc" else "parquet"
    try:
        return ds.dataset(target, format=kind, partitioning="hive", partition_base_dir=base)
    except pa.ArrowTypeError:  # ("Unable to merge": a partition column of two types)
        if base is None or isinstance(target, str):
            raise
    # A hive partition column that the files hold too (polars writes them so), of another type than Arrow's
    # guess from the directory names (int32 or text): the files' type, as the other formats take it.
    options = ds.FileSystemFactoryOptions(partition_base_dir=base)
    options.partitioning_factory = ds.HivePartitioning.discover()
    file_format = ds.IpcFileFormat() if kind == "ipc" else ds.ParquetFileFormat()
    factory = ds.FileSystemDatasetFactory(pafs.LocalFileSystem(), target, file_format, options)
    first, partitions = factory.inspect_schemas()
    held = [field.with_type(field.type.value_type) if field.name in partitions.names and pa.types.is_dictionary(field.type)
            else field for field in first]  # (a partition value is no dictionary: a categorical one as its values)
    schema = pa.schema([*held, *(field for field in partitions if field.name not in first.names)])
    return ds.dataset(target, format=kind, partitioning="hive", partition_base_dir=base, schema=schema)


# A Parquet or Arrow IPC file may name a column with bytes that are not UTF-8; Arrow gives names as text.
NOT_UTF8_NAME = "a column's name is not UTF-8 text; rename the column"


class Source:
    """The input dataset: its files, resolved columns and a stream of record batches."""

    # Parquet and Arrow IPC files without rows, where other files have rows: left out before the checks
    # (README, Input: No rows)
    files_without_rows = 0
    # No Parquet or Arrow IPC file has rows: none is checked or read, the columns come from the files where they
    # make an input (README, Input: No rows)
    _no_rows = False
    _counts: Mapping[str, int] = MappingProxyType({})  # Arrow IPC files' row counts, by path (_rows)

    def __init__(self, path: str | os.PathLike, options: Options, input_format: str = "auto"):
        self.path = str(path)
        formats.check_choice(input_format)
        forced = None if input_format == "auto" else formats.canonical(input_format)
        target, self.format, looks, base = _expand(self.path, forced)
        self._looks = {look.path: look for look in looks}  # they took the files' fingerprints too
        self._parsed: dict[str, pq.FileMetaData] = {}  # Parquet footers parsed to count rows, by path
        self._counts = {}
        if self.format in formats.READERS:
            self.dataset = None
            files = target if isinstance(target, list) else [target]
            self.fragments, self.schema = formats.open_fragments(files, self.format, options, base)
        else:
            self._open_dataset(target, base, options)
        self.columns = self._resolve_without_rows(options) if self._no_rows else self._resolve(options)
        # The default ids take exp_id, and the key column is read, where the first file has one; another
        # file's would otherwise be left out silently (_check_fragment): its expressions' frames merged
        # into one track, its key frames replaced by the arg-max.
        self._left_out = {}
        if options.id_cols is None and "exp_id" not in self.columns.ids:
            self._left_out["exp_id"] = "name the id columns with --id-cols"
        if options.key == "column" and self.columns.key is None:
            self._left_out[options.key_col] = "take the arg-max with --key auto"
        self.meta = None
        if options.meta:  # README, Dataset metadata
            from .meta import load_metadata

            self.meta = load_metadata(options.meta)
        self._checked: dict = {}  # scan schemas by file schema: see _check_fragment
        # Parquet files' footers and the names of their own columns, by path (_check_fragment)
        self._footers: dict[str, tuple[pq.FileMetaData, list[str]]] = {}
        self._widths: dict[str, set] = {}  # an id or --by column's other numeric widths, by name (_scan_schema)
        # Parquet footers the looks read are checked in this thread: in memory, on several threads they only
        # contend for Python's lock.  Arrow reads any other footer or schema, on threads (their reads overlap).
        if not self._no_rows:
            self._check_fragments(looks)
        if self._widen():  # a column of other widths in other files: checked again with the type that holds all
            self._checked, self._last_checked = {}, None
            self._check_fragments(looks)
        if self.dataset is not None:  # Parquet, Arrow IPC: the fingerprints too before the run
            self.fingerprint  # (a cached property: taken here, once)
            self._looks, self._parsed, self._counts = {}, {}, {}  # parsed and counted by now: not kept twice
            # (a Source goes to Dask)
        self._check_label_kinds()
        self.rows_total = sum(rows for _, rows in self._physical)

    def _check_fragments(self, looks: list[Look]) -> None:
        if self.format == "parquet" and all(look.footer is not None for look in looks):
            self._physical = [self._check_fragment(fragment) for fragment in self.fragments]
        else:
            self._physical = parallel_map(self._check_fragment, self.fragments)

    def _widen(self) -> bool:
        """Give each id or --by column that other files hold in other integer or float widths the type that
        holds them all (Arrow's permissive promotion: int32 and int64 as int64, int8 and uint8 as int16,
        float32 and float64 as float64), whichever file comes first (README, Input); True where one changed.
        uint64 beside signed integers keeps the first file's type, as before: int64 would not hold it."""
        changed = False
        for name, types in self._widths.items():
            i = self.schema.get_field_index(name)
            field = self.schema.field(i)
            wide = pa.unify_schemas([pa.schema([field.with_type(t)]) for t in (field.type, *sorted(types, key=str))],
                                    promote_options="permissive").field(name).type
            if wide != field.type and not (pa.uint64() in (field.type, *types) and wide == pa.int64()):
                self.schema = self.schema.set(i, field.with_type(wide))
                changed = True
        return changed

    def _open_dataset(self, target: list[str] | str, base: str | None, options: Options) -> None:
        """Parquet or Arrow IPC files through Arrow's dataset: fragments, hive partitions, schema (of the
        first file: Arrow's dataset reads no other footer here)."""
        self._open_files(target, base)
        # Each file's rows: Parquet footers the looks read are parsed in this thread (in memory), other
        # footers and Arrow IPC files' counts are read on threads; each is kept for the file's check.
        in_memory = self.format == "parquet" and all(look.footer is not None for look in self._looks.values())
        rows = [self._rows(fragment) for fragment in self.fragments] if in_memory else \
            parallel_map(self._rows, self.fragments)
        kept = [fragment.path for fragment, n in zip(self.fragments, rows) if n != 0]  # (None: its check says why)
        if 0 < len(kept) < len(self.fragments):
            # Files without rows among files that have rows are left out (README, Input: No rows), before the
            # dataset is made again of the others: the first file with rows decides the columns (Arrow's
            # dataset takes the first file's), and the directories of files with rows alone name the partition
            # columns and give their types (a text directory name would turn an integer partition column into
            # text).  Their columns are never checked.
            self.files_without_rows = len(self.fragments) - len(kept)
            self._open_files(kept, base)
        self.schema = self.dataset.schema
        try:
            self.schema.names  # (the first file's: the other files' are checked as their footers are)
        except UnicodeDecodeError:
            raise InputError(f"{self.fragments[0].path}: cannot read: {NOT_UTF8_NAME}") from None
        if not kept:
            self._no_rows = True
            self._type_columns_of_no_data(options)

    def _type_columns_of_no_data(self, options: Options) -> None:
        """No file has rows (a day without data), and files name columns of no type (pandas writes an empty
        data frame's so): such a column takes the type another file gives it (the first that gives one), else
        the type an input without rows has (README, Input: No rows); those the options do not name, in
        either layout, are then left out, as if the files lacked them."""
        if not any(pa.types.is_null(field.type) for field in self.schema):
            return
        schemas = [self._own_schema(fragment) for fragment in self.fragments]
        named = formats.columns_of_no_data(self.format, replace(options, layout=options.layout or "wide"))
        if options.layout is None:
            for field in formats.columns_of_no_data(self.format, replace(options, layout="long")):
                if field.name not in named.names:
                    named = named.append(field)
        given = {}  # a column's type where a file gives it one
        for schema in schemas:
            for field in schema:
                if not pa.types.is_null(field.type):
                    given.setdefault(field.name, field.type)
        fields = []
        for field in self.schema:
            if not pa.types.is_null(field.type):
                fields.append(field)
            elif field.name in given:
                fields.append(field.with_type(given[field.name]))
            elif field.name in named.names:
                fields.append(named.field(field.name))
        self.schema = pa.schema(fields)

    def _resolve_without_rows(self, options: Options) -> Columns:
        """The columns of an input without rows, whose files are neither checked nor read: the dataset's where
        they make an input, else those the options name, in the types README gives them (README, Input: No
        rows); a run on a day without data does not stop on its files' columns."""
        try:
            self.columns = self._resolve(options)
            scan = self._scan_schema(self.fragments[0].path, self.schema, {})
        except InputError:
            self.schema = formats.columns_of_no_data(self.format, options)
            self.columns = self._resolve(options)  # (what still stops the run is in the options themselves)
            scan = self._scan_schema(self.fragments[0].path, self.schema, {})
        self._physical = [(scan, 0)] * len(self.fragments)
        return self.columns

    def _own_schema(self, fragment: ds.Fragment) -> pa.Schema:
        """A Parquet or Arrow IPC file's own columns, from the footer its row count parsed; empty where they
        cannot be read (the file's check says why)."""
        try:
            metadata = self._parsed.get(fragment.path)
            return metadata.schema.to_arrow_schema() if metadata is not None else fragment.physical_schema
        except (pa.ArrowException, OSError, UnicodeDecodeError):
            return pa.schema([])

    def _open_files(self, target: list[str] | str, base: str | None) -> None:
        """Arrow's dataset of ``target`` and its fragments."""
        try:
            self.dataset = _arrow_dataset(target, self.format, base)
            self.fragments = list(self.dataset.get_fragments())
        except UnicodeEncodeError:  # Arrow takes paths as UTF-8 text
            for path in [target] if isinstance(target, str) else target:
                try:
                    path.encode()
                except UnicodeEncodeError:
                    raise InputError(f"{path}: cannot read: its name is not UTF-8, which Arrow's reader needs; "
                                     "rename it") from None
            raise
        except (pa.ArrowException, OSError) as exc:
            paths = [target] if isinstance(target, str) else target
            for path in paths:
                _check_not_stream(path, self.format)
                schema = _file_schema(path, self.format) if "duplicate field names" in str(exc) else None
                if schema is not None:  # Arrow names neither the file nor the column
                    _check_unique_names(path, schema.names)
            # Arrow's dataset reads the first file's schema: where that file cannot be read, it is named
            named = paths[0] if _file_schema(paths[0], self.format) is None else self.path
            raise InputError(f"{named}: cannot read: {_first_line(exc)}") from None
        if not self.fragments:
            raise InputError(f"{self.path}: no data file found")

    def _rows(self, fragment: ds.Fragment) -> int | None:
        """A Parquet or Arrow IPC file's row count, kept for its check (a Parquet file's footer, parsed once,
        and an Arrow IPC file's count); None where it cannot be read (its check says why)."""
        try:
            if self.format != "parquet":
                rows = self._counts[fragment.path] = fragment.count_rows()
                return rows
            metadata = self._parsed[fragment.path] = self._parquet_metadata(fragment)
        except (pa.ArrowException, OSError):
            return None
        return metadata.num_rows

    def _check_label_kinds(self) -> None:
        """Key and frame columns hold the same kind of label (integer or string) in every file,
        checked in file order after the footers are read (in parallel)."""
        for name in (self.columns.key, self.columns.frame):
            if name is None:
                continue
            first_kind = _label_kind(self._physical[0][0].field(name).type)
            for fragment, (schema, _) in zip(self.fragments, self._physical):
                kind = _label_kind(schema.field(name).type)
                if kind != first_kind:
                    raise InputError(f"{fragment.path}: column '{name}' has {kind} labels, but {first_kind} "
                                     f"labels in {self.fragments[0].path}; give every file the same kind")

    def _resolve(self, options: Options) -> Columns:
        names = set(self.schema.names)
        first = self.fragments[0].path
        _check_unique_names(first, self.schema.names)  # (data in memory: a column's type is asked below)
        layout = options.layout
        if layout is None:
            wide_col = options.scores_col or "scores"
            long_col = options.scores_col or "score"
            named = options.scores_col is not None and options.scores_col in names
            if named and options.frame_col in names and _is_scalar_score(self.schema.field(long_col).type):
                layout = "long"  # --scores-col names one number per row beside a frame column (README, Input)
            elif wide_col in names:
                layout = "wide"
            elif long_col in names and options.frame_col in names:
                layout = "long"
            else:
                raise InputError(
                    f"{first}: missing column '{wide_col}' (wide layout) or '{long_col}' and "
                    f"'{options.frame_col}' (long layout); its columns: {_some_names(self.schema.names)}"
                )
        scores = options.scores_col or ("scores" if layout == "wide" else "score")
        if options.id_cols is not None:
            ids = tuple(options.id_cols)
        else:
            ids = ("video_id",) + (("exp_id",) if "exp_id" in names else ())
        key = None
        if options.key == "column":
            explicit = options.key_col != "key_frame"
            if options.key_col in names or explicit:
                key = options.key_col
        frame = options.frame_col if layout == "long" else None
        if layout == "wide" and options.frame_col != "frame":  # given, not the default: it would do nothing
            raise InputError(f"--frame-col {options.frame_col!r}: frame labels belong to the long layout (one row "
                             f"per frame); {first} is read in the wide layout ('{scores}' holds a track's scores)")
        roles = [("--scores-col", scores), ("--key-col", key), ("--frame-col", frame)]
        roles = [(option, name) for option, name in roles if name is not None]
        for i, (option, name) in enumerate(roles):
            for other, other_name in roles[:i]:
                if name == other_name:
                    raise InputError(f"{option} and {other} both name column '{name}'; each column plays one part")
        if not ids:
            raise InputError("--id-cols: give at least one id column (it names each track in stages/ and "
                             "rejected.parquet, and gathers the frames of a track in the long layout)")
        meta = ()
        if options.meta:
            from .meta import META_COLUMNS, check_columns

            meta = META_COLUMNS
            check_columns(Columns(layout, scores, key, ids, (), frame), names, self.path)
        columns = Columns(layout, scores, key, ids, tuple(options.by), frame, meta)
        taken = {*OUTPUT_COLUMNS, *REJECTED_COLUMNS, scores, key, frame}
        if layout == "long":
            from .long import WORK_COLUMNS  # (imported here: engine/long.py imports this module)

            taken |= {*LONG_OUTPUT_COLUMNS, *WORK_COLUMNS}
        elif options.meta:
            taken.add("key_label")
        for c in columns.by:
            if c in taken or c in AGGREGATE_COLUMNS:
                raise InputError(f"--by column '{c}' clashes with a column tf2eng reads or writes")
        for c in columns.ids:
            if c in taken:
                raise InputError(f"id column '{c}' clashes with a column tf2eng reads or writes")
        return columns

    def _check_fragment(self, fragment: ds.Fragment) -> tuple[pa.Schema, int]:
        """Check one file's columns; return its scan schema and row count."""
        path = fragment.path
        try:
            if self.format == "parquet":
                checked = self._footers.get(path)  # in a second pass (Source._widen): parsed in the first
                metadata = checked[0] if checked is not None else self._parquet_metadata(fragment)
                physical = metadata.schema.to_arrow_schema()
                _check_unique_names(path, physical.names)
                rows = metadata.num_rows
                self._footers[path] = (metadata, physical.names)
            else:
                physical = fragment.physical_schema
                _check_unique_names(path, physical.names)  # first: Arrow IPC cannot count such a file's rows
                rows = self._counts.get(path)  # (counted by _rows)
                if rows is None:
                    rows = fragment.count_rows()
        except (pa.ArrowException, OSError) as exc:
            _check_not_stream(path, self.format)
            raise InputError(f"{path}: cannot read: {_first_line(exc)}") from None
        except UnicodeDecodeError:  # Arrow gives a file's column names as text
            raise InputError(f"{path}: cannot read: {NOT_UTF8_NAME}") from None
        partition = fragment.partition_keys if self.format in formats.READERS else \
            ds.get_partition_keys(fragment.partition_expression)
        for name, instead in getattr(self, "_left_out", {}).items():
            if name in physical.names:
                raise InputError(f"{path}: has the column '{name}', which {self.fragments[0].path} lacks (the first "
                                 f"file with rows decides whether it is read); give every file one, or {instead}")
        # Files of one schema (and the same hive partition columns, and name of the scores list's values,
        # which Arrow's schema equality leaves out) pass or fail the checks alike: they run once per schema,
        # not once per file; a failure names its own file.
        memo = getattr(self, "_checked", None)
        key = (tuple(sorted(partition)), _values_name(physical, self.columns.scores))
        last = getattr(self, "_last_checked", None)  # most files have the schema of the file before
        if last is not None and last[0] == key and physical.equals(last[1]):
            return last[2], rows
        known = (physical, *key)
        if memo is not None and known in memo:
            scan = memo[known]
        else:
            scan = self._scan_schema(path, physical, partition)
            if memo is not None:
                memo[known] = scan
        self._last_checked = (key, physical, scan)
        return scan, rows

    def _parquet_metadata(self, fragment: ds.ParquetFileFragment) -> pq.FileMetaData:
        """A Parquet file's footer: parsed from the bytes the look at the file read, where they hold all of
        it, else read by Arrow.  Arrow's dataset opened every file again to read its footer (2,000 files:
        0.2-0.4 s of CPU, against 0.1 s parsed so)."""
        parsed = self._parsed.pop(fragment.path, None)  # parsed already for its row count (_rows)
        if parsed is not None:
            return parsed
        look = self._looks.get(fragment.path)
        if look is not None and look.footer is not None:
            try:
                return _footer_metadata(look.footer)
            except (pa.ArrowException, OSError):  # a damaged footer: Arrow's read of the file names the fault,
                pass  # in the words it has for the first file and a footer over 64 KiB
        return fragment.metadata

    def _scan_schema(self, path: str, physical: pa.Schema, partition: dict) -> pa.Schema:
        """The columns read from one file, with their types, after checking them (README, Input)."""
        cols = self.columns

        def type_of(name: str) -> pa.DataType:
            if name in physical.names:
                return physical.field(name).type
            if name in partition:
                return self.schema.field(name).type
            raise InputError(f"{path}: missing column '{name}'{_named_by(cols, name)}; its columns: "
                             f"{_some_names(physical.names + list(partition))}")

        scan_fields = []
        for name in cols.read:
            t = type_of(name)
            if name == cols.scores:
                ok = _is_score_list(t) if cols.layout == "wide" else t in (pa.float32(), pa.float64())
                want = "list<float32|float64>" if cols.layout == "wide" else "float32 or float64"
                if not ok:
                    raise InputError(f"{path}: column '{name}' has type {t}, expected {want}")
                scan_fields.append(pa.field(name, t))
                continue
            named = bool(cols.meta) and name == cols.key  # with --meta a key may be a frame name
            if name in (cols.key, cols.frame) and not _is_label_type(t, "long" if named else cols.layout):
                want = "integer or string labels" if cols.layout == "long" or named else \
                    "an integer type (or frame names, with --meta)"
                raise InputError(f"{path}: column '{name}' has type {t}, expected {want}")
            if name in cols.ids and not _is_id_type(t) and not (pa.types.is_dictionary(t) and _is_id_type(t.value_type)):
                raise InputError(f"{path}: column '{name}' has type {t}, expected string or integer ids")
            if name not in cols.ids and not _is_plain(t):
                raise InputError(f"{path}: column '{name}' has type {t}; --by needs plain values "
                                 "(numbers, text, bytes, booleans, dates, times)")
            if name in (cols.key, cols.frame):
                # Read as the file has it (a dictionary as its values): a key frame or frame
                # number that fits no common type is a bad row (engine/ragged.py), not an
                # unreadable file.
                scan_fields.append(pa.field(name, t.value_type if pa.types.is_dictionary(t) else t))
                continue
            want = self.schema.field(name).type
            if not _same_kind(t, want):
                raise InputError(f"{path}: column '{name}' has type {t}, but {want} in other files")
            if t != want and any(kind(t) and kind(want) for kind in (pa.types.is_integer, pa.types.is_floating)):
                self._widths.setdefault(name, set()).add(t)  # (Source._widen)
            scan_fields.append(pa.field(name, want if pa.types.is_dictionary(want) is False else want.value_type))
        return pa.schema(scan_fields)

    def row_groups(self, index: int) -> list[int]:
        """Rows in each row group of fragment ``index`` (one entry for a file without row groups)."""
        metadata, _ = self._footers.get(self.fragments[index].path, (None, None))
        if metadata is None:
            return [self.rows_in(index)]
        return [metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)]

    def batches(self, index: int, row_groups: tuple[int, ...] | None = None,
                batch_rows: int = BATCH_ROWS) -> Iterator[pa.RecordBatch]:
        """Record batches of fragment ``index`` (only ``row_groups`` of it, if given),
        with the columns in ``columns.read``."""
        if self._no_rows:
            return
        fragment = self.fragments[index]
        schema, _ = self._physical[index]
        try:
            if self.format in formats.READERS:
                yield from fragment.batches(schema, batch_rows)
                return
            if self.format == "parquet":
                # Arrow's decoding threads pay off on large reads only; on a small file they cost more
                # than they save (2,000 files of two rows: 0.80 s with them, 0.33 s without).
                yield from _parquet_batches(fragment, *self._footers[fragment.path], schema, row_groups, batch_rows,
                                            use_threads=self.rows_in(index) > batch_rows)
                return
            if self.format == "ipc":
                partition = ds.get_partition_keys(fragment.partition_expression)
                if any(name in fragment.physical_schema.names for name in partition):
                    yield from _ipc_batches(fragment, partition, schema, batch_rows)
                    return
            if row_groups is not None:
                fragment = fragment.subset(row_group_ids=list(row_groups))
            for batch in fragment.to_batches(schema=schema, columns=schema.names, batch_size=batch_rows,
                                             batch_readahead=READAHEAD_BATCHES, fragment_readahead=1,
                                             memory_pool=READ_POOL):
                yield batch
        except (pa.ArrowException, OSError) as exc:
            raise InputError(f"{fragment.path}: cannot read: {_first_line(exc)}") from None

    def streams(self, index: int) -> bool:
        """False for a file that is read whole (nested JSON): it is never read ahead beside another."""
        return getattr(self.fragments[index], "streams", True)

    def scan_schema(self, index: int) -> pa.Schema:
        return self._physical[index][0]

    def rows_in(self, index: int) -> int:
        return self._physical[index][1]

    @property
    def output_schema(self) -> pa.Schema:
        """Types of the carried (id and --by) columns, as every batch delivers them to the outputs
        (string_view as large_string: Arrow's take has no kernel for it; engine/batch.py casts)."""
        schema, _ = self._physical[0]
        meta = self.columns.meta  # added by the join as strings

        def output_field(c: str) -> pa.Field:
            if c in meta:
                return pa.field(c, pa.string())
            field = schema.field(c)
            return field.with_type(pa.large_string()) if pa.types.is_string_view(field.type) else field

        return pa.schema([output_field(c) for c in self.columns.carried])

    @functools.cached_property
    def fingerprint(self) -> dict:
        """Path, size, mtime and a hash of each file's tail (of a Parquet file: its footer),
        taken once: unit keys and summary.json describe the same files."""
        digest = hashlib.sha256()
        paths = [fragment.path for fragment in self.fragments]
        looks = [self._looks.get(path) for path in paths]
        if None in looks:  # a file no look saw (Arrow names each file as listed, so none is expected)
            files = parallel_map(_file_fingerprint, paths)
        else:
            files = [look.fingerprint for look in looks]
        for entry in files:
            digest.update(fingerprint_line(entry))
        return {"sha256": digest.hexdigest(), "files": files}


def fingerprint_line(entry: dict) -> bytes:
    """One file's fingerprint entry as the bytes that digests of it (the input's, a unit's key) take."""
    return f"{entry['path']}\0{entry['size']}\0{entry['mtime_ns']}\0{entry['tail_sha256']}\n".encode()


TAIL_BYTES = 65_536  # the most of a file's end that its fingerprint hashes
FOOTER_GUESS = 16_384  # read first from a Parquet file's end: its footer mostly fits


def _file_fingerprint(path: str) -> dict:
    """Path, size, mtime and the SHA-256 of one file's tail (README, Scheduled runs)."""
    return _look(path).fingerprint


@dataclass(frozen=True)
class Look:
    """What one look at a file's two ends tells: its format and its fingerprint."""

    path: str  # as listed
    head: bytes  # the first six bytes: they tell the format
    fingerprint: dict  # path, size, mtime and the SHA-256 of the tail
    footer: bytes | None = None  # a Parquet file's whole footer, where the look read all of it


def _look(path: str) -> Look:
    """One file's first bytes and fingerprint: path, size, mtime and the SHA-256 of its tail, which is a
    Parquet file's footer (its metadata, their length and the magic; at most the last TAIL_BYTES) and any
    other file's last TAIL_BYTES.  One open: thousands of files are looked at."""
    if not path.isascii():
        try:
            path.encode()
        except UnicodeEncodeError:  # its fingerprint, the unit keys and the outputs name it as text
            raise InputError(f"{path}: cannot read: its name is not UTF-8 text, which tf2eng needs (Arrow's readers, "
                             "the outputs name files as text); rename it") from None
    try:
        fd = os.open(path, os.O_RDONLY)  # no Python file object: it costs more than the reads
        try:
            st = os.fstat(fd)
            head = os.pread(fd, 6, 0)
            parquet = head[:4] == b"PAR1"
            want = FOOTER_GUESS if parquet else TAIL_BYTES
            tail = os.pread(fd, want, max(0, st.st_size - want))
            footer = _footer_length(tail) if parquet else None
            if parquet and len(tail) < st.st_size and (footer is None or footer > len(tail)):  # not in the guess
                tail = os.pread(fd, TAIL_BYTES, max(0, st.st_size - TAIL_BYTES))
                footer = _footer_length(tail)
        finally:
            os.close(fd)
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror}") from None
    if footer is not None:
        tail = tail[-footer:]
    entry = {"path": _path_string(path), "size": st.st_size, "mtime_ns": st.st_mtime_ns,
             "tail_sha256": hashlib.sha256(tail).hexdigest()}
    whole = parquet and footer is not None and footer == len(tail) and footer + 4 <= st.st_size
    return Look(path, head, entry, tail if whole else None)


def _path_string(path: str) -> str:
    """``str(Path(path))``, as fingerprints name files, without building a Path where the path has that
    form already (no empty or "." part, no trailing "/"): thousands of files are looked at."""
    if path and path != "." and "//" not in path and "/./" not in path and not path.startswith("./") \
            and not path.endswith(("/", "/.")):
        return path
    return str(Path(path))


def _footer_length(tail: bytes) -> int | None:
    """The length of a Parquet footer (metadata, their length and the magic "PAR1") from the bytes at the
    end of the file; None where they do not end like a footer (a damaged file, whose reader will say what is
    wrong, or a text file that starts with "PAR1": of either the fingerprint hashes the last TAIL_BYTES)."""
    if len(tail) < 8 or tail[-4:] != b"PAR1":
        return None
    return int.from_bytes(tail[-8:-4], "little") + 8


def _footer_metadata(footer: bytes) -> pq.FileMetaData:
    """The metadata of a Parquet footer in memory (its metadata, their length and "PAR1"), parsed by Arrow's
    Parquet reader itself: pq.read_metadata builds a ParquetFile around that reader, whose set-up doubles the
    cost per file (2,000 footers: 54 against 28 microseconds each)."""
    reader = pq.ParquetReader()
    reader.open(pa.BufferReader(footer))
    return reader.metadata


def _parquet_batches(fragment: ds.ParquetFileFragment, metadata: pq.FileMetaData, own: list[str],
                     schema: pa.Schema, row_groups: tuple[int, ...] | None, batch_rows: int,
                     use_threads: bool = True) -> Iterator[pa.RecordBatch]:
    """A Parquet file's batches in ``schema``, decoded a batch at a time; ``metadata``: its footer, ``own``:
    the names of its own columns.

    Arrow's dataset scanner decodes whole row groups ahead and held about
    0.5 GiB for a 100,000-row-group file; the file's own batch reader
    streams, at the same speed here (a reader thread already decodes
    ahead, engine/pipeline.py).  Hive partition values become constant
    columns, and columns are cast to the dataset's unified types.
    """
    partition = ds.get_partition_keys(fragment.partition_expression)
    in_file = [name for name in schema.names if name in own]
    # Arrow's Parquet reader without the ParquetFile around it, whose set-up (a map of every column path)
    # costs more than a small file's read: the columns are chosen by the names their paths start with.
    file = fragment.filesystem.open_input_file(fragment.path)
    try:
        reader = pq.ParquetReader()
        reader.open(file, metadata=metadata, pre_buffer=False, buffer_size=READ_BUFFER_BYTES,
                    arrow_extensions_enabled=True)
        leaves = [i for i, column_path in enumerate(reader.column_paths) if column_path[0] in in_file]
        groups = list(row_groups) if row_groups is not None else list(range(metadata.num_row_groups))
        for batch in reader.iter_batches(batch_rows, groups, column_indices=leaves, use_threads=use_threads):
            yield formats._conform(batch, schema, fragment.path, partition)
    finally:
        file.close()


def _ipc_batches(fragment: ds.FileFragment, partition: dict, schema: pa.Schema,
                 batch_rows: int) -> Iterator[pa.RecordBatch]:
    """An Arrow IPC file's batches in ``schema`` where it holds a hive partition column (of ``partition``)
    too: the file's own values, as every other format reads them (Arrow's scan of the fragment gives the
    directory's)."""
    own = fragment.physical_schema.names
    in_file = [name for name in schema.names if name in own]
    plain = fragment.format.make_fragment(fragment.path, fragment.filesystem)  # no partition expression
    for batch in plain.to_batches(columns=in_file, batch_size=batch_rows, batch_readahead=READAHEAD_BATCHES,
                                  fragment_readahead=1, memory_pool=READ_POOL):
        yield formats._conform(batch, schema, fragment.path, partition)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


def _named_by(columns: Columns, name: str) -> str:
    """Which option asked for column ``name`` (for a missing column's message)."""
    for option, names in (("--by", columns.by), ("--id-cols", columns.ids), ("--scores-col", (columns.scores,)),
                          ("--key-col", (columns.key,)), ("--frame-col", (columns.frame,))):
        if name in names:
            return f" (named by {option})"
    return ""


def _some_names(names: list[str], most: int = 12) -> str:
    shown = ", ".join(names[:most])
    return shown + (f", … ({len(names)} in all)" if len(names) > most else "")
