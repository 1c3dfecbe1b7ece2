"""The older grading systems beyond the grades: how an estimated FiO2 or a vasopressor dose is
shown, grades that are lower bounds, and what a system does not grade. Each system's clinical
cases, its boundaries and the contrasts with ASTCT that regrading studies report, are in
rules/<system>/cases.yaml."""

from __future__ import annotations

import pytest

from crsgrade import GradedDay

from .conftest import grader_for

FEVER = {"temp_c": 38.6}


@pytest.fixture
def grade_under(engine):
    """Grades one observation day under a system; returns the graded day."""

    def run(system: str, settings: dict | None = None, **observation) -> GradedDay:
        result = grader_for(engine, system, **(settings or {})).grade([{"day": 0, **observation}])
        return result.patients[0].days[0]

    return run


# --- FiO2 estimated from device and flow ------------------------------------------------------------

@pytest.mark.parametrize("flow, estimate, expected", [(4, 37, 2), (4.75, 40, 3), (6, 45, 3)])
def test_fio2_is_estimated_from_a_nasal_cannula_and_flagged(grade_under, flow, estimate, expected):
    day = grade_under("lee2014", o2_device="nasal_cannula", o2_flow_lpm=flow)
    assert day.crs.grade == expected
    assert any(f"FiO2 {estimate} % (estimated: nasal cannula" in note for note in day.notes)


def test_a_recorded_fio2_wins_over_the_estimate(grade_under):
    day = grade_under("lee2014", o2_device="nasal_cannula", o2_flow_lpm=6, fio2=30)
    assert day.crs.grade == 2 and not any("estimated" in note for note in day.notes)


def test_astct_never_notes_an_fio2_estimate(grade_under):
    day = grade_under("astct2019", **FEVER, o2_device="nasal_cannula", o2_flow_lpm=6)
    assert day.crs.grade == 2 and not day.notes


def test_fio2_set_on_a_device_must_be_recorded(grade_under):
    day = grade_under("lee2014", o2_device="high_flow_nasal_cannula", o2_flow_lpm=40)
    assert day.crs.grade == 2
    assert "fio2" in day.crs.not_recorded


def test_nasal_cannula_without_flow_leaves_fio2_unknown(grade_under):
    day = grade_under("ctcae5", o2_device="nasal_cannula")
    assert day.crs.grade == 2 and "fio2" in day.crs.not_recorded


# --- vasopressor doses -------------------------------------------------------------------------------

HYPO = {"hypotension": True}


def test_the_reason_names_a_single_agent_given_alone(grade_under):
    alone = grade_under("lee2014", **HYPO, dopamine_ug_kg_min=12, vasopressor_hours=4)
    assert alone.crs.grade == 3 and "(dopamine 12 µg/kg/min alone for 4 h)" in alone.crs.reason


def test_with_vasopressin_the_reason_gives_the_norepinephrine_equivalent(grade_under):
    day = grade_under("lee2014", **HYPO, vasopressin=True, dopamine_ug_kg_min=20, vasopressor_hours=4)
    assert day.crs.grade == 3
    assert "vasopressin with norepinephrine equivalent 10 µg/min for 4 h" in day.crs.reason


def test_a_combination_with_a_dose_missing_is_a_lower_bound(grade_under):
    # two vasopressors, one dose known and low: high dose is unknown, not false
    day = grade_under("penn", **HYPO, vasopressors=2, norepinephrine_ug_min=5, vasopressor_hours=4)
    assert day.crs.grade == 3 and "vasopressor_high_dose" in day.crs.not_recorded


def test_weight_based_doses_are_converted_with_the_weight(grade_under):
    # 0.3 µg/kg/min x 70 kg = 21 µg/min of norepinephrine alone: high dose
    day = grade_under("lee2014", **HYPO, norepinephrine_ug_kg_min=0.3, weight_kg=70, vasopressor_hours=4)
    assert day.crs.grade == 3 and "norepinephrine 21 µg/min alone" in day.crs.reason


def test_high_dose_without_its_hours_is_a_lower_bound(grade_under):
    day = grade_under("lee2014", **HYPO, norepinephrine_ug_min=25)
    assert day.crs.grade == 2 and "vasopressor_hours" in day.crs.not_recorded


def test_a_vasopressor_without_dose_leaves_high_dose_unknown(grade_under):
    day = grade_under("lee2014", **HYPO, vasopressors=1)
    assert day.crs.grade == 2 and "vasopressor_high_dose" in day.crs.not_recorded


# --- oxygen devices ---------------------------------------------------------------------------------

def test_ctcae_ventilation_without_the_setting_is_a_lower_bound(grade_under):
    day = grade_under("ctcae5", {"mechanical_ventilation_is_grade_4": False}, o2_device="mechanical_ventilation",
                      fio2=35)
    assert day.crs.grade == 2 and "life_threatening" in day.crs.not_recorded


# --- CRES --------------------------------------------------------------------------------------------

def test_a_routine_lumbar_puncture_is_not_cres_3(grade_under):
    day = grade_under("cartox", cartox_score=10, consciousness="alert", csf_opening_pressure_mmhg=12)
    assert day.icans.grade == 0 and day.icans.not_recorded == ("raised_icp_suspected",)
    day = grade_under("cartox", cartox_score=10, consciousness="alert", csf_opening_pressure_mmhg=12,
                      raised_icp_suspected=False)
    assert day.icans.grade == 0 and day.icans.not_recorded == ()


def test_a_seizure_of_unknown_kind_is_at_least_cres_3(grade_under):
    day = grade_under("cartox", cartox_score=10, seizure="resolved")
    assert day.icans.grade == 3 and "seizure_kind" in day.icans.not_recorded
    day = grade_under("cartox", cartox_score=10, seizure="resolved", seizure_kind="focal")
    assert day.icans.grade == 3 and "seizure_kind" not in day.icans.not_recorded


def test_cres_is_not_gradable_without_a_cartox_score(grade_under):
    day = grade_under("cartox", ice_score=10)
    assert day.icans.grade is None and "cartox_score" in day.icans.reason


# --- lower bounds and what a system does not grade --------------------------------------------------

def test_missing_inputs_make_the_grade_a_lower_bound(grade_under):
    day = grade_under("lee2014", temp_c=37.2, hypotension=False, vasopressors=0, vasopressin=False,
                      o2_device="room_air")
    assert day.crs.grade == 0
    assert set(day.crs.not_recorded) == {"organ_toxicity_grade", "transaminitis_grade", "creatinine_grade",
                                         "crs_symptoms"}
    day = grade_under("mskcc", hypotension=True, vasopressors=1)
    assert day.crs.grade == 2 and "vasopressor_hours" in day.crs.not_recorded


def test_a_crs_only_system_says_it_does_not_grade_neurotoxicity(grade_under):
    day = grade_under("lee2014", ice_score=3)
    assert day.icans.grade is None and day.icans.reason == "not graded: Lee 2014 grades CRS only"
