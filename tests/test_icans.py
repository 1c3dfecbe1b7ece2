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
    assert day.icans.rule_ids == ("ASTCT-ICANS-0-SCORE-OTHER-CAUSE", "ASTCT-ICANS-0-CONSCIOUSNESS-OTHER-CAUSE")


# --- the score and the level of consciousness attributed apart -----------------------------

def test_a_score_attributed_elsewhere_leaves_consciousness_graded(grade_day):
    # aphasia from a stroke explains the ICE score; the depressed consciousness still counts
    day = grade_day(ice_score=1, consciousness="awakens_to_voice", score_other_cause=True)
    assert icans(day) == 2 and day.icans.rule_ids == ("ASTCT-ICANS-2-AWAKENS-TO-VOICE",)
    day = grade_day(ice_score=1, consciousness="alert", score_other_cause=True)
    assert icans(day) == 0


def test_consciousness_attributed_elsewhere_leaves_the_score_graded(grade_day):
    day = grade_day(ice_score=5, consciousness="awakens_to_touch", consciousness_other_cause=True)
    assert icans(day) == 2 and day.icans.rule_ids == ("ASTCT-ICANS-2-ICE-3-6",)
    # ICE 0 from an unarousable patient is grade 4 only when the unarousability counts
    day = grade_day(ice_score=0, consciousness="unarousable", consciousness_other_cause=True)
    assert icans(day) == 3


def test_a_specific_attribution_wins_over_neuro_other_cause(grade_day):
    day = grade_day(ice_score=4, consciousness="alert", neuro_other_cause=True, score_other_cause=False)
    assert icans(day) == 2


def test_readings_attribute_each_part_apart(grade_days):
    # two readings of one day: the sedated one's consciousness is set aside, its ICE is not
    days = grade_days([{"day": 0, "ice_score": 6, "consciousness": "unarousable", "consciousness_other_cause": True},
                       {"day": 0, "ice_score": 9, "consciousness": "alert"}])
    assert icans(days[0]) == 2 and days[0].set_aside == ("records:1: level of consciousness attributed to"
                                                         " another cause",)


# --- not assessable ------------------------------------------------------------------------

def test_a_day_not_assessable_has_no_icans_grade(grade_day):
    day = grade_day(neuro_not_assessable=True, consciousness="unarousable", ice_score=0)
    assert day.icans.grade is None
    assert day.icans.reason == "not assessable (neuro_not_assessable)"
    assert day.icans.not_recorded == ()


def test_events_still_grade_a_day_not_assessable(grade_day):
    day = grade_day(neuro_not_assessable=True, seizure="prolonged")
    assert icans(day) == 4
    assert day.icans.reason == "prolonged or repeated seizure; score and consciousness not assessable" \
        " (neuro_not_assessable)"


def test_an_assessed_reading_wins_over_one_not_assessable(grade_days):
    days = grade_days([{"day": 0, "neuro_not_assessable": True},
                       {"day": 0, "ice_score": 8, "consciousness": "alert"}])
    assert icans(days[0]) == 1
    assert days[0].set_aside == ("records:1: not assessable, while another reading was assessed",)


def test_a_sedated_day_does_not_end_an_icans_episode(engine):
    from crsgrade.episodes import summarise

    from .conftest import grader_for

    rows = [{"patient_id": "p", "day": 0, "ice_score": 10, "consciousness": "alert"},
            {"patient_id": "p", "day": 1, "seizure": "prolonged", "ice_score": 2, "consciousness": "awakens_to_touch"},
            {"patient_id": "p", "day": 2, "neuro_not_assessable": True},
            {"patient_id": "p", "day": 3, "neuro_not_assessable": True}]
    summary = summarise(grader_for(engine).grade(rows)).patients[0].icans
    assert summary.highest_grade == 4 and summary.resolution_day is None
    # attributed to sedation instead, the same days grade 0 and resolve the episode
    attributed = [dict(r, neuro_not_assessable=None, neuro_other_cause=True, consciousness="unarousable")
                  if r["day"] >= 2 else r for r in rows]
    assert summarise(grader_for(engine).grade(attributed)).patients[0].icans.resolution_day == 2


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


def test_a_child_with_only_an_ice_score_is_warned_about(engine):
    from .conftest import grader_for

    result = grader_for(engine).grade([{"patient_id": "c", "day": d, "age_years": 8, "ice_score": 6}
                                       for d in (3, 4)] + [{"patient_id": "c", "day": 5, "capd_score": 4}])
    assert result.warnings == ("patient c (age 8): ICE set aside on days 3, 4: children under 12 are assessed"
                               " with CAPD; record capd_score",)
    assert result.days()[0].icans.grade is None


def test_child_with_ice_recorded_does_not_list_ice_as_missing(grade_day):
    day = grade_day(age_years=8, ice_score=4, consciousness="alert")
    assert icans(day) == 0 and "ice_score" not in day.icans.not_recorded
