"""Dataset metadata (README, Dataset metadata): Ref-YouTube-VOS and MeViS annotation files joined onto
the tracks.

Two kinds of file, told apart by their content, not their name:

- *expressions* (``meta_expressions.json`` of Ref-YouTube-VOS and MeViS):
  ``{"videos": {video: {"expressions": {exp_id: {"exp": text, "obj_id": ...}}, "frames": [names]}}}``;
  ``obj_id`` is a string (Ref-YouTube-VOS), a list of integers (MeViS) or
  absent (validation and test splits);
- *objects* (Ref-YouTube-VOS ``meta.json``):
  ``{"videos": {video: {"objects": {obj_id: {"category": name, "frames": [...]}}}}}``.

Every file is read whole and checked once, on the client; what the join
needs is kept as a few Arrow and numpy arrays (picklable, so a Dask task
gets them with the rest of the run's context).  A track is matched by its first
id column (the video) and its second (the expression), each as text:
strings as they are, integers in decimal.  The join adds ``exp``,
``obj_id`` and ``category`` (strings, null for a track the files do not
name); in the wide layout a key frame given as text is the position of
that frame name in the video's sorted ``frames`` list.
"""

from __future__ import annotations

import hashlib
import json
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .errors import InputError
from .formats import _members, _Twice

if TYPE_CHECKING:
    from .source import Columns, Source

META_COLUMNS = ("exp", "obj_id", "category")  # the columns the join adds, in this order
EXPRESSIONS, OBJECTS = "expressions", "objects"
_SHAPES = (
    'expected Ref-YouTube-VOS or MeViS metadata: {"videos": {VIDEO: {"expressions": {...}, "frames": [...]}}} '
    '(meta_expressions.json) or {"videos": {VIDEO: {"objects": {...}}}} (meta.json)'
)


@dataclass(frozen=True)
class MetaFile:
    path: str
    kind: str  # EXPRESSIONS or OBJECTS ("empty" for a file of no videos)
    sha256: str
    videos: int


@dataclass
class Joined:
    """A batch with the metadata columns added (and, for key frames given as frame names, the key
    column as 0-based positions), how many of its tracks the metadata names, and the names as read."""

    batch: pa.RecordBatch
    matched: int
    key_names: pa.Array | None  # the key column as read (text), where it held frame names

    def outputs(self, stages: pa.Table, rejected: pa.Table, reason_codes: np.ndarray, key: str,
                label_column: str) -> tuple[pa.Table, pa.Table]:
        """The batch's stage rows with the key frame's name added (``label_column``), and its rejected
        rows with the key as read, as the long layout keeps its labels."""
        from ..kernels.reasons import OK

        ok = pa.array(reason_codes == OK)
        stages = stages.append_column(label_column, self.key_names.filter(ok))
        index = rejected.schema.get_field_index(key)
        rejected = rejected.set_column(index, key, self.key_names.filter(pc.invert(ok)))
        return stages, rejected


class Metadata:
    """The metadata of every ``--meta`` file, merged, as lookup tables for :meth:`join`.

    A track is looked up in two steps, with no hash table of (video, name) pairs built per batch:
    its video and its expression id (or key frame name) each become an index into a sorted list of
    the names the files hold (Arrow's ``index_in`` over a few thousand names), and the pair of
    indices one integer code, found by binary search among the codes of the pairs the files list.
    """

    def __init__(self, files: list[MetaFile], expressions: dict, frames: dict, objects: dict):
        self.files = files
        # What the results depend on: the files' contents, whatever their paths or order.
        self.sha256 = hashlib.sha256("\n".join(sorted(f.sha256 for f in files)).encode()).hexdigest()
        videos = sorted({v for v, _ in expressions} | set(frames))
        self._videos = pa.array(videos, pa.string())
        self._exp_ids, self._exp_codes, order = _codes(videos, list(expressions))
        rows = [expressions[pair] for pair in order]
        self._columns = {  # the added columns, one row per code in self._exp_codes
            "exp": pa.array([text for text, _, _ in rows], pa.string()),
            "obj_id": pa.array([",".join(objs) if objs else None for _, objs, _ in rows], pa.string()),
            "category": pa.array([_categories(video, objs, objects) for (video, _), (_, objs, _) in zip(order, rows)],
                                 pa.string()),
        }
        pairs = [(video, name) for video, (names, _) in frames.items() for name in names]
        self._frame_names, self._frame_codes, order = _codes(videos, pairs)
        self._positions = _positions(order, frames)  # of each code in self._frame_codes

    def join(self, batch: pa.RecordBatch, columns: Columns) -> Joined:
        """Add ``exp``, ``obj_id`` and ``category`` to ``batch`` (null where no file names the track),
        and turn a key column of frame names into positions in the video's frames (-1 for a name the
        metadata does not list for that video: key_frame_out_of_range)."""
        video = _index(batch.column(columns.ids[0]), self._videos)
        row = _find(self._exp_codes, video, _index(batch.column(columns.ids[1]), self._exp_ids), len(self._exp_ids))
        taken = pa.array(row, mask=row < 0)
        arrays, names = list(batch.columns), list(batch.schema.names)
        for name in META_COLUMNS:
            arrays.append(self._columns[name].take(taken))
            names.append(name)
        key_names = None
        if columns.key is not None and not pa.types.is_integer(batch.schema.field(columns.key).type):
            i = names.index(columns.key)
            key_names = _text(arrays[i])
            at = _find(self._frame_codes, video, _index(key_names, self._frame_names), len(self._frame_names))
            position = np.where(at >= 0, self._positions[np.maximum(at, 0)] if len(self._positions) else -1, -1)
            arrays[i] = pa.array(position, pa.int64(), mask=key_names.is_null().to_numpy(zero_copy_only=False))
        matched = int(np.count_nonzero(row >= 0))
        return Joined(pa.RecordBatch.from_arrays(arrays, names=names), matched, key_names)

    def summary(self, tracks: int, matched: int) -> dict:
        """summary.json's "meta": the files and how many tracks they named."""
        return {
            "files": [{"path": f.path, "kind": f.kind, "videos": f.videos, "sha256": f.sha256} for f in self.files],
            "columns": list(META_COLUMNS),
            "tracks_matched": matched,
            "tracks_unmatched": tracks - matched,
        }


def named_keys(source: Source) -> bool:
    """Whether the key frames of ``source`` are frame names (wide layout, --meta, a text key column)."""
    cols = source.columns
    if source.meta is None or cols.layout != "wide" or cols.key is None:
        return False
    return not pa.types.is_integer(source.scan_schema(0).field(cols.key).type)


def check_columns(columns: Columns, input_columns: Iterable[str], path: str) -> None:
    """--meta needs a video and an expression id column, and adds columns the input must not have."""
    if len(columns.ids) < 2:
        raise InputError(f"--meta joins tracks by video and expression: give two id columns (--id-cols, "
                         f"default video_id,exp_id); {path} has {', '.join(columns.ids)}")
    for name in META_COLUMNS:
        if name in input_columns:
            raise InputError(f"{path}: column '{name}' is in the input and would also come from --meta; "
                             f"rename it in the input, or leave out --meta")


# --- reading ------------------------------------------------------------------------------


def load_metadata(paths: Iterable[str]) -> Metadata:
    """Read and check every file, merge them, and build the lookup tables."""
    expressions: dict[tuple[str, str], tuple] = {}  # (video, exp_id) -> (text, obj ids | None, path)
    frames: dict[str, tuple] = {}  # video -> (sorted names, path)
    objects: dict[tuple[str, str], tuple] = {}  # (video, obj_id) -> (category | None, path)
    files = []
    for path in dict.fromkeys(str(p) for p in paths):
        document, sha256 = _read_json(path)
        kind, videos = _kind(path, document)
        files.append(MetaFile(path, kind, sha256, len(videos)))
        for video, entry in videos.items():
            if kind == EXPRESSIONS:
                _read_expressions(path, video, entry, expressions, frames)
            elif kind == OBJECTS:
                _read_objects(path, video, entry, objects)
    try:
        return Metadata(files, expressions, frames, objects)
    except UnicodeEncodeError:
        raise InputError(f"--meta {', '.join(f.path for f in files)}: a name holds text that is not valid "
                         f"Unicode (an unpaired surrogate escape)") from None


def _read_json(path: str) -> tuple[object, str]:
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        document = json.loads(data, object_pairs_hook=_members)
    except _Twice as twice:  # (Python's json would keep the last of them, silently)
        raise InputError(f"{path}: an object names {_quote(twice.key)} twice: which entry is meant?") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})") from None
    except (UnicodeDecodeError, ValueError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(f"{path}: not valid JSON: {reason}") from None
    except RecursionError:
        raise InputError(f"{path}: not valid JSON: nested too deeply") from None
    return document, hashlib.sha256(data).hexdigest()


def _kind(path: str, document: object) -> tuple[str, dict]:
    """EXPRESSIONS or OBJECTS, from what the videos hold (all alike); "empty" for no videos."""
    videos = document.get("videos") if isinstance(document, dict) else None
    if not isinstance(videos, dict):
        raise InputError(f"{path}: {_SHAPES}")
    kind = "empty"
    for video, entry in videos.items():
        here = [k for k in (EXPRESSIONS, OBJECTS) if isinstance(entry, dict) and isinstance(entry.get(k), dict)]
        if len(here) != 1:
            raise InputError(f"{path}: video {_quote(video)} has neither an \"expressions\" nor an \"objects\" "
                             f"mapping; {_SHAPES}" if not here else
                             f"{path}: video {_quote(video)} has both \"expressions\" and \"objects\"; {_SHAPES}")
        if kind == "empty":
            kind = here[0]
        elif here[0] != kind:
            raise InputError(f"{path}: video {_quote(video)} has \"{here[0]}\" where the file's other videos "
                             f"have \"{kind}\"; give meta_expressions.json and meta.json as separate files")
    return kind, videos


def _read_expressions(path: str, video: str, entry: dict, expressions: dict, frames: dict) -> None:
    names = entry.get("frames")
    if names is not None:
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise InputError(f"{path}: video {_quote(video)}: \"frames\" must be a list of frame names (strings)")
        ordered = tuple(sorted(names))
        for a, b in zip(ordered, ordered[1:]):
            if a == b:
                raise InputError(f"{path}: video {_quote(video)} lists frame {_quote(a)} twice")
        _merge(frames, video, (ordered, path), f"video {_quote(video)}: its \"frames\"")
    for exp_id, item in entry[EXPRESSIONS].items():
        where = f"video {_quote(video)} expression {_quote(exp_id)}"
        if not isinstance(item, dict) or not isinstance(item.get("exp"), str):
            raise InputError(f"{path}: {where}: expected {{\"exp\": TEXT, \"obj_id\": ...}} with \"exp\" a string")
        objs = _object_ids(path, where, item.get("obj_id"))
        _merge(expressions, (video, exp_id), (item["exp"], objs, path), where)


def _object_ids(path: str, where: str, value) -> tuple[str, ...] | None:
    """An expression's object ids as strings, in ascending order (numbers by value); None if absent."""
    def one(v) -> str:
        if isinstance(v, str):
            return v
        if isinstance(v, int) and not isinstance(v, bool):
            return str(v)
        raise InputError(f"{path}: {where}: \"obj_id\" must be a string, an integer or a list of them, "
                         f"got {json.dumps(value)[:60]}")

    def order(s: str) -> tuple:  # numbers by value, compared as digits: int() refuses thousands of them
        if not s.isdecimal():
            return (1, 0, "", s)
        digits = (s if s.isascii() else "".join(str(unicodedata.decimal(c)) for c in s)).lstrip("0")
        return (0, len(digits), digits, s)

    if value is None:
        return None
    ids = [one(v) for v in value] if isinstance(value, list) else [one(value)]
    return tuple(sorted(dict.fromkeys(ids), key=order))


def _read_objects(path: str, video: str, entry: dict, objects: dict) -> None:
    for obj_id, item in entry[OBJECTS].items():
        where = f"video {_quote(video)} object {_quote(obj_id)}"
        category = item.get("category") if isinstance(item, dict) else None
        if not isinstance(item, dict) or not (category is None or isinstance(category, str)):
            raise InputError(f"{path}: {where}: expected {{\"category\": TEXT, ...}}")
        _merge(objects, (video, obj_id), (category, path), where)


def _merge(into: dict, key, value: tuple, where: str) -> None:
    """Add ``value`` (whose last item is its file); the same entry in two files must agree."""
    old = into.get(key)
    if old is not None and old[:-1] != value[:-1]:
        raise InputError(f"{value[-1]}: {where} differs from its entry in {old[-1]}")
    into[key] = value


def _quote(name: str) -> str:
    return json.dumps(name if len(name) <= 80 else name[:77] + "...")


# --- lookup tables ------------------------------------------------------------------------


def _codes(videos: list[str], pairs: list[tuple[str, str]]) -> tuple[pa.Array, np.ndarray, list]:
    """(the sorted distinct second names, each pair's code video_index * len(names) + name_index in
    ascending order, the pairs in that order)."""
    seconds = sorted({second for _, second in pairs})
    video_at = {v: i for i, v in enumerate(videos)}
    second_at = {n: i for i, n in enumerate(seconds)}
    codes = np.array([video_at[v] * len(seconds) + second_at[n] for v, n in pairs], np.int64)
    order = np.argsort(codes, kind="stable")
    return pa.array(seconds, pa.string()), codes[order], [pairs[i] for i in order]


def _positions(order: list[tuple[str, str]], frames: dict) -> np.ndarray:
    """Each (video, frame name)'s 0-based position in the video's sorted frames list."""
    at = {}
    for video, (names, _) in frames.items():
        for i, name in enumerate(names):
            at[(video, name)] = i
    return np.array([at[pair] for pair in order], np.int64)


def _categories(video: str, objs: tuple[str, ...] | None, objects: dict) -> str | None:
    """The categories meta.json gives the expression's objects: distinct, sorted, joined by ","."""
    found = sorted({objects[(video, o)][0] for o in objs or () if objects.get((video, o), (None,))[0] is not None})
    return ",".join(found) if found else None


def _text(ids: pa.Array) -> pa.Array:
    """Ids (or frame names) as strings: integers in decimal, dictionaries decoded."""
    if pa.types.is_dictionary(ids.type):
        ids = ids.dictionary_decode()
    return pc.cast(ids, pa.string())


def _index(values: pa.Array, names: pa.Array) -> np.ndarray:
    """Each value's index in ``names`` (as text), -1 where it is not there or null."""
    return pc.fill_null(pc.index_in(_text(values), value_set=names), -1).to_numpy().astype(np.int64)


def _find(codes: np.ndarray, first: np.ndarray, second: np.ndarray, width: int) -> np.ndarray:
    """The index in ``codes`` of each pair (first, second) of indices, -1 where the pair is not there."""
    if len(codes) == 0:
        return np.full(len(first), -1, np.int64)
    wanted = first * width + second
    at = np.minimum(np.searchsorted(codes, wanted), len(codes) - 1)
    return np.where((first >= 0) & (second >= 0) & (codes[at] == wanted), at, -1)
