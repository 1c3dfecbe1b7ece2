"""One cohort graded under several grading systems, side by side, with how far they agree.

Systems disagree more about the grade than about whether CRS happened at all, so agreement is
reported both ways, per pair of systems, on each patient's highest grade: presence agreement
(both 0, or both 1 or more), identical-grade rate, the cross-tabulation, and Cohen's kappa with
linear weights over grades 0-5.

A grade that rests on unrecorded values is a lower bound ("2+"); a patient's highest grade is a
lower bound when any of its days is. Agreement figures use the grades as computed and say how
many of the patients compared had a lower bound in either system.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Iterator, Mapping, Sequence
from itertools import combinations
from typing import Any

import polars as pl
from pydantic import Field

from .errors import SettingsError
from .grading import Accounting, Grader, ObservationsInput, open_input, readings
from .hematotoxicity import HematotoxSummary, load_hematotoxicity, split_settings
from .output import spreadsheet_safe
from .results import SCHEMA_VERSION, GradedPatient, InputSummary, SyndromeGrade, _Result
from .ruleset import RuleSet, default_rules_dir, load_ruleset, shipped_systems
from .syndromes import SYNDROMES, Syndrome

GRADES = range(6)


class SystemGrade(_Result):
    """One system's grade of one syndrome: None when not gradable; `lower_bound` when values
    that could raise it were not recorded (listed in `not_recorded`)."""

    grade: int | None
    lower_bound: bool
    reason: str
    rules: tuple[str, ...] = ()
    not_recorded: tuple[str, ...] = ()

    @classmethod
    def of(cls, grade: SyndromeGrade) -> SystemGrade:
        return cls(grade=grade.grade, lower_bound=bool(grade.not_recorded), reason=grade.reason,
                   rules=grade.rule_ids, not_recorded=grade.not_recorded)

    def text(self) -> str:
        """"2", "2+" (could be higher) or "–" (not gradable)."""
        if self.grade is None:
            return "–"
        return f"{self.grade}+" if self.lower_bound else str(self.grade)


class ComparedDay(_Result):
    patient_id: str
    day: int
    syndrome: Syndrome
    grades: dict[str, SystemGrade]  # by system
    differ: bool  # the systems that could grade the day gave different grades


class ComparedPatient(_Result):
    """Each system's highest grade of one syndrome for one patient."""

    patient_id: str
    syndrome: Syndrome
    highest: dict[str, SystemGrade]
    differ: bool


class PairAgreement(_Result):
    """How two systems agree on the patients' highest grades of one syndrome."""

    syndrome: Syndrome
    systems: tuple[str, str]
    patients: int  # graded by both
    lower_bounds: int  # of them, with a lower bound in either system
    presence_agreeing: int
    presence_percent: float | None
    identical: int
    identical_percent: float | None
    crosstab: dict[int, dict[int, int]]  # first system's grade -> second system's grade -> patients
    weighted_kappa: float | None  # linear weights; None when undefined (one grade only)


class Comparison(_Result):
    schema_version: str = SCHEMA_VERSION
    systems: tuple[str, ...]
    names: dict[str, str]  # system -> its display name
    labels: dict[str, dict[str, str]]  # system -> syndrome -> what the system calls it
    settings: dict[str, dict[str, Any]]  # system -> its settings
    input: InputSummary
    warnings: tuple[str, ...] = ()
    days: tuple[ComparedDay, ...]
    patients: tuple[ComparedPatient, ...]
    agreement: tuple[PairAgreement, ...]
    # per patient whose record it could use, hematotoxicity: the same under every system
    hematotoxicity: dict[str, HematotoxSummary] = Field(default_factory=dict)

    def graders_of(self, syndrome: str) -> list[str]:
        """The compared systems that grade a syndrome."""
        return [s for s in self.systems if syndrome in self.labels[s]]


def _split_settings(rulesets: Mapping[str, RuleSet], settings: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Each system's share of the settings: a setting goes to every system that declares it."""
    if not isinstance(settings, Mapping):
        raise SettingsError(f"settings: expected a mapping of setting name to value, not {type(settings).__name__}")
    systems = list(rulesets)
    declared = {s: set(ruleset.manifest.settings) for s, ruleset in rulesets.items()}
    unknown = sorted(map(str, set(settings) - set().union(*declared.values())))
    if unknown:
        known = sorted(set().union(*declared.values()))
        raise SettingsError(f"unknown setting{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}"
                            f" in {', '.join(systems)}; known settings: {', '.join(known) or 'none'}")
    return {s: {k: v for k, v in settings.items() if k in declared[s]} for s in systems}


def graders_for(systems: Sequence[str] | None, settings: Mapping[str, Any] | None, engine: str,
                first: RuleSet | None = None) -> list[Grader]:
    """One grader per system (all shipped systems by default, ASTCT 2019 first; after `first`,
    a rule set of the caller's, when given), each given the settings it declares."""
    rulesets = {first.manifest.system: first} if first is not None else {}
    for system in dict.fromkeys(systems or ([] if first is not None else shipped_systems())):
        rulesets.setdefault(system, load_ruleset(default_rules_dir(system)))
    shares = _split_settings(rulesets, settings or {})
    return [Grader(ruleset, shares[system], engine) for system, ruleset in rulesets.items()]


def compared_frames(observations: ObservationsInput, graders: Sequence[Grader], accounting: Accounting, *,
                    infusion_date: datetime.date | None = None, skip_invalid: bool = False,
                    reasons: bool = True) -> Iterator[list[pl.DataFrame]]:
    """The input read once, and each batch graded under every system: a frame per system, their
    rows the same patient-days in the same order."""
    source = open_input(observations)
    accounting.warnings += source.warnings
    for batch in readings(source, infusion_date, skip_invalid, accounting):
        graded: list[pl.DataFrame] = []
        combined: dict[bytes, pl.DataFrame] = {}
        for number, grader in enumerate(graders):
            # the accounting and warnings are the input's: counted once, by the first system
            count = accounting if number == 0 else Accounting()
            graded.append(grader.grade_readings(batch, count, source.locate, reasons=reasons, combined=combined))
        yield graded
    for grader in graders:
        grader.evaluation.keep()


def compare(
    observations: ObservationsInput,
    systems: Sequence[str] | None = None,
    *,
    settings: Mapping[str, Any] | None = None,
    engine: str = "auto",
    infusion_date: datetime.date | None = None,
    skip_invalid: bool = False,
) -> Comparison:
    """Grades the observations under each system (all shipped systems by default, ASTCT 2019
    first) and compares them. `settings` are applied to every system that declares them, and to
    the hematotoxicity scores."""
    grading, scoring = split_settings(settings)
    graders = graders_for(systems, grading, engine)
    accounting = Accounting()
    batches = compared_frames(observations, graders, accounting, infusion_date=infusion_date,
                              skip_invalid=skip_invalid, reasons=False)
    return Comparer(graders, scoring).whole(batches, accounting)


Highest = dict[str, tuple[int | None, bool]]  # by system: a patient's highest grade, and whether a lower bound
Made = dict[int, tuple[SyndromeGrade, SystemGrade]]  # by the id of a grade: it, and its system grade


class Comparer:
    """A comparison built a patient at a time. Each patient's compared days and highest grades
    go back to the caller, to write as they come or to keep; the comparer keeps only what the
    agreement figures read (each system's highest grade, and whether it is a lower bound) and
    the hematotoxicity, so that its memory follows neither the days nor the reasons."""

    def __init__(self, graders: Sequence[Grader], score_settings: Mapping[str, Any] | None = None):
        self.graders = list(graders)
        self.systems = [g.ruleset.manifest.system for g in graders]
        self.labels = {s: dict(g.ruleset.manifest.syndromes) for s, g in zip(self.systems, graders, strict=True)}
        self.scores = load_hematotoxicity()
        self.chosen = self.scores.settings(score_settings)
        self.graded_by = {syndrome: [s for s in self.systems if syndrome in self.labels[s]] for syndrome in SYNDROMES}
        self.highest: dict[Syndrome, list[Highest]] = {s: [] for s in SYNDROMES}
        self.hematotoxicity: dict[str, HematotoxSummary] = {}

    def add_batches(self, batches: Iterable[Sequence[pl.DataFrame]],
                    ) -> Iterator[tuple[list[ComparedDay], list[ComparedPatient]]]:
        """Each patient of batches graded under each system (a frame per system, as
        `compared_frames` gives them), as `add` gives it; a patient's typed days made at a time."""
        for frames in batches:
            made: Made = {}  # a batch's days share their grades
            for patients in zip(*(g.renderer.patients(frame, explain_days=False)
                                  for g, frame in zip(self.graders, frames, strict=True)), strict=True):
                yield self.add(dict(zip(self.systems, patients, strict=True)), made)

    def whole(self, batches: Iterable[Sequence[pl.DataFrame]], accounting: Accounting) -> Comparison:
        """The comparison of batches with every day and patient kept."""
        days: list[ComparedDay] = []
        patients: list[ComparedPatient] = []
        for more_days, more_patients in self.add_batches(batches):
            days += more_days
            patients += more_patients
        return self.result(accounting, days, patients)

    def add(self, patient: Mapping[str, GradedPatient], made: Made | None = None,
            ) -> tuple[list[ComparedDay], list[ComparedPatient]]:
        """One patient graded under each system: its compared days and, per syndrome, its highest
        grades. `made` keeps a system grade for each grade it was made from (holding the grade,
        so that its id stays its own)."""
        made = {} if made is None else made

        def system_grade(grade: SyndromeGrade) -> SystemGrade:
            found = made.get(id(grade))
            if found is None:
                found = made[id(grade)] = (grade, SystemGrade.of(grade))
            return found[1]

        first = patient[self.systems[0]]
        days, patients = [], []
        for syndrome in SYNDROMES:
            mine = self.graded_by[syndrome]
            if not mine:
                continue
            for number, day in enumerate(first.days):
                grades = {s: system_grade(patient[s].days[number].syndrome(syndrome)) for s in mine}
                days.append(ComparedDay(patient_id=first.patient_id, day=day.day, syndrome=syndrome,
                                        grades=grades, differ=_differ(grades.values())))
            highest = {s: _highest(patient[s].days, syndrome) for s in mine}
            patients.append(ComparedPatient(patient_id=first.patient_id, syndrome=syndrome,
                                            highest=highest, differ=_differ(highest.values())))
            self.highest[syndrome].append({s: (g.grade, g.lower_bound) for s, g in highest.items()})
        scores = self.scores.summary(first.days, self.chosen)
        if scores.recorded():
            self.hematotoxicity[first.patient_id] = scores
        return days, patients

    def result(self, accounting: Accounting, days: Sequence[ComparedDay] = (),
               patients: Sequence[ComparedPatient] = ()) -> Comparison:
        """The comparison with these days and patients (those `add` gave back; none, for the
        fields around them), and the agreement of each pair of systems over every patient added."""
        agreement = [_agreement(syndrome, a, b, self.highest[syndrome])
                     for syndrome in SYNDROMES for a, b in combinations(self.graded_by[syndrome], 2)]
        graders = dict(zip(self.systems, self.graders, strict=True))
        return Comparison(
            systems=tuple(self.systems), names={s: g.ruleset.manifest.name for s, g in graders.items()},
            labels=self.labels, settings={s: g.settings for s, g in graders.items()},
            input=accounting.summary(), warnings=tuple(accounting.warnings), days=tuple(days),
            patients=tuple(patients), agreement=tuple(agreement), hematotoxicity=self.hematotoxicity,
        )


def comparison_csv(graders: Sequence[Grader], batches: Iterable[list[pl.DataFrame]], handle: Any,
                   raw: bool = False) -> None:
    """One row per patient-day: each system's grade, the columns that could raise it and its
    rules; and whether the systems differ, per syndrome. Written batch by batch."""
    systems = [g.ruleset.manifest.system for g in graders]
    graded_by = {syndrome: [n for n, g in enumerate(graders) if syndrome in g.ruleset.syndromes]
                 for syndrome in SYNDROMES}
    first = True
    for frames in batches:
        columns = [frames[0]["patient_id"], frames[0]["day"]]
        for syndrome in SYNDROMES:
            for n in graded_by[syndrome]:
                frame, system = frames[n], systems[n]
                columns += [frame[f"{syndrome}_grade"].alias(f"{system}_{syndrome}_grade"),
                            frame[f"{syndrome}_not_recorded"].alias(f"{system}_{syndrome}_not_recorded"),
                            frame[f"{syndrome}_rules"].alias(f"{system}_{syndrome}_rules")]
        out = pl.DataFrame(columns)
        flags = []
        for syndrome in SYNDROMES:
            numbers = graded_by[syndrome]
            if not numbers:
                continue
            grades = [pl.col(f"{systems[n]}_{syndrome}_grade") for n in numbers]
            known = pl.concat_list(grades).list.drop_nulls().list.n_unique()
            flags.append(pl.when(known > 1).then(pl.lit("true")).otherwise(pl.lit("false")).alias(f"{syndrome}_differ"))
        spreadsheet_safe(out.with_columns(flags), raw).write_csv(handle, include_header=first, line_terminator="\n",
                                                                 null_value="")
        first = False


def _differ(grades) -> bool:
    known = {g.grade for g in grades if g.grade is not None}
    return len(known) > 1


def _highest(days, syndrome: str) -> SystemGrade:
    graded = [d.syndrome(syndrome) for d in days if d.syndrome(syndrome).grade is not None]
    if not graded:
        return SystemGrade(grade=None, lower_bound=False, reason="no day could be graded")
    top = max(graded, key=lambda g: g.grade)
    first_day = next(d.day for d in days if d.syndrome(syndrome).grade == top.grade)
    missing = tuple(dict.fromkeys(c for g in graded for c in g.not_recorded))
    return SystemGrade(grade=top.grade, lower_bound=bool(missing), reason=f"day {first_day}: {top.reason}",
                       rules=top.rule_ids, not_recorded=missing)


def _percent(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 1) if whole else None


def _agreement(syndrome: str, a: str, b: str, highest: list[Highest]) -> PairAgreement:
    # The patients both systems could grade: their two grades, and whether either is a lower bound.
    graded = [(x, y, x_bound or y_bound) for (x, x_bound), (y, y_bound) in ((h[a], h[b]) for h in highest)
              if x is not None and y is not None]
    pairs = [(x, y) for x, y, _ in graded]
    crosstab: dict[int, dict[int, int]] = {}
    for x, y in pairs:
        row = crosstab.setdefault(x, {})
        row[y] = row.get(y, 0) + 1
    presence = sum((x > 0) == (y > 0) for x, y in pairs)
    identical = sum(x == y for x, y in pairs)
    return PairAgreement(
        syndrome=syndrome, systems=(a, b), patients=len(pairs),
        lower_bounds=sum(lower_bound for _, _, lower_bound in graded),
        presence_agreeing=presence, presence_percent=_percent(presence, len(pairs)),
        identical=identical, identical_percent=_percent(identical, len(pairs)),
        crosstab={k: dict(sorted(v.items())) for k, v in sorted(crosstab.items())},
        weighted_kappa=weighted_kappa(pairs),
    )


def weighted_kappa(pairs: Sequence[tuple[int, int]], categories: Sequence[int] = GRADES) -> float | None:
    """Cohen's kappa with linear weights, 1 - |i - j| / (k - 1), over the given categories.
    None when it is undefined: no pairs, or chance agreement already complete."""
    if not pairs:
        return None
    k, n = len(categories), len(pairs)
    index = {c: i for i, c in enumerate(categories)}

    def weight(i: int, j: int) -> float:
        return 1 - abs(i - j) / (k - 1)

    observed = sum(weight(index[x], index[y]) for x, y in pairs) / n
    rows = [sum(index[x] == i for x, _ in pairs) / n for i in range(k)]
    cols = [sum(index[y] == j for _, y in pairs) / n for j in range(k)]
    expected = sum(weight(i, j) * rows[i] * cols[j] for i in range(k) for j in range(k))
    if expected >= 1:
        return None
    return round((observed - expected) / (1 - expected), 4)
