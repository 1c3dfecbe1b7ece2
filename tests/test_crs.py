"""ASTCT 2019 CRS beyond the grades: errors, reasons, warnings, the waiver day by day and what was
not recorded. The clinical cases, every criterion and boundary, are in rules/astct2019/cases.yaml."""

from __future__ import annotations

import pytest


def crs(day):
    return day.crs.grade


# --- fever -------------------------------------------------------------------------------

def test_temp_c_and_temp_f_that_disagree_are_an_error(grade_day):
    from crsgrade import ObservationError

    with pytest.raises(ObservationError, match="disagrees with temp_c 37"):
        grade_day(temp_c=37.0, temp_f=101.5)


def test_message_shows_the_temperature(grade_day):
    assert grade_day(temp_c=38.1, hypotension=True).crs.reason == (
        "fever 38.1 °C with hypotension not needing vasopressors"
    )


def test_temperature_not_recorded_and_no_waiver_is_not_gradable(grade_day):
    day = grade_day(hypotension=True, vasopressors=1)
    assert day.crs.grade is None
    assert "temp_c" in day.crs.reason


# --- death -------------------------------------------------------------------------------

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


def test_rows_need_not_be_sorted(grade_days):
    days = grade_days([
        {"day": 2, **AFEBRILE_HYPOTENSIVE},
        {"day": 0, "temp_c": 38.4, "tocilizumab": True},
        {"day": 1, "temp_c": 38.0},
    ])
    assert [d.day for d in days] == [0, 1, 2]
    assert [crs(d) for d in days] == [1, 1, 3]


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
