"""Grading: observations in, graded days out.

Each patient's days are graded in day order, because one piece of ASTCT is not a single-day
judgement: once a patient with CRS has had a waiving therapy, fever is no longer required, until
the episode resolves (a day graded CRS 0). That state is kept here; everything else a day's grade
depends on is in its own observation and the rule files.
"""

from __future__ import annotations

import re
from collections import defaultdict
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Mapping

from pydantic import ValidationError

from . import conditions as cond
from .csv_input import COLUMNS, describe_validation_error, read_observations
from .errors import ObservationError
from .evaluators import make_evaluator
from .facts import SOURCE_COLUMNS, Waiver, derive, format_value, waiving_therapies
from .observations import Observation
from .results import FiredRule, GradedDay, GradedPatient, GradingResult, SyndromeGrade
from .ruleset import SYNDROMES, Rule, RuleSet, load_ruleset

_PLACEHOLDER = re.compile(r"\{([a-z0-9_]+)\}")

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
    ):
        self.ruleset = rules if isinstance(rules, RuleSet) else load_ruleset(rules)
        self.settings = self.ruleset.settings(settings)
        self._resolved = self.ruleset.resolved(self.settings)
        self._evaluator = make_evaluator(engine, self._resolved)
        self._rules = {rule.id: rule for rule in self.ruleset.rules}

    @property
    def engine(self) -> str:
        return self._evaluator.name

    def grade(self, observations: ObservationsInput) -> GradingResult:
        """Grades observations: a CSV path, or an iterable of Observation models or dicts."""
        warnings: list[str] = []
        if isinstance(observations, str | Path):
            read = read_observations(observations)
            rows, warnings = read.observations, read.warnings
        else:
            rows = _validate_records(observations)
        patients = []
        for patient_id, days in _by_patient(rows).items():
            patients.append(self._grade_patient(patient_id, days))
        manifest = self.ruleset.manifest
        return GradingResult(
            ruleset=manifest.system,
            ruleset_version=manifest.version,
            engine=self.engine,
            settings=self.settings,
            patients=tuple(patients),
            warnings=tuple(warnings),
        )

    def fired(self, fact: Mapping[str, Any]) -> list[Rule]:
        """The rules that fire for one fact (used to check each rule's own examples)."""
        return [self._rules[rule_id] for rule_id in self._evaluator.fired(fact)]

    def _grade_patient(self, patient_id: str, days: list[Observation]) -> GradedPatient:
        definitions = self.ruleset.definitions
        waiver_def = definitions.fever_waiver
        prophylaxis = waiver_def.prophylaxis.value(self.settings)
        ends_on_resolution = waiver_def.ends.value(self.settings) == "episode_resolved"
        known_age = next((d.age_years for d in days if d.age_years is not None), None)
        waiver: Waiver | None = None
        in_episode = False
        graded = []
        for obs in sorted(days, key=lambda d: d.day):
            given = waiving_therapies(obs, definitions, self.settings)
            if given and waiver is None and (in_episode or prophylaxis):
                waiver = Waiver(given[0], obs.day)
            age = obs.age_years if obs.age_years is not None else known_age
            fact = derive(obs, age_years=age, definitions=definitions, settings=self.settings,
                          waiver=waiver)
            fired = [self._rules[rule_id] for rule_id in self._evaluator.fired(fact)]
            grades = {s: self._syndrome_grade(s, fact, fired) for s in SYNDROMES}
            crs = grades["crs"].grade
            if crs is not None and crs >= 1:
                in_episode = True
                if given and waiver is None:
                    waiver = Waiver(given[0], obs.day)
            elif crs == 0 and in_episode:
                in_episode = False
                if ends_on_resolution:
                    waiver = None
            notes = []
            if obs.ice_total is not None and fact.get("ice_total") is None:
                notes.append(f"ICE not used: a child of {format_value(age)} years is assessed with CAPD")
            graded.append(GradedDay(
                patient_id=patient_id, day=obs.day, crs=grades["crs"], icans=grades["icans"],
                fever_waived=fact["fever_waived"], notes=tuple(notes),
            ))
        return GradedPatient(patient_id=patient_id, days=tuple(graded))

    def _syndrome_grade(self, syndrome: str, fact: Mapping[str, Any], fired: list[Rule]) -> SyndromeGrade:
        mine = sorted((r for r in fired if r.syndrome == syndrome), key=lambda r: -r.grade)
        if not mine:
            return SyndromeGrade(
                grade=None,
                reason=self._not_gradable(syndrome, fact),
                not_recorded=self._unrecorded(syndrome, fact, lambda rule: rule.grade > 0),
            )
        top = mine[0].grade
        rules = tuple(FiredRule(id=r.id, grade=r.grade, message=_render(r.message, fact)) for r in mine)
        return SyndromeGrade(
            grade=top,
            reason=_join_messages([rule.message for rule in rules if rule.grade == top]),
            rules=rules,
            not_recorded=self._unrecorded(syndrome, fact, lambda rule: rule.grade > top),
        )

    def _unrecorded(self, syndrome: str, fact: Mapping[str, Any], considered) -> tuple[str, ...]:
        """The input columns, left empty, on which a considered rule of the syndrome was waiting:
        rules whose condition is unknown rather than false. Event findings (seizure, edema, ...)
        are recorded only when they happen, and a day assessed with one encephalopathy tool does
        not expect the other, so those empty cells are not listed."""
        definitions = self.ruleset.definitions
        expected_absent = set(definitions.event_facts)
        tools = definitions.encephalopathy.tools
        if any(fact.get(tool) is not None for tool in tools):
            expected_absent |= set(tools)
        columns: set[str] = set()
        for rule in self.ruleset.rules:
            node = self._resolved.get(rule.id)
            if rule.syndrome != syndrome or node is None or not considered(rule):
                continue
            if cond.evaluate(node, fact) is None:
                columns |= {
                    SOURCE_COLUMNS.get(name, name)
                    for name in cond.fields_of(node) - expected_absent
                    if fact.get(name) is None
                }
        return tuple(column for column in COLUMNS if column in columns)

    def _not_gradable(self, syndrome: str, fact: Mapping[str, Any]) -> str:
        """Why a day has no grade: the unrecorded values that a grade-0 rule would have needed."""
        missing = self._unrecorded(syndrome, fact, lambda rule: rule.grade == 0)
        if not missing:
            return "not gradable from what was recorded"
        return f"not gradable: {', '.join(missing)} not recorded"


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
    return _PLACEHOLDER.sub(lambda m: format_value(fact.get(m.group(1))), template).strip()


def _validate_records(records: Iterable[Observation | Mapping[str, Any]]) -> list[Observation]:
    rows, problems = [], []
    for index, record in enumerate(records):
        if isinstance(record, Observation):
            rows.append(record)
            continue
        try:
            rows.append(Observation.model_validate(dict(record)))
        except ValidationError as exc:
            problems.extend(
                f"record {index}: {problem}" for problem in describe_validation_error(exc, record)
            )
        except (TypeError, ValueError):
            problems.append(f"record {index}: expected a mapping of column names to values")
    if problems:
        raise ObservationError(problems)
    return rows


def _by_patient(rows: list[Observation]) -> dict[str, list[Observation]]:
    patients: dict[str, list[Observation]] = defaultdict(list)
    seen: dict[tuple[str, int], int] = {}
    problems = []
    for index, obs in enumerate(rows):
        key = (obs.patient_id, obs.day)
        if key in seen:
            problems.append(
                f"patient {obs.patient_id} day {obs.day}: more than one row for the same day"
                f" (records {seen[key]} and {index}); give one row per patient-day"
            )
        seen.setdefault(key, index)
        patients[obs.patient_id].append(obs)
    if problems:
        raise ObservationError(problems)
    return dict(patients)


@lru_cache(maxsize=16)
def _cached_grader(rules: str | None, settings: tuple, engine: str) -> Grader:
    return Grader(rules, dict(settings), engine)


def grade(
    observations: ObservationsInput,
    *,
    settings: Mapping[str, Any] | None = None,
    rules: str | Path | None = None,
    engine: str = "auto",
) -> GradingResult:
    """Grades CRS and ICANS for every patient-day.

    `observations` is a CSV path or an iterable of `Observation` models or dicts with the CSV
    column names. `settings` overrides the rule set's [open] choices by name; `rules` is a rule
    set directory (the shipped ASTCT 2019 set by default); `engine` is "auto", "durable" or
    "python".
    """
    key = tuple(sorted((settings or {}).items()))
    grader = _cached_grader(str(rules) if rules is not None else None, key, engine)
    return grader.grade(observations)
