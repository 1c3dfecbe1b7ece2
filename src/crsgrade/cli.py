"""The `crsgrade` command line: thin commands that hand off to the library."""

from __future__ import annotations

import contextlib
import datetime
import io
import json
import os
import shutil
import stat
import sys
import tempfile
from collections.abc import Iterator, Mapping
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
import typer.core
from rich.console import Console
from rich.padding import Padding
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.text import Text

from . import __version__
from .errors import CrsgradeError, SettingsError, capped, printable
from .evaluators import durable_available
from .grading import Accounting, Grader
from .results import GradedDay, GradingResult
from .ruleset import DEFAULT_SYSTEM, SettingDef, default_rules_dir, load_ruleset, shipped_systems
from .sources import collector_paused
from .syndromes import SYNDROMES

# explain, summary, rules, demo and the rich views import what they need when run, so that
# `crsgrade grade` starts without them.

class _Commands(typer.core.TyperGroup):
    """Every command: a user error (a CrsgradeError) is shown once here, as red lines on
    stderr with exit code 1, instead of a traceback."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except CrsgradeError as exc:
            for line in str(exc).splitlines():
                _say("error", "red", printable(line))
            raise typer.Exit(1) from None


app = typer.Typer(
    cls=_Commands,
    name="crsgrade",
    help="Grade CRS and ICANS after immune effector cell therapy by the ASTCT 2019 consensus.",
    rich_markup_mode="rich",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
_err = Console(stderr=True)


class Format(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


class PanelFormat(StrEnum):
    table = "table"
    json = "json"


class Engine(StrEnum):
    auto = "auto"
    durable = "durable"
    python = "python"


class Schema(StrEnum):
    grade = "grade"
    summary = "summary"


def _engine_in_use() -> str:
    return "durable-rules" if durable_available() else "python (durable-rules not importable here)"


def _version(value: bool) -> None:
    if value:
        typer.echo(f"crsgrade {__version__} (engine: {_engine_in_use()}; Python {sys.version.split()[0]})")
        raise typer.Exit()


@app.callback()
def main_options(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and engine.")
    ] = False,
) -> None:
    """Grade CRS and ICANS after immune effector cell therapy by the ASTCT 2019 consensus."""


def _parse_sets(pairs: list[str]) -> dict[str, str]:
    settings = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise SettingsError(f"--set {pair!r}: expected NAME=VALUE, e.g. antipyretic_waives_fever=false")
        settings[name.strip()] = value.strip()
    return settings


class Source(StrEnum):
    auto = "auto"
    omop = "omop"
    fhir = "fhir"


FromOption = Annotated[Source, typer.Option(
    "--from", help="What FILE is: observations (CSV, JSON, JSON Lines, Excel; the default), an OMOP CDM"
                   " (omop: a DuckDB file or a folder of CSV or Parquet tables) or FHIR R4 (fhir: a folder of"
                   " NDJSON files, or a Bundle).")]
SheetOption = Annotated[str | None, typer.Option(
    "--sheet", metavar="NAME", help="Excel: the sheet to read (default: the first).")]
MappingOption = Annotated[Path | None, typer.Option(
    "--mapping", metavar="FILE", help="OMOP/FHIR: a site's own codes, added to the shipped mapping.")]
InfusionDatesOption = Annotated[Path | None, typer.Option(
    "--infusion-dates", metavar="FILE",
    help="OMOP/FHIR: day 0 per patient, a CSV of person_id,infusion_date (wins over the CAR-T product's date).")]
ScoresOption = Annotated[Path | None, typer.Option(
    "--scores", metavar="FILE",
    help="OMOP/FHIR: what the standards do not code (ICE, CAPD, consciousness, seizures, ...), a CSV in the"
         " observation column names with person_id and date.")]


def _observations(file: Path, from_: Source, sheet: str | None, mapping: Path | None,
                  infusion_dates: Path | None, scores: Path | None, quiet: bool) -> Any:
    """What FILE holds, ready for the pipeline: the file itself, a sheet of a workbook, or the
    observations imported from an OMOP CDM or FHIR source (its accounting said on stderr)."""
    if from_ is Source.auto:
        if mapping or infusion_dates or scores:
            raise typer.BadParameter("--mapping, --infusion-dates and --scores go with --from omop or --from fhir")
        if sheet is not None:
            from .sources import Workbook

            return Workbook(file, sheet)
        return file
    from .importing import import_source
    from .sources import Imported

    with collector_paused():
        frame, imported = import_source(from_.value, file, mapping, infusion_dates, scores)
    if not quiet:
        _say_import(imported.report())
    return Imported(frame, str(file))


def _say_import(lines: list[str]) -> None:
    """An import's accounting on stderr, what was not mapped in yellow."""
    for line in lines:
        _err.print(Text(line), style="yellow" if "not mapped" in line or "no infusion" in line else "dim")


FileArgument = Annotated[
    Path,
    typer.Argument(metavar="FILE", help="Observations: CSV (, ; or tab), JSON or JSON Lines; - for standard input."),
]
RulesOption = Annotated[
    Path | None,
    typer.Option("--rules", metavar="DIR", help="Rule set directory (instead of a shipped --system)."),
]
SystemOption = Annotated[str, typer.Option(
    "--system", "-s", metavar="SYSTEM",
    help=f"Grading system: {', '.join(shipped_systems())} (default {DEFAULT_SYSTEM}; see `crsgrade systems`).",
)]
SetOption = Annotated[
    list[str],
    typer.Option("--set", metavar="NAME=VALUE",
                 help="Change an \\[open] setting: NAME=VALUE (repeatable; see `crsgrade settings`)."),
]
EngineOption = Annotated[Engine, typer.Option(
    "--engine",
    help="Rule evaluator: durable-rules or python (the same rule files, the same grades). auto:"
         " durable-rules where it can be imported.",
)]
InfusionDateOption = Annotated[
    datetime.datetime | None,
    typer.Option(
        "--infusion-date", formats=["%Y-%m-%d"], metavar="YYYY-MM-DD",
        help="Day 0 for a file with a date column and no infusion_date column (YYYY-MM-DD).",
    ),
]
SkipInvalidOption = Annotated[
    bool, typer.Option("--skip-invalid", help="Grade the valid rows of a file with errors; list the rows left out."),
]
QuietOption = Annotated[bool, typer.Option("--quiet", "-q", help="No warnings or summary on stderr.")]
OutputOption = Annotated[Path | None, typer.Option("--output", "-o", metavar="FILE", help="Write to this file.")]
RawCellsOption = Annotated[bool, typer.Option(
    "--raw-cells", help="CSV: write text cells as they are, even one a spreadsheet would run as a formula"
                        " (by default a cell starting with = + - @ gets a leading ').")]
FormatOption = Annotated[Format | None, typer.Option(
    "--format", "-f", help="Output format (default: from the --output name: .csv, .json; else table).")]
PanelFormatOption = Annotated[PanelFormat | None, typer.Option(
    "--format", "-f", help="Output format (default: json for an --output ending in .json; else table).")]
_BY_SUFFIX = {".csv": "csv", ".json": "json"}


def _format_for(format, output: Path | None, formats: type[StrEnum]):
    """The output format: as asked, or from the output's name; a name that says another
    format than the one asked (a table into out.csv) is refused rather than written."""
    if output is None:
        return format if format is not None else formats("table")
    named = _BY_SUFFIX.get(output.suffix.lower())
    if format is None:
        if named is not None and named not in formats.__members__:
            raise typer.BadParameter(f"{output.name}: this command writes {' or '.join(formats.__members__)};"
                                     " choose another name", param_hint="'--output'")
        return formats(named) if named is not None else formats("table")
    if named is not None and named != format.value:
        raise typer.BadParameter(f"--format {format.value} into {output.name}: name the file for its format"
                                 f" or choose --format {named}", param_hint="'--output'")
    return format


def _not_the_input(file: Path, output: Path | None) -> None:
    """Writing over the observations (directly or through a link) would lose them."""
    try:
        same = output is not None and str(file) != "-" and output.exists() and os.path.samefile(file, output)
    except OSError:
        same = False
    if same:
        raise typer.BadParameter(f"{output} is the input file; write the output to another file",
                                 param_hint="'--output'")


def _report(summary_line: str, warnings: tuple[str, ...], skipped: tuple[str, ...], quiet: bool) -> None:
    if quiet:
        return
    for warning in warnings:
        _say("warning", "yellow", printable(warning))
    for problem in skipped:
        _say("skipped", "yellow", problem)
    _err.print(Text(summary_line, style="dim"), highlight=False, soft_wrap=True)


def _say(label: str, colour: str, line: str) -> None:
    """A line on stderr, its label coloured; the line itself (which may quote the user's
    cells) printed as text, never read as markup."""
    _err.print(Text.assemble((f"{label}:", colour), " ", line), highlight=False, soft_wrap=True)


# A file this large takes about a second or more: show progress.
_PROGRESS_BYTES = 20_000_000


@contextlib.contextmanager
def _progress(observations: Any, quiet: bool, what: str):
    """A progress bar on stderr for long runs of a file; nothing when stderr is not a terminal."""
    try:
        large = isinstance(observations, Path) and (
            str(observations) == "-" or observations.stat().st_size > _PROGRESS_BYTES)
    except OSError:
        large = False
    if quiet or not large or not _err.is_terminal:
        yield None
        return
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed} rows"),
               TimeElapsedColumn())
    with Progress(*columns, console=_err, transient=True) as progress:
        task = progress.add_task(what, total=None)
        yield lambda done, total: progress.update(task, completed=done)


def _graded(observations: Any, set_: list[str], rules: Path | None, engine: Engine,
            infusion_date: datetime.datetime | None, skip_invalid: bool, quiet: bool,
            explain: bool = False, system: str = DEFAULT_SYSTEM) -> tuple[Grader, list, GradingResult]:
    """Grades observations: the grader, the graded frames and the typed result."""
    grader = Grader(rules, _parse_sets(set_), engine.value, system=system)
    accounting = Accounting()
    with _progress(observations, quiet, "grading") as progress:
        frames = list(grader.frames(observations, infusion_date=infusion_date.date() if infusion_date else None,
                                    skip_invalid=skip_invalid, accounting=accounting, progress=progress,
                                    reasons=False))
        result = grader.result(frames, accounting, explain=explain)
    _report(result.input.line(), result.warnings, result.input.skipped, quiet)
    return grader, frames, result


def _device(output: Path) -> bool:
    """Whether the output names something that is neither a file nor a folder (a device, a
    pipe): written to as it is, never replaced. Whatever cannot be looked at is left to the
    writing, which says why it cannot write there."""
    try:
        mode = output.stat().st_mode
    except OSError:
        return False
    return not stat.S_ISREG(mode) and not stat.S_ISDIR(mode)


# Outputs are written a megabyte at a time: explain's JSON comes in pieces of a few kilobytes,
# and writing each as it comes took twice as long (0.8 s against 0.4 s for 1.3 GB).
_WRITE_BUFFER = 1 << 20


@contextlib.contextmanager
def _writing(output: Path | None):
    """A binary handle for the output: a file beside the target, renamed over it only when all
    is written (so a failure leaves the previous file as it was), or standard output, spooled
    so that nothing is printed when a later batch turns out to have errors; a device or a pipe
    named as the output is spooled and written to in the same way."""
    if output is None or _device(output):
        from .output import Spool

        # a device or a pipe (/dev/null, /dev/stdout, a FIFO) is written to, never replaced
        with Spool() as spool:
            try:
                yield spool
            except OSError:
                if spool.failure is None:
                    raise
                raise spool.failure from None
            spool.seek(0)
            if output is None:
                shutil.copyfileobj(spool, sys.stdout.buffer)
                sys.stdout.buffer.flush()
                return
            try:
                with open(output, "wb", buffering=_WRITE_BUFFER) as device:
                    shutil.copyfileobj(spool, device)
            except OSError as exc:
                raise CrsgradeError(f"{output}: cannot write: {exc.strerror or exc}") from None
        return
    target = output.resolve()  # through a link, the file it names
    try:
        handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed by the `with` below, once it opened
            "wb", dir=target.parent, prefix=f".{target.name}.", delete=False, buffering=_WRITE_BUFFER)
    except OSError as exc:
        raise CrsgradeError(f"{output}: cannot write: {exc.strerror or exc}") from None
    try:
        with handle:
            yield handle
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(handle.name, 0o666 & ~umask)  # as a file written in place would be
        os.replace(handle.name, target)
    except OSError as exc:
        Path(handle.name).unlink(missing_ok=True)
        raise CrsgradeError(f"{output}: cannot write: {exc.strerror or exc}") from None
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)
        raise


def _emit(renderable=None, text: str | None = None, output: Path | None = None) -> None:
    """Prints a rich view to the terminal, or writes text (or the view as plain text)."""
    if text is None and output is None:
        Console().print(renderable)  # colours, at the terminal's width
        return
    if text is None:
        buffer = io.StringIO()
        Console(file=buffer, width=160, color_system=None).print(renderable)
        text = buffer.getvalue()
    with _writing(output) as handle:
        handle.write(text.encode("utf-8"))


@app.command()
def grade(
    file: FileArgument,
    from_: FromOption = Source.auto,
    sheet: SheetOption = None,
    mapping: MappingOption = None,
    infusion_dates: InfusionDatesOption = None,
    scores: ScoresOption = None,
    format: FormatOption = None,
    output: OutputOption = None,
    set_: SetOption = [],
    system: SystemOption = DEFAULT_SYSTEM,
    rules: RulesOption = None,
    engine: EngineOption = Engine.auto,
    infusion_date: InfusionDateOption = None,
    skip_invalid: SkipInvalidOption = False,
    raw_cells: RawCellsOption = False,
    quiet: QuietOption = False,
) -> None:
    """Grade every patient-day of FILE: a timeline of CRS and ICANS grades with the criterion
    that set each one."""
    _not_the_input(file, output)
    observations = _observations(file, from_, sheet, mapping, infusion_dates, scores, quiet)
    format = _format_for(format, output, Format)
    if format is Format.table:
        from .output import timeline

        _, _, result = _graded(observations, set_, rules, engine, infusion_date, skip_invalid, quiet, system=system)
        _emit(timeline(result), output=output)
        return
    from .output import write_csv, write_json

    grader = Grader(rules, _parse_sets(set_), engine.value, system=system)
    accounting = Accounting()
    with _progress(observations, quiet, "grading") as progress, _writing(output) as handle:
        frames = grader.frames(observations, infusion_date=infusion_date.date() if infusion_date else None,
                               skip_invalid=skip_invalid, accounting=accounting, progress=progress,
                               reasons=format is Format.csv)
        if format is Format.json:
            write_json(grader, frames, accounting, handle)
        else:
            for number, frame in enumerate(frames):
                write_csv(frame, handle, header=number == 0, raw=raw_cells)
    summary = accounting.summary()
    _report(summary.line(), tuple(accounting.warnings), summary.skipped, quiet)


@app.command()
def explain(
    file: FileArgument,
    from_: FromOption = Source.auto,
    sheet: SheetOption = None,
    mapping: MappingOption = None,
    infusion_dates: InfusionDatesOption = None,
    scores: ScoresOption = None,
    patient: Annotated[str | None, typer.Option("--patient", "-p", metavar="ID", help="Only this patient.")] = None,
    day: Annotated[int | None, typer.Option("--day", "-d", metavar="DAY", help="Only this day.")] = None,
    format: PanelFormatOption = None,
    output: OutputOption = None,
    set_: SetOption = [],
    system: SystemOption = DEFAULT_SYSTEM,
    rules: RulesOption = None,
    engine: EngineOption = Engine.auto,
    infusion_date: InfusionDateOption = None,
    quiet: QuietOption = False,
) -> None:
    """Explain each grade: the rules met and the values that met them, the rules of higher
    grade not met and what kept them from firing, and the \\[open] settings involved."""
    _not_the_input(file, output)
    observations = _observations(file, from_, sheet, mapping, infusion_dates, scores, quiet)
    format = _format_for(format, output, PanelFormat)
    if format is PanelFormat.table:
        from rich.console import Group

        from .views import explanation_panel

        _, _, result = _graded(observations, set_, rules, engine, infusion_date, False, quiet, explain=True,
                               system=system)
        _emit(Group(*(explanation_panel(d, result.labels) for d in _select(result, patient, day))), output=output)
        return
    grader = Grader(rules, _parse_sets(set_), engine.value, system=system)
    accounting = Accounting()

    from .output import write_streamed

    around = json.dumps({"schema_version": GradingResult.model_fields["schema_version"].default,
                         "ruleset": grader.ruleset.manifest.system, "settings": grader.settings, "days": []},
                        indent=2, ensure_ascii=False).encode("utf-8")

    def days(progress) -> Iterator[bytes]:
        seen = []  # each batch's patients and days, for a --patient or --day the file does not have
        for frame in grader.frames(observations, infusion_date=infusion_date.date() if infusion_date else None,
                                   accounting=accounting, progress=progress, reasons=False):
            seen.append(frame.select("patient_id", "day"))
            with collector_paused():  # a batch's parts and days are many objects, most kept for reuse
                yield from grader.renderer.explained_json(frame, patient, day)
        _check_selection(seen, patient, day)  # raised before the end is written: no file

    with _progress(observations, quiet, "grading") as progress, _writing(output) as handle:
        write_streamed(handle, lambda: around, [(days(progress),)], fields=("days",))
    summary_ = accounting.summary()
    _report(summary_.line(), tuple(accounting.warnings), summary_.skipped, quiet)


def _check_selection(frames, patient: str | None, day: int | None) -> None:
    """A --patient or --day that the file does not have is an error naming what it has."""
    if patient is None and day is None:
        return
    import polars as pl

    rows = pl.concat([f.select("patient_id", "day") for f in frames])
    if patient is not None:
        known = rows["patient_id"].unique(maintain_order=True).to_list()
        if patient not in known:
            raise CrsgradeError(f"no patient '{patient}' in the file; patients: {capped(known)}")
        rows = rows.filter(pl.col("patient_id") == patient)
    if day is not None and day not in rows["day"].to_list():
        raise CrsgradeError(f"no day {day} recorded; days: {capped([str(d) for d in rows['day'].to_list()])}")


def _select(result: GradingResult, patient: str | None, day: int | None) -> list[GradedDay]:
    days = result.days()
    if patient is not None:
        known = [p.patient_id for p in result.patients]
        if patient not in known:
            raise CrsgradeError(f"no patient '{patient}' in the file; patients: {capped(known)}")
        days = [d for d in days if d.patient_id == patient]
    if day is not None:
        found = [d for d in days if d.day == day]
        if not found:
            raise CrsgradeError(f"no day {day} recorded; days: {capped([str(d.day) for d in days])}")
        days = found
    return days


@app.command()
def summary(
    file: FileArgument,
    from_: FromOption = Source.auto,
    sheet: SheetOption = None,
    mapping: MappingOption = None,
    infusion_dates: InfusionDatesOption = None,
    scores: ScoresOption = None,
    format: FormatOption = None,
    output: OutputOption = None,
    set_: SetOption = [],
    system: SystemOption = DEFAULT_SYSTEM,
    rules: RulesOption = None,
    engine: EngineOption = Engine.auto,
    infusion_date: InfusionDateOption = None,
    skip_invalid: SkipInvalidOption = False,
    raw_cells: RawCellsOption = False,
    quiet: QuietOption = False,
) -> None:
    """Summarise a cohort: per patient, the registry fields of each syndrome (onset,
    resolution, highest grade, therapies); for the cohort, incidence and median onset and
    duration; and concordance with investigator-reported grades when the file has them."""
    _not_the_input(file, output)
    observations = _observations(file, from_, sheet, mapping, infusion_dates, scores, quiet)
    format = _format_for(format, output, Format)
    from .episodes import Summariser
    from .hematotoxicity import split_settings
    from .output import write_streamed
    from .views import summary_csv, summary_tables

    grading, scoring = split_settings(_parse_sets(set_))
    grader = Grader(rules, grading, engine.value, system=system)
    manifest = grader.ruleset.manifest
    summariser = Summariser(manifest.system, dict(manifest.syndromes.items()), manifest.version, grader.settings,
                            scoring)
    accounting = Accounting()

    def batches(progress) -> Iterator[list]:
        for frame in grader.frames(observations, infusion_date=infusion_date.date() if infusion_date else None,
                                   skip_invalid=skip_invalid, accounting=accounting, progress=progress,
                                   reasons=False):
            yield summariser.add_frame(frame)

    if format is Format.table:  # built whole
        with _progress(observations, quiet, "grading") as progress:
            patients = [patient for batch in batches(progress) for patient in batch]
        _said(accounting, quiet)
        _emit(summary_tables(summariser.result(patients)), output=output)
        return
    with _progress(observations, quiet, "grading") as progress, _writing(output) as handle:
        if format is Format.json:
            write_streamed(handle, summariser.result, ((batch,) for batch in batches(progress)))
        else:
            handle.write(summary_csv([], raw=raw_cells).encode("utf-8"))
            for batch in batches(progress):
                handle.write(summary_csv(batch, raw=raw_cells, header=False).encode("utf-8"))
    _said(accounting, quiet)


@app.command()
def compare(
    file: FileArgument,
    from_: FromOption = Source.auto,
    sheet: SheetOption = None,
    mapping: MappingOption = None,
    infusion_dates: InfusionDatesOption = None,
    scores: ScoresOption = None,
    systems: Annotated[list[str], typer.Option(
        "--systems", metavar="S1,S2",
        help="Systems to compare, comma-separated or repeated (default: all shipped, ASTCT 2019 first).",
    )] = [],
    format: FormatOption = None,
    output: OutputOption = None,
    set_: SetOption = [],
    engine: EngineOption = Engine.auto,
    infusion_date: InfusionDateOption = None,
    skip_invalid: SkipInvalidOption = False,
    raw_cells: RawCellsOption = False,
    quiet: QuietOption = False,
) -> None:
    """Grade FILE under several grading systems side by side: per patient-day and per patient,
    where and why they differ, and how far each pair agrees (presence, identical grade,
    cross-tabulation, weighted kappa). A --set goes to every system that has the setting."""
    _not_the_input(file, output)
    observations = _observations(file, from_, sheet, mapping, infusion_dates, scores, quiet)
    format = _format_for(format, output, Format)
    from .comparison import Comparer, compared_frames, comparison_csv, graders_for
    from .hematotoxicity import split_settings

    when = infusion_date.date() if infusion_date else None
    grading, scoring = split_settings(_parse_sets(set_))
    graders = graders_for(_systems(systems) or None, grading, engine.value)
    accounting = Accounting()
    batches = compared_frames(observations, graders, accounting, infusion_date=when, skip_invalid=skip_invalid,
                              reasons=False)
    comparer = Comparer(graders, scoring)
    with _progress(observations, quiet, "grading under each system"):
        if format is not Format.table:
            with _writing(output) as handle:
                if format is Format.csv:
                    comparison_csv(graders, batches, handle, raw=raw_cells)
                else:
                    from .output import write_streamed

                    write_streamed(handle, lambda: comparer.result(accounting), comparer.add_batches(batches),
                                   fields=("days", "patients"), head_last=True)
            summary = accounting.summary()
            _report(summary.line(), tuple(accounting.warnings), summary.skipped, quiet)
            return
        from .views import comparison_tables

        result = comparer.whole(batches, accounting)
    _report(result.input.line(), result.warnings, result.input.skipped, quiet)
    _emit(comparison_tables(result), output=output)


def _systems(values: list[str]) -> list[str]:
    """--systems given comma-separated or repeated; each checked before any grading."""
    chosen = [name.strip() for value in values for name in value.split(",") if name.strip()]
    for name in chosen:
        default_rules_dir(name)
    return chosen


def _graded_frames(grader: Grader, observations: Any, infusion_date: datetime.datetime | None, skip_invalid: bool,
                   quiet: bool) -> tuple[list, Accounting]:
    """Grades a file through the pipeline of `grade` (Grader.frames): its graded frames."""
    accounting = Accounting()
    with _progress(observations, quiet, "grading") as progress:
        frames = list(grader.frames(observations, infusion_date=infusion_date.date() if infusion_date else None,
                                    skip_invalid=skip_invalid, accounting=accounting, progress=progress))
    return frames, accounting


def _said(accounting: Accounting, quiet: bool) -> None:
    summary_ = accounting.summary()
    _report(summary_.line(), tuple(accounting.warnings), summary_.skipped, quiet)


# A report of this many patients takes about a second or more to write: show progress.
_PROGRESS_PATIENTS = 300


@contextlib.contextmanager
def _patient_progress(patients: int, quiet: bool, what: str):
    """A progress bar over patients on stderr for long runs; nothing when stderr is not a terminal."""
    if quiet or patients < _PROGRESS_PATIENTS or not _err.is_terminal:
        yield None
        return
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("patients"), TimeElapsedColumn())
    with Progress(*columns, console=_err, transient=True) as progress:
        task = progress.add_task(what, total=patients)
        yield lambda done, total: progress.update(task, completed=done, total=total)


_FIGURE_FORMATS = ("png", "svg", "pdf")


@app.command()
def plot(
    file: FileArgument,
    output: Annotated[Path, typer.Option(
        "--output", "-o", metavar="FILE", help="The figure: a .png, .svg or .pdf file.")],
    from_: FromOption = Source.auto,
    sheet: SheetOption = None,
    mapping: MappingOption = None,
    infusion_dates: InfusionDatesOption = None,
    scores: ScoresOption = None,
    patient: Annotated[str | None, typer.Option("--patient", "-p", metavar="ID", help="The patient to draw.")] = None,
    cohort: Annotated[bool, typer.Option("--cohort", help="Draw the whole cohort instead of one patient.")] = False,
    systems: Annotated[list[str], typer.Option(
        "--systems", metavar="S1,S2",
        help="With --cohort: also show the distribution of highest grades under these systems"
             " (a --set goes to every system that has the setting).")] = [],
    set_: SetOption = [],
    system: SystemOption = DEFAULT_SYSTEM,
    rules: RulesOption = None,
    engine: EngineOption = Engine.auto,
    infusion_date: InfusionDateOption = None,
    skip_invalid: SkipInvalidOption = False,
    quiet: QuietOption = False,
) -> None:
    """Draw a patient's clinical course (temperature, blood pressure, oxygen, vasopressors,
    treatments, laboratory values, daily grades), or with --cohort the cohort's grades per
    patient, the distribution of highest grades and the cumulative incidence."""
    _not_the_input(file, output)
    observations = _observations(file, from_, sheet, mapping, infusion_dates, scores, quiet)
    from .figures import Graded, cohort_figure, course_figures

    kind = output.suffix.lower().lstrip(".")
    if kind not in _FIGURE_FORMATS:
        raise CrsgradeError(f"{output}: cannot tell the format; use a name ending in .png, .svg or .pdf")
    others = _systems(systems)
    if cohort and others:  # the input read once and graded under each system, as by `compare`
        from .comparison import compared_frames, graders_for

        ruleset = load_ruleset(rules if rules is not None else default_rules_dir(system))
        graders = graders_for(others, _parse_sets(set_), engine.value, first=ruleset)
        accounting = Accounting()
        with _progress(observations, quiet, "grading under each system"):
            batches = list(compared_frames(observations, graders, accounting, skip_invalid=skip_invalid,
                                           infusion_date=infusion_date.date() if infusion_date else None))
        _said(accounting, quiet)
        graded = [Graded.of(g, [b[n] for b in batches]) for n, g in enumerate(graders)]
        _write_figure(cohort_figure(graded[0], graded[1:]), output, kind)
        return
    grader = Grader(rules, _parse_sets(set_), engine.value, system=system)
    frames, accounting = _graded_frames(grader, observations, infusion_date, skip_invalid, quiet)
    _said(accounting, quiet)
    if cohort:
        _write_figure(cohort_figure(Graded.of(grader, frames), []), output, kind)
        return
    known = list(dict.fromkeys(pid for frame in frames for pid in frame["patient_id"].unique(maintain_order=True)))
    if patient is None and len(known) > 1:
        raise CrsgradeError(f"{file} has {len(known)} patients; choose one with --patient"
                            f" ({capped(known)}) or draw them all with --cohort")
    chosen = patient if patient is not None else known[0]
    if chosen not in known:
        raise CrsgradeError(f"no patient '{chosen}' in the file; patients: {capped(known)}")
    _write_figure(course_figures(grader, Graded.of(grader, frames, only=chosen))[chosen], output, kind)


def _write_figure(figure, output: Path, kind: str) -> None:
    """SVG written straight from the figure model; PNG and PDF drawn with matplotlib."""
    from .figures import CohortFigure

    if kind == "svg":
        from .svg import document
        from .svgfigures import cohort_svg, course_svg

        drawn = cohort_svg(figure) if isinstance(figure, CohortFigure) else course_svg(figure)
        _emit(text=document(drawn), output=output)
        return
    from .drawing import draw_cohort, draw_course, save

    drawn = draw_cohort(figure) if isinstance(figure, CohortFigure) else draw_course(figure)
    with _writing(output) as handle:
        save(drawn, handle, kind)


@app.command()
def report(
    file: FileArgument,
    output: Annotated[Path, typer.Option("--output", "-o", metavar="FILE", help="The report: an .html file.")],
    from_: FromOption = Source.auto,
    sheet: SheetOption = None,
    mapping: MappingOption = None,
    infusion_dates: InfusionDatesOption = None,
    scores: ScoresOption = None,
    set_: SetOption = [],
    system: SystemOption = DEFAULT_SYSTEM,
    rules: RulesOption = None,
    engine: EngineOption = Engine.auto,
    infusion_date: InfusionDateOption = None,
    skip_invalid: SkipInvalidOption = False,
    quiet: QuietOption = False,
) -> None:
    """Write one self-contained HTML report (no network needed, prints well): what produced it,
    where every input row went, the cohort with its figure and registry fields, discrepancies
    with reported grades, and each patient's course, daily grades with reasons, and episodes."""
    _not_the_input(file, output)
    observations = _observations(file, from_, sheet, mapping, infusion_dates, scores, quiet)
    from .figures import Graded, cohort_figure, course_figures
    from .report import file_digest, render

    if output.suffix.lower() not in (".html", ".htm"):
        raise CrsgradeError(f"{output}: the report is HTML; use a name ending in .html")
    from .hematotoxicity import split_settings

    grading, scoring = split_settings(_parse_sets(set_))
    grader = Grader(rules, grading, engine.value, system=system)
    frames, accounting = _graded_frames(grader, observations, infusion_date, skip_invalid, quiet)
    with collector_paused():
        result = grader.result(frames, accounting)
        _said(accounting, quiet)
        digest = file_digest(file) if str(file) != "-" and file.is_file() else None
        graded = Graded.of(grader, frames)
        with _patient_progress(len(result.patients), quiet, "writing the report") as progress:
            text = render(result, grader.ruleset, cohort_figure(graded), course_figures(grader, graded),
                          "standard input" if str(file) == "-" else file.name, digest, progress=progress,
                          score_settings=scoring)
    _emit(text=text, output=output)


@app.command(name="import")
def import_command(
    kind: Annotated[Source, typer.Argument(metavar="omop|fhir", help="The kind of SOURCE.")],
    source: Annotated[Path, typer.Argument(
        metavar="SOURCE", help="OMOP CDM: a DuckDB file or a folder of tables (CSV or Parquet); FHIR R4: a folder"
                               " of NDJSON files or a Bundle.")],
    output: OutputOption = None,
    mapping: MappingOption = None,
    infusion_dates: InfusionDatesOption = None,
    scores: ScoresOption = None,
    quiet: QuietOption = False,
) -> None:
    """Write the observations of an OMOP CDM or FHIR R4 source as the observation CSV, one row
    per reading with where it came from; say on stderr what was read, mapped and not mapped."""
    if kind is Source.auto:
        raise typer.BadParameter("name the kind of source: omop or fhir")
    _not_the_input(source, output)
    from .importing import import_source, write_observations

    with collector_paused():
        frame, imported = import_source(kind.value, source, mapping, infusion_dates, scores)
    with _writing(output) as handle:
        write_observations(frame, handle)
    if not quiet:
        _say_import(imported.report())
        patients = frame["patient_id"].n_unique() if frame.height else 0
        _err.print(Text(f"{frame.height:,} readings of {patients:,} patient{'' if patients == 1 else 's'} written"),
                   style="dim")


@app.command()
def check(
    file: FileArgument,
    from_: FromOption = Source.auto,
    sheet: SheetOption = None,
    mapping: MappingOption = None,
    infusion_dates: InfusionDatesOption = None,
    scores: ScoresOption = None,
    rules: Annotated[Path | None, typer.Option(
        "--rules", metavar="DIR", help="Also check that this rule set directory loads.")] = None,
    infusion_date: InfusionDateOption = None,
) -> None:
    """Validate FILE without grading it: report every problem and warning; exit 1 if any
    row is invalid."""
    from .grading import open_input, readings

    observations = _observations(file, from_, sheet, mapping, infusion_dates, scores, quiet=False)

    if rules is not None:
        load_ruleset(rules)
    accounting = Accounting()
    source = open_input(observations)
    accounting.warnings += source.warnings
    days = 0
    for batch in readings(source, infusion_date.date() if infusion_date else None, False, accounting):
        days += batch.select("patient_id", "day").n_unique()
    accounting.patient_days, accounting.rows_combined = days, accounting.rows_read - days
    _report(f"{accounting.summary().line()}; no problems found", tuple(accounting.warnings), (), quiet=False)


# What `rules --syndrome` takes: a syndrome the grading systems grade, or a hematotoxicity score.
_TABLES = (*SYNDROMES, "car_hematotox", "icaht")


def _known_syndrome(value: str | None) -> str | None:
    if value is not None and value not in _TABLES:
        raise typer.BadParameter(f"'{value}' is not one of {', '.join(_TABLES)}")
    return value


@app.command(name="rules")
def rules_command(
    system: SystemOption = DEFAULT_SYSTEM,
    syndrome: Annotated[str | None, typer.Option(
        "--syndrome", metavar="SYNDROME", callback=_known_syndrome,
        help=f"Only this syndrome or score: {', '.join(_TABLES)}.")] = None,
    rules: RulesOption = None,
    output: OutputOption = None,
) -> None:
    """Print the grading table, built from the rule files themselves, with citations."""
    from .views import rules_tables, score_tables

    if syndrome is not None and syndrome not in SYNDROMES:
        from .hematotoxicity import load_hematotoxicity

        _emit(score_tables(load_hematotoxicity(), syndrome), output=output)
        return
    ruleset = load_ruleset(rules if rules is not None else default_rules_dir(system))
    _emit(rules_tables(ruleset, [syndrome] if syndrome else SYNDROMES), output=output)


@app.command()
def systems(output: OutputOption = None) -> None:
    """List the shipped grading systems: what each grades, what it needs, and how many of its
    criteria rest on an unverified reading."""
    from .views import systems_table

    _emit(systems_table([load_ruleset(default_rules_dir(name)) for name in shipped_systems()]), output=output)


@app.command()
def demo() -> None:
    """Walk through a published case (grade 3 CRS, grade 4 ICANS after tisagenlecleucel) day by
    day: what was observed, the grade, and why."""
    from .demo import run as run_demo

    run_demo(Console())


@app.command()
def settings(system: SystemOption = DEFAULT_SYSTEM, rules: RulesOption = None) -> None:
    """List the \\[open] settings of the rule set, with their defaults and what they mean."""
    ruleset = load_ruleset(rules if rules is not None else default_rules_dir(system))
    console = Console()
    console.print(Text.assemble((f"Settings of {ruleset.manifest.system}", "bold"),
                                " (change with --set NAME=VALUE)\n"))
    if not ruleset.manifest.settings:
        console.print(Text(f"{ruleset.manifest.name} has no settings: its rule files leave nothing open."))
    _print_settings(console, ruleset.manifest.settings)
    from .hematotoxicity import load_hematotoxicity

    console.print(Text.assemble(("Settings of the hematotoxicity scores", "bold"),
                                " (summary and report; change with --set NAME=VALUE)\n"))
    _print_settings(console, load_hematotoxicity().manifest.settings)


def _print_settings(console: Console, declared: Mapping[str, SettingDef]) -> None:
    for name, spec in declared.items():
        allowed = " | ".join(spec.choices) if spec.type == "choice" else (
            f"number, {spec.range}" if spec.type == "number" else spec.type)
        console.print(Text.assemble((name, "bold cyan"), f" = {spec.text(spec.default)}  ", (f"({allowed})", "dim")),
                      highlight=False)
        console.print(Padding(Text(spec.statement.strip()), (0, 0, 1, 4)), highlight=False)


@app.command()
def schema(
    of: Annotated[Schema, typer.Argument(help="Which output: grade (also explain) or summary.")] = Schema.grade,
) -> None:
    """Print the JSON Schema of a JSON output (generated from the result models)."""
    from .episodes import CohortSummary

    model = GradingResult if of is Schema.grade else CohortSummary
    sys.stdout.write(json.dumps(model.model_json_schema(), indent=2, ensure_ascii=False) + "\n")


def main() -> None:
    app()
