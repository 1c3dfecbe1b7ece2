"""The library API: typed inputs, typed results, no printing."""

from __future__ import annotations

import pytest

import crsgrade
from crsgrade import Observation, ObservationError, SettingsError

from .conftest import EXAMPLE


def test_public_api_is_reexported():
    for name in crsgrade.__all__:
        assert hasattr(crsgrade, name)


def test_no_module_shadows_a_public_name():
    # the public names are imported when first used: a module of the same name would replace a
    # function in the package once something imported that module
    import importlib.util

    for name in crsgrade.__all__:
        assert importlib.util.find_spec(f"crsgrade.{name}") is None, name


def test_importing_the_package_imports_only_what_its_first_use_needs():
    import subprocess
    import sys

    code = "import sys, crsgrade; crsgrade.Grader; print(sorted(m for m in sys.modules if m.startswith('crsgrade')))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "crsgrade.grading" in loaded
    assert "crsgrade.comparison" not in loaded and "crsgrade.episodes" not in loaded


def test_grade_accepts_a_path_dicts_and_models(capsys):
    from_path = crsgrade.grade(EXAMPLE)
    rows = [
        {"patient_id": "p", "day": 0, "temp_c": 38.1, "hypotension": "yes"},
        Observation(patient_id="p", day=1, temp_c=37.0, ice_score=6),
    ]
    from_records = crsgrade.grade(rows)
    assert from_path.patient("case1").day(0).crs.grade == 2
    assert [d.crs.grade for d in from_records.days()] == [2, 0]
    assert from_records.days()[1].icans.grade == 2
    assert from_records.days()[0].crs.rule_ids == ("ASTCT-CRS-2-HYPOTENSION",)
    assert capsys.readouterr() == ("", "")


def test_settings_by_name():
    rows = [{"day": 0, "temp_c": 38.5, "antipyretic": True},
            {"day": 1, "temp_c": 37.0, "hypotension": True}]
    assert crsgrade.grade(rows).days()[1].crs.grade == 2
    result = crsgrade.grade(rows, settings={"antipyretic_waives_fever": False})
    assert result.days()[1].crs.grade == 0
    assert result.settings["antipyretic_waives_fever"] is False


def test_unknown_setting():
    with pytest.raises(SettingsError, match="unknown setting no_such_setting"):
        crsgrade.grade([{"day": 0}], settings={"no_such_setting": True})


def test_invalid_records_report_every_problem():
    with pytest.raises(ObservationError) as info:
        crsgrade.grade([{"day": 0, "ice_score": 14}, {"temp_c": 38}, {"day": 2, "ice_score": "x"}])
    problems = info.value.problems
    assert problems[0].startswith("records:1:ice_score: value '14'")
    assert problems[1] == "records:2:day: required, but empty"
    assert problems[2].startswith("records:3:ice_score: value 'x'")


def test_unknown_keys_are_warnings():
    result = crsgrade.grade([{"day": 0, "temp_c": 38.2, "colour": "red"}])
    assert result.warnings == ("records:1:colour: unknown column, ignored",)


def test_several_records_of_one_day_are_combined():
    result = crsgrade.grade([{"day": 0, "temp_c": 38.2}, {"day": 0, "temp_c": 37.0, "hypotension": True}])
    (day,) = result.days()
    assert (day.crs.grade, day.readings) == (2, 2)
    assert result.input.rows_combined == 1


def test_result_is_json_serialisable():
    data = crsgrade.grade(EXAMPLE).model_dump(mode="json")
    day7 = next(day for day in data["patients"][0]["days"] if day["day"] == 7)
    assert day7["grades"]["icans"]["grade"] == 4


def test_engine_python_is_always_available():
    assert crsgrade.grade(EXAMPLE, engine="python").engine == "python"


def test_unknown_engine():
    with pytest.raises(crsgrade.EngineError, match="unknown engine"):
        crsgrade.grade(EXAMPLE, engine="rete")


def test_an_unknown_patient_is_a_key_error_naming_the_patients():
    result = crsgrade.grade(EXAMPLE)
    with pytest.raises(KeyError, match="no patient 'x'; patients: case1"):
        result.patient("x")


def test_a_days_therapies_and_blood_values_as_the_results_list_them():
    """Therapies: the contract's, in its order, then the others named in other_treatment; blood
    values: those recorded, none after a recorded death. The summary reads the same."""
    rows = [
        {"patient_id": "A", "day": 0, "temp_c": 38.5, "steroids": True, "tocilizumab": True,
         "other_treatment": "dasatinib; emapalumab", "anc": 300, "gcsf": True},
        {"patient_id": "A", "day": 1, "temp_c": 37.0, "other_treatment": "", "platelets": 40},
        {"patient_id": "A", "day": 2, "temp_c": 37.0, "death_cause": "other", "anc": 200},
        {"patient_id": "A", "day": 3, "temp_c": 37.0, "anc": 100, "antipyretic": True},
        {"patient_id": "B", "day": 0, "temp_c": 37.0},
    ]
    days = [d for p in crsgrade.grade(rows, engine="python").patients for d in p.days]
    assert [d.therapies for d in days] == [
        ("tocilizumab", "steroids", "dasatinib", "emapalumab"), (), (), ("antipyretic",), ()]
    assert [d.blood for d in days] == [{"anc": 300, "gcsf": True}, {"platelets": 40}, {"anc": 200}, {}, {}]
    from crsgrade.episodes import days_of

    read = [d for frame in crsgrade.Grader(engine="python").frames(rows) for d in days_of(frame)]
    assert [(d.therapies, d.blood) for d in read] == [(d.therapies, d.blood) for d in days]
