"""Reading: every input form as frames of raw cells, a large file in batches.

CSV (`,`, `;` or tab between cells, any line ends, UTF-8 with or without a byte-order mark,
UTF-16 with one, Windows-1252 with a warning), JSON (an array of records or `{"observations":
[...]}`), JSON Lines, standard input (`-`), records given by a program and tables (polars,
pandas, Arrow) all become the same thing: frames with one column per known column, named as the
observation contract names it (columns.py maps the spellings), holding the cells as text — or,
for a table, as typed as they came — plus `_rec`, the record's number in its source. A location
is said from `_rec`: FILE:LINE for CSV and JSON Lines (the header is line 1), FILE:N for the Nth
record of a JSON array, records:N and table:N for what a program passed.

A CSV file is cut into batches of about BATCH_BYTES at line ends (never inside a quoted cell), so
memory stays flat whatever the file's size; the pipeline keeps each patient's rows together
across the cuts.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import datetime
import gc
import io
import json
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import orjson
import polars as pl

from .columns import KNOWN_COLUMNS, column_for
from .errors import ObservationError, capped, printable, shortened
from .observations import Observation, field_kinds
from .suggestions import did_you_mean

if TYPE_CHECKING:
    from _csv import Reader as CsvReader

BATCH_BYTES = 8 << 20
# A chunk of a file read as text: how to read it, its first row and its end row.
Piece = tuple[Callable[[], pl.DataFrame], int, int]
# Columns polars may read as numbers straight away (validation checks their bounds): the
# contract's numeric columns, and the unitless temperature.
NUMERIC = frozenset(name for name in (*KNOWN_COLUMNS,) if name == "temperature" or (
    name in Observation.model_fields and {int, float} & set(field_kinds(name))
    and not ({bool} & set(field_kinds(name)))))
REC = "_rec"
_LONE_CR = re.compile(rb"\r(?!\n)")


@dataclass
class RawBatch:
    """Raw cells of some records: `frame` (known columns, `_rec`, `_blank`: whether a row has
    no cell at all, and `_other`: whether it has something in an unknown column), the problems
    found while splitting them into cells, as (record, message after the location), and, when
    numbers were read as numbers, how to read the same rows as text (so that a problem quotes
    the cell as written)."""

    frame: pl.DataFrame
    problems: list[tuple[int, str]] = field(default_factory=list)
    # the same rows as text: pieces (read a chunk as text, first row, end row), one per chunk
    pieces: list[Piece] | None = None

    def text(self) -> pl.DataFrame:
        """The batch's rows with every cell as text."""
        if self.pieces is None:
            return self.frame
        return pl.concat([read().slice(start, end - start) for read, start, end in self.pieces],
                         how="vertical_relaxed")


@dataclass
class Input:
    """An opened input: its name, how to say where a record is, the warnings about its form
    (unknown columns, encoding), and its batches (a fresh iterator each call)."""

    name: str
    locate: Callable[[int], str]
    warnings: list[str]
    batches: Callable[[], Iterator[RawBatch]]
    empty_message: str
    # when the input is read in more than one batch: its patient cells, chunk by chunk
    patients: Callable[[], Iterator[pl.Series]] | None = None


# --- headers --------------------------------------------------------------------------------

def map_headers(headers: Iterable[str], source: str, problems: list[str], warnings: list[str],
                line: int = 1) -> list[str | None]:
    """Each header's contract column (None for an unknown one, which is warned about); a column
    given twice is a problem. `line`: the header's line (or row) in its source."""
    mapped: list[str | None] = []
    seen: dict[str, str] = {}
    unknown = 0
    for header in headers:
        column = column_for(header)
        if column is None:
            if header.strip():
                unknown += 1
                if unknown <= _UNKNOWN_NAMED:
                    hint = did_you_mean(header.strip().lower(), KNOWN_COLUMNS)
                    warnings.append(printable(
                        f"{source}:{line}:{shortened(header.strip())}: unknown column, ignored{hint}"))
        elif column in seen:
            problems.append(f"{source}:{line}:{column}: column appears more than once"
                            f" (as '{seen[column]}' and '{header.strip()}')")
        else:
            seen[column] = header.strip()
        mapped.append(column)
    if unknown > _UNKNOWN_NAMED:
        warnings.append(f"{source}:{line}: {unknown - _UNKNOWN_NAMED:,} more unknown columns, ignored")
    return mapped


# unknown columns named one by one in warnings; the rest are counted
_UNKNOWN_NAMED = 20


def _require_day(columns: Iterable[str | None], source: str, problems: list[str], line: int = 1) -> None:
    if not {"day", "date"} & set(columns):
        raise ObservationError([*problems, f"{source}:{line}: no 'day' column; give the day relative to infusion, or"
                                           " 'date' with 'infusion_date' (a column or --infusion-date)"])


# --- text -------------------------------------------------------------------------------------

def _convert(raw: bytes, source: str, warnings: list[str]) -> bytes:
    """A text that is not plain UTF-8, as UTF-8: UTF-16 (with its mark) and, with a warning,
    Windows-1252; old Mac line ends (a lone CR) as LF, one for one, so line numbers stay right."""
    if raw[:2] in (b"\xff\xfe", b"\xfe\xff"):
        try:
            raw = raw.decode("utf-16").encode("utf-8")
        except UnicodeDecodeError:
            raise ObservationError([f"{source}: starts as UTF-16 text but cannot be decoded as UTF-16;"
                                    " save it as CSV UTF-8"]) from None
    _no_nul(raw, source)
    raw = raw.removeprefix(b"\xef\xbb\xbf")
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        try:
            text = raw.decode("cp1252")
        except UnicodeDecodeError:
            raise ObservationError([
                f"{source}: not UTF-8 text (byte {exc.start} cannot be decoded); save it as UTF-8"]) from None
        warnings.append(f"{source}: not UTF-8; read as Windows-1252 (save as CSV UTF-8 to be sure)")
        raw = text.encode("utf-8")
    return _LONE_CR.sub(b"\n", raw) if b"\r" in raw else raw


def _no_nul(raw: bytes, source: str) -> None:
    if b"\x00" in raw:
        raise ObservationError([f"{source}: not a text file (it contains NUL bytes); save it as CSV UTF-8"])


def _sniff(header_line: str) -> str:
    counts = {d: header_line.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


class _Text:
    """UTF-8 text, in memory, or in a file read a batch at a time (so that a large file never
    sits in memory whole)."""

    def __init__(self, source: str, raw: bytes | None = None, path: Path | None = None):
        self.source, self.raw, self.path = source, raw, path
        self.size = len(raw) if raw is not None else path.stat().st_size  # type: ignore[union-attr]

    def read(self, start: int, end: int) -> bytes:
        if self.raw is not None:
            return self.raw[start:end]
        with self.path.open("rb") as handle:  # type: ignore[union-attr]
            handle.seek(start)
            piece = handle.read(max(0, end - start))
        _no_nul(piece, self.source)
        # a piece ends anywhere, perhaps inside a character: that one is read whole with the
        # piece after it (pieces are cut at line ends before they are read as text)
        error = _utf8_error(piece, complete=start + len(piece) >= self.size)
        if error is not None:
            raise ObservationError([f"{self.source}: not UTF-8 text (byte {start + error.start} cannot be decoded);"
                                    " save it as UTF-8"])
        return piece


# --- CSV ------------------------------------------------------------------------------------------

class _Csv:
    """A CSV text cut into batches at line ends."""

    def __init__(self, text: _Text, source: str, warnings: list[str], problems: list[str]):
        self.text, self.source = text, source
        head = text.read(0, 1 << 20)
        offset, blank_lines = 0, 0
        while not head[offset:head.find(b"\n", offset) if b"\n" in head[offset:] else len(head)].strip():
            if b"\n" not in head[offset:]:
                raise ObservationError([f"{source}: empty file; expected a header row with at least 'day'"])
            offset, blank_lines = head.index(b"\n", offset) + 1, blank_lines + 1
        while b"\n" not in head[offset:] and len(head) < text.size:  # a header longer than what was read
            head = text.read(0, 2 * len(head))
        decoded = head[offset:].decode("utf-8", errors="replace")
        self.delimiter = _sniff(decoded.split("\n", 1)[0].rstrip("\r"))
        reader = csv.reader(io.StringIO(decoded, newline=""), delimiter=self.delimiter)
        header = next(reader)
        self.header_lines = blank_lines + reader.line_num  # the lines up to the header's end
        self.start = offset
        for _ in range(reader.line_num):
            end = head.find(b"\n", self.start)
            self.start = len(head) if end == -1 else end + 1
        self.columns = map_headers(header, source, problems, warnings)
        _require_day(self.columns, source, problems)
        if problems:  # without the columns straight, every row would only repeat the problem
            raise ObservationError(problems)
        self.quoted = False  # whether a batch read so far had a quoted cell
        self.names = [c if c is not None else f"_u{i}" for i, c in enumerate(self.columns)]
        self._lines: list[int] | None = None

    def _reader(self, data: bytes) -> CsvReader:
        # polars reads a cell of any length: so must the csv module (its default stops at 128 KB)
        csv.field_size_limit(max(csv.field_size_limit(), len(data)))
        return csv.reader(io.StringIO(data.decode("utf-8"), newline=""), delimiter=self.delimiter)

    def locate(self, rec: int) -> str:
        """FILE:LINE of a record: with no quoted cells a record is a line; with them, the line a
        record ends on (as Python's csv module counts)."""
        if not self.quoted:
            return f"{self.source}:{self.header_lines + 1 + rec}"
        if self._lines is None:
            reader = self._reader(self.text.read(self.start, self.text.size))
            self._lines = [self.header_lines + reader.line_num for _ in reader]
        return f"{self.source}:{self._lines[rec] if rec < len(self._lines) else self.header_lines + 1 + rec}"

    def _chunks(self) -> Iterator[bytes]:
        """The text after the header, cut at line ends outside quotes about a batch apart."""
        position, parity = self.start, 0
        while position < self.text.size:
            chunk = self.text.read(position, position + BATCH_BYTES)
            while position + len(chunk) < self.text.size:
                cut = self._cut(chunk, parity)
                if cut is not None:
                    chunk = chunk[:cut]
                    break
                chunk = self.text.read(position, position + 2 * len(chunk))  # a record longer than a batch
            if b'"' in chunk:
                self.quoted = True
                parity = (parity + chunk.count(b'"')) % 2
            position += len(chunk)
            yield chunk

    def batches(self) -> Iterator[RawBatch]:
        rec = 0
        for chunk in self._chunks():
            batch = self._parse(chunk, rec)
            rec += batch.frame.height
            yield batch

    def patients(self) -> Iterator[pl.Series]:
        """The patient cell of every record, chunk by chunk: read alone, a small part of the
        cost of reading the batches."""
        if "patient_id" not in self.names:
            return
        index = self.names.index("patient_id")
        for chunk in self._chunks():
            try:
                frame = pl.read_csv(chunk, has_header=False, separator=self.delimiter, columns=[index],
                                    infer_schema=False, truncate_ragged_lines=True)
            except pl.exceptions.PolarsError:  # a stray quote, say: the csv module reads it as it can
                frame = self._parse_slowly(chunk, 0).frame.select("patient_id")
            yield frame.to_series().rename("patient_id")

    @staticmethod
    def _cut(chunk: bytes, parity: int) -> int | None:
        """Where a batch ends: after its last line end outside quotes (None: there is none)."""
        cut = chunk.rfind(b"\n")
        quoted = b'"' in chunk
        while cut != -1 and quoted and (parity + chunk.count(b'"', 0, cut)) % 2:
            cut = chunk.rfind(b"\n", 0, cut)
        return None if cut == -1 else cut + 1

    def _frame(self, frame: pl.DataFrame, first_rec: int, problems: list[tuple[int, str]],
               text: Callable[[], pl.DataFrame] | None = None) -> RawBatch:
        return RawBatch(with_blank(frame).with_columns(
            pl.int_range(first_rec, first_rec + frame.height, dtype=pl.Int64).alias(REC)), problems,
            None if text is None else [(text, 0, frame.height)])

    def _read(self, chunk: bytes, typed: bool) -> pl.DataFrame:
        """The chunk's cells: numbers read as numbers when `typed` (polars parses them as it
        reads), everything else as text."""
        schema = {name: pl.Float64 if typed and name in NUMERIC else pl.String for name in self.names}
        return pl.read_csv(chunk, has_header=False, separator=self.delimiter, new_columns=self.names,
                           schema=schema, truncate_ragged_lines=True, decimal_comma=self.delimiter != ",")

    def _parse(self, chunk: bytes, first_rec: int) -> RawBatch:
        numbers = [name for name in self.names if name in NUMERIC]
        text: Callable[[], pl.DataFrame] | None = None
        try:
            frame = self._read(chunk, typed=bool(numbers))
            if numbers and not frame.select(pl.all_horizontal(
                    [pl.col(n).is_finite() | pl.col(n).is_null() for n in numbers]).all()).item():
                raise ValueError("a number polars reads that the contract does not accept")
            if numbers:
                text = lambda: self._frame(self._read(chunk, typed=False), first_rec, []).frame  # noqa: E731
        except (pl.exceptions.PolarsError, ValueError):  # a cell that is not a number: judged as text
            try:
                frame = self._read(chunk, typed=False)
            except pl.exceptions.PolarsError:  # a stray quote, say: the csv module reads it as it can
                return self._parse_slowly(chunk, first_rec)
        width = len(self.names)
        problems = [(first_rec + index, f": {cells} cells, but the header has {width}")
                    for index, cells in self._ragged(chunk, frame)]
        return self._frame(frame, first_rec, problems, text)

    def _ragged(self, chunk: bytes, frame: pl.DataFrame) -> list[tuple[int, int]]:
        """(row, cells) of the rows with more or fewer cells than the header (blank rows aside)."""
        width, rows = len(self.names), frame.height
        if b'"' not in chunk:
            lines = chunk.count(b"\n") + (0 if chunk.endswith(b"\n") else 1)
            known = [pl.col(c).is_null() for c in frame.columns if not c.startswith("_u")]
            empty = frame.select(pl.all_horizontal(known).any()).item()  # (a row empty there: read it closely)
            if lines == rows and not empty and chunk.count(self.delimiter.encode()) == (width - 1) * lines:
                return []  # every line has exactly the header's cells
            records = [line.split(self.delimiter) for line in chunk.decode("utf-8").split("\n")[:rows]]
        else:
            records = list(self._reader(chunk))
        return [(i, len(cells)) for i, cells in enumerate(records)
                if len(cells) != width and any(cell.strip() for cell in cells)]

    def _parse_slowly(self, chunk: bytes, first_rec: int) -> RawBatch:
        rows: list[list[str]] = []
        problems: list[tuple[int, str]] = []
        reader = self._reader(chunk)
        try:
            for row in reader:
                rows.append(row)
        except csv.Error as exc:
            problems.append((first_rec + len(rows), f": not readable as CSV: {exc}"))
        width = len(self.names)
        problems += [(first_rec + i, f": {len(row)} cells, but the header has {width}")
                     for i, row in enumerate(rows) if len(row) != width and any(cell.strip() for cell in row)]
        cells = [(row + [""] * width)[:width] for row in rows]
        frame = pl.DataFrame({name: [row[i] or None for row in cells] for i, name in enumerate(self.names)},
                             schema={name: pl.String for name in self.names})
        return self._frame(frame, first_rec, sorted(problems))


def with_blank(frame: pl.DataFrame) -> pl.DataFrame:
    """The frame with `_blank` (a row with no cell at all) and, instead of its unknown columns
    (`_u*`), `_other`: whether the row has something in one of them. A row of cells that are
    only spaces is found blank after validation, where spaces are read as empty."""
    cells = [c for c in frame.columns if c != REC]
    unknown = [c for c in cells if c.startswith("_u")]
    known = [c for c in cells if not c.startswith("_u")]
    # one text of a row's unknown cells: as fast for a million columns as for a few
    other = (pl.concat_str([pl.col(c) for c in unknown], ignore_nulls=True).str.strip_chars() != "").fill_null(False) \
        if unknown else pl.lit(False)
    frame = frame.with_columns(other.alias("_other")).drop(unknown)
    empty = pl.all_horizontal([pl.col(c).is_null() for c in known]) if known else pl.lit(True)
    return frame.with_columns((empty & ~pl.col("_other")).alias("_blank"))


# --- records: JSON, JSON Lines, a program's records --------------------------------------------

def _cell(value: Any) -> str | None:
    """A JSON or Python value as the text a CSV cell would hold."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value.value if hasattr(value, "value") and not isinstance(value, str) else value)


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cycle collector off while many objects are made that all live on (every record
    of a JSON file; every graded day, tile and line of the report; every resource imported),
    which the collector would otherwise go over again and again (a third of reading JSON Lines,
    a sixth of the report's time, two fifths of a FHIR import's)."""
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    record = dict(pairs)
    if len(record) < len(pairs):
        seen: set[str] = set()
        raise _DuplicateKey(next(key for key, _ in pairs if key in seen or seen.add(key)))  # type: ignore[func-returns-value]
    return record


class _DuplicateKey(ValueError):
    pass


_AS_IS = {str, type(None)}  # the values a row holds as they are


def _records_batch(records: list[tuple[int, Any]], source: str,
                   problems: list[str]) -> tuple[RawBatch, dict[str, int]]:
    """Records as a raw batch, and the unknown keys with the first record that has each;
    `records` holds (rec, record, or the problem that kept it from being read)."""
    rows: list[dict[str, str | None]] = []
    found: list[tuple[int, str]] = []
    unknown: dict[str, int] = {}
    known: dict[Any, str | None] = {}  # each key's column, worked out once
    plain: dict[tuple[Any, ...], bool] = {}  # whether records with these keys name their columns as such
    for rec, record in records:
        if type(record) is dict:
            keys = tuple(record)
            if keys not in plain:
                known.update({key: column_for(str(key)) for key in keys if key not in known})
                plain[keys] = all(known[key] == key for key in keys)
            if plain[keys] and set(map(type, record.values())) <= _AS_IS:
                rows.append(record)  # already the row: text under column names
                continue
        row: dict[str, str | None] = {}
        rows.append(row)
        if isinstance(record, _Problem):
            found.append((rec, record.text))
            continue
        if not isinstance(record, Mapping):
            found.append((rec, ": expected a record (an object of column: value)"))
            continue
        for key, value in record.items():
            if key not in known:
                known[key] = column_for(str(key))
            column = known[key]
            if column is None:
                unknown.setdefault(str(key), rec)
            elif column in row:
                found.append((rec, f":{column}: given more than once (as '{key}' too)"))
            elif isinstance(value, dict | list):
                found.append((rec, f":{column}: expected a single value, not a list or object"))
                row[column] = None
            else:
                row[column] = value if type(value) is str else _cell(value)
    columns = [c for c in dict.fromkeys(known.values()) if c is not None]
    if any(rows):  # (when no record could be read, their problems say why)
        _require_day(columns, source, problems)
    frame = pl.from_dicts(rows, schema={c: pl.String for c in columns}) if columns else pl.DataFrame(height=len(rows))
    frame = frame.with_columns(pl.Series(REC, [rec for rec, _ in records], dtype=pl.Int64))
    return RawBatch(with_blank(frame), found), unknown


def _json_line(line: str) -> Any:
    """A JSON Lines record, or the problem that kept it from being read."""
    quick = _quick_record(line)
    if quick is not None:
        return quick
    try:
        return json.loads(line, object_pairs_hook=_no_duplicate_keys)
    except _DuplicateKey as exc:
        return _Problem(f": key '{exc}' given twice in one record")
    except json.JSONDecodeError as exc:
        return _Problem(f": not valid JSON: {exc.msg}")
    except RecursionError:
        return _Problem(": JSON nested too deeply")


def _quick_record(line: str) -> dict[str, Any] | None:
    """A record read by orjson, when that gives what the json module would: an object whose
    every key ends in a quote and a colon with nothing between, and whose text has no more of
    those than the object has keys, so that no key was given twice. Anything else (None) is
    read by the json module, which words the problems."""
    if ' :' in line or '\t:' in line or '\r:' in line:
        return None
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    if type(record) is not dict or line.count('":') != len(record):
        return None
    return record


@dataclass(frozen=True)
class _Problem:
    text: str


def _json_records(text: str, source: str) -> tuple[list[tuple[int, Any]], bool]:
    """The records of JSON or JSON Lines text, and whether it was JSON Lines."""
    stripped = text.strip()
    try:
        data = json.loads(stripped, object_pairs_hook=_no_duplicate_keys)
    except _DuplicateKey as exc:
        if stripped.startswith("["):
            raise ObservationError([f"{source}: key '{exc}' given twice in one record"]) from None
        data = None
    except json.JSONDecodeError as exc:
        if stripped.startswith("["):
            raise ObservationError([f"{source}:{exc.lineno}: not valid JSON: {exc.msg}"]) from None
        data = None
    except RecursionError:
        raise ObservationError([f"{source}: JSON nested too deeply"]) from None
    if data is None:
        return [(number, _json_line(line)) for number, line in enumerate(text.split("\n")) if line.strip()], True
    if isinstance(data, dict) and isinstance(data.get("observations"), list):
        data = data["observations"]
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list):
        raise ObservationError([f"{source}: expected JSON records (an array of objects)"])
    return list(enumerate(data)), False


def _records_input(records: list[tuple[int, Any]], name: str, locate: Callable[[int], str],
                   warnings: list[str], empty: str) -> Input:
    problems: list[str] = []
    batch, unknown = _records_batch(records, name, problems)
    if problems:
        raise ObservationError(problems)
    warnings += [f"{locate(rec)}:{key}: unknown column, ignored{did_you_mean(key.lower(), KNOWN_COLUMNS)}"
                 for key, rec in unknown.items()]
    return Input(name=name, locate=locate, warnings=warnings, batches=lambda: iter([batch]), empty_message=empty)


# --- Excel ---------------------------------------------------------------------------------------

EXCEL_SUFFIXES = frozenset({".xlsx", ".xlsm"})
_ZIP = b"PK\x03\x04"
_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # .xls, and any workbook saved with a password
# the most rows a sheet holds (Excel's own limit): a sheet with more was not written by a spreadsheet
EXCEL_ROWS = 1_048_576
# the most a part of a workbook that is read whole (shared strings, styles) may unpack to; the
# sheet itself is read as a stream
EXCEL_PART_BYTES = 256 << 20


@dataclass(frozen=True)
class Workbook:
    """A sheet of an Excel workbook, by name (None: the first), as `open_input` takes it."""

    path: str | Path
    sheet: str | None = None


def open_excel(path: str | Path, sheet: str | None = None) -> Input:
    """A sheet of an Excel workbook (.xlsx; None: the first), or `-` for one on standard input.
    Its first non-empty row is the header; each record's location is FILE:SHEET:ROW, the row as
    the spreadsheet numbers it."""
    if str(path) == "-":
        return _excel(io.BytesIO(sys.stdin.buffer.read()), "<stdin>", sheet)
    try:
        with Path(path).open("rb") as handle:
            return _excel(handle, str(path), sheet)
    except OSError as exc:  # (openpyxl's own read errors are said in _excel)
        raise ObservationError([f"{path}: cannot read file: {exc.strerror or exc}"]) from None


def _not_excel(head: bytes, source: str) -> str | None:
    """Why a file is not one openpyxl can read as a workbook, or None."""
    if head.startswith(_OLE):
        return (f"{source}: an Excel 97-2003 (.xls) or password-protected workbook, which crsgrade cannot read;"
                " save it as .xlsx without a password, or as CSV UTF-8")
    if not head.startswith(_ZIP):
        return f"{source}: not an Excel workbook (.xlsx is a ZIP archive; this file is not one)"
    return None


def _excel(handle: IO[bytes], source: str, sheet: str | None) -> Input:
    """A sheet of the workbook `handle` reads, as one batch (openpyxl imported only here)."""
    import warnings as python_warnings
    import zipfile

    head = handle.read(8)
    handle.seek(0)
    reason = _not_excel(head, source)
    if reason is not None:
        raise ObservationError([reason])
    try:
        with zipfile.ZipFile(handle) as archive:
            parts = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise ObservationError([f"{source}: not a readable Excel workbook (a damaged ZIP archive: {exc})"]) from None
    names = {part.filename for part in parts}
    if "[Content_Types].xml" not in names:
        raise ObservationError([f"{source}: a ZIP archive, but not an Excel workbook (.xlsx)"])
    for part in parts:
        if not part.filename.startswith("xl/worksheets/") and part.file_size > EXCEL_PART_BYTES:
            raise ObservationError([f"{source}: {printable(part.filename)} unpacks to {part.file_size:,} bytes,"
                                    f" more than the {EXCEL_PART_BYTES:,} read; save the sheet as CSV UTF-8"])
    try:
        import openpyxl  # type: ignore[import-untyped]
    except ImportError:
        raise ObservationError([f"{source}: reading an Excel workbook needs openpyxl (pip install openpyxl);"
                                " or save the sheet as CSV UTF-8"]) from None
    handle.seek(0)
    with python_warnings.catch_warnings():
        # openpyxl warns about what it leaves out (extensions, data validation): not the data
        python_warnings.simplefilter("ignore")
        try:
            # read-only: the sheet is streamed, and no images or charts are loaded;
            # data-only: a formula's value as last saved, never the formula
            book = openpyxl.load_workbook(handle, read_only=True, data_only=True, keep_links=False)
        except Exception as exc:  # openpyxl raises what its parsers raise (KeyError, XML errors, ...)
            raise ObservationError([f"{source}: not a readable Excel workbook ({_reason(exc)})"]) from None
        try:
            return _sheet_input(book, _chosen(book, source, sheet), source)
        finally:
            book.close()


def _reason(exc: BaseException) -> str:
    return shortened(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__, 200)


def _chosen(book: Any, source: str, sheet: str | None) -> Any:
    """The sheet asked for (the first when None); an unknown name is an error listing the sheets."""
    sheets: list[Any] = list(book.worksheets)
    titles = [str(s.title) for s in sheets]
    if not sheets:
        raise ObservationError([f"{source}: the workbook has no worksheets"])
    if sheet is None:
        return sheets[0]
    if sheet in titles:
        return sheets[titles.index(sheet)]
    folded = [title.casefold() for title in titles]  # Excel's sheet names differ in more than letter case
    if sheet.casefold() in folded:
        return sheets[folded.index(sheet.casefold())]
    listed = capped([f"'{title}'" for title in titles])
    raise ObservationError([f"{source}: no sheet named '{sheet}'; its sheets: {listed}"])


def _sheet_rows(book: Any, sheet: Any, source: str) -> Iterator[tuple[int, list[dict[str, Any]]]]:
    """The rows of a sheet as its XML holds them: (row number, cells present), each cell a dict
    of column, value and data_type; "f" for a formula with no saved value. Only the cells the
    file has are read (no row is filled out to the sheet's width)."""
    from openpyxl.worksheet._reader import FORMULA_TAG, WorkSheetParser  # type: ignore[import-untyped]

    class Parser(WorkSheetParser):  # type: ignore[misc]
        def parse_cell(self, element: Any) -> dict[str, Any]:
            cell: dict[str, Any] = WorkSheetParser.parse_cell(self, element)
            # data-only keeps a formula's saved value; a formula saved without one (a file written
            # by a program that does not calculate) reads as empty; an empty text result is "str"
            if cell["value"] is None and cell["data_type"] not in ("str", "s", "inlineStr") \
                    and element.find(FORMULA_TAG) is not None:
                cell["data_type"] = "f"
            return cell

    where = f"{source}:{sheet.title}"
    with sheet._get_source() as stream:
        rows = Parser(stream, book.shared_strings, data_only=True, epoch=book.epoch,
                      date_formats=book._date_formats, timedelta_formats=book._timedelta_formats).parse()
        count = 0
        while True:
            try:
                row = next(rows, None)
            except Exception as exc:  # a malformed sheet: whatever its XML parser or openpyxl raises
                raise ObservationError([f"{where}: not a readable sheet ({_reason(exc)})"]) from None
            if row is None:
                return
            count += 1
            if count > EXCEL_ROWS:
                raise ObservationError([f"{where}: more than {EXCEL_ROWS:,} rows, more than a spreadsheet holds"])
            yield int(row[0]), row[1]


def _column_letter(number: int) -> str:
    letters = ""
    while number > 0:
        number, rest = divmod(number - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters


def _excel_cell(value: Any, time: bool = False) -> str | None:
    """A cell's value as the text a CSV cell would hold: a number as itself (not as formatted), a
    date as its ISO date (or, in a time column, its time), a boolean as true/false."""
    if value is None or isinstance(value, str):
        return value or None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime.datetime):
        return value.time().isoformat() if time else value.date().isoformat()
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 2**53 else repr(value)
    return str(value)


def _filled(cell: Mapping[str, Any]) -> bool:
    value = cell["value"]
    return cell["data_type"] == "f" or (value is not None and not (isinstance(value, str) and not value.strip()))


def _header(rows: Iterator[tuple[int, list[dict[str, Any]]]], where: str,
            warnings: list[str]) -> tuple[int, list[str | None]]:
    """The header: the first row with something in it (its row, and each column's contract column)."""
    for row in rows:
        filled = [cell for cell in row[1] if _filled(cell)]
        if filled:
            number = row[0]
            break
    else:
        raise ObservationError([f"{where}: empty sheet; expected a header row with at least 'day'"])
    problems: list[str] = []
    headers = [""] * max(int(cell["column"]) for cell in filled)
    for cell in filled:
        if cell["data_type"] in ("f", "e"):
            problems.append(f"{where}:{number}: header cell {_column_letter(cell['column'])}{number}"
                            + (" has a formula with no saved value" if cell["data_type"] == "f"
                               else f" holds the error {cell['value']}"))
        else:
            headers[int(cell["column"]) - 1] = _excel_cell(cell["value"]) or ""
    columns = map_headers(headers, where, problems, warnings, line=number)
    _require_day(columns, where, problems, line=number)
    if problems:
        raise ObservationError(problems)
    return number, columns


def _sheet_input(book: Any, sheet: Any, source: str) -> Input:
    """A sheet's rows as one batch of text cells, located as FILE:SHEET:ROW."""
    where = f"{source}:{sheet.title}"
    rows = _sheet_rows(book, sheet, source)
    warnings: list[str] = []
    _, columns = _header(rows, where, warnings)
    known = {index + 1: column for index, column in enumerate(columns) if column is not None}
    times = {column for column in known.values()
             if column in Observation.model_fields and datetime.time in field_kinds(column)}
    cells_of: dict[str, list[str | None]] = {column: [] for column in known.values()}
    other: list[str | None] = []  # whether a row has something in a column that is not read
    numbers: list[int] = []  # each record's row
    found: list[tuple[int, str]] = []
    unheaded: list[str] = []  # the first cell in a column with no header
    for number, cells in rows:
        row, elsewhere, trouble = _excel_row(number, cells, known, times, len(columns), unheaded)
        if not elsewhere and not trouble and all(value is None for value in row.values()):
            continue  # an empty row
        rec = len(numbers)
        numbers.append(number)
        for column, values in cells_of.items():
            values.append(row.get(column))
        other.append("x" if elsewhere else None)
        found += [(rec, text) for text in trouble]
    if unheaded:
        warnings.append(f"{where}: cells in columns with no header are ignored (the first: {unheaded[0]})")
    frame = pl.DataFrame({**cells_of, "_u": other}, schema={**dict.fromkeys(cells_of, pl.String), "_u": pl.String})
    batch = RawBatch(with_blank(frame.with_columns(pl.int_range(0, frame.height, dtype=pl.Int64).alias(REC))), found)
    return Input(name=where, locate=lambda rec: f"{where}:{numbers[rec]}", warnings=warnings,
                 batches=lambda: iter([batch]), empty_message=f"{where}: header only; no observation rows")


def _excel_row(number: int, cells: list[dict[str, Any]], known: Mapping[int, str], times: set[str], width: int,
               unheaded: list[str]) -> tuple[dict[str, str | None], bool, list[str]]:
    """A row's cells in the columns read, whether it has something in another column, and the
    problems of its cells (said after the row's location)."""
    row: dict[str, str | None] = {}
    elsewhere = False
    trouble: list[str] = []
    for cell in cells:
        index, kind = int(cell["column"]), cell["data_type"]
        column = known.get(index)
        if column is None:
            if not elsewhere and _filled(cell):
                elsewhere = True
                if index > width and not unheaded:
                    unheaded.append(f"{_column_letter(index)}{number}")
        elif kind == "f":
            trouble.append(f":{column}: cell {_column_letter(index)}{number} has a formula but no saved value;"
                           " open and save the file in Excel or LibreOffice to calculate it")
        elif kind == "e":
            trouble.append(f":{column}: cell {_column_letter(index)}{number} holds the error {cell['value']}")
        else:
            row[column] = _excel_cell(cell["value"], column in times)
    return row, elsewhere, trouble


# --- opening ------------------------------------------------------------------------------------

def open_bytes(raw: bytes, source: str) -> Input:
    """Text given whole (standard input, a program's string), or an Excel workbook's bytes (its
    first sheet)."""
    if raw.startswith((_ZIP, _OLE)):
        return _excel(io.BytesIO(raw), source, None)
    warnings: list[str] = []
    return _open(_Text(source, raw=_convert(raw, source, warnings)), source, warnings)


def _open(text: _Text, source: str, warnings: list[str]) -> Input:
    head = text.read(0, 4096).lstrip()[:1]
    if not head:
        raise ObservationError([f"{source}: empty file; expected a header row with at least 'day'"])
    if head in (b"[", b"{"):
        with collector_paused():
            records, _ = _json_records(text.read(0, text.size).decode("utf-8"), source)
            return _records_input(records, source, lambda rec: f"{source}:{rec + 1}", warnings,
                                  f"{source}: no observation records")
    table = _Csv(text, source, warnings, [])
    return Input(name=source, locate=table.locate, warnings=warnings, batches=table.batches,
                 empty_message=f"{source}: header only; no observation rows",
                 patients=table.patients if text.size - table.start > BATCH_BYTES else None)


def open_path(path: str | Path) -> Input:
    """A file (CSV, JSON, JSON Lines, or an Excel workbook: its first sheet), or `-` for standard
    input. A UTF-8 file is read a batch at a time; any other is converted whole first."""
    if str(path) == "-":
        return open_bytes(sys.stdin.buffer.read(), "<stdin>")
    source = str(path)
    try:
        with Path(path).open("rb") as handle:
            head = handle.read(1 << 16)
        size = Path(path).stat().st_size
    except OSError as exc:
        raise ObservationError([f"{path}: cannot read file: {exc.strerror or exc}"]) from None
    if head.startswith((_ZIP, _OLE)) or Path(path).suffix.lower() in EXCEL_SUFFIXES:
        return open_excel(path)
    plain = head[:2] not in (b"\xff\xfe", b"\xfe\xff") and not head.startswith(b"\xef\xbb\xbf") \
        and b"\x00" not in head and not _LONE_CR.search(head) and _utf8_error(head, complete=len(head) == size) is None
    if not plain or size <= BATCH_BYTES:
        return open_bytes(Path(path).read_bytes(), source)
    return _open(_Text(source, path=Path(path)), source, [])


def _utf8_error(piece: bytes, complete: bool) -> UnicodeDecodeError | None:
    """Why a piece of a file is not UTF-8, if it is not (a character cut at its end aside,
    unless the piece is the whole rest of the file)."""
    try:
        codecs.getincrementaldecoder("utf-8")().decode(piece, final=complete)
    except UnicodeDecodeError as exc:
        return exc
    return None


def open_records(records: Iterable[Any]) -> Input:
    """Records given by a program: dicts of column: value, or Observation models."""
    listed = []
    for number, record in enumerate(records):
        if hasattr(record, "model_dump"):
            record = record.model_dump(exclude_none=True)
        listed.append((number, record))
    return _records_input(listed, "records", lambda rec: f"records:{rec + 1}", [], "records: no observation records")


@dataclass(frozen=True)
class Imported:
    """Observations imported from an OMOP or FHIR source (`frame`, with `source` and `source_id`
    columns), named by the source: a problem names the record its reading came from."""

    frame: pl.DataFrame
    name: str


def open_table(table: Any, name: str = "table", row_labels: list[str] | None = None) -> Input:
    """A polars, pandas or Arrow table of observations, one row per reading; `name` says where
    it came from in messages, and `row_labels`, when given, how they name each row (a part of a
    larger table names its rows as that table numbers them)."""
    frame = table if isinstance(table, pl.DataFrame) else (
        pl.from_pandas(table) if hasattr(table, "iloc") else pl.from_arrow(table))
    if not isinstance(frame, pl.DataFrame):
        raise ObservationError([f"{name}: expected a table of observations"])
    warnings: list[str] = []
    problems: list[str] = []
    columns = map_headers(frame.columns, name, problems, warnings)
    _require_day(columns, name, problems)
    if problems:
        raise ObservationError(problems)
    kept = frame.select([pl.col(name).alias(column)
                         for name, column in zip(frame.columns, columns, strict=False) if column])
    kept = kept.with_columns([pl.col(c).cast(pl.String) for c, dtype in kept.schema.items()
                              if dtype not in (pl.String, pl.Boolean) and not dtype.is_numeric()])
    batch = RawBatch(with_blank(kept.with_columns(pl.int_range(0, kept.height, dtype=pl.Int64).alias(REC))))
    locate: Callable[[int], str] = lambda rec: f"{name}:{rec + 1}"  # noqa: E731
    if row_labels is not None:
        labels = [f"{name}:{label}" for label in row_labels]
        locate = labels.__getitem__
    if {"source", "source_id"} <= set(frame.columns):  # imported: the record a reading came from
        records = [f"{name}:{table} {record}" for table, record in frame.select("source", "source_id").iter_rows()]
        locate = records.__getitem__
    return Input(name=name, locate=locate, warnings=warnings, batches=lambda: iter([batch]),
                 empty_message=f"{name}: no observation rows")
