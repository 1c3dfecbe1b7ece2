"""The older grading systems: each system's boundaries, the contrasts with ASTCT that regrading
studies report, FiO2 and vasopressor-dose derivation, and grades that are lower bounds."""

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


def crs(grade_under, system, **observation) -> int | None:
    return grade_under(system, **observation).crs.grade


# --- the contrasts the issue names --------------------------------------------------------------

def test_fever_with_one_low_dose_vasopressor_is_lee_2_and_astct_3(grade_under):
    day = dict(FEVER, hypotension=True, vasopressors=1, norepinephrine_ug_min=5, vasopressor_hours=6)
    assert crs(grade_under, "astct2019", **day) == 3
    assert crs(grade_under, "lee2014", **day) == 2
    assert crs(grade_under, "cartox", **day) == 2


def test_fever_with_grade_4_transaminitis_only_is_astct_1_and_lee_3(grade_under):
    day = dict(FEVER, hypotension=False, o2_device="room_air", transaminitis_grade=4, organ_toxicity_grade=0,
               creatinine_grade=0)
    assert crs(grade_under, "astct2019", **day) == 1
    assert crs(grade_under, "lee2014", **day) == 3
    assert crs(grade_under, "cartox", **day) == 3
    assert crs(grade_under, "penn", **day) == 3


def test_low_flow_oxygen_is_penn_3_and_astct_2(grade_under):
    day = dict(FEVER, o2_device="nasal_cannula", o2_flow_lpm=2)
    assert crs(grade_under, "astct2019", **day) == 2
    assert crs(grade_under, "penn", **day) == 3
    assert crs(grade_under, "lee2014", **day) == 2  # FiO2 ≈ 29 % estimated


def test_a_single_vasopressor_for_30_hours_is_mskcc_3(grade_under):
    assert crs(grade_under, "mskcc", hypotension=True, vasopressors=1, vasopressor_hours=30) == 3
    assert crs(grade_under, "mskcc", hypotension=True, vasopressors=1, vasopressor_hours=23.9) == 2
    assert crs(grade_under, "mskcc", hypotension=True, vasopressors=1, vasopressor_hours=24) == 3


@pytest.mark.parametrize("system", ["lee2014", "ctcae5", "mskcc", "cartox"])
@pytest.mark.parametrize("fio2, expected", [(39.9, 2), (40, 3), (0.399, 2), (0.4, 3), (100, 3)])
def test_fio2_40_percent_boundary(grade_under, system, fio2, expected):
    assert crs(grade_under, system, o2_device="high_flow_nasal_cannula", o2_flow_lpm=30, fio2=fio2) == expected


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


@pytest.mark.parametrize("doses, expected", [
    ({"norepinephrine_ug_min": 20}, 3),
    ({"norepinephrine_ug_min": 19.9}, 2),
    ({"dopamine_ug_kg_min": 10}, 3),
    ({"dopamine_ug_kg_min": 9}, 2),
    ({"phenylephrine_ug_min": 200}, 3),
    ({"phenylephrine_ug_min": 150}, 2),
    ({"epinephrine_ug_min": 10}, 3),
    ({"epinephrine_ug_min": 9}, 2),
])
def test_lee_high_dose_single_agents(grade_under, doses, expected):
    assert crs(grade_under, "lee2014", **HYPO, vasopressor_hours=3, **doses) == expected


def test_single_agent_thresholds_apply_to_monotherapy_only(grade_under):
    alone = grade_under("lee2014", **HYPO, dopamine_ug_kg_min=12, vasopressor_hours=4)
    assert alone.crs.grade == 3 and "(dopamine 12 µg/kg/min alone for 4 h)" in alone.crs.reason
    # with vasopressin, dopamine 12 µg/kg/min is a norepinephrine equivalent of 6 µg/min: not high dose
    with_vasopressin = grade_under("lee2014", **HYPO, vasopressin=True, dopamine_ug_kg_min=12, vasopressor_hours=4)
    assert with_vasopressin.crs.grade == 2
    assert crs(grade_under, "cartox", **HYPO, vasopressin=True, dopamine_ug_kg_min=12, vasopressor_hours=4) == 2
    # with another agent, the combination's equivalent decides: 6 + 2 = 8 µg/min, multiple low-dose
    assert crs(grade_under, "penn", **HYPO, dopamine_ug_kg_min=12, norepinephrine_ug_min=2, vasopressor_hours=4) == 3


@pytest.mark.parametrize("dopamine, expected", [(19.9, 2), (20, 3)])
def test_with_vasopressin_the_equivalent_boundary_is_10(grade_under, dopamine, expected):
    day = grade_under("lee2014", **HYPO, vasopressin=True, dopamine_ug_kg_min=dopamine, vasopressor_hours=4)
    assert day.crs.grade == expected
    if expected == 3:
        assert "vasopressin with norepinephrine equivalent 10 µg/min for 4 h" in day.crs.reason


def test_a_combination_with_a_dose_missing_is_a_lower_bound(grade_under):
    # two vasopressors, one dose known and low: high dose is unknown, not false
    day = grade_under("penn", **HYPO, vasopressors=2, norepinephrine_ug_min=5, vasopressor_hours=4)
    assert day.crs.grade == 3 and "vasopressor_high_dose" in day.crs.not_recorded
    # a known dose already over the combination threshold is high whatever the other one is
    assert crs(grade_under, "penn", **HYPO, vasopressors=2, norepinephrine_ug_min=25, vasopressor_hours=4) == 4


def test_weight_based_doses_are_converted_with_the_weight(grade_under):
    # 0.3 µg/kg/min x 70 kg = 21 µg/min of norepinephrine alone: high dose
    day = grade_under("lee2014", **HYPO, norepinephrine_ug_kg_min=0.3, weight_kg=70, vasopressor_hours=4)
    assert day.crs.grade == 3 and "norepinephrine 21 µg/min alone" in day.crs.reason
    assert crs(grade_under, "lee2014", **HYPO, norepinephrine_ug_kg_min=0.28, weight_kg=70, vasopressor_hours=4) == 2
    assert crs(grade_under, "penn", **HYPO, epinephrine_ug_kg_min=0.2, weight_kg=50, vasopressor_hours=4) == 4


def test_high_dose_needs_three_hours(grade_under):
    assert crs(grade_under, "lee2014", **HYPO, norepinephrine_ug_min=25, vasopressor_hours=2.5) == 2
    day = grade_under("lee2014", **HYPO, norepinephrine_ug_min=25)
    assert day.crs.grade == 2 and "vasopressor_hours" in day.crs.not_recorded


def test_with_vasopressin_the_threshold_is_10_norepinephrine_equivalent(grade_under):
    assert crs(grade_under, "lee2014", **HYPO, vasopressin=True, norepinephrine_ug_min=10, vasopressor_hours=4) == 3
    assert crs(grade_under, "lee2014", **HYPO, vasopressin=True, norepinephrine_ug_min=9, vasopressor_hours=4) == 2
    assert crs(grade_under, "lee2014", **HYPO, vasopressin=True, dopamine_ug_kg_min=9, vasopressor_hours=4) == 2


def test_combinations_without_vasopressin_at_20_equivalent_are_penn_4(grade_under):
    assert crs(grade_under, "penn", **HYPO, norepinephrine_ug_min=15, epinephrine_ug_min=5, vasopressor_hours=4) == 4
    assert crs(grade_under, "penn", **HYPO, norepinephrine_ug_min=10, epinephrine_ug_min=5, vasopressor_hours=4) == 3
    # dopamine counts half (in µg/kg/min), phenylephrine a tenth: 16 + 8/2 = 20, 10 + 100/10 = 20
    assert crs(grade_under, "penn", **HYPO, norepinephrine_ug_min=16, dopamine_ug_kg_min=8, vasopressor_hours=4) == 4
    assert crs(grade_under, "penn", **HYPO, norepinephrine_ug_min=16, dopamine_ug_kg_min=7, vasopressor_hours=4) == 3
    assert crs(grade_under, "penn", **HYPO, norepinephrine_ug_min=10, phenylephrine_ug_min=100,
               vasopressor_hours=4) == 4


def test_agents_with_a_dose_count_as_vasopressors(grade_under):
    # two agents are multiple vasopressors: Lee 3 whatever the doses
    assert crs(grade_under, "lee2014", **HYPO, norepinephrine_ug_min=2, epinephrine_ug_min=1) == 3
    assert crs(grade_under, "astct2019", **FEVER, **HYPO, norepinephrine_ug_min=2, epinephrine_ug_min=1) == 4


def test_a_recorded_high_dose_flag_overrides_the_doses(grade_under):
    assert crs(grade_under, "lee2014", **HYPO, vasopressors=1, vasopressor_high_dose=True) == 3
    assert crs(grade_under, "lee2014", **HYPO, norepinephrine_ug_min=30, vasopressor_hours=5,
               vasopressor_high_dose=False) == 2


def test_a_vasopressor_without_dose_leaves_high_dose_unknown(grade_under):
    day = grade_under("lee2014", **HYPO, vasopressors=1)
    assert day.crs.grade == 2 and "vasopressor_high_dose" in day.crs.not_recorded


def test_vasopressin_alone_is_hypotension_needing_a_vasopressor(grade_under):
    assert crs(grade_under, "lee2014", vasopressin=True, vasopressors=0) == 2
    assert crs(grade_under, "cartox", vasopressin=True, vasopressors=0) == 2


def test_vasopressin_counts_as_multiple_only_with_the_setting(grade_under):
    day = dict(HYPO, vasopressors=1, vasopressin=True, vasopressor_high_dose=False)
    assert crs(grade_under, "lee2014", **day) == 2
    assert grade_under("lee2014", {"vasopressin_counts_as_multiple": True}, **day).crs.grade == 3


@pytest.mark.parametrize("observation, expected", [
    ({"vasopressors": 1}, 3),
    ({"vasopressors": 2}, 4),
    ({"vasopressors": 1, "vasopressin": True}, 4),
    ({"vasopressors": 0, "vasopressin": True}, 3),
])
def test_ctcae_more_than_one_pressor_is_grade_4_by_default(grade_under, observation, expected):
    assert crs(grade_under, "ctcae5", **HYPO, **observation) == expected
    off = grade_under("ctcae5", {"multiple_vasopressors_are_grade_4": False}, **HYPO, **observation)
    assert off.crs.grade == min(expected, 3)


# --- oxygen devices ---------------------------------------------------------------------------------

def test_ventilator_support(grade_under):
    day = dict(o2_device="mechanical_ventilation", fio2=35)
    for system in ("lee2014", "penn", "mskcc", "cartox"):
        assert crs(grade_under, system, **day) == 4, system
    assert crs(grade_under, "ctcae5", **day) == 4  # intubation read as urgent intervention (a setting)
    no_setting = grade_under("ctcae5", {"mechanical_ventilation_is_grade_4": False}, **day)
    assert no_setting.crs.grade == 2 and "life_threatening" in no_setting.crs.not_recorded
    assert grade_under("ctcae5", {"mechanical_ventilation_is_grade_4": False}, **day, life_threatening=True).crs.grade == 4


def test_bipap_is_graded_by_fio2_unless_the_setting_counts_it_as_ventilation(grade_under):
    day = dict(o2_device="bipap", fio2=45)
    assert crs(grade_under, "lee2014", **day) == 3
    assert grade_under("lee2014", {"noninvasive_ventilation_class": "ventilator"}, **day).crs.grade == 4
    assert crs(grade_under, "penn", **day) == 3
    assert crs(grade_under, "astct2019", **FEVER, **day) == 4


def test_oxygen_attributed_elsewhere_does_not_count(grade_under):
    assert crs(grade_under, "penn", o2_device="nasal_cannula", o2_flow_lpm=2, hypoxia_other_cause=True,
               temp_c=37) == 0


# --- organ toxicity and the care a patient needs ----------------------------------------------------

@pytest.mark.parametrize("system, organ, expected", [
    ("lee2014", {"organ_toxicity_grade": 2}, 2),
    ("lee2014", {"organ_toxicity_grade": 3}, 3),
    ("lee2014", {"organ_toxicity_grade": 4}, 4),
    ("lee2014", {"creatinine_grade": 4}, 4),
    ("lee2014", {"transaminitis_grade": 3}, 3),
    ("cartox", {"organ_toxicity_grade": 1}, 1),
    ("cartox", {"transaminitis_grade": 4}, 3),
    ("penn", {"creatinine_grade": 2}, 2),
    ("penn", {"creatinine_grade": 3}, 3),
    ("penn", {"transaminitis_grade": 3}, 2),
    ("penn", {"transaminitis_grade": 4}, 3),
])
def test_organ_toxicity(grade_under, system, organ, expected):
    assert crs(grade_under, system, temp_c=37, **organ) == expected


@pytest.mark.parametrize("care, expected", [
    ({"hospitalized": True}, 2),
    ({"iv_therapies": True}, 2),
    ({"hypotension": True, "fluid_boluses": 1}, 0),
    ({"hypotension": True, "fluid_boluses": 2}, 3),
    ({"hypotension": True, "vasopressors": 1}, 3),
    ({"coagulopathy_replacement": True}, 3),
    ({"crs_symptoms": True}, 1),
    ({"life_threatening": True}, 4),
])
def test_penn_grades_the_care_needed(grade_under, care, expected):
    assert crs(grade_under, "penn", temp_c=37, **care) == expected


def test_penn_and_mskcc_need_no_fever_for_grade_1(grade_under):
    assert crs(grade_under, "penn", temp_c=37, crs_symptoms=True) == 1
    assert crs(grade_under, "mskcc", temp_c=37, crs_symptoms=True) == 1
    assert crs(grade_under, "ctcae5", temp_c=37, crs_symptoms=True) == 0  # CTCAE grade 1 is fever


def test_death(grade_under):
    for system in ("lee2014", "ctcae5", "penn", "mskcc", "cartox"):
        assert crs(grade_under, system, death_cause="crs") == 5, system
    assert grade_under("cartox", death_cause="icans").icans.grade == 5


# --- CRES --------------------------------------------------------------------------------------------

def cres(grade_under, **observation) -> int | None:
    return grade_under("cartox", **observation).icans.grade


@pytest.mark.parametrize("score, expected", [(10, 0), (9, 1), (7, 1), (6, 2), (3, 2), (2, 3), (0, 3)])
def test_cartox_10_bands(grade_under, score, expected):
    assert cres(grade_under, cartox_score=score) == expected


def test_cartox_10_from_its_items(grade_under):
    items = dict(cartox_orientation=4, cartox_naming=2, cartox_writing=1, cartox_counting=0)
    assert cres(grade_under, **items) == 1


@pytest.mark.parametrize("finding, expected", [
    ({"seizure_kind": "focal"}, 3),
    ({"seizure_kind": "eeg_only"}, 3),
    ({"seizure_kind": "generalized"}, 4),
    ({"seizure_kind": "status_epilepticus"}, 4),
    ({"seizure": "prolonged"}, 4),
    ({"papilledema_stage": 1}, 3),
    ({"papilledema_stage": 2}, 3),
    ({"papilledema_stage": 3}, 4),
    ({"papilledema_stage": 5}, 4),
    ({"csf_opening_pressure_mmhg": 19, "raised_icp_suspected": True}, 3),
    ({"csf_opening_pressure_mmhg": 12, "papilledema_stage": 2}, 3),
    ({"csf_opening_pressure_mmhg": 20}, 4),
    ({"cerebral_edema": "focal"}, 4),
    ({"motor_weakness": "deep_focal"}, 4),
    ({"consciousness": "unarousable"}, 4),
])
def test_cres_seizure_and_raised_pressure_rows(grade_under, finding, expected):
    assert cres(grade_under, cartox_score=10, **finding) == expected


def test_a_routine_lumbar_puncture_is_not_cres_3(grade_under):
    day = grade_under("cartox", cartox_score=10, consciousness="alert", csf_opening_pressure_mmhg=12)
    assert day.icans.grade == 0 and day.icans.not_recorded == ("raised_icp_suspected",)
    day = grade_under("cartox", cartox_score=10, consciousness="alert", csf_opening_pressure_mmhg=12,
                      raised_icp_suspected=False)
    assert day.icans.grade == 0 and day.icans.not_recorded == ()


@pytest.mark.parametrize("observation, expected", [
    ({"consciousness": "unarousable"}, 4),
    ({"consciousness": "awakens_to_touch"}, 4),                       # not scored: unable to do it
    ({"consciousness": "awakens_to_touch", "cartox_score": 5}, 2),    # scored: graded by the band
    ({"consciousness": "awakens_to_touch", "cartox_score": 1}, 3),
    ({"consciousness": "unarousable", "cartox_score": 0}, 4),
    ({"consciousness": "awakens_to_voice"}, None),
])
def test_cres_grade_4_is_obtunded_and_unable_to_do_the_cartox_10(grade_under, observation, expected):
    assert cres(grade_under, **observation) == expected


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
