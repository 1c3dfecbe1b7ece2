"""Typed grading results: what the library returns and the CLI prints."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from .errors import capped
from .syndromes import Syndrome

# 2: a day's grades keyed by syndrome (`grades`, `reported_grades`); see docs/commands.md.
SCHEMA_VERSION = "2"


class _Result(BaseModel):
    model_config = ConfigDict(frozen=True)


class FiredRule(_Result):
    """A criterion that was met, with its message filled in from the day's values."""

    id: str
    grade: int
    message: str


class FiredCriterion(_Result):
    """A rule that fired: the criterion, its source, and the values it was met with."""

    id: str
    grade: int
    statement: str
    citation: str
    evidence: str
    values: dict[str, Any]


class Unmet(_Result):
    """One test of a rule's condition that did not hold: the fact, its value (None when not
    recorded, or recorded but set aside, with `set_aside` saying why) and what the rule needed."""

    fact: str
    value: Any
    needs: str
    set_aside: str | None = None

    def text(self) -> str:
        if self.value is None:
            shown = f"set aside ({self.set_aside})" if self.set_aside else "not recorded"
        else:
            shown = _shown(self.value)
        return f"{self.fact} {shown} (needs {self.needs})"


class CriterionNotMet(_Result):
    """A rule of higher grade that did not fire, and the values that kept it from firing.
    `because` names shared conditions not met (said once, in Explanation.conditions_not_met)
    whose tests are left out of `unmet`."""

    id: str
    grade: int
    statement: str
    unmet: tuple[Unmet, ...]
    because: tuple[str, ...] = ()


class ConditionNotMet(_Result):
    """A named condition that several rules need and the day does not meet, said once."""

    name: str
    text: str
    unmet: tuple[Unmet, ...]


class DomainGrade(_Result):
    """The grade one domain of a syndrome reached (ICE/CAPD, consciousness, seizure, ...), or,
    when no rule of it fired, what was recorded: "none", "none recorded", "not recorded", or why
    it was set aside."""

    domain: str
    label: str
    grade: int | None
    state: str


class SettingEffect(_Result):
    """An [open] setting the day's grade rests on, its value and what it did."""

    name: str
    value: Any
    effect: str


class Explanation(_Result):
    fired: tuple[FiredCriterion, ...]
    not_met: tuple[CriterionNotMet, ...]
    settings: tuple[SettingEffect, ...]
    conditions_not_met: tuple[ConditionNotMet, ...] = ()
    domains: tuple[DomainGrade, ...] = ()


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


class SyndromeGrade(_Result):
    """One syndrome on one day. `grade` is None when not enough was recorded to grade it.

    `not_recorded` lists the input columns left empty that a rule of higher grade needed: the
    grade is what the recorded values establish, and could be higher had these been recorded.
    """

    grade: int | None
    reason: str
    rules: tuple[FiredRule, ...] = ()
    not_recorded: tuple[str, ...] = ()
    explanation: Explanation | None = None

    @property
    def rule_ids(self) -> tuple[str, ...]:
        """The ids of the rules that set the grade (the highest-grade rules that fired)."""
        return tuple(rule.id for rule in self.rules if rule.grade == self.grade)


class GradedDay(_Result):
    """One patient-day. `grades` holds every syndrome crsgrade knows (crs, icans), keyed by its
    name: a syndrome the system does not grade has no grade and a reason saying so, so a further
    syndrome adds a key rather than a field. `reported_grades` are the investigator's grades
    where the input has them; `readings` counts the input rows combined into the day."""

    patient_id: str
    day: int
    grades: dict[Syndrome, SyndromeGrade]
    fever_waived: bool
    therapies: tuple[str, ...] = ()
    reported_grades: dict[Syndrome, int | None] = {}
    note: str | None = None
    readings: int = 1
    notes: tuple[str, ...] = ()
    set_aside: tuple[str, ...] = ()  # readings of a combined day whose findings were set aside, and why

    @property
    def crs(self) -> SyndromeGrade:
        return self.grades["crs"]

    @property
    def icans(self) -> SyndromeGrade:
        return self.grades["icans"]

    def syndrome(self, name: Syndrome) -> SyndromeGrade:
        return self.grades[name]

    def grade(self, name: Syndrome) -> int | None:
        return self.grades[name].grade

    def reported(self, name: Syndrome) -> int | None:
        """The investigator's grade, when the input has one."""
        return self.reported_grades.get(name)


class Peak(_Result):
    grade: int
    day: int


class GradedPatient(_Result):
    patient_id: str
    days: tuple[GradedDay, ...]

    def peak(self, syndrome: Syndrome) -> Peak | None:
        """The highest grade of a syndrome and the first day it was reached."""
        graded = [d for d in self.days if d.syndrome(syndrome).grade is not None]
        if not graded:
            return None
        top = max(d.grade(syndrome) or 0 for d in graded)
        first = next(d.day for d in graded if d.grade(syndrome) == top)
        return Peak(grade=top, day=first)


class InputSummary(_Result):
    """Where every input row went: each row read is in a graded day or was rejected.

    rows_read = patient_days + rows_combined + rows_rejected.
    """

    rows_read: int
    rows_combined: int
    rows_rejected: int
    patient_days: int
    skipped: tuple[str, ...] = ()

    def line(self) -> str:
        text = (
            f"{self.rows_read} rows read: {self.patient_days} patient-days graded,"
            f" {self.rows_combined} rows combined into them, {self.rows_rejected} rejected"
        )
        return text


class GradingResult(_Result):
    """Every patient's graded days, with the rule set, settings and engine that produced them."""

    schema_version: str = SCHEMA_VERSION
    ruleset: str
    system_name: str
    labels: dict[str, str]  # the syndromes this system grades, and what it calls them: CRS, ICANS, CRES
    ruleset_version: str
    engine: str
    settings: dict[str, Any]
    patients: tuple[GradedPatient, ...]
    warnings: tuple[str, ...] = ()
    input: InputSummary

    def days(self) -> list[GradedDay]:
        return [day for patient in self.patients for day in patient.days]

    def patient(self, patient_id: str) -> GradedPatient:
        """A patient's graded days; a KeyError naming the patients when there is no such one."""
        for patient in self.patients:
            if patient.patient_id == patient_id:
                return patient
        known = [p.patient_id for p in self.patients]
        raise KeyError(f"no patient {patient_id!r}; patients: {capped(known)}")
