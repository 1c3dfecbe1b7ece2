"""ASTCT 2019 CRS: every criterion and boundary, through the whole grading path."""

from __future__ import annotations

import pytest

FEVER = {"temp_c": 38.5}


def crs(day):
    return day.crs.grade


# --- fever -------------------------------------------------------------------------------

@pytest.mark.parametrize("temp, grade", [(37.9, 0), (37.99, 0), (38.0, 1), (38.1, 1), (41.0, 1)])
def test_fever_boundary_celsius(grade_day, temp, grade):
    day = grade_day(temp_c=temp)
    assert crs(day) == grade
    expected = "ASTCT-CRS-1-FEVER" if grade else "ASTCT-CRS-0-NO-FEVER"
    assert day.crs.rule_ids == (expected,)


@pytest.mark.parametrize("temp_f, grade", [(100.3, 0), (100.4, 1), (102.0, 1)])
def test_fever_boundary_fahrenheit(grade_day, temp_f, grade):
    assert crs(grade_day(temp_f=temp_f)) == grade


def test_temp_c_and_temp_f_that_agree(grade_day):
    assert crs(grade_day(temp_c=38.3, temp_f=100.9)) == 1


def test_temp_c_and_temp_f_that_disagree_are_an_error(grade_day):
    from crsgrade import ObservationError

    with pytest.raises(ObservationError, match="disagrees with temp_c 37"):
        grade_day(temp_c=37.0, temp_f=101.5)


def test_message_shows_the_temperature(grade_day):
    assert grade_day(temp_c=38.1, hypotension=True).crs.reason == (
        "fever 38.1 °C with hypotension not needing vasopressors"
    )


def test_fever_attributed_to_other_cause_is_no_crs(grade_day):
    day = grade_day(temp_c=39.0, fever_other_cause=True, hypotension=True, vasopressors=2)
    assert crs(day) == 0
    assert day.crs.rule_ids == ("ASTCT-CRS-0-NO-FEVER",)


@pytest.mark.parametrize("signs", [
    {"hypotension": True},
    {"hypotension": True, "vasopressors": 1},
    {"hypotension": True, "vasopressors": 3},
    {"o2_device": "nasal_cannula", "o2_flow_lpm": 4},
    {"o2_device": "non_rebreather"},
    {"o2_device": "mechanical_ventilation"},
])
def test_no_fever_and_no_waiver_is_crs_0_whatever_the_signs(grade_day, signs):
    assert crs(grade_day(temp_c=37.2, **signs)) == 0


def test_temperature_not_recorded_and_no_waiver_is_not_gradable(grade_day):
    day = grade_day(hypotension=True, vasopressors=1)
    assert day.crs.grade is None
    assert "temp_c" in day.crs.reason


def test_nothing_recorded_has_no_grade_for_either_syndrome(grade_day):
    day = grade_day()
    assert day.crs.grade is None and day.icans.grade is None


# --- hypotension -------------------------------------------------------------------------

@pytest.mark.parametrize("vasopressors, vasopressin, grade", [
    (0, False, 2),   # fluids only
    (1, False, 3),
    (1, True, 3),    # one vasopressor with vasopressin stays 3: vasopressin never adds one
    (0, True, 3),    # vasopressin alone counts as one (default setting)
    (2, False, 4),
    (2, True, 4),
    (3, False, 4),
])
def test_vasopressors(grade_day, vasopressors, vasopressin, grade):
    day = grade_day(**FEVER, hypotension=True, vasopressors=vasopressors, vasopressin=vasopressin)
    assert crs(day) == grade


def test_vasopressin_alone_setting_off(grade_day):
    day = grade_day(**FEVER, hypotension=True, vasopressors=0, vasopressin=True,
                    settings={"vasopressin_alone_counts": False})
    assert crs(day) == 2


def test_hypotension_without_vasopressor_count_is_at_least_grade_2(grade_day):
    assert crs(grade_day(**FEVER, hypotension=True)) == 2


def test_hypotension_attributed_to_other_cause_does_not_count(grade_day):
    day = grade_day(**FEVER, hypotension=True, vasopressors=2, hypotension_other_cause=True)
    assert crs(day) == 1


# --- hypoxia -----------------------------------------------------------------------------

@pytest.mark.parametrize("flow, grade", [(0.5, 2), (6.0, 2), (6.01, 3), (6.5, 3), (15, 3)])
def test_nasal_cannula_flow_boundary(grade_day, flow, grade):
    assert crs(grade_day(**FEVER, o2_device="nasal_cannula", o2_flow_lpm=flow)) == grade


@pytest.mark.parametrize("device, grade", [
    ("room_air", 1),
    ("none", 1),
    ("blow_by", 2),
    ("nasal_cannula", 2),           # flow not recorded: the lowest class the device can be
    ("high_flow_nasal_cannula", 3),
    ("face_mask", 3),
    ("non_rebreather", 3),
    ("venturi", 3),
    ("cpap", 4),
    ("bipap", 4),
    ("mechanical_ventilation", 4),
])
def test_each_device(grade_day, device, grade):
    assert crs(grade_day(**FEVER, o2_device=device)) == grade


@pytest.mark.parametrize("device", ["high_flow_nasal_cannula", "face_mask"])
def test_device_first_at_low_flow_by_default(grade_day, device):
    assert crs(grade_day(**FEVER, o2_device=device, o2_flow_lpm=4)) == 3


@pytest.mark.parametrize("device, setting", [
    ("high_flow_nasal_cannula", "hfnc_at_low_flow"),
    ("face_mask", "face_mask_at_low_flow"),
])
def test_low_flow_settings(grade_day, device, setting):
    settings = {setting: "low_flow"}
    assert crs(grade_day(**FEVER, o2_device=device, o2_flow_lpm=4, settings=settings)) == 2
    assert crs(grade_day(**FEVER, o2_device=device, o2_flow_lpm=6, settings=settings)) == 2
    assert crs(grade_day(**FEVER, o2_device=device, o2_flow_lpm=6.5, settings=settings)) == 3


def test_intubation_for_airway_protection_does_not_count(grade_day):
    day = grade_day(**FEVER, o2_device="mechanical_ventilation", hypoxia_other_cause=True)
    assert crs(day) == 1


def test_worst_domain_wins_paper_example(grade_day):
    # 39.5 °C, one vasopressor and low-flow nasal cannula -> grade 3
    day = grade_day(temp_c=39.5, hypotension=True, vasopressors=1, o2_device="nasal_cannula",
                    o2_flow_lpm=2)
    assert crs(day) == 3
    assert day.crs.rule_ids == ("ASTCT-CRS-3-ONE-VASOPRESSOR",)


def test_worst_domain_wins_hypoxia_over_hypotension(grade_day):
    day = grade_day(**FEVER, hypotension=True, vasopressors=1, o2_device="bipap")
    assert crs(day) == 4


# --- grade 5 -----------------------------------------------------------------------------

def test_death_due_to_crs_is_grade_5(grade_day):
    day = grade_day(**FEVER, hypotension=True, vasopressors=3, death_cause="crs")
    assert crs(day) == 5
    assert day.icans.grade is None


def test_rows_after_death_are_warned_about_and_not_graded(engine):
    from .conftest import grader_for

    rows = [{"patient_id": "p", "day": 6, "temp_c": 39.5, "hypotension": True, "vasopressors": 2},
            {"patient_id": "p", "day": 7, "death_cause": "crs"},
            {"patient_id": "p", "day": 8, "temp_c": 38.4},
            {"patient_id": "p", "day": 9, "temp_c": 37.0}]
    result = grader_for(engine).grade(rows)
    days = result.days()
    assert [d.crs.grade for d in days] == [4, 5, None, None]
    assert days[2].crs.reason == days[2].icans.reason == "not graded: recorded after death on day 7"
    assert result.warnings == ("patient p: days 8, 9 recorded after death on day 7; not graded",)
    assert result.input.patient_days == 4  # nothing dropped


def test_death_from_other_cause_is_not_grade_5(grade_day):
    assert crs(grade_day(**FEVER, death_cause="other")) == 1


# --- fever waiver across days --------------------------------------------------------------

AFEBRILE_HYPOTENSIVE = {"temp_c": 37.0, "hypotension": True, "vasopressors": 1}


@pytest.mark.parametrize("therapy", ["tocilizumab", "siltuximab", "anakinra", "steroids", "antipyretic"])
def test_waiver_after_each_therapy(grade_days, therapy):
    days = grade_days([
        {"temp_c": 38.6, therapy: True},
        AFEBRILE_HYPOTENSIVE,
        {"temp_c": 36.8, "o2_device": "nasal_cannula", "o2_flow_lpm": 3},
    ])
    assert [crs(d) for d in days] == [1, 3, 2]
    assert [d.fever_waived for d in days] == [False, True, True]
    assert therapy in days[1].crs.reason


@pytest.mark.parametrize("named", ["emapalumab", "ruxolitinib", "etanercept", "infliximab"])
def test_other_anti_cytokine_therapies_waive_fever_by_name(grade_days, named):
    days = grade_days([{"temp_c": 38.6, "other_treatment": f"dasatinib; {named}"}, AFEBRILE_HYPOTENSIVE])
    assert [crs(d) for d in days] == [1, 3]
    assert f"fever waived after {named} on day 0" in days[1].crs.reason


def test_a_therapy_outside_the_list_does_not_waive(grade_days):
    days = grade_days([{"temp_c": 38.6, "other_treatment": "intrathecal hydrocortisone"}, AFEBRILE_HYPOTENSIVE])
    assert [crs(d) for d in days] == [1, 0]


def test_a_centre_adds_its_own_waiving_therapies(grade_days):
    days = grade_days([{"temp_c": 38.6, "other_treatment": "Intrathecal Hydrocortisone"}, AFEBRILE_HYPOTENSIVE],
                      more_fever_waiving_therapies="itacitinib; intrathecal hydrocortisone")
    assert [crs(d) for d in days] == [1, 3]


def test_antipyretic_does_not_waive_when_setting_off(grade_days):
    days = grade_days(
        [{"temp_c": 38.6, "antipyretic": True}, AFEBRILE_HYPOTENSIVE],
        antipyretic_waives_fever=False,
    )
    assert [crs(d) for d in days] == [1, 0]


def test_no_waiver_without_therapy(grade_days):
    days = grade_days([{"temp_c": 38.6}, AFEBRILE_HYPOTENSIVE])
    assert [crs(d) for d in days] == [1, 0]


def test_waiver_lasts_over_several_days_and_gaps_until_resolution(grade_days):
    days = grade_days([
        {"day": 0, "temp_c": 38.4, "hypotension": True, "tocilizumab": True},
        {"day": 1, "temp_c": 37.5, "hypotension": True},
        {"day": 2, "temp_c": 37.1, "hypotension": True, "vasopressors": 2},
        {"day": 5, "temp_c": 37.0, "o2_device": "nasal_cannula", "o2_flow_lpm": 8},   # after a gap
        {"day": 6, "temp_c": 36.9, "hypotension": False, "o2_device": "room_air"},     # resolved
        {"day": 7, "temp_c": 37.0, "hypotension": True},                               # no fever, no waiver
    ])
    assert [crs(d) for d in days] == [2, 2, 4, 3, 0, 0]
    assert [d.fever_waived for d in days] == [False, True, True, True, True, False]
    assert days[4].crs.rule_ids == ("ASTCT-CRS-0-RESOLVED-UNDER-WAIVER",)


def test_waiver_never_ends_with_setting(grade_days):
    days = grade_days([
        {"temp_c": 38.4, "tocilizumab": True},
        {"temp_c": 36.9, "hypotension": False, "o2_device": "room_air"},
        {"temp_c": 37.0, "hypotension": True},
    ], waiver_ends="never")
    assert [crs(d) for d in days] == [1, 0, 2]


def test_waived_day_with_signs_not_recorded_is_not_graded_0(grade_days):
    # Under the waiver, an afebrile day with hypotension absent but oxygen not recorded is not
    # resolution: oxygen could keep CRS going. Not recorded is never treated as normal.
    days = grade_days([
        {"temp_c": 38.4, "tocilizumab": True},
        {"temp_c": 36.9, "hypotension": False},
        {"temp_c": 36.9, "hypotension": True},
    ])
    assert days[1].crs.grade is None
    assert "o2_device" in days[1].crs.reason
    assert crs(days[2]) == 2  # the waiver goes on


def test_therapy_during_ongoing_episode_waives_the_same_day(grade_days):
    days = grade_days([
        {"temp_c": 38.4},
        {"temp_c": 37.4, "hypotension": True, "vasopressors": 1, "tocilizumab": True},
    ])
    assert [crs(d) for d in days] == [1, 3]


def test_prophylaxis_does_not_waive_by_default(grade_days):
    days = grade_days([{"temp_c": 36.8, "tocilizumab": True}, AFEBRILE_HYPOTENSIVE])
    assert [crs(d) for d in days] == [0, 0]


def test_prophylaxis_setting(grade_days):
    days = grade_days(
        [{"temp_c": 36.8, "tocilizumab": True}, {"temp_c": 36.8}, AFEBRILE_HYPOTENSIVE],
        prophylaxis_waives_fever=True,
    )
    assert [crs(d) for d in days] == [None, None, 3]


def test_rows_need_not_be_sorted(grade_days):
    days = grade_days([
        {"day": 2, **AFEBRILE_HYPOTENSIVE},
        {"day": 0, "temp_c": 38.4, "tocilizumab": True},
        {"day": 1, "temp_c": 38.0},
    ])
    assert [d.day for d in days] == [0, 1, 2]
    assert [crs(d) for d in days] == [1, 1, 3]


def test_patients_are_graded_separately(engine):
    from .conftest import grader_for

    result = grader_for(engine).grade([
        {"patient_id": "a", "day": 0, "temp_c": 38.4, "tocilizumab": True},
        {"patient_id": "b", "day": 1, **AFEBRILE_HYPOTENSIVE},
        {"patient_id": "a", "day": 1, **AFEBRILE_HYPOTENSIVE},
    ])
    grades = {(d.patient_id, d.day): d.crs.grade for d in result.days()}
    assert grades == {("a", 0): 1, ("a", 1): 3, ("b", 1): 0}


# --- not recorded is never normal ------------------------------------------------------------

def test_grade_from_partial_record_lists_what_could_raise_it(grade_day):
    day = grade_day(temp_c=39.0)
    assert crs(day) == 1
    assert day.crs.not_recorded == ("hypotension", "vasopressors", "vasopressin", "o2_device")


def test_complete_record_lists_nothing(grade_day):
    day = grade_day(temp_c=39.0, hypotension=False, vasopressors=0, vasopressin=False,
                    o2_device="room_air")
    assert crs(day) == 1 and day.crs.not_recorded == ()


def test_vasopressor_count_missing_could_raise_hypotension(grade_day):
    day = grade_day(temp_c=39.0, hypotension=True, vasopressin=False, o2_device="room_air")
    assert crs(day) == 2 and day.crs.not_recorded == ("vasopressors",)


def test_no_fever_needs_nothing_else(grade_day):
    assert grade_day(temp_c=37.0).crs.not_recorded == ()


@pytest.mark.parametrize("device, settings, grade", [
    ("nasal_cannula", {}, 2),
    ("high_flow_nasal_cannula", {"hfnc_at_low_flow": "low_flow"}, 2),
    ("face_mask", {"face_mask_at_low_flow": "low_flow"}, 2),
])
def test_flow_not_recorded_is_the_least_the_device_can_be_and_is_listed(grade_day, device, settings, grade):
    day = grade_day(temp_c=38.5, hypotension=False, vasopressors=0, vasopressin=False,
                    o2_device=device, settings=settings)
    assert crs(day) == grade
    assert day.crs.not_recorded == ("o2_flow_lpm",)
    assert "flow not recorded" in day.crs.reason


def test_flow_not_needed_for_a_device_classed_without_it(grade_day):
    day = grade_day(temp_c=38.5, hypotension=False, vasopressors=0, vasopressin=False,
                    o2_device="non_rebreather")
    assert crs(day) == 3 and day.crs.not_recorded == ()


def test_temperature_shown_as_recorded(grade_day):
    assert grade_day(temp_c=37.99999).crs.reason == "no fever that counts (37.99999 °C) and fever not waived"


def test_fahrenheit_just_below_the_boundary_is_not_fever(grade_day):
    assert crs(grade_day(temp_f=100.39)) == 0
