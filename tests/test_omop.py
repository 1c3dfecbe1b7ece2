"""OMOP CDM import: every mapped column, what is not mapped, the same observations from a CSV
folder, Parquet and a DuckDB file, and grades equal to grading the same readings written by hand."""

from __future__ import annotations

import hashlib

import polars as pl
import pytest
from typer.testing import CliRunner

import crsgrade
from crsgrade.cli import app
from crsgrade.errors import ObservationError
from crsgrade.importing import convert, import_source, load_mapping, observations_frame
from crsgrade.omop import read_omop
from crsgrade.output import to_csv

from .omop_fixture import CONCEPTS, tables, write_all, write_csv, write_duckdb

# Person 1 of the fixture as one would write it by hand: one row a day, the day's readings
# combined (highest temperature, lowest blood pressure; 101.3 °F is 38.5 °C; ANC 0.4 ×10³/µL is
# 400/µL); the auto-injector and the intramuscular epinephrine are not vasopressors.
EQUIVALENT_CSV = """\
patient_id,day,temp_c,sbp_min,dbp_min,o2_flow_lpm,o2_device,vasopressors,vasopressin,tocilizumab,steroids,anc
1,0,37.2,,,,,,,,,
1,1,38.6,,,,,,,,,
1,2,38.5,85,50,4,nasal_cannula,2,,yes,,
1,3,38.9,,,,cpap,1,yes,,yes,400
1,4,37.0,95,,,,,,,,
"""


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    return write_all(tmp_path_factory.mktemp("cdm"))


@pytest.fixture(scope="module")
def imported(sources):
    return read_omop(sources["csv"], load_mapping())


@pytest.fixture(scope="module")
def frame(imported):
    return observations_frame(imported)


def _said(imported) -> str:
    return "\n".join(imported.report())


def test_every_mapped_column_appears(frame):
    mapping = load_mapping()
    expected = {entry.column for entry in mapping.measurement.values()}
    expected |= {c for c in mapping.drug.values() if not c.startswith("vasopressor:")}
    expected |= {"vasopressors", "o2_device"}
    assert expected <= set(frame.columns)
    p1 = frame.filter(pl.col("patient_id") == "1")
    assert p1["temp_c"].drop_nulls().to_list() == [37.0, 37.2, 38.1, 38.6, 37.9, 38.5, 37.5, 38.9, 37.0]
    assert p1["anc"].drop_nulls().to_list() == [400.0]  # 0.4 ×10³/µL
    assert p1["steroids"].drop_nulls().to_list() == [True]  # dexamethasone, a clinical drug, rolled up
    assert p1["o2_device"].drop_nulls().to_list() == ["nasal_cannula", "cpap"]
    assert set(p1["source"]) == {"measurement", "drug_exposure", "device_exposure", "procedure_occurrence"}
    assert frame.columns[:3] == ["patient_id", "date", "infusion_date"] and frame.columns[-2:] == ["source",
                                                                                                   "source_id"]


def test_measurements_are_converted_as_convert_does(frame):
    mapping = load_mapping()
    codes = {c[0]: (c[2], c[3]) for c in CONCEPTS}
    got = {row["source_id"]: next(v for k, v in row.items() if k in {e.column for e in mapping.measurement.values()}
                                  and v is not None)
           for row in frame.filter(pl.col("source") == "measurement").iter_rows(named=True)}
    checked = 0
    for record in tables()["measurement"].iter_rows(named=True):
        entry = mapping.measurement.get(" ".join(codes[record["measurement_concept_id"]]).lower())
        value = convert(entry, record["value_as_number"], codes[record["unit_concept_id"]][1]) if entry else None
        if value is not None and str(record["measurement_id"]) in got:
            assert got[str(record["measurement_id"])] == value
            checked += 1
    assert checked == 31  # person 3's readings are not in the frame (no infusion date)


def test_the_infusion_date_is_the_earliest_car_t_product(imported, frame):
    assert {p: str(d) for p, d in imported.infusions.items()} == {"1": "2024-03-01", "2": "2024-05-10"}
    assert set(frame.filter(pl.col("patient_id") == "2")["infusion_date"].cast(pl.String)) == {"2024-05-10"}
    assert {p: str(d) for p, d in imported.deaths.items()} == {"2": "2024-05-13"}
    assert "death_cause" not in frame.columns  # the cause is not coded: not invented
    assert "patient 2 died on 2024-05-13; the cause is not coded" in _said(imported)


def test_the_unmapped_are_counted_and_said(imported):
    said = _said(imported)
    assert "omop: measurement: not mapped: LOINC 59408-5 (Oxygen saturation in Arterial blood by Pulse oximetry)" \
           " (1)" in said
    assert "omop: measurement: not mapped: LOINC 8310-5 (Body temperature) in unit K (1)" in said
    assert "omop: drug_exposure: not mapped: RxNorm 11124 (vancomycin) (1)" in said
    assert "omop: procedure_occurrence: not mapped: CPT4 93000 (Electrocardiogram) (1)" in said
    assert imported.read["measurement"] == len(tables()["measurement"])


def test_every_record_read_is_mapped_or_said_why(imported):
    for table, read in imported.read.items():
        unmapped = sum(n for (t, _), n in imported.unmapped.items() if t == table)
        assert imported.mapped[table] + unmapped == read, table
    assert dict(imported.read) == {"measurement": 35, "drug_exposure": 16, "procedure_occurrence": 3,
                                   "device_exposure": 1, "observation": 1, "death": 1}


def test_an_auto_injector_or_intramuscular_epinephrine_is_not_a_vasopressor(imported, frame):
    said = _said(imported)
    assert "RxNorm 1870230 (epinephrine 0.3 MG/0.3ML Auto-Injector): not for hypotension (its form) (1)" in said
    assert ("RxNorm 1660014 (epinephrine 1 MG/ML Injectable Solution): not for hypotension (route SNOMED 78421000)"
            " (1)") in said
    ids = " ".join(frame["source_id"].to_list()).split()
    assert "204" not in ids and "209" not in ids
    day4 = frame.filter((pl.col("patient_id") == "1") & (pl.col("date").cast(pl.String) == "2024-03-05"))
    assert day4["vasopressors"].drop_nulls().to_list() == []


def test_two_vasopressors_the_same_day_count_two(frame):
    pressors = frame.filter(pl.col("vasopressors").is_not_null())
    assert pressors.select(pl.col("date").cast(pl.String), "vasopressors", "source_id").rows() == [
        ("2024-03-03", 2, "202 203"), ("2024-03-04", 1, "208")]
    assert frame.filter(pl.col("vasopressin"))["source_id"].to_list() == ["207"]  # vasopressin apart


def test_a_person_without_infusion_date_is_warned_about_and_left_out(imported, frame):
    assert "omop: no infusion date for 3: their records are counted, not graded" in _said(imported)
    assert "3" not in set(frame["patient_id"])
    assert any("3" in f["patient_id"] for f in imported.frames)  # read and counted


def test_hourly_readings_stay_rows_and_combine_into_days_when_graded(frame):
    p1 = frame.filter(pl.col("patient_id") == "1")
    assert p1.filter(pl.col("date").cast(pl.String) == "2024-03-02")["temp_c"].to_list() == [38.1, 38.6, 37.9]
    graded = crsgrade.grade(p1).patient("1")
    assert [d.day for d in graded.days] == [0, 1, 2, 3, 4]


@pytest.mark.parametrize("kind", ["parquet", "duckdb"])
def test_csv_parquet_and_duckdb_give_the_same_observations(sources, imported, frame, kind):
    other = read_omop(sources[kind], load_mapping())
    assert observations_frame(other).equals(frame)
    assert other.report() == imported.report()


def test_codes_are_matched_by_vocabulary_and_code_not_concept_id(tmp_path, frame):
    """Renumbering every concept changes nothing."""
    ids = [c for c in (tables()["concept"]["concept_id"])]
    shift = {old: old + 1_000_000 for old in ids}
    shifted = {}
    for name, table in tables().items():
        shifted[name] = table.with_columns(pl.col(c).replace(shift) for c in table.columns
                                           if c == "concept_id" or c.endswith("_concept_id"))
    again = read_omop(write_csv(tmp_path / "shifted", shifted), load_mapping())
    assert observations_frame(again).equals(frame)


def test_datetime_alone_gives_the_date(tmp_path, frame):
    frames = tables()
    frames["measurement"] = frames["measurement"].drop("measurement_date")
    frames["drug_exposure"] = frames["drug_exposure"].drop("drug_exposure_start_date")
    assert observations_frame(read_omop(write_csv(tmp_path / "cdm", frames), load_mapping())).equals(frame)


def test_the_graded_timeline_equals_the_hand_written_equivalent(frame, tmp_path):
    by_hand = tmp_path / "p1.csv"
    by_hand.write_text(EQUIVALENT_CSV, encoding="utf-8")
    imported = crsgrade.grade(frame.filter(pl.col("patient_id") == "1"))
    assert to_csv(imported) == to_csv(crsgrade.grade(by_hand))
    graded = crsgrade.grade_table(frame.filter(pl.col("patient_id") == "1"))
    assert graded.drop("readings").equals(crsgrade.grade_table(pl.read_csv(by_hand, infer_schema=False))
                                          .drop("readings"))
    assert graded["readings"].to_list() == [2, 3, 9, 6, 2]  # readings combined into each day


def test_the_source_is_only_read(sources):
    before = hashlib.sha256(sources["duckdb"].read_bytes()).hexdigest()
    files = {p.name: p.stat().st_mtime_ns for p in sources["csv"].iterdir()}
    read_omop(sources["duckdb"], load_mapping())
    read_omop(sources["csv"], load_mapping())
    assert hashlib.sha256(sources["duckdb"].read_bytes()).hexdigest() == before
    assert {p.name: p.stat().st_mtime_ns for p in sources["csv"].iterdir()} == files


def test_tables_in_another_schema_and_in_upper_case_are_found(tmp_path, frame):
    import duckdb

    path = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(path)) as connection:
        connection.execute("CREATE SCHEMA cdm")
        for name, table in tables().items():
            connection.register("frame", table.to_arrow())
            connection.execute(f"CREATE TABLE cdm.{name.upper()} AS SELECT * FROM frame")
            connection.unregister("frame")
    assert observations_frame(read_omop(path, load_mapping())).equals(frame)


def test_a_missing_clinical_table_is_warned_about(tmp_path):
    folder = write_csv(tmp_path / "cdm")
    (folder / "device_exposure.csv").unlink()
    (folder / "observation.csv").unlink()
    imported = read_omop(folder, load_mapping())
    assert f"omop: {folder}: no device_exposure, observation table: read as empty" in _said(imported)
    assert "device_exposure" not in imported.read


@pytest.mark.parametrize(("change", "expected"), [
    (lambda f: (f / "concept.csv").unlink(), "no concept.csv or concept.parquet; expected the OMOP CDM concept table"),
    (lambda f: (f / "concept_ancestor.csv").unlink(), "expected the OMOP CDM concept_ancestor table"),
    (lambda f: (f / "measurement.csv").write_text("measurement_id,person_id,measurement_date\n1,1,2024-01-01\n"),
     "measurement.csv: the measurement table lacks columns; expected measurement_id, person_id,"
     " measurement_concept_id, measurement_date (or measurement_datetime), value_as_number, unit_concept_id"),
    (lambda f: (f / "death.csv").write_text("person_id,date_of_death\n1,2024-01-01\n"),
     "death.csv: the death table lacks columns; expected person_id, death_date (or death_datetime)"),
    (lambda f: (f / "measurement.parquet").write_bytes(b""), "both measurement.csv and measurement.parquet"),
])
def test_a_missing_table_or_column_is_an_error_naming_it(tmp_path, change, expected):
    folder = write_csv(tmp_path / "cdm")
    change(folder)
    with pytest.raises(ObservationError) as error:
        read_omop(folder, load_mapping())
    assert expected in str(error.value)


def test_a_source_that_is_not_a_cdm_is_an_error(tmp_path):
    with pytest.raises(ObservationError, match="no such file or folder"):
        read_omop(tmp_path / "nowhere", load_mapping())
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(ObservationError, match=r"not a DuckDB file \(.duckdb, .db\)"):
        read_omop(tmp_path / "notes.txt", load_mapping())
    (tmp_path / "broken.duckdb").write_text("not a database")
    with pytest.raises(ObservationError, match="cannot open as a DuckDB database"):
        read_omop(tmp_path / "broken.duckdb", load_mapping())
    (tmp_path / "empty").mkdir()
    with pytest.raises(ObservationError, match=r"no concept\.csv or concept\.parquet"):
        read_omop(tmp_path / "empty", load_mapping())
    empty = write_duckdb(tmp_path / "vocabulary.duckdb", {"concept": tables()["concept"]})
    with pytest.raises(ObservationError, match="expected the OMOP CDM measurement table: or any other clinical"):
        read_omop(empty, load_mapping())


def test_import_writes_the_observation_csv_and_grades_in_one_go(sources, tmp_path):
    runner = CliRunner()
    out = tmp_path / "observations.csv"
    result = runner.invoke(app, ["import", "omop", str(sources["duckdb"]), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "readings of 2 patients written" in result.stderr and "not mapped" in result.stderr
    graded_csv = runner.invoke(app, ["grade", str(out), "-f", "csv", "-q"]).stdout
    in_one_go = runner.invoke(app, ["grade", str(sources["csv"]), "--from", "omop", "-f", "csv", "-q"]).stdout
    assert graded_csv == in_one_go and graded_csv.count("\n1,") == 5


def test_infusion_dates_file_wins(sources, tmp_path):
    dates = tmp_path / "dates.csv"
    dates.write_text("person_id,infusion_date\n3,2024-03-01\n", encoding="utf-8")
    frame, imported = import_source("omop", sources["csv"], infusion_dates=dates)
    assert set(frame["patient_id"]) == {"1", "2", "3"}
    assert "no infusion date" not in _said(imported)


def test_a_table_may_be_a_folder_of_parquet_parts_or_compressed_csv(tmp_path, frame):
    import gzip

    folder = write_csv(tmp_path / "cdm")
    measurement = pl.read_csv(folder / "measurement.csv")
    (folder / "measurement.csv").unlink()
    (folder / "measurement").mkdir()
    measurement.head(20).write_parquet(folder / "measurement" / "part-0.parquet")
    measurement.slice(20).write_parquet(folder / "measurement" / "part-1.parquet")
    drugs = folder / "drug_exposure.csv"
    (folder / "DRUG_EXPOSURE.csv.gz").write_bytes(gzip.compress(drugs.read_bytes()))
    drugs.unlink()
    assert observations_frame(read_omop(folder, load_mapping())).equals(frame)


def test_a_car_t_product_is_found_by_its_name_when_its_code_is_not_mapped(tmp_path):
    frames = tables()
    renamed = {"1999573": "9999991", "1999579": "9999992"}  # codes the mapping does not know
    frames["concept"] = frames["concept"].with_columns(
        pl.col("concept_code").replace(renamed),
        pl.when(pl.col("concept_code") == "1999579").then(pl.lit("Kymriah Injectable Suspension"))
        .otherwise(pl.col("concept_name")).alias("concept_name"))
    imported = read_omop(write_csv(tmp_path / "cdm", frames), load_mapping())
    assert {p: str(d) for p, d in imported.infusions.items()} == {"1": "2024-03-01", "2": "2024-05-10"}
