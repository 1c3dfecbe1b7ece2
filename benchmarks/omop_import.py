"""OMOP CDM import speed, measured in one run:

    python benchmarks/omop_import.py [--measurements 1000000] [--forms duckdb csv parquet]

Writes a synthetic CDM (the vocabulary rows of the test CDM, patients with a CAR T-cell product
and a vasopressor a day, and about --measurements MEASUREMENT rows: hourly temperatures, blood
pressure every other hour, and one SpO2 in ten that the mapping does not map) as a DuckDB file, a
folder of CSV files and a folder of Parquet files; then times, each as a fresh process from start
to exit: `crsgrade import omop SOURCE -o observations.csv` for each form, and `crsgrade grade
observations.csv --format csv` on the file it wrote; prints the ratios. Prints figures; asserts
nothing.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.omop_fixture import tables  # noqa: E402  (the vocabulary rows of the test CDM)

# the fixture's concept ids: Body temperature, SBP, DBP, SpO2 (not mapped); Cel, mm[Hg], %;
# tisagenlecleucel clinical drug, norepinephrine clinical drug; intravenous
TEMPERATURE, SBP, DBP, SPO2, CEL, MMHG, PERCENT = 9001, 9002, 9003, 9019, 8001, 8003, 8005
CAR_T, NOREPINEPHRINE, IV = 7107, 7102, 6002
DAYS = 30


def write_cdm(connection, measurements: int) -> int:
    """The CDM in `connection` (a DuckDB database); returns the number of patients."""
    import duckdb  # noqa: F401  (the connection's module)

    patients = max(1, measurements // (DAYS * 24))
    for name in ("concept", "concept_ancestor"):
        connection.register("frame", tables()[name].to_arrow())
        connection.execute(f"CREATE TABLE {name} AS SELECT * FROM frame")
        connection.unregister("frame")
    connection.execute(f"CREATE TABLE person AS SELECT range + 1 AS person_id, 8532 AS gender_concept_id,"
                       f" 1960 AS year_of_birth FROM range({patients})")
    # n-th measurement: person n // (DAYS * 24), hour n % (DAYS * 24) after the infusion
    connection.execute(f"""
        CREATE TABLE measurement AS
        WITH n AS (SELECT range AS n, range // {DAYS * 24} + 1 AS person_id, range % {DAYS * 24} AS hour
                   FROM range({measurements}))
        SELECT n + 1 AS measurement_id, person_id,
               CASE WHEN n % 10 = 9 THEN {SPO2} WHEN hour % 2 = 0 THEN {TEMPERATURE}
                    WHEN hour % 4 = 1 THEN {SBP} ELSE {DBP} END AS measurement_concept_id,
               CAST(TIMESTAMP '2024-01-01 00:00:00' + hour * INTERVAL 1 HOUR AS DATE) AS measurement_date,
               TIMESTAMP '2024-01-01 00:00:00' + hour * INTERVAL 1 HOUR AS measurement_datetime,
               CASE WHEN n % 10 = 9 THEN 95.0 WHEN hour % 2 = 0 THEN 36.5 + (n % 7) * 0.4
                    WHEN hour % 4 = 1 THEN 95.0 + (n % 30) ELSE 55.0 + (n % 20) END AS value_as_number,
               CASE WHEN n % 10 = 9 THEN {PERCENT} WHEN hour % 2 = 0 THEN {CEL} ELSE {MMHG} END
                   AS unit_concept_id
        FROM n""")
    connection.execute(f"""
        CREATE TABLE drug_exposure AS
        SELECT row_number() OVER () AS drug_exposure_id, person_id, drug_concept_id,
               drug_exposure_start_date, drug_exposure_start_date AS drug_exposure_end_date,
               {IV} AS route_concept_id
        FROM (SELECT person_id, {CAR_T} AS drug_concept_id, DATE '2024-01-01' AS drug_exposure_start_date
              FROM person
              UNION ALL
              SELECT person_id, {NOREPINEPHRINE}, DATE '2024-01-01' + CAST(d.range AS INTEGER)
              FROM person, range(2, 5) d)""")
    for name, columns in {
        "procedure_occurrence": "procedure_occurrence_id BIGINT, person_id BIGINT, procedure_concept_id BIGINT,"
                                " procedure_date DATE",
        "device_exposure": "device_exposure_id BIGINT, person_id BIGINT, device_concept_id BIGINT,"
                           " device_exposure_start_date DATE",
        "observation": "observation_id BIGINT, person_id BIGINT, observation_concept_id BIGINT,"
                       " observation_date DATE",
        "death": "person_id BIGINT, death_date DATE",
    }.items():
        connection.execute(f"CREATE TABLE {name} ({columns})")
    return patients


def timed(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    import duckdb

    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--measurements", type=int, default=1_000_000)
    parser.add_argument("--forms", nargs="+", choices=("duckdb", "csv", "parquet"),
                        default=["duckdb", "csv", "parquet"])
    args = parser.parse_args()
    crsgrade = [shutil.which("crsgrade") or sys.executable, *([] if shutil.which("crsgrade") else ["-m", "crsgrade"])]
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        database = folder / "cdm.duckdb"
        with duckdb.connect(str(database)) as connection:
            patients = write_cdm(connection, args.measurements)
            names = [row[0] for row in connection.execute("SHOW TABLES").fetchall()]
            for form in ("csv", "parquet"):
                (folder / form).mkdir()
                for name in names:
                    target = folder / form / f"{name}.{form}"
                    option = "(HEADER)" if form == "csv" else "(FORMAT parquet)"
                    connection.execute(f"COPY {name} TO '{target}' {option}")
        sources = {"duckdb": database, "csv": folder / "csv", "parquet": folder / "parquet"}
        print(f"{args.measurements:,} OMOP measurements of {patients:,} patients (hourly temperature, blood"
              f" pressure; one in ten an SpO2 not mapped), {patients * 4:,} drug exposures")
        observations = folder / "observations.csv"
        importing = {}
        for form in args.forms:
            size = sum(p.stat().st_size for p in (sources[form].rglob("*") if sources[form].is_dir()
                                                   else [sources[form]])) / 1e6
            importing[form] = timed([*crsgrade, "import", "omop", str(sources[form]), "-o", str(observations),
                                     "-q"])
            print(f"  import omop ({form:>7}, {size:5,.0f} MB)  {importing[form]:7.2f} s"
                  f"  ({args.measurements / importing[form]:,.0f} measurements/s)")
        rows = sum(1 for _ in observations.open()) - 1
        grading = timed([*crsgrade, "grade", str(observations), "--format", "csv", "-o",
                         str(folder / "grades.csv"), "-q"])
        print(f"  grade --format csv               {grading:7.2f} s  on the {rows:,} readings it wrote")
        for form, seconds in importing.items():
            print(f"  import ({form}) / grade{'':>{9 - len(form)}} {seconds / grading:7.2f}x")


if __name__ == "__main__":
    main()
