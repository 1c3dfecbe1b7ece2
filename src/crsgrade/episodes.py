"""Episodes and registry summaries, from graded days.

ASTCT does not define when an episode ends; crsgrade's rule, stated once here and in the README:

- an episode of a syndrome starts on a day graded 1 or more;
- it ends on the last such day before a day graded 0 — that day is its resolution day;
- recorded days without a grade (not gradable) and days missing from the record neither end nor
  extend an episode; its duration counts calendar days from onset to its last day, gaps included;
- an episode still going on the last recorded day is not resolved (resolution_day is None);
- a later day graded 1 or more starts a new episode.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple, Protocol

from .hematotoxicity import HematotoxSummary, load_hematotoxicity
from .observations import THERAPIES
from .results import SCHEMA_VERSION, GradedPatient, GradingResult, _Result
from .syndromes import SYNDROMES, Syndrome

OTHER_THERAPIES = ("siltuximab", "anakinra", "antipyretic")


class Episode(_Result):
    onset_day: int
    peak_grade: int
    peak_day: int
    last_day: int
    resolution_day: int | None
    duration_days: int
    days_at_grade: dict[int, int]
    ungraded_days: int


class SyndromeSummary(_Result):
    """The registry fields of one syndrome for one patient (CIBMTR / EBMT style)."""

    occurred: bool | None  # None: no day could be graded
    highest_grade: int | None
    highest_grade_day: int | None
    onset_day: int | None
    resolution_day: int | None
    duration_days: int
    episodes: tuple[Episode, ...]
    tocilizumab: bool
    steroids: bool
    other_therapies: tuple[str, ...]


class PatientSummary(_Result):
    """A patient's registry fields, one SyndromeSummary per syndrome (syndromes.SYNDROMES)."""

    patient_id: str
    first_day: int
    last_day: int
    syndromes: dict[Syndrome, SyndromeSummary]
    hematotoxicity: HematotoxSummary

    @property
    def crs(self) -> SyndromeSummary:
        return self.syndromes["crs"]

    @property
    def icans(self) -> SyndromeSummary:
        return self.syndromes["icans"]


class CohortFigures(_Result):
    patients: int
    not_gradable: int
    any_grade: int
    any_grade_percent: float
    grade_3_or_more: int
    grade_3_or_more_percent: float
    median_onset_day: float | None
    median_duration_days: float | None

    def cells(self) -> tuple[str, ...]:
        """The figures as the summary table and the report show them: patients, any grade,
        grade ≥ 3, median onset, median duration, not gradable."""
        return (str(self.patients), f"{self.any_grade} ({self.any_grade_percent:g} %)",
                f"{self.grade_3_or_more} ({self.grade_3_or_more_percent:g} %)",
                "" if self.median_onset_day is None else f"{self.median_onset_day:g}",
                "" if self.median_duration_days is None else f"{self.median_duration_days:g}",
                str(self.not_gradable))


class Discrepancy(_Result):
    patient_id: str
    day: int
    computed: int | None
    reported: int


class Concordance(_Result):
    days_compared: int
    days_agreeing: int
    percent_agreeing: float
    table: dict[str, dict[str, int]]  # computed grade -> reported grade -> days
    discrepancies: tuple[Discrepancy, ...]


class CohortSummary(_Result):
    schema_version: str = SCHEMA_VERSION
    ruleset: str
    labels: dict[str, str]  # the syndromes the system grades, and what it calls them
    ruleset_version: str
    settings: dict[str, Any]
    patients: tuple[PatientSummary, ...]
    cohort: dict[str, CohortFigures]
    concordance: dict[str, Concordance]


class Graded(Protocol):
    """A graded day as the summaries read it: a GradedDay, or a `Day` read from a frame."""

    # Read-only, as both are frozen.
    @property
    def patient_id(self) -> str: ...

    @property
    def day(self) -> int: ...

    @property
    def therapies(self) -> tuple[str, ...]: ...

    @property
    def blood(self) -> Mapping[str, Any]: ...

    def grade(self, name: Syndrome) -> int | None: ...

    def reported(self, name: Syndrome) -> int | None: ...


class Day(NamedTuple):
    """The parts of a graded day the summaries need, read from a graded frame (a tuple, as a
    cohort has one per patient-day): the grades and reported grades in SYNDROMES' order."""

    patient_id: str
    day: int
    grades: tuple[int | None, ...]
    therapies: tuple[str, ...]
    reports: tuple[int | None, ...]
    blood: dict[str, Any]

    def grade(self, name: Syndrome) -> int | None:
        return self.grades[_POSITION[name]]

    def reported(self, name: Syndrome) -> int | None:
        return self.reports[_POSITION[name]]


_POSITION = {name: index for index, name in enumerate(SYNDROMES)}


def days_of(frame: Any) -> list[Day]:
    """A graded frame's days."""
    from .grading import day_blood, day_therapies

    def column(name: str) -> list[Any]:
        return frame[name].to_list() if name in frame.columns else [None] * frame.height

    return list(map(Day, frame["patient_id"].to_list(), frame["day"].to_list(),
                    zip(*(column(f"{s}_grade") for s in SYNDROMES), strict=True), day_therapies(frame),
                    zip(*(column(f"reported_{s}_grade") for s in SYNDROMES), strict=True), day_blood(frame)))


def episodes(days: Sequence[Graded], syndrome: Syndrome) -> list[Episode]:
    """The episodes of a syndrome in a patient's graded days (in day order)."""
    return _episodes([(d.day, d.grade(syndrome)) for d in days])


def _episodes(graded: Sequence[tuple[int, int | None]]) -> list[Episode]:
    """The episodes in a patient's (day, grade) pairs, in one pass."""
    found: list[Episode] = []
    onset: int | None = None
    peak = peak_day = last = ungraded = pending = 0
    counts: dict[int, int] = {}

    def close(onset: int, resolution: int | None) -> None:
        found.append(Episode(onset_day=onset, peak_grade=peak, peak_day=peak_day, last_day=last,
                             resolution_day=resolution, duration_days=last - onset + 1,
                             days_at_grade=dict(sorted(counts.items())), ungraded_days=ungraded))

    for day, grade in graded:
        if grade is None:
            pending += 1 if onset is not None else 0
        elif grade >= 1:
            if onset is None:
                onset, peak, peak_day, ungraded, pending, counts = day, grade, day, 0, 0, {}
            elif grade > peak:
                peak, peak_day = grade, day
            counts[grade] = counts.get(grade, 0) + 1
            last, ungraded, pending = day, ungraded + pending, 0
        elif onset is not None:  # graded 0: the episode has resolved
            close(onset, day)
            onset = None
    if onset is not None:
        close(onset, None)
    return found


def first_day_at_least(patient: GradedPatient, syndrome: Syndrome, grade: int) -> int | None:
    """The first day a syndrome was graded `grade` or more (for cumulative incidence)."""
    return next((d.day for d in patient.days if (d.grade(syndrome) or 0) >= grade), None)


def _therapies_during(days: Sequence[Graded], found: list[Episode]) -> set[str]:
    """The therapies given on the days of the episodes (from onset to resolution, or to the last
    day), in one pass over the days."""
    given: set[str] = set()
    spans = [(e.onset_day, e.resolution_day if e.resolution_day is not None else days[-1].day) for e in found]
    current = 0
    for day in days:
        while current < len(spans) and day.day > spans[current][1]:
            current += 1
        if current < len(spans) and spans[current][0] <= day.day:
            given |= set(day.therapies)
    return given


def _peak(graded: Sequence[tuple[int, int | None]]) -> tuple[int, int] | None:
    """The highest grade and the first day it was given (None: no day graded)."""
    top = max((grade for _, grade in graded if grade is not None), default=None)
    return None if top is None else (top, next(day for day, grade in graded if grade == top))


def summarise_syndrome(days: Sequence[Graded], syndrome: Syndrome) -> SyndromeSummary:
    graded = [(d.day, d.grade(syndrome)) for d in days]
    found = _episodes(graded)
    peak = _peak(graded)
    given = _therapies_during(days, found)
    return SyndromeSummary(
        occurred=bool(found) if peak is not None else None,
        highest_grade=peak[0] if peak else None,
        highest_grade_day=peak[1] if peak else None,
        onset_day=found[0].onset_day if found else None,
        resolution_day=found[-1].resolution_day if found else None,
        duration_days=sum(e.duration_days for e in found),
        episodes=tuple(found),
        tocilizumab="tocilizumab" in given,
        steroids="steroids" in given,
        other_therapies=tuple(t for t in OTHER_THERAPIES if t in given)
        + tuple(sorted(given - set(THERAPIES))),
    )


def _percent(part: int, whole: int) -> float:
    return round(100 * part / whole, 1) if whole else 0.0


# What the cohort figures read of a patient's syndrome: occurred, highest grade, onset day, duration.
Tally = tuple[bool | None, int | None, int | None, int]


def _figures(tallies: list[Tally]) -> CohortFigures:
    patients = len(tallies)
    occurred = [t for t in tallies if t[0]]
    severe = [t for t in occurred if (t[1] or 0) >= 3]
    onsets = [t[2] for t in occurred if t[2] is not None]  # all of them: it occurred
    durations = [t[3] for t in occurred]
    return CohortFigures(
        patients=patients,
        not_gradable=sum(t[0] is None for t in tallies),
        any_grade=len(occurred),
        any_grade_percent=_percent(len(occurred), patients),
        grade_3_or_more=len(severe),
        grade_3_or_more_percent=_percent(len(severe), patients),
        median_onset_day=statistics.median(onsets) if onsets else None,
        median_duration_days=statistics.median(durations) if durations else None,
    )


Compared = tuple[str, int, int | None, int]  # a day with an investigator's grade: patient, day, computed, reported


def _concordance(pairs: Sequence[Compared]) -> Concordance | None:
    if not pairs:
        return None
    table: dict[str, dict[str, int]] = {}
    for _, _, computed, reported in pairs:
        row = table.setdefault("–" if computed is None else str(computed), {})
        row[str(reported)] = row.get(str(reported), 0) + 1
    agreeing = sum(computed == reported for _, _, computed, reported in pairs)
    return Concordance(
        days_compared=len(pairs),
        days_agreeing=agreeing,
        percent_agreeing=_percent(agreeing, len(pairs)),
        table=dict(sorted(table.items())),
        discrepancies=tuple(
            Discrepancy(patient_id=patient, day=day, computed=computed, reported=reported)
            for patient, day, computed, reported in pairs if computed != reported
        ),
    )


def summarise(result: GradingResult, score_settings: Mapping[str, Any] | None = None) -> CohortSummary:
    """Per-patient registry fields, with hematotoxicity (its settings in `score_settings`),
    cohort figures and, where the input has investigator grades, their concordance with the
    computed ones."""
    summary = Summariser(result.ruleset, dict(result.labels), result.ruleset_version, result.settings, score_settings)
    return summary.result(summary.add([d for p in result.patients for d in p.days]))


def _syndromes_in(labels: Iterable[str]) -> list[Syndrome]:
    """The syndromes among `labels`, in their order."""
    return [s for name in labels for s in SYNDROMES if s == name]


class Summariser:
    """A cohort's summary, built from its graded days a batch of whole patients at a time. Each
    batch's patient summaries go back to the caller, to write as they come or to keep; the
    summariser keeps only what the cohort figures read of each patient and the days with an
    investigator's grade, so that its memory follows neither the days nor the patients' fields."""

    def __init__(self, ruleset: str, labels: dict[str, str], version: str, settings: dict[str, Any],
                 score_settings: Mapping[str, Any] | None = None):
        self.ruleset, self.labels, self.version, self.settings = ruleset, labels, version, settings
        self.scores = load_hematotoxicity()
        self.chosen = self.scores.settings(score_settings)
        self.graded = _syndromes_in(labels)
        self.tallies: dict[Syndrome, list[Tally]] = {s: [] for s in self.graded}
        self.compared: dict[Syndrome, list[Compared]] = {s: [] for s in self.graded}

    def add(self, days: Sequence[Graded]) -> list[PatientSummary]:
        """The summaries of whole patients' graded days (each patient's together, in day order)."""
        by_patient: dict[str, list[Graded]] = {}
        for day in days:
            by_patient.setdefault(day.patient_id, []).append(day)
        patients = [
            PatientSummary(patient_id=pid, first_day=mine[0].day, last_day=mine[-1].day,
                           syndromes={s: summarise_syndrome(mine, s) for s in SYNDROMES},
                           hematotoxicity=self.scores.summary(mine, self.chosen))
            for pid, mine in by_patient.items()
        ]
        for syndrome, tallies in self.tallies.items():
            tallies += [(t.occurred, t.highest_grade, t.onset_day, t.duration_days)
                        for t in (p.syndromes[syndrome] for p in patients)]
        for syndrome, pairs in self.compared.items():
            pairs += [(d.patient_id, d.day, d.grade(syndrome), reported) for d in days
                      if (reported := d.reported(syndrome)) is not None]
        return patients

    def add_frame(self, frame: Any) -> list[PatientSummary]:
        """The summaries of a graded frame's patients, its days read with the cycle collector
        paused: a batch makes a tuple a day."""
        from .sources import collector_paused

        with collector_paused():
            return self.add(days_of(frame))

    def result(self, patients: Sequence[PatientSummary] = ()) -> CohortSummary:
        """The summary with these patients (those `add` gave back; none, for the fields around
        them) and the figures of every patient added."""
        return CohortSummary(
            ruleset=self.ruleset, labels=self.labels, ruleset_version=self.version,
            settings={**self.settings, **self.chosen}, patients=tuple(patients),
            cohort={s: _figures(self.tallies[s]) for s in self.graded},
            concordance={s: c for s in self.graded if (c := _concordance(self.compared[s])) is not None},
        )
