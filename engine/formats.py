"""Input files that are not Parquet or Arrow IPC: JSON Lines, CSV / TSV, nested JSON and NumPy
(README, Input formats).

Each file is one :class:`TextFragment`: what engine/source.py needs of a file
(its path, its columns and types, its rows) and a reader that yields record
batches with the columns and types the scan asks for, so that everything
after the read (schema checks, units, fingerprints, validation, the long
layout) is the same as for Parquet.

- JSON Lines (``.jsonl``, ``.ndjson``) and CSV / TSV (``.csv``, ``.tsv``)
  are streamed through Arrow's own parsers, a block at a time; their column
  types are inferred from the file's first block, then fixed for the rest of
  the file.  A row that does not parse in them (a value of another type, a
  CSV row of another number of fields) is handed on with BAD_ROW set, for
  rejected.parquet (README, Bad input).  Compressed files (``.gz``, ``.bz2``, ``.zst``, ``.lz4``)
  are decompressed on the fly.
- Nested JSON (``.json``) cannot be streamed: a file is parsed whole, with
  Python's ``json``, and its tracks are then handed on in batches.
- NumPy (``.npy``) arrays are memory-mapped and handed on in slices;
  ``.npz`` archives are read an array at a time.

Row counts of text formats are estimates (they have no footer): the
newlines (JSON Lines, CSV) or opening brackets (nested JSON) of the file's
first MiB, scaled to the file's size.  They only decide how files are
packed into units and what the progress bar expects; every count in the
outputs is of the rows actually read.

The Arrow JSON and CSV readers are imported where a file is opened, not at
import: other inputs never load them.
"""

from __future__ import annotations

import codecs
import json
import math
import os
import re
from collections import Counter
from collections.abc import Iterator

import numpy as np
import pyarrow as pa

from .errors import InputError
from .lazy import LazyModule
from .options import FORMATS as CHOICES

# The reason codes (kernels/reasons.py), loaded at their first use: importing the kernels package loads
# numba (~0.15 s), which reading text needs not.
reasons = LazyModule("tf2eng.kernels.reasons")

# The formats this module reads; "parquet" and "ipc" are read by engine/source.py.
READERS = ("jsonl", "csv", "tsv", "json", "npy")
# Formats whose rows can be read in part (a value of the wrong type, a CSV row of too many fields):
# their batches may carry BAD_ROW.
TEXT_FORMATS = ("jsonl", "csv", "tsv", "json")
NAMES = {"parquet": "Parquet", "ipc": "Arrow IPC", "jsonl": "JSON Lines", "csv": "CSV", "tsv": "TSV",
         "json": "JSON", "npy": "NumPy"}
SUFFIXES = {
    "parquet": (".parquet", ".pq", ".parq"),
    "ipc": (".arrow", ".feather", ".ipc", ".arrows"),
    "jsonl": (".jsonl", ".ndjson"),
    "csv": (".csv",),
    "tsv": (".tsv", ".tab"),
    "json": (".json",),
    "npy": (".npy", ".npz"),
}
# Compressions Arrow's input streams detect by name; text formats may carry one of them.
COMPRESSED = (".gz", ".bz2", ".zst", ".lz4")
# Bytes of a text file parsed at once.  The first block decides the column types; a JSON line longer
# than a block makes a block of its own.
BLOCK_BYTES = 8 << 20
# Bytes (decompressed) sampled at the start of a text file to estimate its rows.
SAMPLE_BYTES = 1 << 20
# A NumPy batch holds at most this many scores (fewer tracks when tracks are long).
VALUES_PER_BATCH = 1 << 23
_PLAIN_INTEGER = re.compile(r"^-?(0|[1-9][0-9]*)$")
# An integer as written, with a plus sign or beyond int64 too: Arrow's CSV inference reads those as float64
_SPELLED_INTEGER = re.compile(r"^[+-]?[0-9]+$")


def format_by_name(path: str) -> str | None:
    """The format a file's name says ("parquet", "ipc", "jsonl", ...), or None."""
    name = os.path.basename(path).lower()
    for fmt, suffixes in SUFFIXES.items():
        if name.endswith(suffixes):
            return fmt
    stem, dot, ext = name.rpartition(".")
    if dot and "." + ext in COMPRESSED:
        found = format_by_name(stem)
        return found if found in ("jsonl", "csv", "tsv", "json") else None
    return None


def canonical(fmt: str) -> str:
    """--format's spelling to the engine's: "arrow" is "ipc"."""
    return "ipc" if fmt == "arrow" else fmt


def check_choice(fmt: str) -> None:
    if fmt not in CHOICES:
        raise InputError(f"--format must be one of {', '.join(CHOICES)}, got {fmt!r}")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


# --- the columns a file's reader must know ------------------------------------------------------


class Roles:
    """Which input columns play which part, as far as the options tell before the schema is known:
    the score column's name per layout, and the names of key and frame columns."""

    def __init__(self, options):
        self.layout = options.layout
        self.scores = {options.scores_col} if options.scores_col else {"scores", "score"}
        self.labels = {options.key_col, options.frame_col}
        self.ids = set(options.id_cols) if options.id_cols is not None else {"video_id", "exp_id"}
        # Columns read where the input has them, left out where not (README, Input): a JSON Lines file
        # decides whether it has them in its first block.
        self.optional = ({options.key_col} if options.key == "column" else set()) | \
            ({"exp_id"} if options.id_cols is None else set())


def _numeric_or_null(t: pa.DataType) -> bool:
    return pa.types.is_null(t) or pa.types.is_integer(t) or pa.types.is_floating(t)


def _score_type(t: pa.DataType) -> pa.DataType | None:
    """A score column's type as read from a text file: numbers (JSON writes 1 for 1.0) as float64,
    lists of numbers as list<float64>; None where the column is of another type."""
    if _numeric_or_null(t):
        return pa.float64()
    if (pa.types.is_list(t) or pa.types.is_large_list(t)) and _numeric_or_null(t.value_type):
        return pa.list_(pa.float64())
    return None


# --- one file ------------------------------------------------------------------------------------


class TextFragment:
    """One input file read by this module: ``path``, ``physical_schema`` (None for a file without
    data until :func:`open_fragments` gives it the dataset's), ``count_rows()`` (exact or estimated,
    see the module docstring) and ``batches(schema, batch_rows)``."""

    def __init__(self, path: str, fmt: str, roles: Roles):
        self.path = path
        self.partition_keys: dict = {}  # hive partition values, by column (open_fragments)
        self.format = fmt
        self.roles = roles
        self.physical_schema: pa.Schema | None = None
        self.untyped: set[str] = set()  # columns without a value in the first block
        self.mixed: set[str] = set()  # JSON Lines columns of values of no one type in the first block (null)
        self.rows = 0
        try:
            if fmt in ("jsonl", "csv", "tsv"):
                self._inspect_text()
            elif fmt == "json":
                self._inspect_json()
            else:
                self._inspect_numpy()
        except InputError:
            raise
        except (pa.ArrowException, OSError, ValueError, EOFError) as exc:
            raise InputError(f"{path}: cannot read as {NAMES[fmt]}: {self._explain(exc)}") from None

    def count_rows(self) -> int:
        return self.rows

    @property
    def streams(self) -> bool:
        """False where a file is read whole (nested JSON): never read ahead beside another."""
        return self.format != "json"

    def batches(self, schema: pa.Schema, batch_rows: int) -> Iterator[pa.RecordBatch]:
        """The file's rows in record batches of ``schema`` (a subset of its columns, possibly cast)."""
        if self._empty:
            return
        try:
            if self.format == "jsonl":
                batches = self._jsonl_batches(schema)
            elif self.format in ("csv", "tsv"):
                batches = self._csv_batches(schema)
            elif self.format == "json":
                batches = _table_batches(self._json_table(), batch_rows)
            else:
                batches = self._numpy_batches(batch_rows)
            for batch in batches:
                batch, bad = split_bad_rows(batch)
                batch = _conform(batch, schema, self.path, self.partition_keys)
                yield batch if bad is None else _with_bad_rows(batch, bad)
        except InputError:
            raise
        except (pa.ArrowException, OSError, ValueError, EOFError) as exc:
            raise InputError(f"{self.path}: cannot read as {NAMES[self.format]}: {self._explain(exc)}") from None

    def _explain(self, exc: BaseException) -> str:
        """Arrow's message, with a CSV column number replaced by the column's name."""
        text = _first_line(exc)
        if getattr(self, "_row_not_utf8", False) and "CSV parse error" in text:
            text += " (a row of another number of fields than the header, whose text is not UTF-8)"
        names = getattr(self, "_csv_names", None)
        if names:
            found = re.search(r"column #(\d+)", text)
            if found and int(found.group(1)) < len(names):
                text = text.replace(found.group(0), f"column '{names[int(found.group(1))]}'")
        return text

    # --- JSON Lines and CSV: Arrow's streaming readers -----------------------------------------

    _empty = False

    def _sampled(self) -> tuple[bytes, bool]:
        """The file's first SAMPLE_BYTES (decompressed) and whether that is all of it (_sample), once its
        first bytes are known not to be a compressed stream under a name without its suffix."""
        sample, whole = _sample(self.path)
        _check_not_compressed(self.path, self.format, sample)
        return sample, whole

    def _inspect_text(self) -> None:
        sample, whole = self._sampled()
        if not sample.removeprefix(_BOM).strip():  # no data: it takes the dataset's columns and yields nothing
            self._empty = True
            return
        # (a line ends in "\n", "\r\n" or, in CSV, a lone "\r", as Arrow's CSV parser reads them)
        ends = sample.count(b"\n") + (self.format != "jsonl" and sample.count(b"\r") - sample.count(b"\r\n"))
        lines = ends + (not sample.endswith(b"\n" if self.format == "jsonl" else (b"\n", b"\r")))
        if self.format == "jsonl":
            lines = sum(1 for line in sample.splitlines() if line.strip()) if whole else lines
            first = next(_line_chunks(self.path))
            self._check_lines(first, 0)
            schema = self._infer_jsonl(first)
            for field in schema:  # a key or frame column of floats where some are integers, an id column of
                # floats where most are integers of int64: integers, the others bad values
                if (field.name in self.roles.labels or field.name in self.roles.ids) and pa.types.is_floating(field.type):
                    values = [v for v in (self._json_object(line, row).get(field.name)
                                          for row, line in enumerate(_json_lines(first))) if v is not None]
                    integers = [v for v in values if isinstance(v, int) and not isinstance(v, bool)]
                    if field.name in self.roles.labels and integers or \
                            2 * sum(-2**63 <= v < 2**63 for v in integers) > len(values):
                        schema = schema.set(schema.get_field_index(field.name), pa.field(field.name, pa.int64()))
        else:
            lines -= 1  # the header
            if whole and not lines:  # (before Arrow's reader, which cannot read a header without a newline)
                try:  # a header only, unless it is no text at all (a compressed file without its suffix)
                    sample.decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise InputError(f"{self.path}: cannot read as {NAMES[self.format]}: its first line is not UTF-8 "
                                     f"text ({exc})") from None
                self._empty = True
                return
            reader, schema = self._inspect_csv()
            del reader
        self.rows = max(0, lines) if whole else _scaled(lines, self.path, sample)
        fields = []
        for field in schema:
            t = field.type
            if field.name in self.roles.scores:
                wide = self.roles.layout == "wide" or self.roles.layout is None and field.name == "scores"
                t = pa.list_(pa.float64()) if pa.types.is_null(t) and wide else _score_type(t) or t
            elif pa.types.is_null(t) and field.name not in self.mixed:
                # no value in the first block: a label or text, as the role says,
                t = pa.int64() if field.name in self.roles.labels else pa.string()
                self.untyped.add(field.name)  # unless another file types it (open_fragments)
            fields.append(pa.field(field.name, t))
        self.physical_schema = pa.schema(fields)

    def _infer_jsonl(self, chunk: bytes) -> pa.Schema:
        """The column types of the file's first block, as Arrow infers them.  Where its rows disagree
        (a string where the others have numbers), the rows whose value is of a kind that is not the
        column's most common one are left out of the inference (they are bad rows, found again when
        read)."""
        try:
            return _read_json(chunk, None).schema
        except pa.ArrowInvalid:
            pass
        objects = [self._json_object(line, row) for row, line in enumerate(_json_lines(chunk))]
        votes: dict[str, Counter] = {}
        for obj in objects:
            for name, value in obj.items():
                kind = _json_kind(value) if value is not None else None
                if kind is not None and "," not in kind:  # a list of mixed kinds has no Arrow type
                    votes.setdefault(name, Counter())[kind] += 1
        common = {name: counts.most_common(1)[0][0] for name, counts in votes.items()}
        kept = [line for line, obj in zip(_json_lines(chunk), objects)
                if all(v is None or _json_kind(v) == common.get(k) for k, v in obj.items())]
        for attempt in range(2):
            try:
                return _read_json(b"\n".join(kept), None).schema
            except pa.ArrowInvalid:  # then also without the lines Arrow cannot read alone (1e400)
                kept = [line for line in kept if _parses(line)] if not attempt else kept
        # Still no one type: a column whose values differ deeper (an object of changing members, lists of
        # mixed kinds in every row).  Each column's type is then inferred from its own values of the common
        # kind; a column that has none is of no Arrow type (null): a run that reads it stops (exit 2),
        # others never parse it.
        fields = {}
        valued = set()
        for obj in objects:
            for name, value in obj.items():
                fields.setdefault(name, [])
                if value is not None:
                    valued.add(name)
                    if _json_kind(value) == common.get(name):
                        fields[name].append(value)
        types = {name: _column_type(values) for name, values in fields.items()}
        self.mixed = {name for name, t in types.items() if name in valued and pa.types.is_null(t)}
        return pa.schema([pa.field(name, t) for name, t in types.items()])

    def _check_lines(self, chunk: bytes, first_row: int) -> None:
        """Stop (exit 2) at a line that Arrow's JSON parser would take for a row of nulls, or crash on: a
        bare ``null`` (no object), a line that starts with it, or values nested deeper than MAX_DEPTH
        (README, Input formats).  Lines are looked at closely only where they hold MAX_DEPTH opening
        brackets or more."""
        found = _NULL_FIRST_LINE.match(chunk) or _NULL_LINE.search(chunk)
        if found:
            row = first_row + sum(1 for _ in _json_lines(chunk[: found.start()]))
            line = chunk[found.start():].lstrip(b"\n").split(b"\n", 1)[0].removeprefix(_BOM).strip()
            raise InputError(f"{self.path}: cannot read as JSON Lines: row {row} (0-based) "
                             + ("is a JSON null" if line == b"null" else "starts with null") + ", expected an object")
        brackets = chunk.translate(_OPENING, _NOT_BRACKETS)  # the opening brackets (as "[") and newlines
        crowded = brackets.find(b"[" * MAX_DEPTH)
        if crowded < 0:
            return
        starts = None
        while crowded >= 0:
            if starts is None:  # where each line starts, in the chunk and among the brackets
                starts = np.flatnonzero(np.frombuffer(chunk, np.uint8) == 10) + 1
                bracket_starts = np.flatnonzero(np.frombuffer(brackets, np.uint8) == 10) + 1
            i = int(np.searchsorted(bracket_starts, crowded, side="right"))  # its line, blank ones counted
            start, stop = (int(starts[i - 1]) if i else 0), (int(starts[i]) - 1 if i < len(starts) else len(chunk))
            if _depth(chunk[start:stop]) > MAX_DEPTH:
                row = first_row + sum(1 for _ in _json_lines(chunk[:start]))
                raise InputError(f"{self.path}: cannot read as JSON Lines: row {row} (0-based) nests values "
                                 f"more than {MAX_DEPTH} levels deep")
            if i >= len(bracket_starts):
                break
            crowded = brackets.find(b"[" * MAX_DEPTH, int(bracket_starts[i]))

    def _check_not_named(self, chunk: bytes, name: str, first_row: int) -> None:
        """Stop (exit 2) at a row that names ``name``, an optional column the file's first block never
        names: read with the columns of that block, its value would be left out silently (its key frame
        taken for the arg-max, its exp_id dropped), as a later file with such a column stops the run."""
        needle = json.dumps(name).encode()
        at = chunk.find(needle)
        while at >= 0:
            start = chunk.rfind(b"\n", 0, at) + 1
            stop = chunk.find(b"\n", at)
            stop = len(chunk) if stop < 0 else stop
            try:  # (a line that is no JSON object is the read's to report)
                obj = json.loads(chunk[start:stop].removeprefix(_BOM).decode("utf-8", "replace"))
            except ValueError:
                obj = None
            if isinstance(obj, dict) and name in obj:
                row = first_row + sum(1 for _ in _json_lines(chunk[:start]))
                raise InputError(f"{self.path}: row {row} (0-based) names column '{name}', which no row of the "
                                 f"file's first block ({BLOCK_BYTES / (1 << 20):g} MiB) names, and the first block decides "
                                 "a JSON Lines file's columns: give every row the member (null where it has no value)")
            at = chunk.find(needle, stop)

    def _check_one_value_a_line(self, lines: bytes | list[bytes], rows: int, first_row: int) -> None:
        """Stop (exit 2) at a line that holds more than one JSON value (``{...} {...}``, or lines ended by
        a lone "\\r"): Arrow's parser reads each value as a row, so rows would no longer be lines, and a
        bad row's reason would land on another row (README, Input formats).  ``lines``: a piece of the
        file, or its lines that are not blank; ``rows``: the rows Arrow read from them."""
        if isinstance(lines, bytes):
            chunk = lines
            ends = chunk.count(b"\n") + (not chunk.endswith(b"\n"))
            if rows == ends and chunk[:1] not in b" \t\r\n" and not _BLANK_START.search(chunk):  # one row a line
                return
            lines = list(_json_lines(chunk))
        if rows == len(lines):
            return
        for row, line in enumerate(lines):
            try:
                json.loads(line.removeprefix(_BOM).decode("utf-8", "replace"))
            except ValueError as exc:
                extra = str(exc).startswith("Extra data")
                raise InputError(f"{self.path}: cannot read as JSON Lines: row {first_row + row} (0-based)"
                                 + (" holds more than one JSON value (one object a line, each line ending in "
                                    "\"\\n\")" if extra else f": {exc}")) from None
        raise InputError(f"{self.path}: cannot read as JSON Lines: {rows:,} rows in the {len(lines):,} lines from row "
                         f"{first_row} (0-based) on")

    def _check_utf8(self, table: pa.Table, chunk: bytes, first_row: int) -> None:
        """Stop (exit 2) where a text column read holds bytes that are not UTF-8: Arrow's JSON parser
        keeps them, and the outputs would hold text no reader takes."""
        for column in table.columns:
            if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
                continue
            try:
                column.validate(full=True)
            except pa.ArrowInvalid:
                for row, line in enumerate(_json_lines(chunk)):
                    try:
                        line.decode()
                    except UnicodeDecodeError as exc:
                        raise InputError(f"{self.path}: cannot read as JSON Lines: row {first_row + row} (0-based) "
                                         f"is not valid UTF-8: {exc}") from None
                raise

    def _json_object(self, line: bytes, row: int) -> dict:
        """One line as a Python object; a line that is not a JSON object stops the read (exit 2)."""
        try:
            obj = json.loads(line)
        except (ValueError, UnicodeDecodeError) as exc:
            raise InputError(f"{self.path}: cannot read as JSON Lines: row {row} (0-based): {exc}") from None
        if not isinstance(obj, dict):
            raise InputError(f"{self.path}: cannot read as JSON Lines: row {row} (0-based) is "
                             f"{_json_type_name(obj)}, expected an object") from None
        return obj

    def _jsonl_batches(self, schema: pa.Schema) -> Iterator[pa.RecordBatch]:
        """The file a block (about BLOCK_BYTES of whole lines) at a time, only the columns the run reads
        (not the hive partition columns), in the types the first block showed.  A block that does not
        parse so is read again in halves, down to the lines that do not (README, Bad input): such a row
        keeps the values that parse, null for the others, and BAD_ROW holds its reason."""
        explicit = pa.schema([self.physical_schema.field(f.name) for f in schema
                              if f.name in self.physical_schema.names])
        for name in explicit.names:
            if name in self.mixed:
                raise InputError(f"{self.path}: column '{name}' holds values of no one type in the file's first "
                                 "block (objects or lists whose members differ in type): a column of the wrong type")
        done = 0
        absent = [name for name in sorted(self.roles.optional) if name not in self.physical_schema.names]
        for chunk in _line_chunks(self.path):
            self._check_lines(chunk, done)
            for name in absent:
                self._check_not_named(chunk, name, done)
            try:
                table, bad = _read_json(chunk, explicit), None
                self._check_one_value_a_line(chunk, table.num_rows, done)
            except pa.ArrowInvalid:
                table, bad = self._jsonl_rows(list(_json_lines(chunk)), explicit, done)
            self._check_utf8(table, chunk, done)
            for batch in table.to_batches():
                if bad is not None:
                    batch = _with_bad_rows(batch, bad[: batch.num_rows])
                    bad = bad[batch.num_rows:]
                yield batch
            done += table.num_rows

    def _jsonl_rows(self, lines: list[bytes], schema: pa.Schema, first_row: int) -> tuple[pa.Table, np.ndarray]:
        """Lines of which some do not parse in ``schema``: the table of them all (in one chunk), and the
        reason of each row (0 where it parsed).  Halves are parsed until the lines that fail are alone."""
        pieces: list[pa.Table] = []
        bad = np.zeros(len(lines), np.uint8)
        found = 0
        pending = [(0, len(lines))]
        while pending:
            lo, hi = pending.pop()
            if hi - lo > 1:
                try:
                    pieces.append(_read_json(b"\n".join(lines[lo:hi]), schema))
                    self._check_one_value_a_line(lines[lo:hi], pieces[-1].num_rows, first_row + lo)
                    continue
                except pa.ArrowInvalid:
                    mid = (lo + hi) // 2
                    pending += [(mid, hi), (lo, mid)]  # the first half next: pieces stay in line order
                    continue
            try:
                pieces.append(_read_json(lines[lo], schema))
                self._check_one_value_a_line([lines[lo]], pieces[-1].num_rows, first_row + lo)
            except pa.ArrowInvalid:
                piece, wrong = self._bad_jsonl_row(lines[lo], schema, first_row + lo)
                pieces.append(piece)
                if not wrong:  # only NaN or ±inf, which Arrow's parser refuses: a non-finite score later
                    continue
                bad[lo] = reasons.BAD_VALUE
                found += 1  # (lines are met in order)
                start = lo if found == 1 else start
                if found > WRONG_TYPE_ROWS and 2 * found > lo + 1 - start:
                    wrong = [f.name for f, v in zip(schema, pieces[-1].columns) if v.null_count and
                             self._json_object(lines[lo], first_row + lo).get(f.name) is not None]
                    raise InputError(f"{self.path}: column '{(wrong or schema.names)[0]}' has type "
                                     f"{schema.field((wrong or schema.names)[0]).type} in the file's first block, but most "
                                     f"rows from row {first_row + start} (0-based) on have another type: a column of "
                                     "the wrong type")
        return pa.concat_tables(pieces).combine_chunks(), bad

    def _bad_jsonl_row(self, line: bytes, schema: pa.Schema, row: int) -> tuple[pa.Table, bool]:
        """A line Arrow's parser refuses: the values of its columns, null for a value of the wrong type,
        and whether it has one (False where it only holds NaN, ±Infinity or numbers beyond float64 in
        float columns, kept as such floats: README, Input formats)."""
        obj = self._json_object(line, row)
        repeated = _repeated_members(line)  # ambiguous: Python's json keeps the last, Arrow refuses the row
        columns = []
        wrong = False
        for field in schema:
            if field.name in repeated:
                columns.append(pa.nulls(1, field.type))
                wrong = True
                continue
            try:
                value = json.dumps({field.name: obj.get(field.name)}, allow_nan=False).encode()
                column = _read_json(value, pa.schema([field])).column(0).chunk(0)
            except ValueError:  # NaN, ±Infinity or a number beyond float64 (1e400: inf), as in CSV
                column = _nonfinite_scores(obj.get(field.name), field.type)
            except pa.ArrowInvalid:
                column = pa.nulls(1, field.type)
            wrong |= column.null_count > 0 and obj.get(field.name) is not None
            columns.append(column)
        return pa.Table.from_arrays(columns, schema=schema), wrong

    def _csv_options(self, column_types: dict | None = None, include: list | None = None, skipped: list | None = None):
        """Arrow's CSV options; a row of another number of fields than the header is skipped, its text
        noted in ``skipped`` (README, Bad input)."""
        import pyarrow.csv as pc

        def skip(row) -> str:
            if skipped is not None:
                skipped.append(row.text)
            return "skip"

        skip.tf2eng_fragment = self  # type: ignore[attr-defined]  # (for _quiet_rows_not_utf8)
        _quiet_rows_not_utf8()

        read = pc.ReadOptions(block_size=BLOCK_BYTES)
        parse = pc.ParseOptions(delimiter=self._delimiter, invalid_row_handler=skip)
        # An empty field is null; "nan" and "inf" are numbers (a NaN score is non-finite, not null).
        convert = pc.ConvertOptions(null_values=[""], strings_can_be_null=True, column_types=column_types or {},
                                    include_columns=include or [])
        return read, parse, convert

    @property
    def _delimiter(self) -> str:
        return "\t" if self.format == "tsv" else ","

    def _inspect_csv(self):
        import pyarrow.csv as pc

        skipped: list[str] = []
        read, parse, convert = self._csv_options(skipped=skipped)
        reader = pc.open_csv(self.path, read_options=read, parse_options=parse, convert_options=convert)
        schema = reader.schema
        self._csv_names = schema.names
        twice = [name for name, n in Counter(schema.names).items() if n > 1]
        if twice:  # no one table, as in Parquet
            hint = ("; it holds numbers, not names: the file needs a first line naming its columns"
                    if all(_reads_as_number(name) for name in schema.names) else "")
            raise InputError(f"{self.path}: the header names column '{twice[0]}' twice{hint}")
        if len(skipped) > WRONG_TYPE_ROWS:  # the first block: most rows of another number of fields?
            try:
                good = reader.read_next_batch().num_rows
            except StopIteration:
                good = 0
            if len(skipped) > good:
                fields = len(_csv_fields(skipped[0], self._delimiter))
                raise InputError(f"{self.path}: {len(skipped):,} of the first {len(skipped) + good:,} rows have "
                                 f"another number of fields than the header's {len(schema.names)} (the first "
                                 f"{fields}): a header that does not fit the rows (a delimiter at the end of "
                                 "each row?)")
        # Integer columns whose labels have leading zeros ("00005") stay text, as written, and so do other
        # columns than the key and frame of integers that Arrow read as floats (a plus sign, "+1"; a number
        # beyond int64): labels so spelled would be ordered as text ("+10" before "+2"); a score column
        # read as text where some of its values are numbers is a number column with bad values.
        integers = [f.name for f in schema if pa.types.is_integer(f.type)
                    or pa.types.is_floating(f.type) and f.name not in self.roles.scores]
        scores = [f.name for f in schema if f.name in self.roles.scores and not _numeric_or_null(f.type)]
        if integers or scores:
            read, parse, convert = self._csv_options({name: pa.string() for name in integers + scores},
                                                     integers + scores)
            head = pc.open_csv(self.path, read_options=read, parse_options=parse, convert_options=convert)
            first = head.read_next_batch()
            for name in integers:
                values = [v.strip(" \t") for v in first.column(name).drop_null().to_pylist()]  # (blanks around:
                if pa.types.is_floating(schema.field(name).type):  # a number)
                    if name in self.roles.labels:
                        if any(_PLAIN_INTEGER.match(v) for v in values):  # integers with bad values
                            schema = schema.set(schema.get_field_index(name), pa.field(name, pa.int64()))
                    elif values and all(_SPELLED_INTEGER.match(v) for v in values):
                        schema = schema.set(schema.get_field_index(name), pa.field(name, pa.string()))
                elif not all(_PLAIN_INTEGER.match(v) for v in values):
                    schema = schema.set(schema.get_field_index(name), pa.field(name, pa.string()))
            for name in scores:
                if pc_any_number(first.column(name)):
                    schema = schema.set(schema.get_field_index(name), pa.field(name, pa.float64()))
        # An id column is text, as written, unless its values are integers: Arrow would read a hex video id
        # such as "5e12345678" as a float, "nan" as NaN, a date as a timestamp (README, Column types)
        for field in schema:
            if field.name in self.roles.ids and not (pa.types.is_integer(field.type) or pa.types.is_null(field.type)
                                                     or pa.types.is_string(field.type)):
                schema = schema.set(schema.get_field_index(field.name), pa.field(field.name, pa.string()))
        return reader, schema

    def _csv_batches(self, schema: pa.Schema) -> Iterator[pa.RecordBatch]:
        """The file's rows in the types the first block showed.  Where a later value does not parse so,
        the file is read again as text (the rows already handed on skipped), each column converted here: a
        value that does not parse is null and its row is marked bad (BAD_ROW).  Rows of another number
        of fields come last, their fields taken in order (README, Bad input)."""
        import pyarrow.csv as pc

        types = {f.name: self.physical_schema.field(f.name).type for f in schema
                 if f.name in self.physical_schema.names}  # not the hive partition columns
        skipped: list[str] = []  # rows of another number of fields, in file order, as Arrow's parser meets them
        done = 0  # rows handed on
        handed = 0  # rows of ``skipped`` handed on (after each batch: memory stays bounded)

        def field_count_rows(drop: int = 0, n: int | None = None) -> Iterator[pa.RecordBatch]:
            n = len(skipped) if n is None else n  # (the parser, reading ahead, may add more meanwhile)
            texts = skipped[drop:n]
            del skipped[:n]
            if texts:
                yield self._field_count_rows(texts, types)

        read, parse, convert = self._csv_options(types, list(types), skipped)
        try:
            for batch in pc.open_csv(self.path, read_options=read, parse_options=parse, convert_options=convert):
                yield batch
                done += batch.num_rows
                n = len(skipped)  # counted once: the rows handed on are those counted
                handed += n
                yield from field_count_rows(0, n)
        except pa.ArrowInvalid:  # a value of another type: again, as text
            skipped.clear()
            read, parse, convert = self._csv_options({name: pa.string() for name in types}, list(types), skipped)
            for batch in pc.open_csv(self.path, read_options=read, parse_options=parse, convert_options=convert):
                if done < batch.num_rows:
                    yield _converted(batch.slice(done), types, np.zeros(batch.num_rows - done, np.uint8), self.path)
                done = max(0, done - batch.num_rows)
                n = len(skipped)
                drop = min(handed, n)  # the first ones met were handed on before
                handed -= drop
                yield from field_count_rows(drop, n)
        n = len(skipped)
        drop = min(handed, n)
        yield from field_count_rows(drop, n)

    def _field_count_rows(self, texts: list[str], types: dict) -> pa.RecordBatch:
        """Rows with more or fewer fields than the header: the fields taken in order, by position (the
        ids of a row cut short or with a field too many are those of its track), each converted as its
        column; rejected as bad_field_count."""
        for text in texts:
            if "\n" in text or "\r" in text:  # Arrow's rows are lines, except where a quote runs on
                lines = text.count("\n") + text.count("\r") - text.count("\r\n") + 1
                raise InputError(f"{self.path}: a row starting {text[:40]!r} runs over {lines:,} lines inside "
                                 "quotes and has another number of fields than the header: a quote never closed?")
        rows = [_csv_fields(text, self._delimiter) for text in texts]
        position = {name: i for i, name in enumerate(self._csv_names)}
        columns = {}
        for name in types:
            i = position[name]
            columns[name] = pa.array([row[i] if i < len(row) and row[i] != "" else None for row in rows], pa.string())
        batch = pa.RecordBatch.from_pydict(columns)
        return _converted(batch, types, np.full(len(rows), reasons.BAD_FIELD_COUNT, np.uint8), self.path)

    # --- nested JSON: parsed whole -------------------------------------------------------------

    def _inspect_json(self) -> None:
        sample, whole = self._sampled()
        if whole and (not sample.removeprefix(_BOM).strip() or _names_no_track(sample)):  # {} or {video: {}}: no data
            self._empty = True
            return
        brackets = sample.count(b"[")
        self.rows = brackets if whole else _scaled(brackets, self.path, sample)
        fields = [pa.field("video_id", pa.string()), pa.field("exp_id", pa.string()),
                  pa.field("scores", pa.list_(pa.float64()))]
        kind = _first_key_kind(self.path)
        if kind is not None:  # frame names (text, with --meta) where the file's first non-null key is a string
            fields.append(pa.field("key_frame", pa.string() if kind == "text" else pa.int64()))
        self.physical_schema = pa.schema(fields)

    def _json_table(self) -> pa.Table:
        with pa.input_stream(self.path) as f:
            text = f.read()
        try:
            data = json.loads(text, object_pairs_hook=_members)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise InputError(f"{self.path}: cannot read as JSON: {exc}") from None
        except RecursionError:  # (Python's parser: about a thousand levels)
            raise InputError(f"{self.path}: cannot read as JSON: values nested too deeply") from None
        except _Twice as twice:
            raise InputError(f"{self.path}: an object names {twice.key!r} twice (Python's json would keep the "
                             "last one only)") from None
        del text
        names = self.physical_schema.names
        table, bad = nested_json_table(data, self.path, "key_frame" in names, "key_frame" in names and
                                       pa.types.is_string(self.physical_schema.field("key_frame").type))
        return table if not bad.any() else table.append_column(BAD_ROW, pa.array(bad, pa.uint8()))

    # --- NumPy ----------------------------------------------------------------------------------

    def _inspect_numpy(self) -> None:
        self._arrays = _npz_headers(self.path) if self.path.lower().endswith(".npz") else \
            [(None, *_npy_header(self.path))]
        rows = 0
        dtypes = set()
        for name, shape, dtype in self._arrays:
            where = f"{self.path}" + (f": array '{name}'" if name is not None else "")
            if dtype.hasobject:
                raise InputError(f"{where}: holds Python objects; tf2eng reads numeric arrays only "
                                 "(pickled arrays are never loaded)")
            if dtype.kind not in "biuf":
                raise InputError(f"{where}: has dtype {dtype}, expected numbers")
            if len(shape) not in (1, 2):
                raise InputError(f"{where}: has shape {shape}; expected 1-D (one track) or 2-D (tracks, frames)")
            rows += 1 if len(shape) == 1 else shape[0]
            dtypes.add(np.float32 if dtype == np.float32 else np.float64)
        self.rows = rows
        if not rows:  # an .npz without arrays, an (0, T) array: no data, as an empty file
            self._empty = True
            return
        self._dtype = np.float32 if dtypes == {np.float32} else np.float64
        exp = pa.int64() if self._arrays and self._arrays[0][0] is None else pa.string()
        self.physical_schema = pa.schema([pa.field("video_id", pa.string()), pa.field("exp_id", exp),
                                          pa.field("scores", pa.list_(pa.from_numpy_dtype(self._dtype)))])

    def _numpy_batches(self, batch_rows: int) -> Iterator[pa.RecordBatch]:
        video = _stem(self.path)
        if self._arrays and self._arrays[0][0] is None:
            array = np.load(self.path, mmap_mode="r", allow_pickle=False)
            yield from _array_batches(array, video, None, self._dtype, batch_rows)
            return
        import zipfile
        import zlib

        with np.load(self.path, allow_pickle=False) as archive:
            for name, _, _ in self._arrays:
                try:
                    array = archive[name]
                except (zipfile.BadZipFile, zlib.error) as exc:  # a damaged member (its CRC, its deflate stream)
                    raise ValueError(f"array '{name}': {_first_line(exc)}") from None
                yield from _array_batches(array, video, name, self._dtype, batch_rows)


# --- helpers ------------------------------------------------------------------------------------


# Column of a batch of a text file that has bad rows: the reason of each row (0: none), from
# kernels/reasons.py.  engine/stream.py and engine/long.py take it off before the rows are scored.
BAD_ROW = "__tf2eng_bad_row"


def _with_bad_rows(batch: pa.RecordBatch, bad: np.ndarray) -> pa.RecordBatch:
    if not bad.any():
        return batch
    return batch.append_column(BAD_ROW, pa.array(bad, pa.uint8()))


def split_bad_rows(batch: pa.RecordBatch) -> tuple[pa.RecordBatch, np.ndarray | None]:
    """``batch`` without BAD_ROW, and the reasons it held (None where it had none)."""
    i = batch.schema.get_field_index(BAD_ROW)
    if i < 0:
        return batch, None
    bad = batch.column(i).to_numpy(zero_copy_only=False).astype(np.uint8)
    return batch.remove_column(i), bad


def _repeated_members(line: bytes) -> set[str]:
    """The names a JSON Lines row's object gives more than once, at its top level."""
    levels: list[list[str]] = []

    def pairs(items: list) -> dict:
        levels.append([name for name, n in Counter(name for name, _ in items).items() if n > 1])
        return dict(items)

    json.loads(line, object_pairs_hook=pairs)
    return set(levels[-1]) if levels else set()  # (the top-level object is the last one parsed)


def _read_json(data: bytes, schema: pa.Schema | None) -> pa.Table:
    """JSON Lines in memory through Arrow's reader, in one block; ``schema``: only those columns, of
    those types (a value of another JSON type fails the whole read)."""
    import pyarrow.json as pj

    parse = pj.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore") if schema is not None \
        else pj.ParseOptions()
    read = pj.ReadOptions(block_size=max(BLOCK_BYTES, len(data) + 1))
    return pj.read_json(pa.BufferReader(data), read_options=read, parse_options=parse)


def _column_type(values: list) -> pa.DataType:
    """The type Arrow's JSON reader infers for one column's values (without those it cannot read alone,
    such as 1e400); null where they have none."""
    lines = []
    for value in values:
        try:
            lines.append(json.dumps({"c": value}, allow_nan=False).encode())
        except ValueError:  # a non-finite number: a bad row when read
            pass
    for attempt in range(2):
        try:
            return _read_json(b"\n".join(lines), None).field("c").type if lines else pa.null()
        except (pa.ArrowInvalid, KeyError):
            if attempt:
                return pa.null()
            lines = [line for line in lines if _parses(line)]
    return pa.null()


def _parses(line: bytes) -> bool:
    try:
        _read_json(line, None)
        return True
    except pa.ArrowInvalid:
        return False


def _line_chunks(path: str) -> Iterator[bytes]:
    """The (decompressed) file in pieces of about BLOCK_BYTES that end at a line's end (a longer line
    makes a longer piece); nothing for an empty file."""
    rest = b""
    with pa.input_stream(path) as f:
        while True:
            data = f.read(BLOCK_BYTES)
            if not data:
                break
            data = rest + data if rest else data
            cut = data.rfind(b"\n") + 1
            rest, data = data[cut:], data[:cut]
            if data:
                yield data
    if rest.strip():
        yield rest


def _json_lines(chunk: bytes) -> Iterator[bytes]:
    """The lines of a piece that are not blank (Arrow's reader skips blank lines, and a file's byte-order
    mark: they are no row)."""
    return (line for line in chunk.split(b"\n") if line.removeprefix(_BOM).strip())


# JSON values nested deeper than this stop the read (exit 2): no column of tf2eng's is nested more than
# two levels, Arrow's parser runs out of stack on thousands of levels, and Python's json, with the
# readers here that look at a line's values, at less than a thousand.
MAX_DEPTH = 100
# A line that starts with null (after blanks, or the byte-order mark): Arrow's parser crashes on a piece
# of the file that starts so ("null", "null,", "null {...}"), and no such line is a JSON object.
_NULL_LINE = re.compile(rb"\n(?:\xef\xbb\xbf)?[ \t\r]*null")
_NULL_FIRST_LINE = re.compile(rb"(?:\xef\xbb\xbf)?[ \t\r]*null")
_OPENING = bytes.maketrans(b"{", b"[")
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[{\n")
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')


def _depth(line: bytes) -> int:
    """How deep the JSON values of a line are nested (brackets inside strings not counted)."""
    codes = np.frombuffer(_JSON_STRING.sub(b"", line), np.uint8)
    steps = np.isin(codes, (91, 123)).astype(np.int32) - np.isin(codes, (93, 125))
    return int(np.cumsum(steps).max()) if steps.size else 0


def _json_type_name(value) -> str:
    """A parsed JSON value's type in JSON's words, for messages: "null", "an array", "a string", ..."""
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, (int, float)):
        return "a number"
    return {list: "an array", str: "a string", dict: "an object"}.get(type(value), type(value).__name__)


def _json_kind(value) -> str:
    """A JSON value's kind for the type vote of _infer_jsonl: numbers are one kind (Arrow unifies
    integers and floats), a list's kind names its elements' kinds."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, list):
        return "list:" + ",".join(sorted({_json_kind(v) for v in value if v is not None}))
    return type(value).__name__


# Bad values in one block (a batch of CSV, 8 MiB of JSON Lines) beyond which, where they are also
# most of its rows from the first of them on, the column is taken to be of the wrong type: the run
# stops (exit 2) instead of finding each bad row (README, Bad input).
WRONG_TYPE_ROWS = 1000
_NUMBER = r"^[ \t]*[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?[ \t]*$"


def pc_any_number(values: pa.Array) -> bool:
    """Whether any text value looks like a decimal number (the first block of a score column)."""
    import pyarrow.compute as pc

    return bool(pc.any(pc.match_substring_regex(values.drop_null(), _NUMBER)).as_py())


def _quiet_rows_not_utf8() -> None:
    """Arrow's CSV reader decodes a row of another number of fields than the header as UTF-8 before it
    hands it to the handler of such rows; where the row is not UTF-8 it reports the decoding error as an
    "Exception ignored" traceback on stderr and stops with a parse error.  A hook on those reports
    (installed once; every other report goes to the hook it replaced) keeps them quiet and marks the
    fragment, so that the run stops with one line (README, Input formats)."""
    import sys

    previous = sys.unraisablehook
    if getattr(previous, "tf2eng_rows_not_utf8", False):
        return

    def hook(report) -> None:
        fragment = getattr(report.object, "tf2eng_fragment", None)
        if fragment is not None and isinstance(report.exc_value, UnicodeDecodeError):
            fragment._row_not_utf8 = True
            return
        previous(report)

    hook.tf2eng_rows_not_utf8 = True  # type: ignore[attr-defined]
    sys.unraisablehook = hook


def _csv_fields(text: str, delimiter: str) -> list[str]:
    """The fields of one CSV row (one line), by Python's csv module, or by Arrow's parser where a field is
    longer than the csv module's field limit (131,072 characters, a setting of the whole process)."""
    import csv

    try:
        return next(csv.reader([text], delimiter=delimiter), [])
    except csv.Error:
        import pyarrow.csv as pc

        names = [f"f{i}" for i in range(text.count(delimiter) + 1)]
        table = pc.read_csv(pa.BufferReader(text.encode() + b"\n"),
                            read_options=pc.ReadOptions(autogenerate_column_names=True,  # f0, f1, ...
                                                        block_size=2 * len(text) + (1 << 20)),
                            parse_options=pc.ParseOptions(delimiter=delimiter),
                            convert_options=pc.ConvertOptions(column_types={n: pa.string() for n in names},
                                                              strings_can_be_null=False,
                                                              quoted_strings_can_be_null=False))
        return [table.column(i)[0].as_py() for i in range(table.num_columns)] if table.num_rows else []


class _WrongType(Exception):
    def __init__(self, row: int, value):
        self.row, self.value = row, value


def _parsed(values: pa.Array, t: pa.DataType) -> tuple[pa.Array, np.ndarray | None]:
    """Text values in type ``t`` as Arrow's CSV reader converts them (blanks and tabs around a value
    are dropped), null where a value does not convert; and which did not (None: all did).  Where the
    whole column does not convert at once, halves are converted, down to the values that do not (more
    than WRONG_TYPE_ROWS of them, most of the values from the first of them on: _WrongType)."""
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return values.cast(t), None
    import pyarrow.compute as pc

    values = pc.utf8_trim(values, " \t")
    try:
        return values.cast(t), None
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    bad = np.zeros(len(values), np.bool_)
    found = 0
    pieces = []
    pending = [(0, len(values))]
    while pending:
        lo, hi = pending.pop()
        try:
            pieces.append(values.slice(lo, hi - lo).cast(t))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            if hi - lo == 1:
                pieces.append(pa.nulls(1, t))
                bad[lo] = True
                found += 1
                start = lo if found == 1 else start
                if found > WRONG_TYPE_ROWS and 2 * found > lo + 1 - start:
                    raise _WrongType(lo, values[lo].as_py()) from None
            else:
                mid = (lo + hi) // 2
                pending += [(mid, hi), (lo, mid)]
    return pa.concat_arrays(pieces), bad


def _converted(batch: pa.RecordBatch, types: dict, bad: np.ndarray, path: str) -> pa.RecordBatch:
    """A batch read as text in ``types``; rows with a value that does not convert are bad_value (unless
    ``bad`` already holds a reason)."""
    columns = []
    for name, t in types.items():
        try:
            values, failed = _parsed(batch.column(name), t)
        except _WrongType as wrong:
            raise InputError(f"{path}: column '{name}' has type {t}, but most of a block of its values are "
                             f"not (such as {wrong.value!r}): a column of the wrong type") from None
        if failed is not None:
            bad[(bad == 0) & failed] = reasons.BAD_VALUE
        columns.append(values)
    return _with_bad_rows(pa.RecordBatch.from_arrays(columns, names=list(types)), bad)


class _Twice(Exception):
    def __init__(self, key: str):
        self.key = key


def _members(pairs: list) -> dict:
    """A JSON object's members as a dict; a name given twice raises _Twice (json.loads would keep the
    last of them, and a track would vanish from every count)."""
    members = dict(pairs)
    if len(members) != len(pairs):
        seen = set()
        raise _Twice(next(k for k, _ in pairs if k in seen or seen.add(k)))
    return members


def _names_no_track(sample: bytes) -> bool:
    """True for a whole nested JSON file that parses to an object of empty objects; anything else
    (malformed JSON included) is left to the read, which checks it."""
    try:
        data = json.loads(sample, object_pairs_hook=_members)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError, _Twice):
        return False
    return isinstance(data, dict) and all(isinstance(v, dict) and not v for v in data.values())


def open_fragments(files: list[str], fmt: str, options, base: str | None = None
                   ) -> tuple[list[TextFragment], pa.Schema]:
    """The files as fragments, and the dataset's schema (the first file with data decides it;
    files without data take it), with the hive partition columns of the directories under ``base``."""
    from .source import parallel_map

    roles = Roles(options)
    fragments = parallel_map(lambda path: TextFragment(path, fmt, roles), files)
    with_data = [f for f in fragments if f.physical_schema is not None]
    _type_untyped_columns(with_data)
    if fmt in ("csv", "tsv"):
        _text_where_files_differ(with_data, roles)
    schema = with_data[0].physical_schema if with_data else columns_of_no_data(fmt, options)
    for fragment in fragments:
        if fragment.physical_schema is None:
            fragment.physical_schema = schema
    if base is not None:
        for field in _hive_partitions(fragments, base):
            if field.name not in schema.names:
                schema = schema.append(field)
    return fragments, schema


def _type_untyped_columns(fragments: list[TextFragment]) -> None:
    """A column without a value in a file's first block takes the type the first file that has values
    in it gives it (so a file of null ids does not differ in type from the others)."""
    typed: dict[str, pa.DataType] = {}
    for fragment in fragments:
        for field in fragment.physical_schema:
            if field.name not in fragment.untyped:
                typed.setdefault(field.name, field.type)
    for fragment in fragments:
        schema = fragment.physical_schema
        for name in fragment.untyped & set(typed):
            schema = schema.set(schema.get_field_index(name), pa.field(name, typed[name]))
        fragment.physical_schema = schema


def _text_where_files_differ(fragments: list[TextFragment], roles: Roles) -> None:
    """CSV / TSV: a column (not the scores) that some files' first blocks type as text and others as
    numbers or dates is read as text in every file, as written (README, Input formats): a file of one
    video whose frames all lack a leading zero ("10000", ...), or whose id happens to be all digits,
    reads as the other files do instead of stopping the run."""
    kinds: dict[str, set] = {}
    for fragment in fragments:
        for field in fragment.physical_schema:
            kinds.setdefault(field.name, set()).add(field.type)
    for name, types in kinds.items():
        if len(types) > 1 and pa.string() in types and name not in roles.scores:
            for fragment in fragments:
                schema = fragment.physical_schema
                if name in schema.names:
                    fragment.physical_schema = schema.set(schema.get_field_index(name), pa.field(name, pa.string()))


def columns_of_no_data(fmt: str, options) -> pa.Schema:
    """The columns of an input whose every file is empty (README, Input formats): those the options
    name, with the types an empty run needs: ids and --by columns text, scores float64, frames and a
    key named by --key-col int64.  Wide, unless --layout long, a --frame-col (the long layout's) or
    CSV / TSV (long only)."""
    layout = options.layout or ("long" if fmt in ("csv", "tsv") or options.frame_col != "frame" else "wide")
    meta = ()
    if options.meta:  # README, Dataset metadata: tracks are joined by video and expression id
        from .meta import META_COLUMNS

        meta = META_COLUMNS
    fields = [pa.field(name, pa.string()) for name in (options.id_cols or ("video_id", "exp_id")[:2 if meta else 1])]
    if layout == "wide":
        fields.append(pa.field(options.scores_col or "scores", pa.list_(pa.float64())))
    else:
        fields += [pa.field(options.frame_col, pa.int64()), pa.field(options.scores_col or "score", pa.float64())]
    if options.key == "column" and options.key_col != "key_frame":
        fields.append(pa.field(options.key_col, pa.int64()))
    fields += [pa.field(name, pa.string()) for name in options.by if name not in {f.name for f in fields}
               and name not in meta]  # (--meta's columns come from the metadata)
    return pa.schema(fields)


_HIVE_NULL = "__HIVE_DEFAULT_PARTITION__"


def _hive_partitions(fragments: list[TextFragment], base: str) -> list[pa.Field]:
    """Hive ``key=value`` directories between ``base`` and each file, as Arrow's dataset discovery
    reads them for Parquet: values URI-decoded, int32 where every value of a key is an int32, else
    text, null for __HIVE_DEFAULT_PARTITION__.  Sets each fragment's ``partition_keys``."""
    from urllib.parse import unquote

    found: list[dict] = []
    for fragment in fragments:
        keys = {}
        relative = os.path.relpath(os.path.dirname(fragment.path), base)
        for segment in relative.split(os.sep):
            name, eq, value = segment.partition("=")
            if eq and name:
                value = unquote(value)
                keys[name] = None if value == _HIVE_NULL else value
        found.append(keys)
    names = list(dict.fromkeys(name for keys in found for name in keys))
    fields = []
    for name in names:
        values = [keys[name] for keys in found if keys.get(name) is not None]
        integer = bool(values) and all(re.fullmatch(r"[+-]?[0-9]+", v) and -2**31 <= int(v) < 2**31 for v in values)
        fields.append(pa.field(name, pa.int32() if integer else pa.string()))
        for fragment, keys in zip(fragments, found):
            value = keys.get(name)
            fragment.partition_keys[name] = int(value) if integer and value is not None else value
    return fields


_BOM = b"\xef\xbb\xbf"  # UTF-8's byte-order mark: a file of it alone (and blanks) is empty
_BLANK_START = re.compile(rb"\n[\n\r \t]")  # a line that starts blank (where blank lines may be)
# How compressed streams start (bz2: "BZh", the block size, then a block's or the end's magic number).
_COMPRESSED_START = re.compile(rb"(?P<gz>\x1f\x8b)|(?P<bz2>BZh[1-9](1AY&SY|\x17rE8P\x90))|(?P<zst>\x28\xb5\x2f\xfd)|"
                               rb"(?P<lz4>\x04\x22\x4d\x18)")


def _check_not_compressed(path: str, fmt: str, head: bytes) -> None:
    """Stop (exit 2) at a text file whose name has no compression suffix but whose bytes (``head``, its
    first ones) start as a compressed stream does: read as it is, it would be binary noise (README, Input
    formats)."""
    if _codec(path) is not None:
        return
    found = _COMPRESSED_START.match(head)
    if found:
        suffix = "." + found.lastgroup
        raise InputError(f"{path}: cannot read as {NAMES[fmt]}: it starts as {suffix} compressed data does; a name "
                         f"ending in {suffix} reads it")


def _sample(path: str) -> tuple[bytes, bool]:
    """The first SAMPLE_BYTES of a file (decompressed), and whether that is the whole file."""
    with pa.input_stream(path) as f:
        head = f.read(SAMPLE_BYTES)
        return head, len(head) < SAMPLE_BYTES or not f.read(1)


def _scaled(count: int, path: str, sample: bytes) -> int:
    """``count`` in the sample scaled to the whole file: by the file's size, over the compressed
    bytes the sample took (for a compressed file, measured by compressing the sample again)."""
    size = os.path.getsize(path)
    sample_size = len(sample)
    codec = _codec(path)
    if codec is not None:  # (streamed: bz2 has no one-shot compression in Arrow)
        sink = pa.BufferOutputStream()
        with pa.CompressedOutputStream(sink, codec) as stream:
            stream.write(sample)
        sample_size = max(1, sink.getvalue().size)
    return max(count, math.ceil(count * size / max(1, sample_size)))


def _codec(path: str) -> str | None:
    lower = path.lower()
    for suffix, codec in ((".gz", "gzip"), (".bz2", "bz2"), (".zst", "zstd"), (".lz4", "lz4")):
        if lower.endswith(suffix):
            return codec
    return None


_KEY_VALUE = re.compile(rb'"key_frame"\s*:\s*(?!null)(\S)')


def _first_key_kind(path: str) -> str | None:
    """None where the (decompressed) file never holds the text "key_frame"; else "text" where its first
    non-null key is a string, "int" otherwise.  Read a MiB at a time, the whole file if need be."""
    found = False
    tail = b""
    decoder = None
    with pa.input_stream(path) as f:
        chunk = f.read(SAMPLE_BYTES)
        encoding = json.detect_encoding(chunk)
        if encoding not in ("utf-8", "utf-8-sig"):  # UTF-16 or UTF-32, which Python's json reads too
            decoder = codecs.getincrementaldecoder(encoding)("replace")  # (the text looked for, in UTF-8)
        while chunk:
            text = tail + (chunk if decoder is None else decoder.decode(chunk).encode())
            found = found or b'"key_frame"' in text
            match = _KEY_VALUE.search(text)
            if match:
                return "text" if match.group(1) == b'"' else "int"
            tail = text[-4096:]  # a key split by the read, with the blanks before its value
            chunk = f.read(SAMPLE_BYTES)
    return "int" if found else None


def _conform(batch: pa.RecordBatch, schema: pa.Schema, path: str, partition: dict) -> pa.RecordBatch:
    """``batch`` with the columns of ``schema``, in its order and types (hive partition values as
    constant columns where the batch lacks them: a file's own values win)."""
    if batch.schema.equals(schema, check_metadata=True):  # as most files' batches are: 0.3 against 28 µs
        return batch
    columns = []
    names = batch.schema.names
    for field in schema:
        if field.name not in names and field.name in partition:
            columns.append(pa.repeat(pa.scalar(partition[field.name], field.type), batch.num_rows))
            continue
        if field.name not in names:
            raise InputError(f"{path}: missing column '{field.name}'")
        column = batch.column(field.name)
        if column.type != field.type:
            try:
                column = column.cast(field.type)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:  # (Arrow's message names no column)
                raise InputError(f"{path}: cannot read column '{field.name}' ({column.type}) as {field.type}, its "
                                 f"type in the dataset: {_first_line(exc)}") from None
        columns.append(column)
    return pa.RecordBatch.from_arrays(columns, schema=schema)


def _nonfinite_scores(value, type_: pa.DataType) -> pa.Array:
    """A JSON value holding NaN or ±inf (Python's parser reads NaN, Infinity and numbers beyond float64
    as such floats; Arrow's refuses them) as one value of a float column or list of floats, so that
    the row is quarantined as a non-finite score, as it is from CSV and Parquet; null in any other type."""
    floats = pa.types.is_floating(type_) or (pa.types.is_list(type_) or pa.types.is_large_list(type_)) \
        and pa.types.is_floating(type_.value_type)
    numbers = value if isinstance(value, list) else [value]
    if floats and all(v is None or _is_number(v) for v in numbers):
        try:
            return pa.array([value], type_)
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):  # (a number where a list belongs)
            pass
    return pa.nulls(1, type_)


def _table_batches(table: pa.Table, batch_rows: int) -> Iterator[pa.RecordBatch]:
    for start in range(0, table.num_rows, batch_rows):
        yield from table.slice(start, batch_rows).combine_chunks().to_batches()


_FLOAT64_MAX = float(np.finfo(np.float64).max)  # a JSON integer beyond it is no float64 (bad_value)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_score(value) -> bool:
    """A JSON number that is a float64 (NaN and infinities too: quarantined as non-finite scores)."""
    return isinstance(value, float) or _is_number(value) and abs(value) <= _FLOAT64_MAX


def nested_json_table(data, path: str, with_key: bool, text_keys: bool = False) -> tuple[pa.Table, np.ndarray]:
    """``{video_id: {exp_id: scores}}`` or ``{video_id: {exp_id: {"scores": [...], "key_frame": k}}}``
    as a wide table, and each track's reason (0: none) from kernels/reasons.py.  A null where a track or a
    score belongs is kept (it is quarantined later); a track with a value of another JSON type (a score
    that is no number, a key of the other kind) is ``bad_value``, that value null; a file of another
    shape stops the read, naming the track."""
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a JSON object {{video_id: {{exp_id: scores}}}}, found "
                         f"{_json_type_name(data)}")
    videos, exps, offsets, values, keys = [], [], [0], [], []
    valid, bad = [], []
    for video, tracks in data.items():
        if not isinstance(tracks, dict):
            raise InputError(f"{path}: video {video!r}: expected an object {{exp_id: scores}}, "
                             f"found {json.dumps(tracks)[:40]}")
        for exp, entry in tracks.items():
            key = None
            wrong = False
            if isinstance(entry, dict):
                unknown = set(entry) - {"scores", "key_frame"}
                if "scores" not in entry or unknown:
                    raise InputError(f"{path}: video {video!r}, exp {exp!r}: expected an object with 'scores' "
                                     f"(and 'key_frame'), found keys {sorted(entry)}")
                key = entry.get("key_frame")
                if key is not None and not (isinstance(key, str) if text_keys else
                                            isinstance(key, int) and not isinstance(key, bool) and
                                            -2**63 <= key < 2**63):
                    key, wrong = None, True
                entry = entry["scores"]
            if entry is not None and not (isinstance(entry, list) and
                                          all(s is None or _is_score(s) for s in entry)):
                entry, wrong = None, True
            if entry is not None:
                values.extend(entry)
            videos.append(video)
            exps.append(exp)
            valid.append(entry is not None)
            offsets.append(len(values))
            keys.append(key)
            bad.append(reasons.BAD_VALUE if wrong else reasons.OK)
    try:
        floats = pa.array(values, pa.float64())
    except (pa.ArrowInvalid, OverflowError):  # an integer beyond int64 (2**64), a float64 all the same
        floats = pa.array([float(v) if isinstance(v, int) else v for v in values], pa.float64())
    scores = pa.ListArray.from_arrays(pa.array(offsets, pa.int32() if len(values) < 2**31 else pa.int64()),
                                      floats,
                                      mask=pa.array([not v for v in valid], pa.bool_()))
    columns = {"video_id": pa.array(videos, pa.string()), "exp_id": pa.array(exps, pa.string()), "scores": scores}
    if with_key:
        columns["key_frame"] = pa.array(keys, pa.string() if text_keys else pa.int64())
    return pa.table(columns), np.array(bad, np.uint8)


def _stem(path: str) -> str:
    name = os.path.basename(path)
    return name.rsplit(".", 1)[0] if "." in name else name


def _npy_header(path: str) -> tuple[tuple, np.dtype]:
    with open(path, "rb") as f:
        shape, dtype = _read_header(f)
        _check_size(None, shape, dtype, os.path.getsize(path) - f.tell())
        return shape, dtype


def _check_size(name: str | None, shape: tuple, dtype: np.dtype, data: int) -> None:
    """An array whose header's shape needs more than the ``data`` bytes there are cannot be read (before
    NumPy maps or allocates what the shape says, or warns of an overflow working it out).  A pickled
    array (Python objects) holds no fixed bytes a value: its dtype stops the read (TextFragment)."""
    if not dtype.hasobject and data < math.prod(shape) * dtype.itemsize:
        raise ValueError(("the array " if name is None else f"array '{name}' ") + f"of shape {shape} holds {data:,} bytes, "
                         "fewer than its shape needs")


def _read_header(f) -> tuple[tuple, np.dtype]:
    import tokenize

    version = np.lib.format.read_magic(f)
    try:
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, _, dtype = np.lib.format.read_array_header_2_0(f)
        else:
            raise ValueError(f"unsupported .npy version {version}")
    except (SyntaxError, tokenize.TokenError, RecursionError) as exc:  # a damaged header's text (NumPy parses it)
        raise ValueError(f"the array header is not a Python literal: {_first_line(exc)}") from None
    return shape, dtype


def _npz_headers(path: str) -> list[tuple[str, tuple, np.dtype]]:
    """(array name, shape, dtype) of each array of an .npz archive, in archive order."""
    import zipfile  # here: only .npz input needs it
    import zlib

    found = []
    names = set()  # (a set: archives hold tens of thousands of arrays)
    try:
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                if info.is_dir():
                    continue
                # NumPy names an array by its member's name less ".npy", and reads a member of another name
                # by that name: it is an array too (or no array, which stops the run, as a damaged one does)
                name = info.filename[: -len(".npy")] if info.filename.endswith(".npy") else info.filename
                if name in names:  # (NumPy reads the last one twice)
                    raise ValueError(f"array '{name}' is stored twice in the archive")
                names.add(name)
                with archive.open(info) as f:
                    try:
                        shape, dtype = _read_header(f)
                    except ValueError as exc:
                        raise ValueError(f"member '{info.filename}' is no NumPy array ({exc})") from None
                    data = info.file_size - f.tell()
                _check_size(name, shape, dtype, data)
                found.append((name, shape, dtype))
    except (zipfile.BadZipFile, zlib.error) as exc:
        raise ValueError(str(exc)) from None
    return found


def _array_batches(array: np.ndarray, video: str, name: str | None, dtype, batch_rows: int
                   ) -> Iterator[pa.RecordBatch]:
    """Tracks of a 1-D (one track) or 2-D (tracks, frames) array: exp_id is the row (an .npy) or the
    array's name, with "/row" for a 2-D array of an .npz."""
    one = array.ndim == 1
    matrix = array.reshape(1, -1) if one else array
    E, T = matrix.shape
    step = max(1, min(batch_rows, VALUES_PER_BATCH // max(1, T)))
    for start in range(0, E, step):
        stop = min(E, start + step)
        values = np.ascontiguousarray(matrix[start:stop], dtype=dtype).reshape(-1)
        n = stop - start
        offsets = np.arange(n + 1, dtype=np.int64) * T
        large = values.size >= 2**31
        scores = (pa.LargeListArray if large else pa.ListArray).from_arrays(
            pa.array(offsets if large else offsets.astype(np.int32)), pa.array(values))
        if name is None:
            exp = pa.array(np.arange(start, stop, dtype=np.int64))
        else:
            exp = pa.array([name] * n if one else [f"{name}/{row}" for row in range(start, stop)], pa.string())
        yield pa.RecordBatch.from_arrays([pa.array([video] * n, pa.string()), exp, scores],
                                         names=["video_id", "exp_id", "scores"])


def _reads_as_number(text: str) -> bool:
    """Whether a CSV header cell reads as a number (a file without a header line)."""
    try:
        float(text)
    except ValueError:
        return False
    return True
