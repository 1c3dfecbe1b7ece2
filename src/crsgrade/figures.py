"""What the figures show, as plain data: panels, lanes, grade tiles, colours, labels and ranges.

Building the figure and drawing it are kept apart, so that what a figure says can be tested
without looking at pixels, and so that `crsgrade grade` never imports a plotting library
(drawing.py does, when a figure is drawn).

Grades are coloured with ColorBrewer's YlOrBr scale, which stays ordered for colour-blind
readers and in grey, and every tile also prints its grade: colour is never the only cue. A day
with no grade ("not assessed": not recorded, or not gradable from what was recorded) is hatched
grey with a dash, never white like a low grade.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from .hematotoxicity import load_hematotoxicity
from .observations import COLUMNS, COUNTS, LABS, THERAPIES
from .syndromes import Syndrome

if TYPE_CHECKING:
    import polars as pl

    from .grading import Grader, ObservationsInput
    from .results import GradingResult

GRADE_COLOURS = {0: "#ffffd4", 1: "#fee391", 2: "#fec44f", 3: "#fe9929", 4: "#d95f0e", 5: "#993404"}
NOT_ASSESSED_COLOUR = "#d9d9d9"
NOT_ASSESSED_LABEL = "–"
# Colour-blind-safe line colours (Okabe-Ito).
LINE_COLOURS = ("#D55E00", "#0072B2", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")
# The bars of the highest-grade distribution: a colour and a hatch per system and syndrome, so
# that neighbouring bars differ in more than colour.
BAR_COLOURS = ("#1f77b4", "#aec7e8", "#ff7f0e", "#ffbb78", "#2ca02c", "#98df8a", "#d62728", "#ff9896",
               "#9467bd", "#c5b0d5", "#8c564b", "#c49c94")
BAR_HATCHES = ("", "//", "..", "xx")
MARKER_COLOURS = {"tocilizumab": "#0072B2", "steroids": "#000000"}
# Above this many patients the cohort's grades are drawn as a heat map for each syndrome: one thin
# row per patient, no numbers (they would not fit) and no treatment markers.
HEATMAP_ABOVE = 40
# A count of 0 cannot be drawn on a log axis: counts below this are drawn at it.
COUNTS_FLOOR = 1.0


class Tile(NamedTuple):
    """One day of one syndrome: its grade, the label printed in it, its fill, and the criterion
    that set the grade (the day's reason, for the tile's tooltip). A named tuple, being made
    once per patient-day and syndrome, many times faster than a frozen dataclass."""

    day: int
    grade: int | None
    label: str
    colour: str
    hatched: bool
    text_colour: str
    criterion: str = ""


@dataclass(frozen=True)
class GradeStrip:
    name: str  # what the system calls the syndrome: CRS, ICANS, CRES
    tiles: tuple[Tile, ...]


@dataclass(frozen=True)
class Series:
    """A line over days (days without a value are left out, not drawn as zero)."""

    name: str
    days: tuple[int, ...]
    values: tuple[float, ...]
    colour: str
    dashed: bool = False


@dataclass(frozen=True)
class StepLane:
    """A level held from one day to the next (oxygen support, vasopressors); None: not recorded."""

    name: str
    levels: tuple[str, ...]  # from the least to the most support
    days: tuple[int, ...]
    values: tuple[int | None, ...]
    colour: str

    def runs(self) -> list[list[tuple[int, int]]]:
        """The recorded levels in runs of consecutive days: a day not recorded breaks the line."""
        runs: list[list[tuple[int, int]]] = []
        for day, value in zip(self.days, self.values, strict=True):
            if value is None:
                continue
            if runs and runs[-1][-1][0] == day - 1:
                runs[-1].append((day, value))
            else:
                runs.append([(day, value)])
        return runs


@dataclass(frozen=True)
class EventLane:
    """The days a treatment was given."""

    name: str
    days: tuple[int, ...]
    colour: str


@dataclass(frozen=True)
class Panel:
    key: str
    y_label: str
    log: bool = False
    series: tuple[Series, ...] = ()
    reference_lines: tuple[tuple[float, str], ...] = ()
    step_lane: StepLane | None = None
    event_lanes: tuple[EventLane, ...] = ()
    strips: tuple[GradeStrip, ...] = ()


@dataclass(frozen=True)
class CourseFigure:
    patient_id: str
    title: str
    x_range: tuple[float, float]  # half a day beyond the first and last day, day 0 always in it
    panels: tuple[Panel, ...]

    def panel(self, key: str) -> Panel:
        return next(p for p in self.panels if p.key == key)

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(p.key for p in self.panels)


_LOOKS: dict[int | None, tuple[str, str, bool, str]] = {
    None: (NOT_ASSESSED_LABEL, NOT_ASSESSED_COLOUR, True, "#000000"),
    **{g: (str(g), colour, False, "#ffffff" if g >= 4 else "#000000") for g, colour in GRADE_COLOURS.items()}}


def tile(day: int, grade: int | None, criterion: str = "") -> Tile:
    label, colour, hatched, text_colour = _LOOKS[grade]
    return Tile(day, grade, label, colour, hatched, text_colour, criterion)


def grade_legend() -> list[Tile]:
    """The legend of a grade strip: grades 0-5 and "not assessed"."""
    return [tile(-1, g) for g in range(6)] + [tile(-1, None)]


def legend_label(t: Tile) -> str:
    return f"grade {t.label}" if t.grade is not None else "not assessed (–)"


def _x_range(days: Sequence[int]) -> tuple[float, float]:
    return (min(0, min(days)) - 0.5, max(0, max(days)) + 0.5)


def _span(x_range: tuple[float, float]) -> range:
    return range(int(x_range[0] + 0.5), int(x_range[1] - 0.5) + 1)


def _criterion(row: Mapping[str, Any], syndrome: str) -> str:
    rules = row.get(f"{syndrome}_rules")
    reason = row.get(f"{syndrome}_reason") or ""
    return f"{reason} ({rules})" if rules else reason


def _strips(rows: Sequence[Mapping[str, Any]], labels: Mapping[Syndrome, str], span: range) -> tuple[GradeStrip, ...]:
    """A patient's grade strips over `span`: a tile per day, "not recorded" where the input has
    no row for the day."""
    by_day = {r["day"]: r for r in rows}
    strips = []
    for syndrome, label in labels.items():
        column = f"{syndrome}_grade"
        tiles = []
        for day in span:
            row = by_day.get(day)
            tiles.append(tile(day, None, "not recorded") if row is None
                         else tile(day, row[column], _criterion(row, syndrome)))
        strips.append(GradeStrip(label, tuple(tiles)))
    return tuple(strips)


def _level_name(name: str) -> str:
    return name.replace("_", " ")


def therapies_given(row: Mapping[str, Any]) -> list[str]:
    """The treatments of a day: the contract's therapies with a column, then others by name."""
    others = row["other_treatment"].split("; ") if row.get("other_treatment") else []
    return [t for t in THERAPIES if row.get(t)] + others


def course_figure(days: Sequence[Mapping[str, Any]], labels: Mapping[Syndrome, str], definitions: Any,
                  system_name: str) -> CourseFigure:
    """A patient's clinical course over days after infusion, with the daily grades below it.

    `days` are the patient's graded days (rows of Grader.frames, see `day_columns`: combined
    inputs, `f.` facts, grades and reasons); `definitions` are the rule set's, for the fever
    threshold and the oxygen classes."""
    days = sorted(days, key=lambda d: d["day"])
    numbers = tuple(d["day"] for d in days)
    x_range = _x_range(numbers)

    def series(name: str, column: str, colour: str, dashed: bool = False, floor: float | None = None) -> Series:
        """A column's line; on a log axis (`floor`), values below it are drawn at it."""
        points = [(d["day"], d[column]) for d in days if d[column] is not None]
        values = tuple(float(v) if floor is None else max(float(v), floor) for _, v in points)
        return Series(name, tuple(n for n, _ in points), values, colour, dashed)

    threshold = definitions.fever.threshold_c
    panels = [Panel("temperature", "max temp (°C)",
                    series=(series("daily maximum temperature", "f.temp_c", LINE_COLOURS[0]),),
                    reference_lines=((threshold, f"{threshold:g} °C"),))]
    if any(d["sbp_min"] is not None or d["dbp_min"] is not None for d in days):
        panels.append(Panel("blood_pressure", "min BP (mmHg)", series=(
            series("systolic (lowest)", "sbp_min", "#000000"),
            series("diastolic (lowest)", "dbp_min", "#7f7f7f", dashed=True))))
    classes = definitions.oxygen.classes
    panels.append(Panel("oxygen", "oxygen", step_lane=StepLane(
        "oxygen support", tuple(_level_name(c) for c in classes), numbers,
        tuple(None if d["f.o2_class"] is None else classes.index(d["f.o2_class"]) for d in days), LINE_COLOURS[1])))
    panels.append(Panel("vasopressors", "vasopressors", step_lane=StepLane(
        "vasopressors (vasopressin not counted)", ("0", "1", "2", "3+"), numbers,
        tuple(None if d["vasopressors"] is None else min(d["vasopressors"], 3) for d in days), LINE_COLOURS[2])))
    given: dict[str, list[int]] = {}
    for d in days:
        for name in therapies_given(d):
            given.setdefault(name, []).append(d["day"])
    if given:
        names = [t for t in THERAPIES if t in given] + sorted(n for n in given if n not in THERAPIES)
        panels.append(Panel("treatments", "treatments", event_lanes=tuple(
            EventLane(name, tuple(given[name]), LINE_COLOURS[(i + 3) % len(LINE_COLOURS)])
            for i, name in enumerate(names))))
    labs = [name for name in LABS if any(d[name] is not None for d in days)]
    if labs:
        panels.append(Panel("labs", "laboratory (log)", log=True, series=tuple(
            series(f"{COLUMNS[name].label} ({COLUMNS[name].unit})", name, LINE_COLOURS[(i + 3) % len(LINE_COLOURS)])
            for i, name in enumerate(labs))))
    counts = [name for name in COUNTS if any(d[name] is not None for d in days)]
    if counts:
        # the ANC thresholds early ICAHT counts days below, from its rule file
        thresholds = load_hematotoxicity().icaht.counting.early_thresholds.values()
        panels.append(Panel("counts", f"blood counts (log; < {COUNTS_FLOOR:g} at {COUNTS_FLOOR:g})", log=True,
            series=tuple(series(f"{COLUMNS[name].label} ({COLUMNS[name].unit})", name,
                                LINE_COLOURS[(i + 1) % len(LINE_COLOURS)], floor=COUNTS_FLOOR)
                         for i, name in enumerate(counts)),
            reference_lines=tuple((value, f"ANC {value:g}") for value in sorted(thresholds, reverse=True))
            if "anc" in counts else ()))
    panels.append(Panel("grades", "grade", strips=_strips(days, labels, _span(x_range))))
    patient_id = days[0]["patient_id"]
    title = f"Patient {patient_id}: clinical course and {' and '.join(labels.values())} grades ({system_name})"
    return CourseFigure(patient_id, title, x_range, tuple(panels))


def day_columns(labels: Mapping[Syndrome, str]) -> list[str]:
    """The columns of a graded frame that the figures read."""
    graded = [f"{s}_{part}" for s in labels for part in ("grade", "reason", "rules")]
    return ["patient_id", "day", "f.temp_c", "sbp_min", "dbp_min", "f.o2_class", "vasopressors", *THERAPIES,
            "other_treatment", *LABS, *COUNTS, *graded]


def patients_days(frames: Iterable[pl.DataFrame], labels: Mapping[Syndrome, str],
                  only: str | None = None) -> dict[str, list[dict[str, Any]]]:
    """Each patient's graded days (in input order), as dicts of the figures' columns (None
    where the input has no such column), from the frames of Grader.frames."""
    import polars as pl

    wanted = day_columns(labels)
    by_patient: dict[str, list[dict[str, Any]]] = {}
    for frame in frames:
        if only is not None:
            frame = frame.filter(pl.col("patient_id") == only)
        chosen = frame.select([pl.col(c) if c in frame.columns else pl.lit(None).alias(c) for c in wanted])
        for row in chosen.iter_rows(named=True):
            by_patient.setdefault(row["patient_id"], []).append(row)
    return by_patient


def courses(grader: Grader, source: ObservationsInput, *, infusion_date: Any = None, skip_invalid: bool = False,
            explain: bool = False) -> tuple[GradingResult, dict[str, CourseFigure]]:
    """Grades an input and builds every patient's course figure from the same grading of it."""
    from .grading import Accounting

    accounting = Accounting()
    frames = list(grader.frames(source, infusion_date=infusion_date, skip_invalid=skip_invalid, accounting=accounting))
    result = grader.result(frames, accounting, explain=explain)
    return result, course_figures(grader, Graded.of(grader, frames))


def course_figures(grader: Grader, graded: Graded) -> dict[str, CourseFigure]:
    """Every patient's course figure, in input order."""
    return {pid: course_figure(days, graded.labels, grader.ruleset.definitions, graded.system_name)
            for pid, days in graded.patients.items()}


# --- the cohort ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class SwimmerRow:
    patient_id: str
    strips: tuple[GradeStrip, ...]
    markers: tuple[tuple[int, str], ...]  # (day, therapy): tocilizumab and steroids


@dataclass(frozen=True)
class Distribution:
    """Patients by highest grade, for one system and syndrome; `None` counts the patients with
    no day that could be graded."""

    system: str
    syndrome: str
    counts: tuple[tuple[int | None, int], ...]
    colour: str = BAR_COLOURS[0]
    hatch: str = ""


@dataclass(frozen=True)
class CohortFigure:
    title: str
    x_range: tuple[float, float]
    rows: tuple[SwimmerRow, ...]  # sorted: highest CRS grade first, then earliest onset
    heatmap: bool
    distributions: tuple[Distribution, ...]
    incidence: tuple[Series, ...]  # % of patients with a first episode by each day

    def peak_groups(self) -> list[tuple[int | None, int, int]]:
        """The rows by highest grade of the first syndrome (they are sorted by it): each group's
        grade (None: not gradable), first row and number of rows, so that a heat map can mark
        where each begins."""
        groups: list[tuple[int | None, int, int]] = []
        for index, row in enumerate(self.rows):
            peak = max((t.grade for t in row.strips[0].tiles if t.grade is not None), default=None)
            if groups and groups[-1][0] == peak:
                groups[-1] = (peak, groups[-1][1], groups[-1][2] + 1)
            else:
                groups.append((peak, index, 1))
        return groups


@dataclass(frozen=True)
class Graded:
    """A cohort graded under one system: its name, what it calls each syndrome, and each
    patient's graded days (rows with the columns of `day_columns`)."""

    system_name: str
    labels: Mapping[Syndrome, str]
    patients: Mapping[str, Sequence[Mapping[str, Any]]]

    @classmethod
    def of(cls, grader: Grader, frames: Iterable[pl.DataFrame], only: str | None = None) -> Graded:
        """The graded frames of Grader.frames (only one patient's days, with `only`)."""
        manifest = grader.ruleset.manifest
        labels = dict(manifest.syndromes)
        return cls(manifest.name, labels, patients_days(frames, labels, only))


def _peak(days: Sequence[Mapping[str, Any]], syndrome: str) -> int:
    """The highest grade of a syndrome, -1 when no day could be graded."""
    return max((g for d in days if (g := d[f"{syndrome}_grade"]) is not None), default=-1)


def _first(days: Sequence[Mapping[str, Any]], syndrome: str, at_least: int) -> int | None:
    """The first day a syndrome was graded `at_least` or more."""
    column = f"{syndrome}_grade"
    return next((d["day"] for d in days if (d[column] or 0) >= at_least), None)


def distribution(graded: Graded, first_colour: int = 0) -> list[Distribution]:
    """Each graded syndrome's patients by highest grade."""
    out = []
    for number, (syndrome, label) in enumerate(graded.labels.items(), start=first_colour):
        peaks = [_peak(days, syndrome) for days in graded.patients.values()]
        counts = [(g, peaks.count(g)) for g in range(6)] + [(None, peaks.count(-1))]
        out.append(Distribution(graded.system_name, label, tuple(counts), BAR_COLOURS[number % len(BAR_COLOURS)],
                                BAR_HATCHES[number % len(BAR_HATCHES)]))
    return out


def cohort_figure(graded: Graded, others: Sequence[Graded] = ()) -> CohortFigure:
    """Swimmer rows (or a heat map), the distribution of highest grades (under each system given),
    and the cumulative incidence of a first episode of each syndrome, any grade and grade 3 or more."""
    patients = graded.patients
    days_by_patient = {pid: sorted(days, key=lambda d: d["day"]) for pid, days in patients.items()}
    order = {}
    for pid, days in days_by_patient.items():
        crs_onset, icans_onset = _first(days, "crs", 1), _first(days, "icans", 1)
        order[pid] = (-_peak(days, "crs"), float("inf") if crs_onset is None else crs_onset,
                      -_peak(days, "icans"), float("inf") if icans_onset is None else icans_onset, pid)
    x_range = _x_range([d["day"] for days in days_by_patient.values() for d in days])
    span = _span(x_range)
    rows = tuple(
        SwimmerRow(pid, _strips(days_by_patient[pid], graded.labels, span),
                   tuple((d["day"], t) for d in days_by_patient[pid] for given in [therapies_given(d)]
                         for t in MARKER_COLOURS if t in given))
        for pid in sorted(order, key=order.__getitem__))
    distributions = distribution(graded)
    for other in others:
        distributions += distribution(other, len(distributions))
    incidence = []
    colours = iter(LINE_COLOURS)
    for syndrome, label in graded.labels.items():
        for at_least, name in ((1, f"{label} any grade"), (3, f"{label} grade ≥ 3")):
            firsts = [_first(days, syndrome, at_least) for days in days_by_patient.values()]
            by_day = {day: 0 for day in span}
            for first in firsts:
                if first is not None:
                    by_day[first] += 1
            values, reached = [], 0
            for day in span:
                reached += by_day[day]
                values.append(round(100 * reached / len(firsts), 1))
            incidence.append(Series(name, tuple(span), tuple(values), next(colours), dashed=at_least == 3))
    title = f"{len(rows)} patients: daily {' and '.join(graded.labels.values())} grades ({graded.system_name})"
    return CohortFigure(title, x_range, rows, len(rows) > HEATMAP_ABOVE, tuple(distributions), tuple(incidence))
