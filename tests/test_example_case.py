"""The shipped example: the published dasatinib case (grade 3 CRS, grade 4 ICANS)."""

from __future__ import annotations

from .conftest import EXAMPLE, grader_for


def test_case_report_grades(engine):
    patient = grader_for(engine).grade(EXAMPLE).patients[0]
    by_day = {d.day: d for d in patient.days}
    assert list(by_day) == [-5, *range(14)]  # the baseline draw, then infusion to day 13
    assert by_day[-5].crs.grade is None and by_day[-5].blood == {"crp": 19.5, "ferritin": 2598.0, "baseline": True}
    assert by_day[0].crs.grade == 2
    assert by_day[0].crs.reason == "fever 38.1 °C with hypotension not needing vasopressors"
    assert by_day[3].crs.grade == 3
    assert by_day[7].icans.grade == 4
    assert patient.peak("crs").model_dump() == {"grade": 3, "day": 3}
    assert patient.peak("icans").model_dump() == {"grade": 4, "day": 7}


def test_protective_intubation_does_not_make_crs_4(engine):
    day7 = grader_for(engine).grade(EXAMPLE).patients[0].day(7)
    assert day7.crs.grade == 3
    assert "ASTCT-CRS-4-POSITIVE-PRESSURE" not in {r.id for r in day7.crs.rules}


def test_fever_waived_after_tocilizumab_keeps_crs_graded_when_afebrile(engine):
    day9 = grader_for(engine).grade(EXAMPLE).patients[0].day(9)
    assert day9.crs.grade == 2 and day9.fever_waived
    assert "fever waived after tocilizumab on day 0" in day9.crs.reason
