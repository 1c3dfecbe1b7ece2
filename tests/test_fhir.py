"""FHIR R4 import: every mapped resource, what is not mapped, and grades equal to grading the same
readings written by hand."""

from __future__ import annotations

import io

import polars as pl
import pytest
from typer.testing import CliRunner

import crsgrade
from crsgrade.cli import app
from crsgrade.errors import ObservationError
from crsgrade.fhir import read_fhir
from crsgrade.importing import import_source, load_mapping
from crsgrade.output import to_csv

from .fhir_fixture import EQUIVALENT_CSV, write_bundle, write_ndjson


@pytest.fixture(params=["ndjson", "bundle"])
def source(request, tmp_path):
    return write_ndjson(tmp_path / "export") if request.param == "ndjson" else write_bundle(tmp_path / "b.json")


def test_every_mapped_resource_becomes_a_reading(source):
    frame, _ = import_source("fhir", source)
    p1 = frame.filter(pl.col("patient_id") == "P1")
    assert p1["temp_c"].drop_nulls().to_list() == [38.2, 39.0, 36.9]  # 102.2 °F converted
    assert (p1["sbp_min"].drop_nulls().to_list(), p1["dbp_min"].drop_nulls().to_list()) == ([82.0], [45.0])
    assert p1["vasopressors"].drop_nulls().to_list() == [2]  # two agents the same day
    assert p1["tocilizumab"].drop_nulls().to_list() == [True]
    assert p1["o2_device"].drop_nulls().to_list() == ["cpap", "nasal_cannula"]
    assert p1["anc"].drop_nulls().to_list() == [400.0]  # 0.4 ×10³/µL
    assert set(p1["infusion_date"].cast(pl.String)) == {"2024-03-01"}
    assert {"source", "source_id"} <= set(frame.columns) and "Procedure" in set(p1["source"])


def test_what_is_not_mapped_is_counted_and_said(source):
    _, imported = import_source("fhir", source)
    said = "\n".join(imported.report())
    assert "fhir: Observation: 8 read, 6 mapped" in said
    assert "not mapped: LOINC 2345-7 (1)" in said
    assert "not mapped: LOINC 8310-5 in unit K (1)" in said
    assert "MedicationAdministration: not mapped: status not-done (1)" in said
    assert "RxNorm 3992 (epinephrine auto-injector): not for hypotension (route or form) (1)" in said
    assert "Encounter: not mapped: resource type not read (1)" in said
    assert "no infusion date for P2" in said
    assert "patient P1" not in said or "died" not in said  # P2 died, but has no infusion date


def test_the_graded_timeline_equals_the_hand_written_equivalent(source, tmp_path):
    frame, _ = import_source("fhir", source)
    by_hand = tmp_path / "p1.csv"
    by_hand.write_text(EQUIVALENT_CSV, encoding="utf-8")
    imported = crsgrade.grade(frame)
    assert to_csv(imported) == to_csv(crsgrade.grade(by_hand))
    assert [d.day for d in imported.patient("P1").days] == [1, 2]  # hourly readings combined into days


def test_import_writes_the_observation_csv_and_grades_in_one_go(source, tmp_path):
    runner = CliRunner()
    out = tmp_path / "observations.csv"
    result = runner.invoke(app, ["import", "fhir", str(source), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "readings of 1 patient written" in result.stderr and "not mapped" in result.stderr
    written = pl.read_csv(out)
    assert written.columns[:3] == ["patient_id", "date", "infusion_date"] and "source_id" in written.columns
    graded_csv = runner.invoke(app, ["grade", str(out), "-f", "csv", "-q"]).stdout
    in_one_go = runner.invoke(app, ["grade", str(source), "--from", "fhir", "-f", "csv", "-q"]).stdout
    assert graded_csv == in_one_go and graded_csv.count("\nP1,") == 2


def test_infusion_dates_file_wins_and_scores_are_merged(source, tmp_path):
    dates = tmp_path / "dates.csv"
    dates.write_text("person_id,infusion_date\nP1,2024-02-29\nP2,2024-03-04\n", encoding="utf-8")
    scores = tmp_path / "scores.csv"
    scores.write_text("person_id,date,ice_score,consciousness\nP1,2024-03-02,6,awakens_to_voice\n", encoding="utf-8")
    frame, imported = import_source("fhir", source, infusion_dates=dates, scores=scores)
    result = crsgrade.grade(frame)
    assert [d.day for d in result.patient("P1").days] == [2, 3]
    assert result.patient("P1").day(2).icans.grade == 2
    assert [d.day for d in result.patient("P2").days] == [1]
    assert "no infusion date" not in "\n".join(imported.report())


def test_a_site_mapping_adds_codes(source, tmp_path):
    site = tmp_path / "site.yaml"
    site.write_text('version: "1"\nmeasurements:\n  - {column: creatinine, codes: [LOINC 2345-7],'
                    ' units: {mmol/L: 1}}\n', encoding="utf-8")
    frame, imported = import_source("fhir", source, mapping=site)
    assert frame["creatinine"].drop_nulls().to_list() == [5.4]
    assert "LOINC 2345-7" not in "\n".join(imported.report())


def test_bad_sources_are_clear_errors(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ObservationError, match=r"no \.ndjson files"):
        read_fhir(empty, load_mapping())
    broken = tmp_path / "x.ndjson"
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / broken.name).write_text('{"resourceType": "Patient"\n', encoding="utf-8")
    with pytest.raises(ObservationError, match=r"x\.ndjson:1: not valid JSON"):
        read_fhir(folder, load_mapping())
    other = tmp_path / "p.json"
    other.write_text('{"resourceType": "Patient", "id": "a"}', encoding="utf-8")
    result = CliRunner().invoke(app, ["grade", str(other), "--from", "fhir"])
    assert result.exit_code == 1 and "expected a FHIR Bundle" in result.stderr
    assert io.StringIO(result.stderr).read().count("Traceback") == 0


def _mapped_resources():
    """One resource per entry of the shipped mapping, coded with its first code (and unit)."""
    from crsgrade.importing import Mapping_, _parse, shipped

    path = shipped("rules", "sources", "mapping.yaml")
    mapping, _, _ = _parse(Mapping_, path, path.read_bytes())
    systems = mapping.fhir_systems
    subject = {"reference": "Patient/P"}

    def coded(code: str) -> dict:
        vocabulary, _, value = code.partition(" ")
        return {"coding": [{"system": systems[vocabulary], "code": value}]}

    resources = [{"resourceType": "MedicationAdministration", "id": "cart", "status": "completed",
                  "subject": subject, "effectiveDateTime": "2024-01-01",
                  "medicationCodeableConcept": coded(mapping.car_t_products[0])}]
    expected = []
    for n, m in enumerate(mapping.measurements):
        unit = next(u for u, f in m.units.items() if f == 1 or f == "fahrenheit")
        resources.append({"resourceType": "Observation", "id": f"m{n}", "status": "final", "subject": subject,
                          "effectiveDateTime": "2024-01-02", "code": coded(m.codes[0]),
                          "valueQuantity": {"value": 50, "code": unit}})
        expected.append((m.column, 10.0 if unit == "[degF]" else 50.0))
    for n, d in enumerate([*mapping.drugs, *mapping.vasopressors]):
        resources.append({"resourceType": "MedicationAdministration", "id": f"d{n}", "status": "completed",
                          "subject": subject, "effectiveDateTime": "2024-01-03",
                          "medicationCodeableConcept": coded(d.codes[0])})
    expected += [(d.column, True) for d in mapping.drugs]
    expected.append(("vasopressors", len(mapping.vasopressors)))
    for n, (device, codes) in enumerate(mapping.devices.items()):
        resources.append({"resourceType": "Procedure", "id": f"p{n}", "status": "completed", "subject": subject,
                          "performedDateTime": f"2024-01-{4 + n:02d}", "code": coded(codes[0])})
        expected.append(("o2_device", device))
    return resources, expected


def test_every_entry_of_the_mapping_is_read(tmp_path):
    import json

    resources, expected = _mapped_resources()
    bundle = tmp_path / "all.json"
    bundle.write_text(json.dumps({"resourceType": "Bundle", "entry": [{"resource": r} for r in resources]}))
    frame, imported = import_source("fhir", bundle)
    assert not imported.unmapped, imported.report()
    for column, value in expected:
        assert value in frame[column].to_list(), column


def test_vasopressor_dose_rates_fill_the_dose_columns(tmp_path):
    import json

    def given(rid: str, code: str, rate: dict) -> dict:
        return {"resourceType": "MedicationAdministration", "id": rid, "status": "completed",
                "subject": {"reference": "Patient/P"}, "effectiveDateTime": "2024-01-02",
                "medicationCodeableConcept": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                                                          "code": code}]},
                "dosage": {"rateQuantity": rate}}

    resources = [
        {"resourceType": "MedicationAdministration", "id": "c", "status": "completed",
         "subject": {"reference": "Patient/P"}, "effectiveDateTime": "2024-01-01",
         "medicationCodeableConcept": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                                                   "code": "1999573"}]}},
        {"resourceType": "Observation", "id": "w", "status": "final", "subject": {"reference": "Patient/P"},
         "effectiveDateTime": "2024-01-02", "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]},
         "valueQuantity": {"value": 70, "code": "kg"}},
        given("ne", "7512", {"value": 0.1, "code": "ug/kg/min"}),
        given("phe", "8163", {"value": 3, "code": "mg/h"}),
    ]
    bundle = tmp_path / "b.json"
    bundle.write_text(json.dumps({"resourceType": "Bundle", "entry": [{"resource": r} for r in resources]}))
    frame, imported = import_source("fhir", bundle)
    assert frame["norepinephrine_ug_kg_min"].drop_nulls().to_list() == [0.1]
    assert "not mapped: phenylephrine dose in unit mg/h (1)" in "\n".join(imported.report())
    graded = crsgrade.grading.Grader(engine="python").grade_frame(frame)
    assert graded["norepinephrine_ug_min"].to_list() == [7.0] and graded["vasopressors"].to_list() == [2]


def test_a_long_list_of_codes_not_mapped_is_capped():
    from crsgrade.importing import Imported

    imported = Imported("fhir")
    imported.read["Observation"] = 50
    for n in range(50):
        imported.unmappable("Observation", f"LOINC {n}-0")
    said = imported.report(most=10)
    assert sum("not mapped: LOINC" in line for line in said) == 10
    assert said[-1] == "fhir: not mapped: 40 other codes or reasons (40 records)"


def test_a_car_t_product_is_found_by_its_name_when_its_code_is_not_mapped(tmp_path):
    import json

    resources = [{"resourceType": "MedicationAdministration", "id": "c", "status": "completed",
                  "subject": {"reference": "Patient/P"}, "effectiveDateTime": "2024-01-05",
                  "medicationCodeableConcept": {"text": "Yescarta (axicabtagene ciloleucel) infusion"}},
                 {"resourceType": "Observation", "id": "t", "status": "final", "subject": {"reference": "Patient/P"},
                  "effectiveDateTime": "2024-01-06",
                  "code": {"coding": [{"system": "http://loinc.org", "code": "8310-5"}]},
                  "valueQuantity": {"value": 38.4, "code": "Cel"}}]
    bundle = tmp_path / "b.json"
    bundle.write_text(json.dumps({"resourceType": "Bundle", "entry": [{"resource": r} for r in resources]}))
    frame, imported = import_source("fhir", bundle)
    assert str(imported.infusions["P"]) == "2024-01-05"
    assert crsgrade.grade(frame).patient("P").days[0].day == 1
