"""ASTCT 2019 ICANS, adults and children: every domain, value and boundary."""

from __future__ import annotations

import pytest


def icans(day):
    return day.icans.grade


@pytest.mark.parametrize("ice, grade", [(10, 0), (9, 1), (8, 1), (7, 1), (6, 2), (5, 2),
                                        (3, 2), (2, 3), (1, 3), (0, 3)])
def test_ice_score(grade_day, ice, grade):
    assert icans(grade_day(ice_score=ice)) == grade


def test_ice_from_items(grade_day):
    items = dict(ice_orientation=3, ice_naming=3, ice_commands=1, ice_writing=0, ice_attention=0)
    day = grade_day(**items)
    assert icans(day) == 1
    assert day.icans.reason == "ICE 7"


def test_ice_items_sum_to_10(grade_day):
    items = dict(ice_orientation=4, ice_naming=3, ice_commands=1, ice_writing=1, ice_attention=1)
    assert icans(grade_day(**items)) == 0


def test_ice_0_awake_is_grade_3(grade_day):
    day = grade_day(ice_score=0, consciousness="alert")
    assert icans(day) == 3
    assert day.icans.rule_ids == ("ASTCT-ICANS-3-ICE-0-2",)


def test_ice_0_unarousable_is_grade_4(grade_day):
    day = grade_day(ice_score=0, consciousness="unarousable")
    assert icans(day) == 4
    assert set(day.icans.rule_ids) == {"ASTCT-ICANS-4-ICE-UNAROUSABLE", "ASTCT-ICANS-4-UNAROUSABLE"}


@pytest.mark.parametrize("level, grade", [
    ("alert", 0),
    ("awakens_spontaneously", 1),
    ("awakens_to_voice", 2),
    ("awakens_to_touch", 3),
    ("unarousable", 4),
])
def test_consciousness(grade_day, level, grade):
    assert icans(grade_day(consciousness=level)) == grade


@pytest.mark.parametrize("seizure, grade", [("none", 0), ("resolved", 3), ("prolonged", 4)])
def test_seizure(grade_day, seizure, grade):
    assert icans(grade_day(ice_score=10, seizure=seizure)) == grade


@pytest.mark.parametrize("motor, grade", [("none", 0), ("deep_focal", 4)])
def test_motor_weakness(grade_day, motor, grade):
    assert icans(grade_day(ice_score=10, motor_weakness=motor)) == grade


@pytest.mark.parametrize("edema, grade", [("none", 0), ("focal", 3), ("diffuse", 4)])
def test_cerebral_edema(grade_day, edema, grade):
    assert icans(grade_day(ice_score=10, cerebral_edema=edema)) == grade


def test_events_are_graded_without_an_ice_score(grade_day):
    assert icans(grade_day(seizure="resolved")) == 3
    assert icans(grade_day(cerebral_edema="diffuse")) == 4


def test_worst_domain_wins_paper_example(grade_day):
    # ICE 3 with a generalized seizure that resolves -> grade 3
    assert icans(grade_day(ice_score=3, seizure="resolved")) == 3


def test_event_none_alone_does_not_make_grade_0(grade_day):
    day = grade_day(seizure="none", motor_weakness="none", cerebral_edema="none")
    assert icans(day) is None
    assert "ice_score" in day.icans.reason and "consciousness" in day.icans.reason


def test_findings_attributed_to_other_cause(grade_day):
    day = grade_day(consciousness="unarousable", ice_score=0, neuro_other_cause=True)
    assert icans(day) == 0
    assert day.icans.rule_ids == ("ASTCT-ICANS-0-OTHER-CAUSE",)


def test_death_due_to_icans_is_grade_5(grade_day):
    day = grade_day(consciousness="unarousable", death_cause="icans")
    assert icans(day) == 5
    assert day.crs.grade is None


def test_neurological_signs_never_raise_crs(grade_day):
    day = grade_day(temp_c=38.3, consciousness="unarousable", seizure="prolonged")
    assert (day.crs.grade, day.icans.grade) == (1, 4)


# --- children: CAPD below 12 years --------------------------------------------------------

@pytest.mark.parametrize("capd, level, grade", [
    (0, None, 0),
    (1, None, 1),
    (8, None, 1),
    (5, "awakens_spontaneously", 1),
    (5, "awakens_to_voice", 2),
    (8, "awakens_to_voice", 2),
    (9, None, 3),
    (20, "awakens_to_voice", 3),
    (32, None, 3),
])
def test_capd(grade_day, capd, level, grade):
    extra = {"consciousness": level} if level else {}
    assert icans(grade_day(age_years=7, capd_score=capd, **extra)) == grade


def test_child_unable_to_perform_capd(grade_day):
    assert icans(grade_day(age_years=5, consciousness="unarousable")) == 4


def test_ice_is_not_used_for_a_child_under_12(grade_day):
    day = grade_day(age_years=8, ice_score=4)
    assert icans(day) is None
    assert "capd_score" in day.icans.reason
    assert any("CAPD" in note for note in day.notes)


def test_child_of_exactly_12_uses_ice(grade_day):
    assert icans(grade_day(age_years=12, ice_score=4)) == 2


def test_capd_age_boundary_is_a_setting(grade_day):
    day = grade_day(age_years=12, ice_score=4, capd_score=9, settings={"capd_below_age": 13})
    assert icans(day) == 3
    assert day.icans.rule_ids == ("ASTCT-ICANS-3-CAPD-9",)


def test_older_patient_with_developmental_delay_assessed_with_capd(grade_day):
    assert icans(grade_day(age_years=15, capd_score=10)) == 3


def test_age_is_carried_across_the_patients_rows(grade_days):
    days = grade_days([{"age_years": 6, "capd_score": 0}, {"ice_score": 5}])
    assert [icans(d) for d in days] == [0, None]


def test_ice_without_consciousness_lists_it(grade_day):
    day = grade_day(ice_score=10)
    assert icans(day) == 0 and day.icans.not_recorded == ("consciousness",)


def test_events_left_empty_are_not_listed(grade_day):
    day = grade_day(ice_score=8, consciousness="alert")
    assert icans(day) == 1 and day.icans.not_recorded == ()


def test_the_other_assessment_tool_is_not_expected(grade_day):
    assert grade_day(age_years=6, capd_score=4, consciousness="alert").icans.not_recorded == ()


@pytest.mark.parametrize("finding, grade", [
    ({"cerebral_edema": "focal"}, 3),
    ({"cerebral_edema": "diffuse"}, 4),
    ({"seizure": "prolonged"}, 4),
    ({"motor_weakness": "deep_focal"}, 4),
])
def test_sedation_explains_consciousness_not_seizure_or_edema(grade_day, finding, grade):
    day = grade_day(consciousness="unarousable", neuro_other_cause=True, **finding)
    assert icans(day) == grade


def test_child_with_ice_recorded_does_not_list_ice_as_missing(grade_day):
    day = grade_day(age_years=8, ice_score=4, consciousness="alert")
    assert icans(day) == 0 and "ice_score" not in day.icans.not_recorded
