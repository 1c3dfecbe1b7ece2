"""Grading one file under several systems side by side, and the agreement figures."""

from __future__ import annotations

import csv
import io
import json

import pytest

import crsgrade
from crsgrade import SettingsError
from crsgrade.comparison import weighted_kappa
from crsgrade.ruleset import default_rules_dir

from .conftest import EXAMPLE, ROOT
from .test_cli import run

COHORT = ROOT / "examples" / "cohort.csv"
ROWS = [
    # patient A: fever with one low-dose vasopressor (ASTCT 3, Lee 2), then grade 4 transaminitis
    {"patient_id": "A", "day": 0, "temp_c": 38.5, "hypotension": True, "vasopressors": 1,
     "norepinephrine_ug_min": 5, "vasopressor_hours": 6, "o2_device": "room_air"},
    {"patient_id": "A", "day": 1, "temp_c": 38.2, "hypotension": False, "vasopressors": 0,
     "o2_device": "room_air", "transaminitis_grade": 4},
    # patient B: low-flow oxygen (ASTCT 2, Penn 3)
    {"patient_id": "B", "day": 0, "temp_c": 38.9, "hypotension": False, "vasopressors": 0,
     "o2_device": "nasal_cannula", "o2_flow_lpm": 2},
    # patient C: nothing
    {"patient_id": "C", "day": 0, "temp_c": 37.0, "hypotension": False, "vasopressors": 0, "o2_device": "room_air"},
]


@pytest.fixture(scope="module")
def comparison():
    return crsgrade.compare(ROWS, ["astct2019", "lee2014", "penn"], engine="python")


def test_days_side_by_side(comparison):
    day = next(d for d in comparison.days if d.patient_id == "A" and d.day == 0 and d.syndrome == "crs")
    assert {s: g.grade for s, g in day.grades.items()} == {"astct2019": 3, "lee2014": 2, "penn": 3}
    assert day.differ
    assert "one vasopressor" in day.grades["astct2019"].reason
    assert day.grades["lee2014"].rules == ("LEE2014-CRS-2-HYPOTENSION",)


def test_highest_grade_per_patient(comparison):
    highest = {(p.patient_id, p.syndrome): {s: g.grade for s, g in p.highest.items()} for p in comparison.patients}
    assert highest[("A", "crs")] == {"astct2019": 3, "lee2014": 3, "penn": 3}
    assert highest[("B", "crs")] == {"astct2019": 2, "lee2014": 2, "penn": 3}
    assert highest[("C", "crs")] == {"astct2019": 0, "lee2014": 0, "penn": 0}
    assert highest[("A", "icans")] == {"astct2019": None}  # only ASTCT grades neurotoxicity here


def test_lower_bounds_are_marked(comparison):
    c = next(p for p in comparison.patients if p.patient_id == "C" and p.syndrome == "crs")
    assert not c.highest["astct2019"].lower_bound and c.highest["astct2019"].text() == "0"
    assert c.highest["lee2014"].lower_bound and c.highest["lee2014"].text() == "0+"
    assert "organ_toxicity_grade" in c.highest["lee2014"].not_recorded


def test_pairwise_agreement(comparison):
    pair = next(a for a in comparison.agreement if a.systems == ("astct2019", "penn"))
    assert pair.patients == 3 and pair.presence_agreeing == 3 and pair.identical == 2
    assert pair.identical_percent == 66.7
    assert pair.crosstab == {0: {0: 1}, 2: {3: 1}, 3: {3: 1}}
    assert pair.weighted_kappa == weighted_kappa([(0, 0), (2, 3), (3, 3)])
    assert {a.systems for a in comparison.agreement} == {
        ("astct2019", "lee2014"), ("astct2019", "penn"), ("lee2014", "penn")}


def test_weighted_kappa():
    assert weighted_kappa([(0, 0), (1, 1), (3, 3)]) == 1.0
    assert weighted_kappa([]) is None
    assert weighted_kappa([(2, 2), (2, 2)]) is None  # one grade only: chance agreement is complete
    # two raters, 0/3 and 3/0 swapped: linear weights 1 - 3/5 = 0.4 each; expected 0.5 + 0.5 * 0.4
    assert weighted_kappa([(0, 3), (3, 0)]) == round((0.4 - 0.7) / (1 - 0.7), 4)


def test_settings_go_to_the_systems_that_have_them():
    rows = [{"day": 0, "o2_device": "bipap", "fio2": 45}]
    result = crsgrade.compare(rows, ["lee2014", "penn"], settings={"noninvasive_ventilation_class": "ventilator"})
    assert result.settings["lee2014"]["noninvasive_ventilation_class"] == "ventilator"
    assert "noninvasive_ventilation_class" not in result.settings["penn"]
    grades = {s: g.grade for s, g in result.days[0].grades.items()}
    assert grades == {"lee2014": 4, "penn": 3}
    with pytest.raises(SettingsError, match="unknown setting nonsense in lee2014, penn"):
        crsgrade.compare(rows, ["lee2014", "penn"], settings={"nonsense": 1})


def test_every_system_by_default_on_the_example_case():
    result = crsgrade.compare(EXAMPLE)
    assert result.systems == crsgrade.shipped_systems()
    assert result.systems[0] == "astct2019"
    highest = {(p.syndrome, s): g.grade for p in result.patients for s, g in p.highest.items()}
    assert highest[("crs", "astct2019")] == 3 and highest[("icans", "astct2019")] == 4
    assert result.graders_of("icans") == [system for system in crsgrade.shipped_systems()
                                          if "icans" in crsgrade.load_ruleset(default_rules_dir(system)).syndromes]


def test_compare_command_on_a_multi_patient_file():
    result = run("compare", str(COHORT), "--systems", "astct2019,lee2014", "--systems", "penn")
    assert result.exit_code == 0, result.output
    out = result.stdout
    for text in ("Patient P01", "Where they differ", "Highest grade per patient", "ASTCT 2019 × Penn",
                 "Weighted kappa", "Penn (columns)"):
        assert text in out, text


def test_compare_csv_and_json():
    result = run("compare", str(COHORT), "--systems", "astct2019,penn", "-f", "csv")
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert {"astct2019_crs_grade", "penn_crs_grade", "astct2019_icans_grade", "crs_differ"} <= set(rows[0])
    assert "penn_icans_grade" not in rows[0]
    data = json.loads(run("compare", str(COHORT), "--systems", "astct2019,penn", "-f", "json").stdout)
    assert data["schema_version"] == "2" and data["systems"] == ["astct2019", "penn"]
    assert len(data["agreement"]) == 1


def test_compare_unknown_system_is_one_red_line():
    result = run("compare", str(COHORT), "--systems", "astct2019,lee2015")
    assert result.exit_code == 1
    assert f"no grading system 'lee2015'; shipped: {', '.join(crsgrade.shipped_systems())}" in result.stderr


def test_systems_that_order_oxygen_alike_combine_a_day_once(monkeypatch):
    """A day's readings are combined once per ordering of oxygen support, not once per system;
    each system's grades are still those it gives the file alone."""
    import crsgrade.grading as grading

    calls = []
    real = grading.combine
    monkeypatch.setattr(grading, "combine", lambda *args: calls.append(1) or real(*args))
    rows = [*ROWS,
            {"patient_id": "D", "day": 0, "temp_c": 38.6, "o2_device": "nasal_cannula", "o2_flow_lpm": 5},
            {"patient_id": "D", "day": 0, "temp_c": 37.1, "o2_device": "cpap", "hypotension": False}]
    systems = ["astct2019", "lee2014", "penn", "cartox"]
    compared = crsgrade.compare(rows, systems, engine="python")
    assert len(calls) == 2  # ASTCT 2019's ordering, and the one the older systems share
    for system in systems:
        alone = crsgrade.grade(rows, system=system, engine="python")
        expected = {(p.patient_id, d.day, s): d.grades[s].grade for p in alone.patients for d in p.days
                    for s in d.grades if s in alone.labels}
        assert {(d.patient_id, d.day, d.syndrome): d.grades[system].grade for d in compared.days
                if system in d.grades} == expected
