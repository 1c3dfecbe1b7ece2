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

    resources, expected = _mapped_resources()
    bundle = write_bundle(tmp_path / "all.json", resources)
    frame, imported = import_source("fhir", bundle)
    assert not imported.unmapped, imported.report()
    for column, value in expected:
        assert value in frame[column].to_list(), column


def test_vasopressor_dose_rates_fill_the_dose_columns(tmp_path):

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
    bundle = write_bundle(tmp_path / "b.json", resources)
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


def _infused_then_temperature(product: str, infused: str, reading: str, measured: str, celsius: float) -> list[dict]:
    """Patient P: a CAR-T product named only in text, then one temperature (Observation `reading`)."""
    return [{"resourceType": "MedicationAdministration", "id": "c", "status": "completed",
             "subject": {"reference": "Patient/P"}, "effectiveDateTime": infused,
             "medicationCodeableConcept": {"text": product}},
            {"resourceType": "Observation", "id": reading, "status": "final", "subject": {"reference": "Patient/P"},
             "effectiveDateTime": measured, "code": {"coding": [{"system": "http://loinc.org", "code": "8310-5"}]},
             "valueQuantity": {"value": celsius, "code": "Cel"}}]


def test_a_car_t_product_is_found_by_its_name_when_its_code_is_not_mapped(tmp_path):

    bundle = write_bundle(tmp_path / "b.json", _infused_then_temperature(
        "Yescarta (axicabtagene ciloleucel) infusion", "2024-01-05", "t", "2024-01-06", 38.4))
    frame, imported = import_source("fhir", bundle)
    assert str(imported.infusions["P"]) == "2024-01-05"
    assert crsgrade.grade(frame).patient("P").days[0].day == 1


def _odd_coding(code, system="http://loinc.org", display=None):
    return {"system": system, "code": code, **({"display": display} if display is not None else {})}


def _odd_concept(rng):
    codings = rng.choice([
        [_odd_coding("8310-5")], [_odd_coding("8480-6")], [_odd_coding("8462-4")],
        [_odd_coding("751-8", display="Neutrophils")], [_odd_coding("3151-8")],
        [_odd_coding("2345-7", display="Gluc\u00f6se \"x\"")], [_odd_coding("L1", "urn:local")],
        [_odd_coding("L1", "urn:local"), _odd_coding("8310-5")], [_odd_coding("8480-6"), _odd_coding("8462-4")],
        [{"system": "http://loinc.org"}], [], [_odd_coding("9999-9", "")], [_odd_coding("8310-5", display="")]])
    return {"coding": codings} if rng.random() < 0.95 else {"text": "no coding"}


def _odd_quantity(rng, concept=None):
    """A valueQuantity: mostly in the unit its code is mapped with; or in another, or none."""
    value = rng.choice([37.5, 38, 101.3, 0.4, 12345678901234567, -0.0, 120, 1e-7, None])
    unit = rng.choice([("Cel", None), ("[degF]", None), ("K", None), (None, "Cel"), ("", "mm[Hg]"),
                       ("mm[Hg]", None), ("10*3/uL", "x"), (None, None), ("L/min", None), ("mL/min", None)])
    codes = [c.get("code") for c in (concept or {}).get("coding", [])]
    fitting = {"8310-5": ("Cel", None), "8480-6": ("mm[Hg]", None), "8462-4": (None, "mm[Hg]"),
               "751-8": ("10*3/uL", None), "3151-8": ("mL/min", "ml/min")}
    if rng.random() < 0.8:
        unit = next((fitting[c] for c in codes if c in fitting), unit)
    quantity = {} if value is None and rng.random() < 0.5 else {"value": value}
    quantity.update({k: u for k, u in zip(("code", "unit"), unit, strict=True) if u is not None})
    return quantity


def _odd_when(rng, resource):
    day = f"2024-01-{rng.randrange(1, 20):02d}"
    when = rng.choice(["effectiveDateTime"] * 6 + ["effectivePeriod", "issued", "none", "empty", "odd"])
    if when == "effectiveDateTime":
        resource[when] = day + rng.choice(["", "T08:00:00Z", "T23:59:59+02:00"])
    elif when == "effectivePeriod":
        resource[when] = rng.choice([{"start": day + "T01:00:00Z"}, {"end": day}, {}])
    elif when == "issued":
        resource[when] = day + "T09:00:00.000Z"
    elif when == "empty":
        resource.update(effectiveDateTime="", issued=day)
    elif when == "odd":
        resource["effectiveDateTime"] = rng.choice(["2024-13-45", "20240102", " 2024-01-03", "sometime"])


def _odd_observation(rng, n):
    resource = {"resourceType": "Observation", "id": rng.choice([f"o{n}", f"o{n}", f"o\"{n}", f"\u00f6{n}"]),
                "status": rng.choice(["final"] * 6 + ["amended", "corrected", "preliminary", "cancelled",
                                                      "entered-in-error", None])}
    if resource["status"] is None:
        del resource["status"]
    if rng.random() < 0.03:
        del resource["id"]
    patient = f"p{rng.randrange(12)}"
    subject = rng.choice([f"Patient/{patient}"] * 12 + [f"https://fhir.example/Patient/{patient}", "Group/g1",
                                                         "Patient/", patient, None, "display"])
    if subject == "display":
        resource["subject"] = {"display": "someone"}
    elif subject is not None:
        resource["subject"] = {"reference": subject}
    _odd_when(rng, resource)
    kind = rng.random()
    if kind < 0.55:
        code = _odd_concept(rng)
        resource.update(code=code, valueQuantity=_odd_quantity(rng, code))
    elif kind < 0.9:  # a panel: its own code, maybe a value, components
        resource["code"] = {"coding": [_odd_coding("85354-9", display="Blood pressure panel")]}
        if rng.random() < 0.2:
            resource["valueQuantity"] = _odd_quantity(rng)
        resource["component"] = [{"code": c, "valueQuantity": _odd_quantity(rng, c)}
                                 for c in (_odd_concept(rng) for _ in range(rng.randrange(0, 4)))]
        if rng.random() < 0.1:
            resource["component"].append({"code": _odd_concept(rng)})
    else:
        resource.update(code=_odd_concept(rng))
        if rng.random() < 0.5:
            resource["valueQuantity"] = None
    return resource


def _odd_export(folder, seed: int = 7, observations: int = 3000):
    """A Bulk Data export with every kind of Observation `_observation` treats apart: statuses,
    subjects, dates, codes, units and panels, in two Observation files between other files."""
    import json
    import random

    from .fhir_fixture import RXNORM

    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)

    def write(name, resources, blank=False):
        lines = [json.dumps(r) + "\n" for r in resources]
        if blank:
            lines.insert(len(lines) // 2, "\n")
        (folder / name).write_text("".join(lines), encoding="utf-8")

    obs = [_odd_observation(rng, n) for n in range(observations)]
    write("Observation.000.ndjson", obs[: observations // 2], blank=True)
    write("Observation.001.ndjson", obs[observations // 2:])
    given = [{"resourceType": "MedicationAdministration", "id": f"c{p}", "status": "completed",
              "subject": {"reference": f"Patient/p{p}"}, "effectiveDateTime": "2024-01-02",
              "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": "1999573"}]}} for p in range(0, 9, 2)]
    given += [{"resourceType": "MedicationAdministration", "id": "toc", "status": "completed",
               "subject": {"reference": "Patient/p0"}, "effectiveDateTime": "2024-01-05",
               "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": "612865"}]}},
              {"resourceType": "MedicationAdministration", "id": "ne", "status": "completed",
               "subject": {"reference": "Patient/p2"}, "effectiveDateTime": "2024-01-05",
               "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": "7512"}]}}]
    write("MedicationAdministration.ndjson", given)
    write("Patient.ndjson", [{"resourceType": "Patient", "id": f"p{p}"} for p in range(12)])
    write("Procedure.ndjson", [{"resourceType": "Procedure", "id": "cpap", "status": "completed",
                                "subject": {"reference": "Patient/p11"}, "performedDateTime": "2024-01-03",
                                "code": {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "94660"}]}}])
    return folder


def _both_ways(folder, dates=None):
    """The observations and the report of a folder read in bulk and resource by resource."""
    from crsgrade.importing import observations_frame, read_infusion_dates

    mapping = load_mapping()
    given = read_infusion_dates(dates) if dates is not None else None
    results = []
    for bulk in (True, False):
        imported = read_fhir(folder, mapping, bulk=bulk)
        results.append((observations_frame(imported, given), imported.report()))
    return results


def _bulk_read(folder) -> bool:
    from crsgrade.fhir import _bulk_observations

    mapping = load_mapping()
    return all(_bulk_observations(p, mapping) is not None for p in sorted(folder.glob("Observation*.ndjson")))


def test_observations_read_in_bulk_equal_those_read_one_by_one_on_the_fixture(tmp_path):
    folder = write_ndjson(tmp_path / "export")
    assert _bulk_read(folder)
    (bulk, bulk_report), (one_by_one, report) = _both_ways(folder)
    assert bulk.equals(one_by_one) and bulk.schema == one_by_one.schema
    assert bulk_report == report


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_observations_read_in_bulk_equal_those_read_one_by_one_on_odd_exports(tmp_path, seed):
    folder = _odd_export(tmp_path / "export", seed)
    assert _bulk_read(folder)
    dates = tmp_path / "dates.csv"
    dates.write_text("person_id,infusion_date\np1,2024-01-01\np5,2024-01-03\n", encoding="utf-8")
    for given in (None, dates):
        (bulk, bulk_report), (one_by_one, report) = _both_ways(folder, given)
        assert bulk.height > 100 and bulk.equals(one_by_one) and bulk.schema == one_by_one.schema
        assert bulk_report == report
        assert any("in unit K" in line for line in report) and any("status cancelled" in line for line in report)
        assert any("no Patient subject" in line for line in report)


def test_a_patient_s_only_readings_not_graded_add_no_column(tmp_path):
    import json

    folder = write_ndjson(tmp_path / "export")
    with (folder / "Observation.ndjson").open("a", encoding="utf-8") as out:  # P2 has no infusion date
        out.write(json.dumps({"resourceType": "Observation", "id": "h", "status": "final",
                              "subject": {"reference": "Patient/P2"}, "effectiveDateTime": "2024-03-05",
                              "code": {"coding": [{"system": "http://loinc.org", "code": "718-7"}]},
                              "valueQuantity": {"value": 9.1, "code": "g/dL"}}) + "\n")
    (bulk, _), (one_by_one, _) = _both_ways(folder)
    assert "hemoglobin" not in bulk.columns and bulk.equals(one_by_one)


@pytest.mark.parametrize("odd", [
    '{"resourceType": "Observation", "id": 5, "status": "final", "subject": {"reference": "Patient/P1"}}',
    '{"resourceType": "Observation", "id": "n", "status": "final", "subject": {"reference": "Patient/P1"},'
    ' "effectiveDateTime": "2024-03-02", "code": {"coding": [{"system": "http://loinc.org", "code": "8310-5"}]},'
    ' "valueQuantity": {"value": "38.5", "code": "Cel"}}',
    '{"resourceType": "Observation", "id": "c", "status": "final", "subject": {"reference": "Patient/P1"},'
    ' "code": {"coding": [{"system": "http://loinc.org", "code": 8310}]}}',
    '{"resourceType": "Observation", "id": "s", "status": "final", "subject": {},'
    ' "patient": {"reference": "Patient/P1"}}',
    '{"resourceType": "Patient", "id": "P3", "deceasedDateTime": "2024-03-09"}',
])
def test_an_observation_file_the_bulk_reader_cannot_map_is_read_one_by_one(tmp_path, odd):
    folder = write_ndjson(tmp_path / "export")
    with (folder / "Observation.ndjson").open("a", encoding="utf-8") as out:
        out.write(odd + "\n")
    assert not _bulk_read(folder)
    (bulk, bulk_report), (one_by_one, report) = _both_ways(folder)
    assert bulk.equals(one_by_one) and bulk_report == report


def test_a_broken_observation_file_is_the_same_error_in_bulk(tmp_path):
    folder = write_ndjson(tmp_path / "export")
    path = folder / "Observation.ndjson"
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    with pytest.raises(ObservationError, match=r"Observation\.ndjson:1: not valid JSON"):
        read_fhir(folder, load_mapping())
    path.write_text('{"resourceType": "Observation", "id": "x",\n', encoding="utf-8")
    with pytest.raises(ObservationError, match=r"Observation\.ndjson:1: not valid JSON"):
        read_fhir(folder, load_mapping())


def test_a_bad_reading_is_named_by_the_record_it_came_from(tmp_path):

    bundle = write_bundle(tmp_path / "b.json", _infused_then_temperature(
        "tisagenlecleucel", "2024-01-01", "hot", "2024-01-02", 61))
    result = CliRunner().invoke(app, ["grade", str(bundle), "--from", "fhir", "-q"])
    assert result.exit_code == 1
    assert f"{bundle}:Observation hot:temp_c: value '61.0'" in result.stderr
    report = tmp_path / "r.html"
    folder = write_ndjson(tmp_path / "export")
    assert CliRunner().invoke(app, ["report", str(folder), "--from", "fhir", "-o", str(report), "-q"]).exit_code == 0


def test_an_observation_file_with_nothing_mapped_or_nothing_in_it(tmp_path):
    folder = write_ndjson(tmp_path / "export")
    path = folder / "Observation.ndjson"
    path.write_text(path.read_text(encoding="utf-8").replace('"final"', '"cancelled"'), encoding="utf-8")
    (folder / "Observation.2.ndjson").write_text("\n", encoding="utf-8")
    assert _bulk_read(folder)
    (bulk, bulk_report), (one_by_one, report) = _both_ways(folder)
    assert bulk.equals(one_by_one) and bulk_report == report and "temp_c" not in bulk.columns


def test_a_null_component_is_skipped(tmp_path):

    observation = {"resourceType": "Observation", "id": "bp", "status": "final", "subject": {"reference": "Patient/P"},
                   "effectiveDateTime": "2024-01-02", "code": {"coding": [{"system": "http://loinc.org",
                                                                            "code": "85354-9"}]},
                   "component": [None, {"code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]},
                                        "valueQuantity": {"value": 90, "code": "mm[Hg]"}}]}
    bundle = write_bundle(tmp_path / "b.json", [observation])
    _, imported = import_source("fhir", bundle)
    assert imported.mapped["Observation"] == 1
