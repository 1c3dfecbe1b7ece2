"""ASTCT 2019 ICANS, adults and children, beyond the grades: reasons, readings set aside, days not
assessable, episodes, warnings and what was not recorded. The clinical cases, every domain, value
and boundary, are in rules/astct2019/cases.yaml."""

from __future__ import annotations


def icans(day):
    return day.icans.grade


def test_ice_from_items(grade_day):
    items = dict(ice_orientation=3, ice_naming=3, ice_commands=1, ice_writing=0, ice_attention=0)
    day = grade_day(**items)
    assert icans(day) == 1
    assert day.icans.reason == "ICE 7"


def test_event_none_alone_does_not_make_grade_0(grade_day):
    day = grade_day(seizure="none", motor_weakness="none", cerebral_edema="none")
    assert icans(day) is None
    assert "ice_score" in day.icans.reason and "consciousness" in day.icans.reason


# --- the score and the level of consciousness attributed apart -----------------------------

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


# --- children: CAPD below 12 years --------------------------------------------------------

def test_ice_is_not_used_for_a_child_under_12(grade_day):
    day = grade_day(age_years=8, ice_score=4)
    assert icans(day) is None
    assert "capd_score" in day.icans.reason
    assert any("CAPD" in note for note in day.notes)


def test_ice_without_consciousness_lists_it(grade_day):
    day = grade_day(ice_score=10)
    assert icans(day) == 0 and day.icans.not_recorded == ("consciousness",)


def test_events_left_empty_are_not_listed(grade_day):
    day = grade_day(ice_score=8, consciousness="alert")
    assert icans(day) == 1 and day.icans.not_recorded == ()


def test_the_other_assessment_tool_is_not_expected(grade_day):
    assert grade_day(age_years=6, capd_score=4, consciousness="alert").icans.not_recorded == ()


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
