"""Explanations: every grade with the rules met, the rules above it not met, and the settings."""

from __future__ import annotations

from .conftest import grader_for


def explained(engine, rows, **settings):
    result = grader_for(engine, **settings).grade([{"day": i, **r} for i, r in enumerate(rows)], explain=True)
    return result.days()


def test_fired_rules_carry_statement_citation_and_values(engine):
    (day,) = explained(engine, [{"temp_c": 38.6, "hypotension": True, "vasopressors": 1, "o2_device": "room_air"}])
    top = day.crs.explanation.fired[0]
    assert top.id == "ASTCT-CRS-3-ONE-VASOPRESSOR" and top.grade == 3
    assert top.citation == "Lee et al. 2019, CRS grading table, grade 3"
    assert top.values["vasopressors"] == 1 and top.values["fever"] is True
    assert [r.id for r in day.crs.explanation.fired] == [
        "ASTCT-CRS-3-ONE-VASOPRESSOR", "ASTCT-CRS-2-HYPOTENSION", "ASTCT-CRS-1-FEVER"]


def test_higher_rules_not_met_say_why(engine):
    (day,) = explained(engine, [{"temp_c": 38.6, "hypotension": True, "vasopressors": 1, "o2_device": "room_air"}])
    not_met = {r.id: [u.text() for u in r.unmet] for r in day.crs.explanation.not_met}
    assert not_met["ASTCT-CRS-4-MULTIPLE-VASOPRESSORS"] == ["vasopressors 1 (needs 2 or more)"]
    assert not_met["ASTCT-CRS-4-POSITIVE-PRESSURE"] == ["o2_class none (needs positive_pressure)"]
    assert "ASTCT-CRS-5-DEATH" not in not_met  # death_cause is an event: empty means none
    assert all(r.grade > 3 for r in day.crs.explanation.not_met)


def test_attribution_is_named_as_the_reason(engine):
    (day,) = explained(engine, [{"temp_c": 38.6, "o2_device": "mechanical_ventilation", "hypoxia_other_cause": True}])
    not_met = {r.id: [u.text() for u in r.unmet] for r in day.crs.explanation.not_met}
    assert not_met["ASTCT-CRS-4-POSITIVE-PRESSURE"] == ["hypoxia_other_cause yes (needs no)"]


def test_missing_values_are_named(engine):
    (day,) = explained(engine, [{"ice_score": 10}])
    not_met = {r.id: [u.text() for u in r.unmet] for r in day.icans.explanation.not_met}
    assert not_met["ASTCT-ICANS-4-UNAROUSABLE"] == ["consciousness not recorded (needs unarousable)"]
    # events left empty and the other assessment tool are not reasons
    assert "ASTCT-ICANS-3-SEIZURE" not in not_met and "ASTCT-ICANS-3-CAPD-9" not in not_met


def test_settings_that_decided_the_grade_are_flagged(engine):
    days = explained(engine, [
        {"temp_c": 38.4, "antipyretic": True},
        {"temp_c": 37.0, "hypotension": True, "vasopressors": 0, "vasopressin": True,
         "o2_device": "face_mask", "o2_flow_lpm": 4},
    ], face_mask_at_low_flow="low_flow")
    settings = {s.name: s.effect for s in days[1].crs.explanation.settings}
    assert settings == {
        "antipyretic_waives_fever": "fever waived after antipyretic on day 0",
        "face_mask_at_low_flow": "face mask 4.0 L/min classed as low_flow",
        "vasopressin_alone_counts": "ASTCT-CRS-3-ONE-VASOPRESSOR fires only with vasopressin_alone_counts = yes",
    }


def test_a_setting_that_did_not_matter_is_not_flagged(engine):
    (day,) = explained(engine, [{"temp_c": 38.6, "hypotension": True, "vasopressors": 1}])
    assert day.crs.explanation.settings == ()


def test_child_assessment_tool_setting(engine):
    (day,) = explained(engine, [{"age_years": 9, "ice_score": 5, "capd_score": 3}])
    assert [(s.name, s.effect) for s in day.icans.explanation.settings] == [
        ("capd_below_age", "age 9: assessed with CAPD, so ICE is not used")]


def test_not_gradable_day_lists_what_every_rule_needs(engine):
    (day,) = explained(engine, [{"hypotension": True}])
    assert day.crs.grade is None
    not_met = {r.id: [u.text() for u in r.unmet] for r in day.crs.explanation.not_met}
    assert "fever not recorded (needs yes)" in not_met["ASTCT-CRS-1-FEVER"]


def test_explanations_only_when_asked(engine):
    day = grader_for(engine).grade([{"day": 0, "temp_c": 38.2}]).days()[0]
    assert day.crs.explanation is None
