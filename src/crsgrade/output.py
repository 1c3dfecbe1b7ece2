"""Writing graded days: as CSV straight from the graded frames, or a GradingResult as a rich
timeline, CSV or JSON. rich is imported only by the timeline."""

from __future__ import annotations

import contextlib
import csv
import io
import queue
import re
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, BinaryIO

import polars as pl
from pydantic import BaseModel

from .errors import CrsgradeError
from .grading import CSV_COLUMNS, GRADE_PARTS, Accounting, Grader
from .results import GradedPatient, GradingResult, SyndromeGrade
from .syndromes import NAMES, SYNDROMES, Syndrome

if TYPE_CHECKING:
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

GRADE_STYLE = {0: "green", 1: "yellow", 2: "dark_orange", 3: "red", 4: "bold red", 5: "bold white on red"}


# A cell starting so is run as a formula by spreadsheets (CSV injection); a leading ' makes it text.
_FORMULA = re.compile(r"^[=+\-@\t\r]")


def spreadsheet_safe(frame: pl.DataFrame, raw: bool = False) -> pl.DataFrame:
    """The frame's text cells as a spreadsheet will show them rather than run them (unless
    `raw`): a cell starting with = + - @ (or a tab or carriage return) gets a leading '."""
    if raw:
        return frame
    return frame.with_columns([
        pl.when(pl.col(c).str.contains(_FORMULA.pattern)).then(pl.lit("'") + pl.col(c)).otherwise(pl.col(c)).alias(c)
        for c, kind in frame.schema.items() if kind == pl.String])


def safe_cell(value: Any, raw: bool = False) -> Any:
    """One cell, as `spreadsheet_safe` writes it."""
    return "'" + value if not raw and isinstance(value, str) and _FORMULA.match(value) else value


def write_csv(frame: pl.DataFrame, handle: BinaryIO, header: bool, raw: bool = False) -> None:
    """Graded days as `crsgrade grade --format csv` rows (the header when asked)."""
    spreadsheet_safe(frame.select(CSV_COLUMNS), raw).with_columns(
        pl.when(pl.col("fever_waived")).then(pl.lit("true")).otherwise(pl.lit("false")).alias("fever_waived")
    ).write_csv(handle, include_header=header, line_terminator="\n", null_value="")


_CELL: dict[str, Callable[[SyndromeGrade], Any]] = {
    "grade": lambda g: "" if g.grade is None else g.grade, "rules": lambda g: " ".join(g.rule_ids),
    "reason": lambda g: g.reason, "not_recorded": lambda g: " ".join(g.not_recorded)}


def to_csv(result: GradingResult, raw: bool = False) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for day in result.days():
        writer.writerow([safe_cell(day.patient_id, raw), day.day,
                         *(_CELL[part](day.grades[s]) for part in GRADE_PARTS for s in SYNDROMES),
                         str(day.fever_waived).lower()])
    return buffer.getvalue()


SPOOL_BYTES = 64 << 20  # output kept in memory while it waits, at most; then in a temporary file


class Spool(tempfile.SpooledTemporaryFile[bytes]):
    """Output waiting to be written: in memory up to SPOOL_BYTES, then in a temporary file in
    $TMPDIR. A temporary file that cannot be written (a full disk) is an error naming that
    folder, not the output; it is kept as `failure` too, since a writer that calls `write`
    (polars) may raise its own error in its place."""

    def __init__(self) -> None:
        super().__init__(max_size=SPOOL_BYTES)
        self.failure: CrsgradeError | None = None

    def write(self, data: Any) -> int:
        try:
            return super().write(data)
        except OSError as exc:
            self.failure = CrsgradeError(f"{tempfile.gettempdir()}: cannot write a temporary file: "
                                         f"{exc.strerror or exc}")
            raise self.failure from None


class Behind:
    """A handle written to by a thread of its own, a megabyte at a time. Writing a large output
    (explain's days come to about 13 kB each) is the kernel copying it, which releases the GIL:
    done behind, it overlaps the rendering of the days that follow. A write that fails raises
    its error at the next write or at `close`, in the thread that writes."""

    CHUNK = 1 << 20

    def __init__(self, handle: BinaryIO) -> None:
        self._handle = handle
        self._pieces: list[bytes] = []
        self._size = 0
        self._chunks: queue.Queue[bytes | None] = queue.Queue(maxsize=8)
        self._failure: BaseException | None = None
        self._thread = threading.Thread(target=self._drain, name="crsgrade-writer", daemon=True)
        self._thread.start()

    def write(self, data: bytes) -> int:
        self._pieces.append(data)
        self._size += len(data)
        if self._size >= self.CHUNK:
            self._send()
        return len(data)

    def _send(self) -> None:
        if self._failure is not None:
            raise self._failure
        self._chunks.put(b"".join(self._pieces))
        self._pieces, self._size = [], 0

    def _drain(self) -> None:
        while (chunk := self._chunks.get()) is not None:
            if self._failure is None:
                try:
                    self._handle.write(chunk)
                except BaseException as exc:  # raised again in the thread that writes
                    self._failure = exc

    def close(self, complete: bool = True) -> None:
        """Writes what is left (unless the output is abandoned) and waits for the thread."""
        try:
            if complete:
                self._send()
        finally:
            self._chunks.put(None)
            self._thread.join()
        if complete and self._failure is not None:
            raise self._failure

    def __enter__(self) -> Behind:
        return self

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        """All is written when the block ends without error; otherwise the rest is abandoned."""
        self.close(complete=kind is None)


def write_streamed(handle: BinaryIO, around: Callable[[], BaseModel | bytes],
                   parts: Iterable[tuple[Iterable[BaseModel | bytes], ...]],
                   fields: tuple[str, ...] = ("patients",), head_last: bool = False) -> None:
    """A result's JSON (indented by two, as pydantic writes it) with its top-level lists
    `fields` written item by item as they come: each part gives some items of each list, each
    a model or its JSON already indented as an item of the list (explain's days). The fields
    around the lists come from `around()`, the result with the lists empty (or its JSON), called
    once every item is written (counts and cohort figures are known only then), and first as
    well for the fields before the first list. Every list but the first, and the first too when
    the fields before it are known only at the end (`head_last`: a comparison's input and
    warnings come before its days), waits in a temporary file, on disk past 64 MB."""
    def between() -> list[bytes]:  # the JSON before, between and after the empty lists
        result = around()
        text = result if isinstance(result, bytes) else result.model_dump_json(indent=2).encode()
        pieces = []
        for field in fields:
            before, text = text.split(b'\n  "%s": []' % field.encode(), 1)
            pieces.append(before + b'\n  "%s": ' % field.encode())
        return [*pieces, text]

    with contextlib.ExitStack() as stack:
        out = stack.enter_context(Behind(handle))
        lists: list[Any] = [stack.enter_context(Spool()) for _ in fields[0 if head_last else 1:]]
        if not head_last:
            out.write(between()[0])
            lists.insert(0, out)
        written = [False] * len(fields)
        for part in parts:
            for number, items in enumerate(part):
                for item in items:
                    lists[number].write(b",\n    " if written[number] else b"[\n    ")
                    lists[number].write(item if isinstance(item, bytes) else item.__pydantic_serializer__.to_json(
                        item, indent=2).replace(b"\n", b"\n    "))
                    written[number] = True
        pieces = between()
        for number in range(len(fields)):
            if number or head_last:
                out.write(pieces[number])
                lists[number].seek(0)
                shutil.copyfileobj(lists[number], out)
            out.write(b"\n  ]" if written[number] else b"[]")
        out.write(pieces[-1] + b"\n")


def write_json(grader: Grader, frames: Iterable[pl.DataFrame], accounting: Accounting, handle: BinaryIO) -> None:
    """The GradingResult of `crsgrade grade --format json`, written as the frames are graded;
    the warnings and counts, known only at the end, come after the patients."""
    write_streamed(handle, lambda: grader.result([], accounting),
                   ((grader.renderer.patients_json(frame),) for frame in frames))


def _grade_cell(grade: SyndromeGrade) -> Text:
    from rich.text import Text

    if grade.grade is None:
        return Text("–", style="dim")
    return Text(str(grade.grade), style=GRADE_STYLE.get(grade.grade, ""))


def _reason_cell(grade: SyndromeGrade) -> Text:
    from rich.text import Text

    if grade.grade is None:
        return Text(grade.reason, style="dim")
    text = Text(grade.reason)
    if grade.not_recorded:
        text.append(f" (could be higher: {', '.join(grade.not_recorded)} not recorded)", style="dim")
    return text


def labelled(labels: Mapping[str, str]) -> list[tuple[Syndrome, str]]:
    """The syndromes `labels` names (as GradingResult.labels does), each with its label, in its order."""
    return [(syndrome, label) for name, label in labels.items() for syndrome in SYNDROMES if syndrome == name]


def patient_table(patient: GradedPatient, labels: dict[str, str] | None = None) -> Table:
    """One patient's days; `labels` are the graded syndromes and their names (CRS, ICANS, CRES)."""
    from rich.table import Table
    from rich.text import Text

    labels = labels or NAMES
    graded = labelled(labels)
    table = Table(title=Text(f"Patient {patient.patient_id}"), title_justify="left", expand=False)
    table.add_column("Day", justify="right")
    for label in labels.values():
        table.add_column(label, justify="center")
        table.add_column(f"{label} criterion")
    for day in patient.days:
        cells: list = [str(day.day)]
        for syndrome, _ in graded:
            cells += [_grade_cell(day.syndrome(syndrome)), _reason_cell(day.syndrome(syndrome))]
        table.add_row(*cells)
    peaks = []
    for syndrome, label in graded:
        peak = patient.peak(syndrome)
        peaks.append(f"peak {label} {peak.grade} on day {peak.day}" if peak else f"no {label} grade")
    table.caption = "; ".join(peaks)
    table.caption_justify = "left"
    return table


def timeline(result: GradingResult) -> Group:
    """One table per patient, then the rule set, engine and any setting changed from default."""
    from rich.console import Group
    from rich.text import Text

    parts: list[Table | Text] = [patient_table(patient, result.labels) for patient in result.patients]
    parts.append(Text(
        f"Graded by {result.ruleset} rules v{result.ruleset_version} with {result.engine}.",
        style="dim",
    ))
    return Group(*parts)
