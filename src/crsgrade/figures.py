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

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from .episodes import first_day_at_least
from .observations import COLUMNS, LABS, THERAPIES
from .results import GradedPatient, GradingResult

if TYPE_CHECKING:
    import polars as pl

    from .grading import Grader, ObservationsInput

GRADE_COLOURS = {0: "#ffffd4", 1: "#fee391", 2: "#fec44f", 3: "#fe9929", 4: "#d95f0e", 5: "#993404"}
NOT_ASSESSED_COLOUR = "#d9d9d9"
NOT_ASSESSED_LABEL = "–"
# Colour-blind-safe line colours (Okabe-Ito).
LINE_COLOURS = ("#D55E00", "#0072B2", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")
# Above this many patients the cohort's grades are drawn as a heat map: one thin row each, no
# numbers (they would not fit) and no treatment markers.
HEATMAP_ABOVE = 40


@dataclass(frozen=True)
class Tile:
    """One day of one syndrome: its grade, the label printed in it, its fill."""

    day: int
    grade: int | None
    label: str
    colour: str
    hatched: bool
    text_colour: str


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


def tile(day: int, grade: int | None) -> Tile:
    if grade is None:
        return Tile(day, None, NOT_ASSESSED_LABEL, NOT_ASSESSED_COLOUR, True, "#000000")
    return Tile(day, grade, str(grade), GRADE_COLOURS[grade], False, "#ffffff" if grade >= 4 else "#000000")


def grade_legend() -> list[Tile]:
    """The legend of a grade strip: grades 0-5 and "not assessed"."""
    return [tile(-1, g) for g in range(6)] + [tile(-1, None)]


def _x_range(days: Sequence[int]) -> tuple[float, float]:
    return (min(0, min(days)) - 0.5, max(0, max(days)) + 0.5)


def _strips(patient: GradedPatient, labels: Mapping[str, str], span: range) -> tuple[GradeStrip, ...]:
    by_day = {d.day: d for d in patient.days}
    return tuple(
        GradeStrip(label, tuple(tile(day, by_day[day].syndrome(syndrome).grade if day in by_day else None)
                                for day in span))
        for syndrome, label in labels.items()
    )


def _level_name(name: str) -> str:
    return name.replace("_", " ")


def course_figure(patient: GradedPatient, days: Sequence[Mapping[str, Any]], labels: Mapping[str, str],
                  definitions: Any, system_name: str) -> CourseFigure:
    """A patient's clinical course over days after infusion, with the daily grades below it.

    `days` are the patient's graded days (rows of Grader.frames: combined inputs and `f.`
    facts); `definitions` are the rule set's, for the fever threshold and the oxygen classes."""
    days = sorted(days, key=lambda d: d["day"])
    numbers = tuple(d["day"] for d in days)
    x_range = _x_range(numbers)
    span = range(int(x_range[0] + 0.5), int(x_range[1] - 0.5) + 1)

    def series(name: str, column: str, colour: str, dashed: bool = False) -> Series:
        points = [(d["day"], d[column]) for d in days if d[column] is not None]
        return Series(name, tuple(n for n, _ in points), tuple(float(v) for _, v in points), colour, dashed)

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
        others = d["other_treatment"].split("; ") if d["other_treatment"] else []
        for name in [t for t in THERAPIES if d[t]] + others:
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
    panels.append(Panel("grades", "grade", strips=_strips(patient, labels, span)))
    title = f"Patient {patient.patient_id}: clinical course and {' and '.join(labels.values())} grades ({system_name})"
    return CourseFigure(patient.patient_id, title, x_range, tuple(panels))


def courses(grader: Grader, source: ObservationsInput, *, infusion_date: Any = None, skip_invalid: bool = False,
            explain: bool = False) -> tuple[GradingResult, dict[str, CourseFigure]]:
    """Grades an input and builds every patient's course figure from the same grading of it."""
    from .grading import Accounting

    accounting = Accounting()
    frames = list(grader.frames(source, infusion_date=infusion_date, skip_invalid=skip_invalid, accounting=accounting))
    result = grader.result(frames, accounting, explain=explain)
    return result, course_figures(grader, result, frames)


def course_figures(grader: Grader, result: GradingResult, frames: Sequence[pl.DataFrame],
                   only: str | None = None) -> dict[str, CourseFigure]:
    """Every patient's course figure (or only one's), from the graded result and its frames."""
    from .grading import day_rows

    by_patient: dict[str, list[dict[str, Any]]] = {}
    for frame in frames:
        chosen = frame if only is None else frame.filter(frame["patient_id"] == only)
        for row in day_rows(chosen):
            by_patient.setdefault(row["patient_id"], []).append(row)
    return {p.patient_id: course_figure(p, by_patient[p.patient_id], result.labels, grader.ruleset.definitions,
                                        grader.ruleset.manifest.name)
            for p in result.patients if p.patient_id in by_patient}


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


@dataclass(frozen=True)
class CohortFigure:
    title: str
    x_range: tuple[float, float]
    rows: tuple[SwimmerRow, ...]  # sorted: highest CRS grade first, then earliest onset
    heatmap: bool
    distributions: tuple[Distribution, ...]
    incidence: tuple[Series, ...]  # % of patients with a first episode by each day


def _peak(patient: GradedPatient, syndrome: str) -> int:
    peak = patient.peak(syndrome)
    return -1 if peak is None else peak.grade


def _onset(patient: GradedPatient, syndrome: str) -> float:
    day = first_day_at_least(patient, syndrome, 1)
    return float("inf") if day is None else day


def distribution(result: GradingResult) -> list[Distribution]:
    """Each graded syndrome's patients by highest grade."""
    out = []
    for syndrome, label in result.labels.items():
        peaks = [p.peak(syndrome) for p in result.patients]
        counts = [(g, sum(1 for peak in peaks if peak is not None and peak.grade == g)) for g in range(6)]
        counts.append((None, sum(1 for peak in peaks if peak is None)))
        out.append(Distribution(result.system_name, label, tuple(counts)))
    return out


def cohort_figure(result: GradingResult, others: Sequence[GradingResult] = ()) -> CohortFigure:
    """Swimmer rows (or a heat map), the distribution of highest grades (under each system given),
    and the cumulative incidence of a first episode of each syndrome, any grade and grade 3 or more."""
    patients = sorted(result.patients, key=lambda p: (
        -_peak(p, "crs"), _onset(p, "crs"), -_peak(p, "icans"), _onset(p, "icans"), p.patient_id))
    all_days = [d.day for p in result.patients for d in p.days]
    x_range = _x_range(all_days)
    span = range(int(x_range[0] + 0.5), int(x_range[1] - 0.5) + 1)
    rows = tuple(
        SwimmerRow(p.patient_id, _strips(p, result.labels, span),
                   tuple((d.day, t) for d in p.days for t in ("tocilizumab", "steroids") if t in d.therapies))
        for p in patients)
    distributions = distribution(result)
    for other in others:
        distributions += distribution(other)
    incidence = []
    colours = iter(LINE_COLOURS)
    for syndrome, label in result.labels.items():
        for at_least, name in ((1, f"{label} any grade"), (3, f"{label} grade ≥ 3")):
            firsts = [first_day_at_least(p, syndrome, at_least) for p in result.patients]
            values = tuple(round(100 * sum(1 for f in firsts if f is not None and f <= day) / len(firsts), 1)
                           for day in span)
            incidence.append(Series(name, tuple(span), values, next(colours), dashed=at_least == 3))
    title = f"{len(result.patients)} patients: daily {' and '.join(result.labels.values())} grades ({result.system_name})"
    return CohortFigure(title, x_range, rows, len(rows) > HEATMAP_ABOVE, tuple(distributions), tuple(incidence))
