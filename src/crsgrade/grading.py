"""Grading: observations in, graded days out, through one pipeline.

    read → validate → combine a day's readings → derive facts → distinct fact combinations →
    evaluator → fever waiver → grades → rule ids, reasons and "not recorded" → output

Every command, input form and grading system goes through these stages, in batches of whole
patients. Each stage works on columns or on distinct values: sources.py reads, validation.py
validates, combining.py combines, facts.py derives, evaluation.py evaluates and grades the
distinct combinations, waiver.py scans the fever waiver, rendering.py writes reasons and
explanations. `Grader.frames()` yields the graded days as frames (the CSV writer, the summary
and the comparison read those); `Grader.grade()` returns them as typed results.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import polars as pl

from . import conditions as cond
from . import waiver as waivers
from .columns import CONTRACT_COLUMNS
from .combining import combine, disagreements
from .compiled import cache_dir, cache_file
from .errors import ObservationError, capped
from .evaluation import Evaluation
from .evaluators import make_evaluator
from .facts import CHILD, derive, o2_rank
from .observations import BLOOD, THERAPIES
from .rendering import Renderer
from .results import GradingResult, InputSummary
from .ruleset import DEFAULT_SYSTEM, RuleSet, default_rules_dir, load_ruleset
from .sources import REC, Input, Piece, RawBatch, collector_paused, open_bytes, open_path, open_records, open_table
from .syndromes import SYNDROMES
from .validation import Found, columns_of, validate

ObservationsInput = str | Path | Input | Iterable[Any]

# `crsgrade grade --format csv`: each part of a syndrome's grade, for every syndrome in turn.
GRADE_PARTS = ("grade", "rules", "reason", "not_recorded")
CSV_COLUMNS = (
    "patient_id", "day", *(f"{s}_{part}" for part in GRADE_PARTS for s in SYNDROMES), "fever_waived",
)


@dataclass
class Accounting:
    """Where every row went, and what was said about them."""

    rows_read: int = 0
    rows_rejected: int = 0
    patient_days: int = 0
    rows_combined: int = 0
    skipped: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    # when a dict, each rejected row's problems by its record (a grading on Spark returns the rows)
    rejected_rows: dict[int, list[str]] | None = None

    def summary(self) -> InputSummary:
        return InputSummary(rows_read=self.rows_read, rows_combined=self.rows_combined,
                            rows_rejected=self.rows_rejected, patient_days=self.patient_days,
                            skipped=tuple(self.skipped))


def open_input(observations: Any) -> Input:
    """Any accepted form of observations, opened."""
    from .sources import Imported, Workbook, open_excel

    if isinstance(observations, Input):
        return observations
    if isinstance(observations, Workbook):
        return open_excel(observations.path, observations.sheet)
    if isinstance(observations, Imported):
        return open_table(observations.frame, observations.name)
    if isinstance(observations, str | Path):
        return open_path(observations)
    if isinstance(observations, bytes | bytearray):
        return open_bytes(bytes(observations), "<bytes>")
    if hasattr(observations, "columns") and (hasattr(observations, "iloc") or hasattr(observations, "schema")):
        return open_table(observations)
    if isinstance(observations, Mapping) or not isinstance(observations, Iterable):
        what = "one dict" if isinstance(observations, Mapping) else f"a {type(observations).__name__}"
        raise ObservationError([f"expected observations: a file path, the file's bytes, a list of records (dicts)"
                                f" or a table; got {what} (for one record, pass [record])"])
    return open_records(observations)


def _patients(frame: pl.DataFrame) -> pl.Series:
    """The patient of each raw row (as the reader will take it: trimmed)."""
    if "patient_id" not in frame.columns:
        return pl.Series("patient", [""] * frame.height, dtype=pl.String)
    return frame["patient_id"].str.strip_chars()


def _together(patients: Iterator[pl.Series]) -> bool:
    """Whether each patient's rows are together (rows without a patient aside)."""
    finished: set[str] = set()
    current: str | None = None
    for chunk in patients:
        cells = chunk.str.strip_chars()
        cells = cells.filter(cells.is_not_null() & (cells != ""))
        runs = cells.filter(cells.ne_missing(cells.shift(1))).to_list()
        if not runs:
            continue
        if runs[0] == current:
            runs = runs[1:]
        elif current is not None:
            finished.add(current)
        if not runs:
            continue
        *ended, current = runs
        if len(set(ended)) < len(ended) or current in ended or finished.intersection(ended) or current in finished:
            return False
        finished.update(ended)
    return True


def _whole_patients(batches: Iterator[RawBatch]) -> Iterator[RawBatch]:
    """Batches cut so that no patient's rows are split: the rows of the last patient of a batch
    go on to the next."""
    pending = next(batches, None)
    carried: RawBatch | None = None
    while pending is not None:
        following = next(batches, None)
        batch = pending if carried is None else _joined(carried, pending)
        split = batch.frame.height
        blank = batch.frame["_blank"]
        if following is not None and not blank.all():
            patients = _patients(batch.frame)
            last = patients.filter(~blank)[-1]
            same = patients.eq_missing(last) | blank
            split -= int(same.reverse().cum_min().sum())  # the trailing rows of the last patient
        head, carried = _cut(batch, split)
        if head.frame.height:
            yield head
        pending = following


def _as_is(frame: pl.DataFrame) -> Callable[[], pl.DataFrame]:
    return lambda: frame


def _joined(*batches: RawBatch) -> RawBatch:
    pieces = None
    if any(b.pieces is not None for b in batches):
        pieces = [p for b in batches for p in (b.pieces or [(_as_is(b.frame), 0, b.frame.height)])]
    return RawBatch(pl.concat([b.frame for b in batches], how="vertical_relaxed"),
                    [p for b in batches for p in b.problems], pieces)


def _cut(batch: RawBatch, rows: int) -> tuple[RawBatch, RawBatch]:
    """A batch's first `rows` rows, and the rest (each keeping only the text pieces it needs)."""
    frame = batch.frame
    first_kept = frame[REC][rows] if rows < frame.height else None
    before = [p for p in batch.problems if first_kept is None or p[0] < first_kept]
    after = [p for p in batch.problems if first_kept is not None and p[0] >= first_kept]
    head_pieces: list[Piece] | None = None
    tail_pieces: list[Piece] | None = None
    if batch.pieces is not None:
        head_pieces, tail_pieces, seen = [], [], 0
        for read, start, end in batch.pieces:
            size = end - start
            cut = max(0, min(size, rows - seen))
            if cut:
                head_pieces.append((read, start, start + cut))
            if cut < size:
                tail_pieces.append((read, start + cut, end))
            seen += size
    return (RawBatch(frame.head(rows), before, head_pieces), RawBatch(frame.slice(rows), after, tail_pieces))


def _cells(frame: pl.DataFrame, split: list[int]) -> pl.DataFrame:
    """A batch's rows of cells: neither blank nor one that could not be split into cells."""
    if not split and not frame["_blank"].any():
        return frame.drop("_blank")
    return frame.filter(~pl.col("_blank") & ~pl.col(REC).is_in(split)).drop("_blank")


def readings(source: Input, infusion_date: datetime.date | None, skip_invalid: bool,
             accounting: Accounting, days: bool = True) -> Iterator[pl.DataFrame]:
    """Validated readings of whole patients, batch by batch (with `days`, the days whose
    readings cannot be combined are problems too). Without `skip_invalid`, the first problem stops the grading but
    every batch is still read, so that every problem of the input is reported at once."""
    batches = source.batches()
    if source.patients is not None and not _together(source.patients()):
        # checked before the first batch, since graded days already given out cannot be taken back
        accounting.warnings.append(f"{source.name}: the rows of some patients are not together; the whole"
                                   " file was read at once (put each patient's rows together to read it"
                                   " in batches)")
        batches = iter([_joined(*batches)])
    problems: list[str] = []
    for batch in _whole_patients(batches):
        split = [rec for rec, _ in batch.problems]  # rows that could not be split into cells
        frame = _cells(batch.frame, split)
        found = Found(source.locate)
        found.problems += [(rec, 0, source.locate(rec) + text) for rec, text in batch.problems]
        typed, blanks = validate(frame, infusion_date, found) if frame.height else (frame, 0)
        if len(found.problems) > len(batch.problems) and batch.pieces is not None:
            # numbers were read as numbers: read the cells again as text to quote them as written
            frame = _cells(batch.text(), split)
            found = Found(source.locate)
            found.problems += [(rec, 0, source.locate(rec) + text) for rec, text in batch.problems]
            typed, blanks = validate(frame, infusion_date, found)
        accounting.rows_read += frame.height - blanks + len(set(split))
        bad = {rec for rec, _, _ in found.problems}
        if days and typed.height:
            bad |= disagreements(typed.filter(~pl.col(REC).is_in(list(bad))), found)
        messages = [m for _, _, m in sorted(found.problems, key=lambda p: (p[0], p[1]))]
        accounting.warnings += [m for _, _, m in sorted(found.warnings, key=lambda p: (p[0], p[1]))]
        if bad and skip_invalid:
            accounting.skipped += messages
            accounting.rows_rejected += len(bad)
            if accounting.rejected_rows is not None:
                accounting.rejected_rows.update(_problems_by_row(bad, found))
            typed = typed.filter(~pl.col(REC).is_in(list(bad)))
        elif bad:
            problems += messages
        if not problems and typed.height:
            yield typed
    if problems:
        raise ObservationError(problems)
    if accounting.rows_read == 0:
        raise ObservationError([source.empty_message])


def _problems_by_row(bad: set[int], found: Found) -> dict[int, list[str]]:
    """Each rejected record's problems, in the order they are reported (a record rejected with
    the other readings of its day gets the message that names them all)."""
    told: dict[int, list[str]] = {}
    for rec, _, message in sorted(found.problems, key=lambda p: (p[0], p[1])):
        told.setdefault(rec, []).append(message)
    return {rec: told.get(rec) or told.get(found.covered.get(rec, rec), []) for rec in sorted(bad)}


class Grader:
    """A rule set with its settings and evaluator, ready to grade many files.

    Building one loads and compiles the rules once, so reuse it rather than building one per
    patient. Distinct fact combinations it has graded are remembered across files.
    """

    def __init__(
        self,
        rules: RuleSet | str | Path | None = None,
        settings: Mapping[str, Any] | None = None,
        engine: str = "auto",
        system: str | None = None,
        cache: bool = True,
    ):
        """`cache`: start from, and keep to, the compiled rule cache on disk (see compiled.py)."""
        if rules is None:
            rules = default_rules_dir(system or DEFAULT_SYSTEM)
        self.ruleset = rules if isinstance(rules, RuleSet) else load_ruleset(rules)
        self.settings = self.ruleset.settings(settings)
        self._resolved = self.ruleset.resolved(self.settings)
        self._evaluator = make_evaluator(engine, self._resolved)
        self._rules = {rule.id: rule for rule in self.ruleset.rules}
        folder = cache_dir() if cache else None
        store = cache_file(folder, self.ruleset.digest, self.settings, self._evaluator.name) if folder else None
        self.evaluation = Evaluation(self.ruleset, self._resolved, self._evaluator, store)
        self.renderer = Renderer(self)
        # an estimated FiO2 is noted on the day only when this system's rules look at FiO2
        self.tests_fio2 = any("fio2" in cond.fields_of(node) for node in self._resolved.values())

    @property
    def engine(self) -> str:
        return self._evaluator.name

    @property
    def resolved(self) -> Mapping[str, cond.Node]:
        """Each rule's condition with refs expanded and settings folded in, by rule id."""
        return self._resolved

    def fired(self, fact: Mapping[str, Any]) -> list[Any]:
        """The rules that fire for one fact (used to check each rule's own examples)."""
        return [self._rules[rule_id] for rule_id in self._evaluator.fired(fact)]

    # -- the stages ------------------------------------------------------------------------

    def grade_readings(self, readings: pl.DataFrame, accounting: Accounting, locate: Callable[[int], str],
                       reasons: bool = True, combined: dict[bytes, pl.DataFrame] | None = None) -> pl.DataFrame:
        """Validated readings of whole patients to graded days (one row per patient-day);
        without `reasons`, the reason columns are left out (see `frames`). Systems that
        order oxygen support alike combine a day's readings alike: `combined` keeps each
        ordering's days for the other systems grading the same readings."""
        definitions = self.ruleset.definitions
        combined = {} if combined is None else combined
        ordering = o2_rank(definitions, self.settings, columns_of(readings)).meta.serialize(format="binary")
        if ordering not in combined:
            combined[ordering] = combine(readings, lambda col: o2_rank(definitions, self.settings, col), locate)
        days = combined[ordering]
        accounting.patient_days += days.height
        accounting.rows_combined += int(days["readings"].sum()) - days.height
        days = derive(days, definitions, self.settings)
        days = self.evaluation.outcome_numbers(self.evaluation.keys(days))
        died = pl.col("death_cause").is_not_null() if "death_cause" in days.columns else pl.lit(False)
        after_death = (died.cast(pl.Int32).cum_sum().shift(1).over("_p").fill_null(0) > 0) \
            if "death_cause" in days.columns else pl.lit(False)
        days = days.with_columns(after_death.alias("_after_death"), died.alias("_died"))
        days = self._waive(days)
        days = days.with_columns(pl.when(pl.col("f.fever_waived")).then(pl.col("_o_w"))
                                 .otherwise(pl.col("_o_nw")).alias("_o"))
        days = self.renderer.columns(days, reasons=reasons)
        accounting.warnings += self._patient_warnings(days)
        return days

    def _waive(self, days: pl.DataFrame) -> pl.DataFrame:
        """`f.fever_waived` and where each day's waiver came from: `_waiver_therapy`,
        `_waiver_day`, `_prophylactic`."""
        definitions = self.ruleset.definitions
        if definitions.fever_waiver is None:
            return days.with_columns(pl.lit(False).alias("f.fever_waived"),
                                     pl.lit(None, dtype=pl.String).alias("_waiver_therapy"),
                                     pl.lit(None, dtype=pl.Int64).alias("_waiver_day"),
                                     pl.lit(False).alias("_prophylactic"))
        given, therapy = waivers.given(definitions, self.settings, columns_of(days))
        days = days.with_columns(given.alias("_given"), therapy.alias("_therapy"))
        late = days["_after_death"]
        graded = days.filter(~late) if late.any() else days
        waiver = definitions.fever_waiver
        scanned = waivers.scan(graded, prophylaxis=bool(waiver.prophylaxis.value(self.settings)),
                               never_ends=waiver.ends.value(self.settings) == "never")
        origin = scanned["_origin"]
        columns = [
            scanned["_waived"].alias("f.fever_waived"),
            graded["_therapy"].gather(origin.fill_null(0)).set(origin.is_null(), None).alias("_waiver_therapy"),
            graded["day"].gather(origin.fill_null(0)).set(origin.is_null(), None).alias("_waiver_day"),
            scanned["_prophylactic"].alias("_prophylactic"),
        ]
        if graded.height == days.height:
            return days.with_columns(columns)
        found = graded.select(REC).with_columns(columns)
        return days.join(found, on=REC, how="left", maintain_order="left").with_columns(
            pl.col("f.fever_waived").fill_null(False), pl.col("_prophylactic").fill_null(False))

    def _patient_warnings(self, days: pl.DataFrame) -> list[str]:
        """Per patient: days recorded after death; a child's ICE set aside with no CAPD."""
        said: dict[int, list[str]] = {}
        late = days.filter(pl.col("_after_death")).group_by("_p", maintain_order=True).agg(
            pl.col("patient_id").first(), pl.col("day"))
        if late.height:
            deaths = days.filter(pl.col("_died")).group_by("_p").agg(pl.col("day").first())
            died = dict(deaths.iter_rows())
            for p, pid, late_days in late.iter_rows():
                said.setdefault(p, []).append(f"patient {pid}: {say_days(late_days)} recorded after death on day"
                                              f" {died[p]}; not graded")
        if "s.ice_total" in days.columns and self.ruleset.definitions.encephalopathy:
            limit = self.ruleset.definitions.encephalopathy.capd_below_age.value(self.settings)
            capd = pl.col("capd_score") if "capd_score" in days.columns else pl.lit(None)
            children = days.filter(
                (pl.col("s.ice_total") == CHILD) & capd.is_null() & ~pl.col("_after_death")
            ).group_by("_p", maintain_order=True).agg(pl.col("patient_id").first(), pl.col("f.age_years").first(),
                                               pl.col("day"))
            for p, pid, age, child_days in children.iter_rows():
                said.setdefault(p, []).append(
                    f"patient {pid} (age {age:g}): ICE set aside on {say_days(child_days)}: children under {limit:g}"
                    " are assessed with CAPD; record capd_score")
        return [text for p in sorted(said) for text in said[p]]

    # -- whole inputs ------------------------------------------------------------------------

    def frames(self, observations: ObservationsInput, *, infusion_date: datetime.date | None = None,
               skip_invalid: bool = False, accounting: Accounting | None = None,
               progress: Callable[[int, int], None] | None = None, reasons: bool = True) -> Iterator[pl.DataFrame]:
        """The graded days of an input, a frame per batch of whole patients. A file whose
        patients' rows are not together is read whole (see the README). Without `reasons`, the
        reason columns are left out: typed results and JSON write a reason once per distinct
        grade, not from the columns."""
        accounting = accounting if accounting is not None else Accounting()
        source = open_input(observations)
        accounting.warnings += source.warnings
        for batch in readings(source, infusion_date, skip_invalid, accounting):
            yield self.grade_readings(batch, accounting, source.locate, reasons=reasons)
            if progress is not None:
                progress(accounting.rows_read, 0)
        self.evaluation.keep()

    def grade_frame(self, observations: ObservationsInput, *, infusion_date: datetime.date | None = None,
                    skip_invalid: bool = False, accounting: Accounting | None = None) -> pl.DataFrame:
        """All graded days of an input as one frame."""
        frames = list(self.frames(observations, infusion_date=infusion_date, skip_invalid=skip_invalid,
                                  accounting=accounting))
        return pl.concat(frames, how="vertical_relaxed") if len(frames) > 1 else frames[0]

    def grade(
        self,
        observations: ObservationsInput,
        *,
        infusion_date: datetime.date | None = None,
        skip_invalid: bool = False,
        explain: bool = False,
        progress: Callable[[int, int], None] | None = None,
    ) -> GradingResult:
        """Grades observations: a file path (CSV, JSON, JSON Lines; `-` for stdin), an iterable
        of Observation models or dicts with the contract's column names, or a table. With
        `explain`, every day's grades carry an Explanation."""
        accounting = Accounting()
        frames = list(self.frames(observations, infusion_date=infusion_date, skip_invalid=skip_invalid,
                                  accounting=accounting, progress=progress, reasons=False))
        return self.result(frames, accounting, explain=explain)

    def result(self, frames: list[pl.DataFrame], accounting: Accounting, explain: bool = False) -> GradingResult:
        """Graded frames as typed results (every day's models made at once, so with the cycle
        collector paused)."""
        manifest = self.ruleset.manifest
        with collector_paused():
            patients = [p for frame in frames for p in self.renderer.patients(frame, explain)]
        return GradingResult(
            ruleset=manifest.system, system_name=manifest.name, labels=dict(manifest.syndromes),
            ruleset_version=manifest.version, engine=self.engine, settings=self.settings,
            patients=tuple(patients), warnings=tuple(accounting.warnings), input=accounting.summary(),
        )


def say_days(days: list[int]) -> str:
    """Days in a message, the list capped: "days 8, 9", "days 8, 9, ... (40 in all)"."""
    return f"day {days[0]}" if len(days) == 1 else f"days {capped([str(d) for d in days])}"


def day_rows(frame: pl.DataFrame) -> Iterator[dict[str, Any]]:
    """The graded days of a frame as dicts with every contract column (None where the input had
    no such column)."""
    empty = dict.fromkeys(c for c in CONTRACT_COLUMNS if c not in frame.columns)
    for row in frame.iter_rows(named=True):
        yield {**empty, **row}


def joined_therapies(frame: pl.DataFrame) -> pl.Expr | None:
    """A graded day's therapies joined by "; ", in the order the results list them: the ones
    with a column, then others (None when the frame has no therapy column)."""
    given = [pl.when(pl.col(t)).then(pl.lit(t)) for t in THERAPIES if t in frame.columns]
    if "other_treatment" in frame.columns:
        given.append(pl.when(pl.col("other_treatment") != "").then(pl.col("other_treatment")))
    return pl.concat_str(given, separator="; ", ignore_nulls=True) if given else None


def split_therapies(joined: str | None) -> tuple[str, ...]:
    return tuple(joined.split("; ")) if joined else ()


def day_therapies(frame: pl.DataFrame) -> list[tuple[str, ...]]:
    """Each graded day's therapies, joined on columns and split once per distinct list, as few
    days differ."""
    joined = joined_therapies(frame)
    if joined is None:
        return [()] * frame.height
    series = frame.select(joined).to_series()
    split = {text: split_therapies(text) for text in series.unique().to_list()}
    return [split[text] for text in series.to_list()]


def censored_blood(frame: pl.DataFrame) -> list[pl.Expr]:
    """The blood values that hematotoxicity reads, of the columns the frame has, none after a
    recorded death: the scores are censored there."""
    return [pl.when(~pl.col("_after_death")).then(pl.col(name)).alias(name) for name in BLOOD
            if name in frame.columns]


def day_blood(frame: pl.DataFrame) -> list[dict[str, Any]]:
    """Each graded day's recorded blood values that hematotoxicity reads."""
    censored = censored_blood(frame)
    if not censored:
        return [{} for _ in range(frame.height)]
    rows = frame.select(pl.struct(censored).alias("_blood")).to_series()
    return [{name: value for name, value in row.items() if value is not None} for row in rows]


@lru_cache(maxsize=16)
def _cached_grader(ruleset: RuleSet, settings: tuple[tuple[str, Any], ...], engine: str) -> Grader:
    return Grader(ruleset, dict(settings), engine)


def cached_grader(rules: str | Path | None, settings: Mapping[str, Any] | None, engine: str,
                  system: str | None) -> Grader:
    """A grader for these options, built once per process. Keyed by the rule set as loaded,
    which is remembered by its files' content (an edited rule file gives a new grader), and by
    the settings' parsed values (an odd value is a SettingsError here, never a TypeError)."""
    ruleset = load_ruleset(rules if rules is not None else default_rules_dir(system or DEFAULT_SYSTEM))
    return _cached_grader(ruleset, tuple(ruleset.settings(settings).items()), engine)


def grade(
    observations: ObservationsInput,
    *,
    system: str | None = None,
    settings: Mapping[str, Any] | None = None,
    rules: str | Path | None = None,
    engine: str = "auto",
    infusion_date: datetime.date | None = None,
    skip_invalid: bool = False,
    explain: bool = False,
) -> GradingResult:
    """Grades CRS and ICANS for every patient-day.

    `observations` is a file path (CSV, JSON or JSON Lines), an iterable of `Observation`
    models or dicts with the contract's column names, or a polars, pandas or Arrow table;
    several rows of one patient-day are combined into the day's worst finding. `system` names a
    shipped grading system (ASTCT 2019 by default; see `crsgrade systems`), `rules` a rule set
    directory instead. `settings` overrides the rule set's [open] choices by name; `engine` is
    "auto", "durable" or "python". `infusion_date` turns a `date` column into days for patients
    without an `infusion_date` column; `skip_invalid` grades the valid rows of a file with
    errors and lists the rows it left out in `result.input.skipped`; `explain` adds to every
    day's grades why they are what they are (rules met and not met, settings involved).
    """
    grader = cached_grader(rules, settings, engine, system)
    return grader.grade(observations, infusion_date=infusion_date, skip_invalid=skip_invalid, explain=explain)


def grade_table(
    table: Any,
    *,
    system: str | None = None,
    settings: Mapping[str, Any] | None = None,
    rules: str | Path | None = None,
    engine: str = "auto",
) -> pl.DataFrame:
    """Grades a whole table of observations — a polars, pandas or Arrow table, one row per
    reading, with the contract's column names — and returns a polars DataFrame with the
    columns of `crsgrade grade --format csv` plus `readings`: the same pipeline as every other
    input, made for batch jobs that map it over partitions of a larger cohort (each partition
    holding whole patients)."""
    grader = cached_grader(rules, settings, engine, system)
    frame = grader.grade_frame(table)
    return frame.select(*CSV_COLUMNS, "readings")
