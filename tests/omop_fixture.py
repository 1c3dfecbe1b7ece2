"""A tiny synthetic OMOP CDM v5.4 for the importer's tests, written as a folder of CSV files, a
folder of Parquet files and a DuckDB database.

    python tests/omop_fixture.py OUT_FOLDER     # writes OUT_FOLDER/csv, OUT_FOLDER/parquet, OUT_FOLDER/cdm.duckdb

Concept ids are made up (they are not the real ones) so that only mapping by vocabulary and
code can find them. Three people:

- person 1: CAR-T product (a clinical drug rolled up to its ingredient) on 2024-03-01; hourly
  temperatures in Cel and one in [degF]; blood pressure; two vasopressors on day 2 and an
  epinephrine auto-injector that day (not counted), an intramuscular epinephrine on day 4 (not
  counted); tocilizumab; dexamethasone as a clinical drug; vasopressin; O2 flow with a nasal
  cannula (DEVICE_EXPOSURE); CPAP (PROCEDURE_OCCURRENCE); an ANC in 10*3/uL.
- person 2: CAR-T product given as the ingredient, twice (the earliest is day 0), every other
  mapped measurement and drug, high-flow oxygen (OBSERVATION), mechanical ventilation, a death;
  and what is not mapped: an SpO2 (LOINC 59408-5), a temperature in K, vancomycin.
- person 3: temperatures, and no CAR-T product.
"""

from __future__ import annotations

import datetime
import sys
from pathlib import Path
from typing import Any

import polars as pl

D = datetime.date
T = datetime.datetime

# (concept_id, concept_name, vocabulary_id, concept_code)
CONCEPTS = [
    # measurements (LOINC)
    (9001, "Body temperature", "LOINC", "8310-5"),
    (9002, "Systolic blood pressure", "LOINC", "8480-6"),
    (9003, "Diastolic blood pressure", "LOINC", "8462-4"),
    (9004, "Inhaled oxygen flow rate", "LOINC", "3151-8"),
    (9005, "Inhaled oxygen concentration", "LOINC", "3150-0"),
    (9006, "Body weight Measured", "LOINC", "29463-7"),
    (9007, "Neutrophils [#/volume] in Blood", "LOINC", "751-8"),
    (9008, "Platelets [#/volume] in Blood", "LOINC", "777-3"),
    (9009, "Hemoglobin [Mass/volume] in Blood", "LOINC", "718-7"),
    (9010, "C reactive protein [Mass/volume]", "LOINC", "1988-5"),
    (9011, "Ferritin [Mass/volume]", "LOINC", "2276-4"),
    (9012, "Lactate dehydrogenase", "LOINC", "2532-0"),
    (9013, "Creatinine [Mass/volume]", "LOINC", "2160-0"),
    (9014, "Fibrinogen [Mass/volume]", "LOINC", "3255-7"),
    (9015, "Alanine aminotransferase", "LOINC", "1742-6"),
    (9016, "Aspartate aminotransferase", "LOINC", "1920-8"),
    (9017, "Bilirubin.total", "LOINC", "1975-2"),
    (9018, "Interleukin 6", "LOINC", "26881-3"),
    (9019, "Oxygen saturation in Arterial blood by Pulse oximetry", "LOINC", "59408-5"),  # not mapped
    # units (UCUM)
    (8001, "degree Celsius", "UCUM", "Cel"),
    (8002, "degree Fahrenheit", "UCUM", "[degF]"),
    (8003, "millimeter mercury column", "UCUM", "mm[Hg]"),
    (8004, "liter per minute", "UCUM", "L/min"),
    (8005, "percent", "UCUM", "%"),
    (8006, "kilogram", "UCUM", "kg"),
    (8007, "thousand per microliter", "UCUM", "10*3/uL"),
    (8008, "gram per deciliter", "UCUM", "g/dL"),
    (8009, "milligram per liter", "UCUM", "mg/L"),
    (8010, "nanogram per milliliter", "UCUM", "ng/mL"),
    (8011, "unit per liter", "UCUM", "U/L"),
    (8012, "milligram per deciliter", "UCUM", "mg/dL"),
    (8013, "picogram per milliliter", "UCUM", "pg/mL"),
    (8014, "kelvin", "UCUM", "K"),  # not accepted for temperature
    # ingredients (RxNorm)
    (7001, "tocilizumab", "RxNorm", "612865"),
    (7002, "siltuximab", "RxNorm", "1535218"),
    (7003, "anakinra", "RxNorm", "72435"),
    (7004, "dexamethasone", "RxNorm", "3264"),
    (7005, "acetaminophen", "RxNorm", "161"),
    (7006, "filgrastim", "RxNorm", "68442"),
    (7007, "vasopressin (USP)", "RxNorm", "11149"),
    (7008, "norepinephrine", "RxNorm", "7512"),
    (7009, "epinephrine", "RxNorm", "3992"),
    (7010, "phenylephrine", "RxNorm", "8163"),
    (7011, "tisagenlecleucel", "RxNorm", "1999573"),
    (7012, "axicabtagene ciloleucel", "RxNorm", "1932997"),
    (7013, "vancomycin", "RxNorm", "11124"),  # not mapped
    # clinical drugs (RxNorm), rolled up through concept_ancestor
    (7101, "dexamethasone phosphate 4 MG/ML Injectable Solution", "RxNorm", "1116927"),
    (7102, "norepinephrine 1 MG/ML Injectable Solution", "RxNorm", "242969"),
    (7103, "phenylephrine hydrochloride 10 MG/ML Injectable Solution", "RxNorm", "1087047"),
    (7104, "epinephrine 0.3 MG/0.3ML Auto-Injector", "RxNorm", "1870230"),
    (7105, "epinephrine 1 MG/ML Injectable Solution", "RxNorm", "1660014"),
    (7106, "vasopressin 20 UNT/ML Injectable Solution", "RxNorm", "1593138"),
    (7107, "tisagenlecleucel Injectable Suspension", "RxNorm", "1999579"),
    (7108, "tocilizumab 20 MG/ML Injectable Solution", "RxNorm", "1657973"),
    # routes (SNOMED)
    (6001, "Intramuscular", "SNOMED", "78421000"),
    (6002, "Intravenous", "SNOMED", "47625008"),
    # oxygen devices and procedures
    (5001, "Nasal cannula", "HCPCS", "A4615"),
    (5002, "CPAP initiation and management", "CPT4", "94660"),
    (5003, "High flow oxygen nasal cannula", "SNOMED", "426854004"),
    (5004, "Assistance with Respiratory Ventilation, Greater than 96 Consecutive Hours", "ICD10PCS", "5A1955Z"),
    (5005, "Electrocardiogram", "CPT4", "93000"),  # not mapped
]

# (ancestor_concept_id, descendant_concept_id): every concept is its own ancestor, as in a CDM
ANCESTORS = [(c[0], c[0]) for c in CONCEPTS if c[2] == "RxNorm"] + [
    (7004, 7101), (7008, 7102), (7010, 7103), (7009, 7104), (7009, 7105), (7007, 7106), (7011, 7107),
    (7001, 7108),
]

PERSONS = [(1, 8532, 1961), (2, 8507, 1955), (3, 8532, 1970)]

INFUSION_1 = D(2024, 3, 1)
INFUSION_2 = D(2024, 5, 10)


def _day(start: D, day: int) -> D:
    return start + datetime.timedelta(days=day)


def _measurements() -> list[tuple[Any, ...]]:
    """(person, concept, day offset from the person's infusion, hour, value, unit)"""
    p1 = [
        (1, 9001, 0, 8, 37.0, 8001), (1, 9001, 0, 16, 37.2, 8001),
        (1, 9001, 1, 6, 38.1, 8001), (1, 9001, 1, 12, 38.6, 8001), (1, 9001, 1, 18, 37.9, 8001),
        (1, 9001, 2, 6, 101.3, 8002), (1, 9001, 2, 12, 37.5, 8001),
        (1, 9002, 2, 6, 92.0, 8003), (1, 9002, 2, 12, 85.0, 8003), (1, 9003, 2, 12, 50.0, 8003),
        (1, 9004, 2, 12, 4.0, 8004),
        (1, 9001, 3, 9, 38.9, 8001), (1, 9007, 3, 7, 0.4, 8007),
        (1, 9001, 4, 9, 37.0, 8001), (1, 9002, 4, 9, 95.0, 8003),
    ]
    p2 = [
        (2, 9001, 0, 9, 36.8, 8001), (2, 9001, 1, 9, 39.2, 8001),
        (2, 9005, 1, 9, 40.0, 8005), (2, 9006, 0, 9, 72.5, 8006), (2, 9007, 1, 9, 1.2, 8007),
        (2, 9008, 1, 9, 85.0, 8007), (2, 9009, 1, 9, 9.8, 8008), (2, 9010, 1, 9, 120.0, 8009),
        (2, 9011, 1, 9, 2500.0, 8010), (2, 9012, 1, 9, 400.0, 8011), (2, 9013, 1, 9, 1.1, 8012),
        (2, 9014, 1, 9, 250.0, 8012), (2, 9015, 1, 9, 45.0, 8011), (2, 9016, 1, 9, 52.0, 8011),
        (2, 9017, 1, 9, 0.9, 8012), (2, 9018, 1, 9, 85.0, 8013),
        (2, 9019, 1, 9, 94.0, 8005),  # SpO2: not mapped
        (2, 9001, 2, 9, 311.0, 8014),  # a temperature in K: unit not accepted
    ]
    p3 = [(3, 9001, 0, 9, 38.4, 8001), (3, 9001, 1, 9, 37.1, 8001)]
    rows = []
    for number, (person, concept, day, hour, value, unit) in enumerate([*p1, *p2, *p3], start=1):
        start = INFUSION_2 if person == 2 else INFUSION_1
        when = T.combine(_day(start, day), datetime.time(hour))
        rows.append((100 + number, person, concept, when.date(), when, value, unit))
    return rows


def _drugs() -> list[tuple[Any, ...]]:
    """(id, person, drug concept, date, route concept)"""
    iv, im = 6002, 6001
    p1 = [
        (201, 1, 7107, _day(INFUSION_1, 0), iv),  # the CAR-T product, a clinical drug
        (202, 1, 7102, _day(INFUSION_1, 2), iv),  # norepinephrine
        (203, 1, 7103, _day(INFUSION_1, 2), iv),  # phenylephrine, the same day: 2 vasopressors
        (204, 1, 7104, _day(INFUSION_1, 2), None),  # epinephrine auto-injector: not a vasopressor
        (205, 1, 7108, _day(INFUSION_1, 2), iv),  # tocilizumab (clinical drug)
        (206, 1, 7101, _day(INFUSION_1, 3), iv),  # dexamethasone (clinical drug): steroids
        (207, 1, 7106, _day(INFUSION_1, 3), iv),  # vasopressin
        (208, 1, 7102, _day(INFUSION_1, 3), iv),  # norepinephrine alone: 1 vasopressor
        (209, 1, 7105, _day(INFUSION_1, 4), im),  # epinephrine intramuscular: not a vasopressor
    ]
    p2 = [
        (210, 2, 7012, _day(INFUSION_2, 3), iv),  # a second CAR-T record: the earliest is day 0
        (211, 2, 7012, _day(INFUSION_2, 0), iv),  # the CAR-T product given as its ingredient
        (212, 2, 7002, _day(INFUSION_2, 1), iv), (213, 2, 7003, _day(INFUSION_2, 1), iv),
        (214, 2, 7005, _day(INFUSION_2, 1), None), (215, 2, 7006, _day(INFUSION_2, 2), None),
        (216, 2, 7013, _day(INFUSION_2, 1), iv),  # vancomycin: not mapped
    ]
    return [*p1, *p2]


def tables() -> dict[str, pl.DataFrame]:
    """The CDM's tables, typed as a database holds them."""
    i64, date, stamp = pl.Int64, pl.Date, pl.Datetime("us")
    return {
        "concept": pl.DataFrame(
            [(*c, "S") for c in CONCEPTS],
            schema={"concept_id": i64, "concept_name": pl.String, "vocabulary_id": pl.String,
                    "concept_code": pl.String, "standard_concept": pl.String},
            orient="row"),
        "concept_ancestor": pl.DataFrame(ANCESTORS, schema={"ancestor_concept_id": i64,
                                                            "descendant_concept_id": i64}, orient="row"),
        "person": pl.DataFrame(PERSONS, schema={"person_id": i64, "gender_concept_id": i64,
                                                "year_of_birth": i64}, orient="row"),
        "measurement": pl.DataFrame(_measurements(), schema={
            "measurement_id": i64, "person_id": i64, "measurement_concept_id": i64, "measurement_date": date,
            "measurement_datetime": stamp, "value_as_number": pl.Float64, "unit_concept_id": i64}, orient="row"),
        "drug_exposure": pl.DataFrame(
            [(i, p, c, d, T.combine(d, datetime.time(10)), d, r) for i, p, c, d, r in _drugs()],
            schema={"drug_exposure_id": i64, "person_id": i64, "drug_concept_id": i64,
                    "drug_exposure_start_date": date, "drug_exposure_start_datetime": stamp,
                    "drug_exposure_end_date": date, "route_concept_id": i64}, orient="row"),
        "procedure_occurrence": pl.DataFrame(
            [(301, 1, 5002, _day(INFUSION_1, 3)), (302, 2, 5004, _day(INFUSION_2, 2)),
             (303, 2, 5005, _day(INFUSION_2, 1))],
            schema={"procedure_occurrence_id": i64, "person_id": i64, "procedure_concept_id": i64,
                    "procedure_date": date}, orient="row"),
        "device_exposure": pl.DataFrame(
            [(401, 1, 5001, _day(INFUSION_1, 2))],
            schema={"device_exposure_id": i64, "person_id": i64, "device_concept_id": i64,
                    "device_exposure_start_date": date}, orient="row"),
        "observation": pl.DataFrame(
            [(501, 2, 5003, _day(INFUSION_2, 1))],
            schema={"observation_id": i64, "person_id": i64, "observation_concept_id": i64,
                    "observation_date": date}, orient="row"),
        "death": pl.DataFrame([(2, _day(INFUSION_2, 3), None)],
                              schema={"person_id": i64, "death_date": date, "cause_concept_id": i64}, orient="row"),
    }


def write_csv(folder: Path, frames: dict[str, pl.DataFrame] | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in (frames or tables()).items():
        frame.write_csv(folder / f"{name}.csv")
    return folder


def write_parquet(folder: Path, frames: dict[str, pl.DataFrame] | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in (frames or tables()).items():
        frame.write_parquet(folder / f"{name}.parquet")
    return folder


def write_duckdb(path: Path, frames: dict[str, pl.DataFrame] | None = None) -> Path:
    import duckdb

    path.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(path)) as connection:
        for name, frame in (frames or tables()).items():
            connection.register("frame", frame.to_arrow())
            connection.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM frame")
            connection.unregister("frame")
    return path


def write_all(folder: Path) -> dict[str, Path]:
    frames = tables()
    return {"csv": write_csv(folder / "csv", frames), "parquet": write_parquet(folder / "parquet", frames),
            "duckdb": write_duckdb(folder / "cdm.duckdb", frames)}


if __name__ == "__main__":
    for kind, where in write_all(Path(sys.argv[1] if len(sys.argv) > 1 else "omop-fixture")).items():
        print(f"{kind}: {where}")
