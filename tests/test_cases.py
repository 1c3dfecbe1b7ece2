"""Each shipped grading system's clinical cases (rules/<system>/cases.yaml), run on every evaluator.

The cases are data a clinician can review beside the rules, so adding a grading system means
adding a directory: these tests find it, run its cases and check that they reach every grade its
rules can give (the sqlfluff / semgrep-rules pattern).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Annotated, Any

import pytest
from pydantic import BaseModel, ConfigDict, Field, StrictInt, model_validator

from crsgrade import RuleFileError, load_ruleset
from crsgrade.observations import DEFAULT_PATIENT_ID, Observation
from crsgrade.ruleset import CASES, _parse, default_rules_dir, shipped_systems
from crsgrade.syndromes import SYNDROMES

from .conftest import ENGINES, forms_agree, grader_for

Grade = Annotated[StrictInt, Field(ge=0, le=5)] | None


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Expected(_Strict):
    """One graded day. A syndrome left out is not checked; null is "not gradable"."""

    patient: str = DEFAULT_PATIENT_ID
    day: int
    crs: Grade = None
    icans: Grade = None
    crs_rules: tuple[str, ...] | None = None
    icans_rules: tuple[str, ...] | None = None

    @model_validator(mode="after")
    def _checks_a_grade(self) -> Expected:
        if not set(SYNDROMES) & self.model_fields_set:
            raise ValueError(f"day {self.day}: expect the grade of at least one of {', '.join(SYNDROMES)}")
        for syndrome in SYNDROMES:
            if f"{syndrome}_rules" in self.model_fields_set and syndrome not in self.model_fields_set:
                raise ValueError(f"day {self.day}: {syndrome}_rules without the {syndrome} grade they set")
        return self

    def checked(self) -> dict[str, Any]:
        """What this day must show, keyed as written: {"day": 0, "crs": 3, "crs_rules": (...)}."""
        return self.model_dump(include=self.model_fields_set | {"patient", "day"})


class Case(_Strict):
    id: str = Field(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$")
    name: str = Field(min_length=1)
    why: str | None = None
    citation: str | None = None
    settings: dict[str, bool | int | float | str] = {}
    rows: list[dict[str, Any]] = Field(min_length=1)
    expect: list[Expected] = Field(min_length=1)

    @model_validator(mode="after")
    def _rows_hold_the_expected_days(self) -> Case:
        for row in self.rows:
            unknown = sorted(set(row) - set(Observation.model_fields))
            if unknown:
                raise ValueError(f"case {self.id}: not observation columns: {', '.join(unknown)}")
            if "day" not in row:
                raise ValueError(f"case {self.id}: every row needs a day")
        recorded = {(str(row.get("patient_id", DEFAULT_PATIENT_ID)), row["day"]) for row in self.rows}
        for expected in self.expect:
            if (expected.patient, expected.day) not in recorded:
                raise ValueError(f"case {self.id}: expects patient {expected.patient} day {expected.day},"
                                 " which no row records")
        return self


class CasesFile(_Strict):
    cases: list[Case]


def load_cases(path: Path) -> list[Case]:
    """A cases file, checked like a rule file: refused with FILE:LINE: what is wrong."""
    return _parse(CasesFile, path, path.read_bytes())[0].cases


def _cases_path(system: str) -> Path:
    return default_rules_dir(system) / CASES


SYSTEMS = shipped_systems()
CASES_OF = {system: load_cases(_cases_path(system)) for system in SYSTEMS if _cases_path(system).is_file()}
RUNS = [pytest.param(system, case, engine, id=f"{system}-{case.id}-{engine}")
        for system, cases in CASES_OF.items() for case in cases for engine in ENGINES]


def _shown(day) -> dict[str, Any]:
    shown = {"patient": day.patient_id, "day": day.day}
    for syndrome in SYNDROMES:
        shown[syndrome] = day.syndrome(syndrome).grade
        shown[f"{syndrome}_rules"] = day.syndrome(syndrome).rule_ids
    return shown


@pytest.mark.parametrize("system, case, engine", RUNS)
def test_case(system, case, engine):
    grader = grader_for(engine, system, **case.settings)
    result = grader.grade(case.rows)
    forms_agree(case.rows, result, grader)
    days = {(day.patient_id, day.day): day for day in result.days()}
    wanted = [expected.checked() for expected in case.expect]
    assert {(want["patient"], want["day"]) for want in wanted} <= set(days)
    got = [{key: _shown(days[want["patient"], want["day"]])[key] for key in want} for want in wanted]
    reasons = {key: (day.crs.reason, day.icans.reason) for key, day in days.items()}
    assert got == wanted, f"{case.name}; reasons (CRS, ICANS) by patient and day: {reasons}"


@pytest.mark.parametrize("system", SYSTEMS)
def test_every_shipped_system_has_cases(system):
    assert _cases_path(system).is_file(), f"add rules/{system}/{CASES}"


@pytest.mark.parametrize("system", CASES_OF)
def test_case_ids_are_unique(system):
    ids = [case.id for case in CASES_OF[system]]
    assert sorted({i for i in ids if ids.count(i) > 1}) == []


@pytest.mark.parametrize("system", CASES_OF)
def test_expectations_name_graded_syndromes_and_their_rules(system):
    ruleset = load_ruleset(default_rules_dir(system))
    for case in CASES_OF[system]:
        for expected in case.expect:
            for syndrome in set(SYNDROMES) & expected.model_fields_set:
                assert syndrome in ruleset.syndromes, f"{case.id}: {system} does not grade {syndrome}"
                rules = {rule.id for rule in ruleset.rules if rule.syndrome == syndrome}
                unknown = set(getattr(expected, f"{syndrome}_rules") or ()) - rules
                assert not unknown, f"{case.id}: no {syndrome} rule {', '.join(sorted(unknown))} in {system}"


@pytest.mark.parametrize("system", CASES_OF)
def test_cases_reach_every_grade_the_rules_give(system):
    ruleset = load_ruleset(default_rules_dir(system))
    for syndrome in ruleset.syndromes:
        given = {rule.grade for rule in ruleset.rules if rule.syndrome == syndrome}
        reached = {getattr(e, syndrome) for case in CASES_OF[system] for e in case.expect
                   if syndrome in e.model_fields_set}
        assert given <= reached, f"no {syndrome} case of grade {sorted(given - reached)}"


def test_a_malformed_cases_file_is_refused_with_its_line(tmp_path):
    path = tmp_path / CASES
    path.write_text("cases:\n  - id: fever\n    name: fever\n    rows:\n      - {day: 0, temp: 38.5}\n"
                    "    expect:\n      - {day: 0, crs: 1}\n")
    with pytest.raises(RuleFileError, match=rf"^{path}:2: cases\.0: .*case fever: not observation columns: temp$"):
        load_cases(path)


def test_the_rule_loader_leaves_the_cases_out(tmp_path):
    shutil.copytree(default_rules_dir(), tmp_path / "rules")
    with_cases = load_ruleset(tmp_path / "rules")
    (tmp_path / "rules" / CASES).unlink()
    assert load_ruleset(tmp_path / "rules").digest == with_cases.digest
