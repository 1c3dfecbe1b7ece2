"""Grading: observations in, graded days out.

Each patient's days are graded in day order, because one piece of ASTCT is not a single-day
judgement: once a patient with CRS has had a waiving therapy, fever is no longer required, until
the episode resolves (a day graded CRS 0). That state is kept here; everything else a day's grade
depends on is in its own observation and the rule files.
"""

from __future__ import annotations

import datetime
import io
from collections import defaultdict
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from . import conditions as cond
from .aggregation import combine
from .columns import CONTRACT_COLUMNS
from .errors import ObservationError
from .evaluators import make_evaluator
from .facts import (
    NOT_ASSESSABLE,
    SET_ASIDE,
    SOURCE_COLUMNS,
    UNRECORDED_INPUTS,
    Waiver,
    blocked_therapies,
    derive,
    expected_absent,
    format_value,
    lower_bounds,
    oxygen_class,
    settings_consulted,
    waiving_therapies,
)
from .observations import THERAPIES, Observation
from .reading import ReadResult, read_observations, read_records
from .results import FiredRule, GradedDay, GradedPatient, GradingResult, InputSummary, SyndromeGrade
from .ruleset import DEFAULT_SYSTEM, PLACEHOLDER, SYNDROMES, Rule, RuleSet, default_rules_dir, load_ruleset

ObservationsInput = str | Path | Iterable[Observation | Mapping[str, Any]]


class Grader:
    """A rule set with its settings and evaluator, ready to grade many files.

    Building one loads and compiles the rules once (a durable-rules host starts two threads for
    the life of the process), so reuse it rather than building one per patient.
    """

    def __init__(
        self,
        rules: RuleSet | str | Path | None = None,
        settings: Mapping[str, Any] | None = None,
        engine: str = "auto",
        system: str | None = None,
    ):
        if rules is None:
            rules = default_rules_dir(system or DEFAULT_SYSTEM)
        self.ruleset = rules if isinstance(rules, RuleSet) else load_ruleset(rules)
        self.settings = self.ruleset.settings(settings)
        self._resolved = self.ruleset.resolved(self.settings)
        self._evaluator = make_evaluator(engine, self._resolved)
        self._rules = {rule.id: rule for rule in self.ruleset.rules}
        # an estimated FiO2 is noted on the day only when this system's rules look at FiO2
        self._tests_fio2 = any("fio2" in cond.fields_of(node) for node in self._resolved.values())

    @property
    def engine(self) -> str:
        return self._evaluator.name

    @property
    def resolved(self) -> Mapping[str, cond.Node]:
        """Each rule's condition with refs expanded and settings folded in, by rule id."""
        return self._resolved

    def read(
        self,
        observations: ObservationsInput,
        *,
        infusion_date: datetime.date | None = None,
        skip_invalid: bool = False,
    ) -> tuple[ReadResult, list[tuple[Observation, int]]]:
        """Reads observations and combines each patient-day's readings into one day.

        Returns what was read and the days with how many readings each combines. Raises
        ObservationError listing every problem (unless `skip_invalid` leaves bad rows out).
        """
        if isinstance(observations, str | Path):
            read = read_observations(observations, infusion_date=infusion_date, skip_invalid=skip_invalid)
        else:
            read = read_records(observations, infusion_date=infusion_date, skip_invalid=skip_invalid)
        readings: dict[tuple[str, int], list[int]] = defaultdict(list)
        for index, obs in enumerate(read.observations):
            readings[(obs.patient_id, obs.day)].append(index)
        days, problems = [], []
        for key, indexes in readings.items():
            day, day_problems, set_aside = combine(
                [read.observations[i] for i in indexes],
                [read.locations[i] for i in indexes],
                self._o2_rank,
            )
            if set_aside:
                read.set_aside[key] = set_aside
            if day_problems and skip_invalid:
                read.skipped.extend(day_problems)
                read.rows_skipped += len(indexes)
            problems.extend(day_problems)
            if day is not None:
                days.append((day, len(indexes)))
        if problems and not skip_invalid:
            raise ObservationError(problems)
        return read, days

    def grade(
        self,
        observations: ObservationsInput,
        *,
        infusion_date: datetime.date | None = None,
        skip_invalid: bool = False,
        explain: bool = False,
        progress: Callable[[int, int], None] | None = None,
    ) -> GradingResult:
        """Grades observations: a file path (CSV, JSON, JSON Lines; `-` for stdin), or an
        iterable of Observation models or dicts with the contract's column names. With
        `explain`, every day's grades carry an Explanation; `progress(done, total)` is called
        after each patient."""
        read, days = self.read(observations, infusion_date=infusion_date, skip_invalid=skip_invalid)
        return self.grade_days(read, days, explain=explain, progress=progress)

    def grade_days(self, read: ReadResult, days: list[tuple[Observation, int]], *, explain: bool = False,
                   progress: Callable[[int, int], None] | None = None) -> GradingResult:
        """Grades what `read()` returned (for callers that also need the combined days, such as
        the figures)."""
        by_patient: dict[str, list[tuple[Observation, int]]] = defaultdict(list)
        for day, count in days:
            by_patient[day.patient_id].append((day, count))
        patients = []
        warnings = list(read.warnings)
        for pid, patient_days in by_patient.items():
            patients.append(self._grade_patient(pid, patient_days, read.set_aside, warnings, explain))
            if progress is not None:
                progress(len(patients), len(by_patient))
        manifest = self.ruleset.manifest
        return GradingResult(
            ruleset=manifest.system,
            system_name=manifest.name,
            labels=dict(manifest.syndromes),
            ruleset_version=manifest.version,
            engine=self.engine,
            settings=self.settings,
            patients=tuple(patients),
            warnings=tuple(warnings),
            input=InputSummary.of(read, days),
        )

    def _o2_rank(self, obs: Observation) -> tuple:
        """Orders readings by oxygen support: class (as listed in the rule set), then flow."""
        oxygen = self.ruleset.definitions.oxygen
        chosen = oxygen_class(obs, oxygen, self.settings)
        rank = -1 if chosen is None else oxygen.classes.index(chosen)
        return (rank, obs.o2_flow_lpm if obs.o2_flow_lpm is not None else -1.0)

    def fired(self, fact: Mapping[str, Any]) -> list[Rule]:
        """The rules that fire for one fact (used to check each rule's own examples)."""
        return [self._rules[rule_id] for rule_id in self._evaluator.fired(fact)]

    def _new_waiver(self, therapies: list[str], day: int, prophylactic: bool) -> Waiver:
        """A waiver starting today, naming the settings that let this therapy waive fever."""
        waiver_def = self.ruleset.definitions.fever_waiver
        assert waiver_def is not None  # only systems with a fever waiver start one
        therapy = therapies[0]  # therapies that always waive are listed first
        used = [waiver_def.therapies_by_setting[therapy]] if therapy in waiver_def.therapies_by_setting else []
        if waiver_def.more_other_therapies is not None and therapy in waiver_def.more_other_therapies.value(
                self.settings) and therapy not in waiver_def.other_therapies:
            used.append(waiver_def.more_other_therapies.setting)
        if prophylactic and getattr(waiver_def.prophylaxis, "setting", None):
            used.append(waiver_def.prophylaxis.setting)
        return Waiver(therapy, day, tuple(used))

    def _grade_patient(self, patient_id: str, days: list[tuple[Observation, int]],
                       set_aside: Mapping[tuple[str, int], tuple[str, ...]], warnings: list[str],
                       explain: bool = False) -> GradedPatient:
        definitions = self.ruleset.definitions
        waiver_def = definitions.fever_waiver
        prophylaxis = bool(waiver_def and waiver_def.prophylaxis.value(self.settings))
        ends_on_resolution = bool(waiver_def and waiver_def.ends.value(self.settings) == "episode_resolved")
        known_age = next((d.age_years for d, _ in days if d.age_years is not None), None)
        waiver: Waiver | None = None
        no_waiver: tuple[str, str] | None = None  # why fever is not waived: (setting, what it did)
        in_episode = False
        death_day: int | None = None
        after_death: list[int] = []
        child_ice: list[int] = []
        graded = []
        for obs, readings in sorted(days, key=lambda item: item[0].day):
            if death_day is not None:
                after_death.append(obs.day)
                graded.append(self._after_death(patient_id, obs, readings, death_day))
                continue
            given = waiving_therapies(obs, definitions, self.settings)
            if given and waiver is None and (in_episode or prophylaxis):
                waiver = self._new_waiver(given, obs.day, prophylactic=not in_episode)
            elif given and waiver is None and not in_episode:
                no_waiver = self._prophylaxis_note(given[0], obs.day) or no_waiver
            for therapy, setting in blocked_therapies(obs, definitions, self.settings):
                if waiver is None:
                    no_waiver = (setting, f"no waiver: the {therapy} of day {obs.day} does not waive fever")
            age = obs.age_years if obs.age_years is not None else known_age
            fact = derive(obs, age_years=age, definitions=definitions, settings=self.settings,
                          waiver=waiver)
            fired = [self._rules[rule_id] for rule_id in self._evaluator.fired(fact)]
            grades = {s: self._syndrome_grade(s, obs, fact, fired) for s in SYNDROMES}
            if explain:
                from .explain import explain as explain_day

                consulted = settings_consulted(obs, fact, definitions, self.settings, waiver)
                if waiver is None and no_waiver is not None and not fact.get("fever_basis"):
                    consulted.append(("crs", *no_waiver))
                grades = {
                    s: grade.model_copy(update={"explanation": explain_day(
                        self.ruleset, self._resolved, self.settings, s, grade.grade, fact, fired, consulted)})
                    for s, grade in grades.items()
                }
            crs = grades["crs"].grade
            if crs is not None and crs >= 1:
                in_episode = True
                if given and waiver is None:
                    waiver = self._new_waiver(given, obs.day, prophylactic=False)
            elif crs == 0 and in_episode:
                in_episode = False
                if ends_on_resolution and waiver is not None:
                    no_waiver = self._ended_note(waiver, obs.day)
                    waiver = None
            notes = []
            if "ice_total" in fact.get(SET_ASIDE, {}) and obs.capd_score is None and obs.neuro_not_assessable is not True:
                child_ice.append(obs.day)
            if obs.ice_total is not None and definitions.encephalopathy and "ice_total" in fact.get(SET_ASIDE, {}):
                notes.append(f"ICE not used: {fact[SET_ASIDE]['ice_total']}")
            if obs.fio2 is None and fact.get("fio2") is not None and self._tests_fio2:
                notes.append(fact["fio2_basis"])
            graded.append(GradedDay(
                patient_id=patient_id, day=obs.day, crs=grades["crs"], icans=grades["icans"],
                fever_waived=fact["fever_waived"], readings=readings, notes=tuple(notes),
                therapies=tuple(t for t in THERAPIES if getattr(obs, t)) + obs.other_treatments,
                reported_crs_grade=obs.reported_crs_grade, reported_icans_grade=obs.reported_icans_grade,
                note=obs.note, set_aside=set_aside.get((patient_id, obs.day), ()),
            ))
            if obs.death_cause is not None:
                death_day = obs.day
        if after_death:
            warnings.append(f"patient {patient_id}: {_days(after_death)} recorded after death on day {death_day};"
                            " not graded")
        if child_ice:
            limit = definitions.encephalopathy.capd_below_age.value(self.settings)
            warnings.append(f"patient {patient_id} (age {known_age:g}): ICE set aside on {_days(child_ice)}:"
                            f" children under {limit:g} are assessed with CAPD; record capd_score")
        return GradedPatient(patient_id=patient_id, days=tuple(graded))

    def _after_death(self, patient_id: str, obs: Observation, readings: int, death_day: int) -> GradedDay:
        """A day recorded after the patient's death: kept in the output, never graded."""
        reason = f"not graded: recorded after death on day {death_day}"
        none = {s: SyndromeGrade(grade=None, reason=reason) for s in SYNDROMES}
        return GradedDay(patient_id=patient_id, day=obs.day, crs=none["crs"], icans=none["icans"],
                         fever_waived=False, readings=readings, note=obs.note,
                         therapies=tuple(t for t in THERAPIES if getattr(obs, t)) + obs.other_treatments)

    def _prophylaxis_note(self, therapy: str, day: int) -> tuple[str, str] | None:
        """Why a therapy given before any CRS does not waive fever, when a setting decides it."""
        setting = getattr(self.ruleset.definitions.fever_waiver.prophylaxis, "setting", None)
        return None if setting is None else (setting, f"no waiver: {therapy} on day {day} was before any CRS")

    def _ended_note(self, waiver: Waiver, resolved: int) -> tuple[str, str] | None:
        """Why a waiver no longer applies after its episode resolved, when a setting decides it."""
        setting = getattr(self.ruleset.definitions.fever_waiver.ends, "setting", None)
        return None if setting is None else (
            setting, f"no waiver: the {waiver.therapy} of day {waiver.day} was given in an episode that"
                     f" resolved on day {resolved}")

    def _syndrome_grade(self, syndrome: str, obs: Observation, fact: Mapping[str, Any],
                        fired: list[Rule]) -> SyndromeGrade:
        if syndrome not in self.ruleset.syndromes:
            return SyndromeGrade(grade=None, reason=f"not graded: {self.ruleset.manifest.name} grades "
                                 f"{' and '.join(self.ruleset.label(s) for s in self.ruleset.syndromes)} only")
        mine = sorted((r for r in fired if r.syndrome == syndrome), key=lambda r: -r.grade)
        unassessed = self._not_assessed(syndrome, fact)
        if not mine:
            return SyndromeGrade(
                grade=None,
                reason=NOT_ASSESSABLE if unassessed else self._not_gradable(syndrome, obs, fact),
                not_recorded=self._unrecorded(syndrome, obs, fact, lambda rule: rule.grade > 0),
            )
        top = mine[0].grade
        rules = tuple(FiredRule(id=r.id, grade=r.grade, message=_render(r.message, fact)) for r in mine)
        reason = _join_messages([rule.message for rule in rules if rule.grade == top])
        return SyndromeGrade(
            grade=top,
            reason=f"{reason}; score and consciousness {NOT_ASSESSABLE}" if unassessed else reason,
            rules=rules,
            not_recorded=self._unrecorded(syndrome, obs, fact, lambda rule: rule.grade > top),
        )

    def _not_assessed(self, syndrome: str, fact: Mapping[str, Any]) -> bool:
        """Whether facts this syndrome's rules test were set aside as not assessable."""
        aside = {name for name, why in fact.get(SET_ASIDE, {}).items() if why == NOT_ASSESSABLE}
        return any(aside & cond.fields_of(self._resolved[r.id]) for r in self.ruleset.rules
                   if r.syndrome == syndrome and r.id in self._resolved)

    def _unrecorded(self, syndrome: str, obs: Observation, fact: Mapping[str, Any], considered) -> tuple[str, ...]:
        """The input columns, left empty, on which a considered rule of the syndrome was waiting:
        rules whose condition is unknown rather than false, or false only because a derived fact
        is a lower bound (a nasal cannula with no flow). Event findings (seizure, edema, ...) are
        recorded only when they happen, a day assessed with one encephalopathy tool does not
        expect the other, and facts set aside (not assessable, ICE in a child) are not missing,
        so those empty cells are not listed."""
        definitions = self.ruleset.definitions
        absent_anyway = expected_absent(fact, definitions) | set(fact.get(SET_ASIDE, {}))
        bounds = lower_bounds(fact, definitions)
        inputs = {**SOURCE_COLUMNS, **fact.get(UNRECORDED_INPUTS, {})}
        columns: set[str] = set()
        for rule in self.ruleset.rules:
            node = self._resolved.get(rule.id)
            if rule.syndrome != syndrome or node is None or not considered(rule):
                continue
            truth = cond.evaluate(node, fact)
            if truth is None:
                columns |= {
                    inputs.get(name, name)
                    for name in cond.fields_of(node) - absent_anyway
                    if fact.get(name) is None
                }
            elif truth is False:
                for name, column in bounds.items():
                    unbounded = {k: v for k, v in fact.items() if k != name}
                    if name in cond.fields_of(node) and cond.evaluate(node, unbounded) is None:
                        columns.add(column)
        recorded = {name for name, value in obs if value is not None}
        return tuple(c for c in CONTRACT_COLUMNS if c in columns and c not in recorded)

    def _not_gradable(self, syndrome: str, obs: Observation, fact: Mapping[str, Any]) -> str:
        """Why a day has no grade: the unrecorded values that a grade-0 rule would have needed."""
        missing = self._unrecorded(syndrome, obs, fact, lambda rule: rule.grade == 0)
        if not missing:
            return "not gradable from what was recorded"
        return f"not gradable: {', '.join(missing)} not recorded"


def _days(days: list[int]) -> str:
    """Days in a message, the list capped: "days 8, 9 and 10", "days 8, 9, ... (40 days)"."""
    shown = ", ".join(str(d) for d in days[:10])
    more = f", ... ({len(days)} days)" if len(days) > 10 else ""
    return f"day {days[0]}" if len(days) == 1 else f"days {shown}{more}"


def _join_messages(messages: list[str]) -> str:
    """Joins the messages of the rules that set a grade, sharing a common "... with" opening:
    "fever 39 °C with hypotension ..." and "fever 39 °C with low-flow oxygen" become
    "fever 39 °C with hypotension ... and low-flow oxygen"."""
    unique = list(dict.fromkeys(messages))
    heads = {m.partition(" with ")[0] for m in unique}
    if len(unique) > 1 and len(heads) == 1 and all(" with " in m for m in unique):
        head = heads.pop()
        return f"{head} with " + " and ".join(m.partition(" with ")[2] for m in unique)
    return "; ".join(unique)


def _render(template: str, fact: Mapping[str, Any]) -> str:
    """Fills `{fact}` placeholders; only names, never expressions, so a rule file cannot run code."""
    return PLACEHOLDER.sub(lambda m: format_value(fact.get(m.group(1))), template).strip()


@lru_cache(maxsize=16)
def _cached_grader(rules: str | None, settings: tuple, engine: str, system: str | None = None) -> Grader:
    return Grader(rules, dict(settings), engine, system=system)


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

    `observations` is a file path (CSV, JSON or JSON Lines) or an iterable of `Observation`
    models or dicts with the contract's column names; several rows of one patient-day are
    combined into the day's worst finding. `system` names a shipped grading system (ASTCT 2019
    by default; see `crsgrade systems`), `rules` a rule set directory instead. `settings`
    overrides the rule set's [open] choices by name; `engine`
    is "auto", "durable" or "python". `infusion_date` turns a `date` column into days for
    patients without an `infusion_date` column; `skip_invalid` grades the valid rows of a file
    with errors and lists the rows it left out in `result.input.skipped`; `explain` adds to
    every day's grades why they are what they are (rules met and not met, settings involved).
    """
    key = tuple(sorted((settings or {}).items()))
    grader = _cached_grader(str(rules) if rules is not None else None, key, engine, system)
    return grader.grade(observations, infusion_date=infusion_date, skip_invalid=skip_invalid,
                        explain=explain)


def grade_table(
    table: Any,
    *,
    system: str | None = None,
    settings: Mapping[str, Any] | None = None,
    rules: str | Path | None = None,
) -> Any:
    """Grades a whole table of observations — a polars, pandas or Arrow table, one row per
    reading, with the contract's column names — and returns a polars DataFrame with the
    columns of `crsgrade grade --format csv` plus `readings`. Made for batch jobs that map it
    over partitions of a larger cohort (each partition holding whole patients). Runs on the
    vectorized path, or on the reference path for a table or a system that needs it (with its
    errors); the vectorized path covers ASTCT 2019 on the ASTCT columns.
    """
    import polars as pl

    from .output import CSV_COLUMNS, to_csv
    from .vectorized import Unsupported, VectorGrader, as_polars

    grader = _cached_grader(str(rules) if rules is not None else None,
                            tuple(sorted((settings or {}).items())), "python", system)
    try:
        return VectorGrader(grader).grade_table(table)
    except Unsupported:
        result = grader.grade(as_polars(table).to_dicts())
        graded = pl.read_csv(io.StringIO(to_csv(result)), infer_schema=False)
        readings = [day.readings for day in result.days()]
        return graded.with_columns(
            [pl.col(c).cast(pl.Int64) for c in ("day", "crs_grade", "icans_grade")]
            + [pl.col("fever_waived") == "true", pl.Series("readings", readings, dtype=pl.UInt32)]
        ).select(list(CSV_COLUMNS) + ["readings"])
