"""Several readings of a patient-day grade as the day's worst finding."""

from __future__ import annotations

import pytest

from .conftest import grader_for

SIX_READINGS = [
    {"time": "02:00", "temp_c": 37.8, "hypotension": False, "o2_device": "room_air", "ice_score": 10,
     "consciousness": "alert"},
    {"time": "06:00", "temp_c": 38.6, "hypotension": True, "vasopressors": 0, "o2_device": "nasal_cannula",
     "o2_flow_lpm": 2},
    {"time": "10:00", "temp_f": 102.2, "hypotension": True, "vasopressors": 1, "o2_device": "nasal_cannula",
     "o2_flow_lpm": 4, "ice_score": 8},
    {"time": "14:00", "temp_c": 38.9, "vasopressin": True, "o2_device": "nasal_cannula", "o2_flow_lpm": 8,
     "tocilizumab": True},
    {"time": "18:00", "temp_c": 38.1, "hypotension": False, "o2_device": "nasal_cannula", "o2_flow_lpm": 3,
     "ice_score": 6, "consciousness": "awakens_to_voice"},
    {"time": "22:00", "temp_c": 37.5, "o2_device": "room_air", "ice_score": 9, "seizure": "none"},
]
WORST_OF_DAY = {
    "temp_c": 39.0, "hypotension": True, "vasopressors": 1, "vasopressin": True,
    "o2_device": "nasal_cannula", "o2_flow_lpm": 8, "tocilizumab": True, "ice_score": 6,
    "consciousness": "awakens_to_voice", "seizure": "none",
}


def grade(engine, rows):
    return grader_for(engine).grade([{"patient_id": "p", "day": 2, **row} for row in rows])


def test_six_readings_grade_as_the_hand_computed_worst_of_day_row(engine):
    combined = grade(engine, SIX_READINGS).days()[0]
    by_hand = grade(engine, [WORST_OF_DAY]).days()[0]
    assert combined.readings == 6 and by_hand.readings == 1
    assert combined.crs == by_hand.crs and combined.icans == by_hand.icans
    assert (combined.crs.grade, combined.icans.grade) == (3, 2)


def test_row_order_does_not_matter(engine):
    forward = grade(engine, SIX_READINGS).days()[0]
    backward = grade(engine, list(reversed(SIX_READINGS))).days()[0]
    assert forward.crs == backward.crs and forward.icans == backward.icans


def test_accounting(engine):
    result = grader_for(engine).grade(
        [{"patient_id": "p", "day": 2, **row} for row in SIX_READINGS] + [{"patient_id": "p", "day": 3, "temp_c": 37}]
    )
    assert result.input.rows_read == 7
    assert (result.input.patient_days, result.input.rows_combined, result.input.rows_rejected) == (2, 5, 0)


def test_oxygen_device_and_flow_come_from_the_same_reading(engine):
    # A face mask (high-flow class) outranks a nasal cannula at 5 L/min even though its flow is lower.
    day = grade(engine, [
        {"temp_c": 38.5, "o2_device": "nasal_cannula", "o2_flow_lpm": 5},
        {"temp_c": 38.5, "o2_device": "face_mask", "o2_flow_lpm": 4},
    ]).days()[0]
    assert day.crs.grade == 3 and "face mask 4.0 L/min" in day.crs.reason


def test_oxygen_class_follows_the_settings(engine):
    rows = [{"temp_c": 38.5, "o2_device": "nasal_cannula", "o2_flow_lpm": 8},
            {"temp_c": 38.5, "o2_device": "face_mask", "o2_flow_lpm": 5}]
    day = grader_for(engine, face_mask_at_low_flow="low_flow").grade(
        [{"day": 0, **row} for row in rows]).days()[0]
    assert day.crs.grade == 3 and "nasal cannula 8.0 L/min" in day.crs.reason


def test_an_attributed_reading_does_not_hide_one_that_counts(engine):
    day = grade(engine, [
        {"temp_c": 38.4, "o2_device": "nasal_cannula", "o2_flow_lpm": 3},
        {"temp_c": 38.4, "o2_device": "mechanical_ventilation", "hypoxia_other_cause": True},
    ]).days()[0]
    assert day.crs.grade == 2


def test_every_reading_attributed_makes_the_day_attributed(engine):
    day = grade(engine, [
        {"temp_c": 39.0, "fever_other_cause": True},
        {"temp_c": 38.7, "fever_other_cause": True},
    ]).days()[0]
    assert day.crs.grade == 0


def test_fever_attributed_in_one_reading_only(engine):
    day = grade(engine, [{"temp_c": 39.5, "fever_other_cause": True}, {"temp_c": 38.2}]).days()[0]
    assert day.crs.grade == 1 and "38.2" in day.crs.reason


def test_ice_items_kept_with_the_lowest_score(engine):
    items_low = dict(ice_orientation=1, ice_naming=1, ice_commands=0, ice_writing=0, ice_attention=0)
    day = grade(engine, [{"ice_score": 9}, items_low]).days()[0]
    assert day.icans.grade == 3 and day.icans.reason == "ICE 2"


def test_worst_consciousness_and_events(engine):
    day = grade(engine, [
        {"consciousness": "awakens_to_touch", "seizure": "none"},
        {"consciousness": "alert", "seizure": "resolved", "cerebral_edema": "focal"},
    ]).days()[0]
    assert day.icans.grade == 3
    assert {r.id for r in day.icans.rules if r.grade == 3} == {
        "ASTCT-ICANS-3-AWAKENS-TO-TOUCH", "ASTCT-ICANS-3-SEIZURE", "ASTCT-ICANS-3-FOCAL-EDEMA"}


def test_disagreeing_age_is_an_error(engine):
    from crsgrade import ObservationError

    with pytest.raises(ObservationError, match="age_years: readings of patient p day 2 disagree"):
        grade(engine, [{"age_years": 8}, {"age_years": 9}])
