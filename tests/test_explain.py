"""Explanations: every grade with the rules met, the rules above it not met, and the settings."""

from __future__ import annotations

import pytest

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


# --- said once, in clinical words ----------------------------------------------------------------

def test_an_afebrile_day_without_a_waiver_says_once_that_fever_is_needed(engine):
    (day,) = explained(engine, [{"temp_c": 37.0, "hypotension": True, "vasopressors": 0, "o2_device": "room_air"}])
    explanation = day.crs.explanation
    assert [(c.name, c.text) for c in explanation.conditions_not_met] == [
        ("fever_criterion", "no fever and no waiver: higher grades need fever")]
    not_met = {r.id: r for r in explanation.not_met}
    hypotension = not_met["ASTCT-CRS-2-HYPOTENSION"]
    assert hypotension.because == ("fever_criterion",) and hypotension.unmet == ()  # met but for fever
    assert [u.text() for u in not_met["ASTCT-CRS-3-ONE-VASOPRESSOR"].unmet] == [
        "vasopressors 0 (needs 1)", "vasopressin not recorded (needs yes)"]
    every_test = [u.fact for r in explanation.not_met for u in r.unmet]
    assert "fever_waived" not in every_test


def test_unmet_tests_in_clinical_words(engine):
    from crsgrade.explain import in_words
    from crsgrade.facts import fact_vocabulary

    (day,) = explained(engine, [{"temp_c": 38.6, "hypotension": True, "vasopressors": 1, "o2_device": "room_air",
                                 "hypoxia_other_cause": True}])
    words = {r.id: [in_words(u, r.grade, fact_vocabulary(())) for u in r.unmet] for r in day.crs.explanation.not_met}
    assert words["ASTCT-CRS-4-MULTIPLE-VASOPRESSORS"] == ["vasopressors 1 (grade 4 needs 2 or more)"]
    assert words["ASTCT-CRS-4-POSITIVE-PRESSURE"] == [
        "hypoxia attributed to another cause (grade 4 needs hypoxia not attributed to another cause)",
        "oxygen support none (grade 4 needs positive pressure)"]


def test_every_icans_domain_is_graded(engine):
    (day,) = explained(engine, [{"ice_score": 4, "consciousness": "awakens_to_voice", "seizure": "none"}])
    assert [(d.label, d.grade, d.state) for d in day.icans.explanation.domains] == [
        ("ICE/CAPD", 2, "grade 2"), ("consciousness", 2, "grade 2"), ("seizure", None, "none"),
        ("motor findings", None, "none recorded"), ("cerebral edema", None, "none recorded")]


def test_set_aside_is_not_not_recorded(engine):
    (day,) = explained(engine, [{"age_years": 8, "ice_score": 4, "consciousness": "alert"}])
    not_met = {r.id: [u.text() for u in r.unmet] for r in day.icans.explanation.not_met}
    assert "ASTCT-ICANS-3-ICE-0-2" not in not_met  # waiting only on the set-aside ICE: not listed
    assert not_met["ASTCT-ICANS-4-ICE-UNAROUSABLE"] == [
        "ice_total set aside (age 8: under 12 is assessed with CAPD) (needs 0)",
        "consciousness alert (needs unarousable)"]
    encephalopathy = day.icans.explanation.domains[0]
    assert encephalopathy.state == "set aside: age 8: under 12 is assessed with CAPD"


@pytest.mark.parametrize("rows, settings, effect", [
    ([{"temp_c": 36.8, "tocilizumab": True}, {"temp_c": 37.0, "hypotension": True}], {},
     ("prophylaxis_waives_fever", "no waiver: tocilizumab on day 0 was before any CRS")),
    ([{"temp_c": 38.6, "tocilizumab": True}, {"temp_c": 37.0, "hypotension": True},
      {"temp_c": 36.9, "hypotension": False, "o2_device": "room_air"}, {"temp_c": 37.0, "hypotension": True}], {},
     ("waiver_ends", "no waiver: the tocilizumab of day 0 was given in an episode that resolved on day 2")),
    ([{"temp_c": 38.6, "antipyretic": True}, {"temp_c": 37.0, "hypotension": True}],
     {"antipyretic_waives_fever": False},
     ("antipyretic_waives_fever", "no waiver: the antipyretic of day 0 does not waive fever")),
])
def test_a_setting_that_kept_fever_from_being_waived_is_named_with_its_day(engine, rows, settings, effect):
    days = explained(engine, rows, **settings)
    assert effect in {(s.name, s.effect) for s in days[-1].crs.explanation.settings}
    assert days[-1].crs.grade == 0


def test_the_panel_shows_domains_shared_conditions_and_set_aside_readings(engine):
    from rich.console import Console

    from crsgrade.views import explanation_panel

    result = grader_for(engine).grade([
        {"day": 0, "temp_c": 37.0, "hypotension": True, "ice_score": 9, "consciousness": "alert"},
        {"day": 0, "temp_c": 39.0, "fever_other_cause": True}], explain=True)
    console = Console(width=200, record=True, color_system=None)
    console.print(explanation_panel(result.days()[0]))
    text = console.export_text()
    assert "no fever and no waiver: higher grades need fever" in text
    assert "ASTCT-CRS-2-HYPOTENSION: everything else met" in text
    assert "by domain: ICE/CAPD 1 · consciousness 0 · seizure: none recorded" in text
    assert "set aside: records:2: temperature attributed to another cause" in text


def test_explain_json_writes_each_days_values_as_given(tmp_path):
    """Days whose JSON differs only where a value compares equal to another (-0.0 and 0.0) are
    written apart, as the typed result writes them."""
    import json

    from .test_cli import run

    path = tmp_path / "obs.csv"
    path.write_text("patient_id,day,temp_c,anc\nA,1,37.0,0\nA,2,37.0,-0\nA,3,37.0,-0.0\nA,4,37.0,0\n")
    explained = run("explain", str(path), "-f", "json", "-q", "--engine", "python").stdout
    graded = run("grade", str(path), "-f", "json", "-q", "--engine", "python").stdout
    assert [line.strip() for line in explained.splitlines() if '"anc"' in line] == [
        '"anc": 0.0', '"anc": -0.0', '"anc": -0.0', '"anc": 0.0']
    days = json.loads(explained)["days"]
    assert [str(d["blood"]["anc"]) for d in days] == [
        str(d["blood"]["anc"]) for d in json.loads(graded)["patients"][0]["days"]]


def test_a_days_notes_and_settings_write_its_own_values(tmp_path):
    """A day's notes and the settings its derived facts consulted are written from its own
    values, though they are made once per distinct set of them: an age or a flow of -0 is
    written as -0 on its day, not as the 0 of another day (to polars the two are one value)."""
    import json

    from .test_cli import run

    path = tmp_path / "obs.csv"
    path.write_text("patient_id,day,age_years,temp_c,o2_device,o2_flow_lpm,ice_score,capd_score,consciousness\n"
                    "A,0,0,38.5,high_flow_nasal_cannula,0,10,2,alert\n"
                    "B,0,-0,38.5,high_flow_nasal_cannula,-0,10,2,alert\n")
    days = json.loads(run("explain", str(path), "-f", "json", "-q", "--engine", "python").stdout)["days"]
    said = [(d["notes"], [e["effect"] for g in d["grades"].values() for e in g["explanation"]["settings"]])
            for d in days]
    assert "age 0: under 12" in said[0][0][0] and "age -0: under 12" in said[1][0][0]
    assert any("0.0 L/min" in e and "-0.0" not in e for e in said[0][1])
    assert any("-0.0 L/min" in e for e in said[1][1]) and any("age -0:" in e for e in said[1][1])
