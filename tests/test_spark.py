"""crsgrade.spark in Spark's local mode: the same days, registry fields and problems as the
command line on the same rows. Skipped where PySpark or Java is missing, unless
CRSGRADE_REQUIRE_SPARK=1 (as .ci/run sets it)."""

from __future__ import annotations

import datetime
import os
import shutil
import sys
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

import crsgrade
import crsgrade.spark
from crsgrade.cli import app
from crsgrade.grading import Accounting, Grader
from crsgrade.ruleset import shipped_systems
from crsgrade.sources import open_table
from crsgrade.synthetic import write_cohort

from .conftest import EXAMPLE, ROOT

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning", "ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def spark():
    missing = None
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        missing = "PySpark is not installed (pip install '.[spark]')"
    if missing is None and not (shutil.which("java") or os.environ.get("JAVA_HOME")):
        missing = "no Java runtime (apt-get install openjdk-17-jre-headless)"
    if missing:
        if os.environ.get("CRSGRADE_REQUIRE_SPARK") == "1":
            pytest.fail(missing)
        pytest.skip(missing)
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # the workers run this Python, with crsgrade
    session = (SparkSession.builder.master("local[2]").appName("crsgrade-tests")
               .config("spark.ui.enabled", "false").config("spark.driver.host", "127.0.0.1")
               .config("spark.driver.bindAddress", "127.0.0.1").config("spark.sql.shuffle.partitions", "4")
               .getOrCreate())
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


def _frame(df) -> pl.DataFrame:
    """A Spark result as polars, in patient and day order, empty text as null (as CSV has it)."""
    frame = pl.from_arrow(df.toArrow())
    order = [c for c in ("patient_id", "day") if c in frame.columns]
    return frame.with_columns(pl.col(pl.String).replace("", None)).sort(order)


def _cli(*args: str, schema: dict) -> pl.DataFrame:
    result = CliRunner().invoke(app, [*args, "--format", "csv", "--raw-cells", "-q"])
    assert result.exit_code == 0, result.output
    frame = pl.read_csv(result.stdout.encode(), schema=schema)
    order = [c for c in ("patient_id", "day") if c in frame.columns]
    return frame.with_columns(pl.col(pl.String).replace("", None)).sort(order)


def _read(spark, path: Path):
    return spark.read.csv(str(path), header=True)  # every column as text, as the command line reads it


def test_the_example_grades_as_the_command_line(spark):
    graded = _frame(crsgrade.spark.grade(_read(spark, EXAMPLE)))
    assert graded.columns == [c for c in _cli("grade", str(EXAMPLE), schema=dict(graded.schema)).columns]
    assert graded.equals(_cli("grade", str(EXAMPLE), schema=dict(graded.schema)))
    assert graded.filter(pl.col("day") == 7)["icans_grade"].item() == 4


def test_typed_columns_grade_as_text_does(spark):
    typed = pl.read_csv(EXAMPLE)  # numbers as numbers, as a warehouse table has them
    graded = _frame(crsgrade.spark.grade(spark.createDataFrame(typed.to_pandas())))
    assert graded.equals(_frame(crsgrade.spark.grade(_read(spark, EXAMPLE))))


@pytest.fixture(scope="module")
def cohort(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("spark") / "cohort.csv"
    write_cohort(path, 1500, seed=15, older_systems=True)
    return path


@pytest.mark.parametrize("system", shipped_systems())
def test_a_synthetic_cohort_grades_as_the_command_line_under_every_system(spark, cohort, system):
    graded = _frame(crsgrade.spark.grade(_read(spark, cohort), system=system))
    assert graded.height > 1000
    assert graded.equals(_cli("grade", str(cohort), "--system", system, schema=dict(graded.schema)))


@pytest.mark.parametrize("system", ["astct2019", "penn"])
def test_summary_gives_the_registry_fields_of_the_command_line(spark, cohort, system):
    patients = _frame(crsgrade.spark.summary(_read(spark, cohort), system=system))
    expected = _cli("summary", str(cohort), "--system", system, schema=dict(patients.schema))
    assert patients.height == expected.height > 40
    assert patients.equals(expected)


def test_settings_reach_the_workers_and_a_bad_one_fails_before_any_job(spark):
    rows = pl.DataFrame({"patient_id": ["p"], "day": ["1"], "temp_c": ["38.4"], "o2_device": ["face_mask"],
                         "o2_flow_lpm": ["5"]})
    df = spark.createDataFrame(rows.to_pandas())
    grades = [_frame(crsgrade.spark.grade(df, settings={"face_mask_at_low_flow": value}))["crs_grade"].item()
              for value in ("high_flow", "low_flow")]
    assert grades == [3, 2]
    with pytest.raises(crsgrade.SettingsError):
        crsgrade.spark.grade(df, settings={"no_such_setting": 1})


def test_dates_with_an_infusion_date_grade_as_day_numbers(spark, tmp_path):
    rows = pl.read_csv(EXAMPLE, infer_schema_length=0)
    infused = datetime.date(2024, 3, 1)
    dated = rows.with_columns(
        (pl.lit(infused) + pl.duration(days=pl.col("day").cast(pl.Int64))).cast(pl.String).alias("date"),
        pl.lit(str(infused)).alias("infusion_date")).drop("day")
    path = tmp_path / "dated.csv"
    dated.write_csv(path)
    graded = _frame(crsgrade.spark.grade(_read(spark, path)))
    assert graded.equals(_frame(crsgrade.spark.grade(_read(spark, EXAMPLE))))
    given_apart = _frame(crsgrade.spark.grade(_read(spark, path).drop("infusion_date"), infusion_date=infused))
    assert given_apart.equals(graded)


# Bad rows in a table split over both partitions: a number, a day, a flag, and a day whose
# readings disagree on the patient's age (two rows, one message).
BAD = pl.DataFrame({
    "patient_id": ["a", "a", "a", "b", "b", "c", "c", "c", "d", "d"],
    "day": ["0", "1", "2", "0", "x", "0", "1", "1", "0", "1"],
    "temp_c": ["38.5", "hot", "37", "39", "37", "38", "38.2", "38.1", "36.8", "37"],
    "hypotension": ["no", "no", "no", "yes", "no", "no", "no", "no", "maybe", "no"],
    "age_years": ["40", "40", "40", "55", "55", "30", "30", "31", "60", "60"],
})


def test_bad_rows_raise_every_problem_as_the_library_says_it(spark):
    df = spark.createDataFrame(BAD.to_pandas()).repartition(1).coalesce(1)
    split = spark.createDataFrame(BAD.to_pandas(), schema=df.schema)  # two partitions (local[2])
    assert split.rdd.getNumPartitions() == 2
    with pytest.raises(crsgrade.ObservationError) as expected:
        crsgrade.grade_table(BAD)
    with pytest.raises(crsgrade.ObservationError) as raised:
        crsgrade.spark.grade(split, name="table")
    assert raised.value.problems == expected.value.problems
    assert "table:7, table:8: age_years: readings of patient c day 1 disagree (30, 31)" in str(raised.value)


def test_skip_invalid_returns_the_rejected_rows_and_nothing_is_lost(spark):
    split = spark.createDataFrame(BAD.to_pandas())
    graded = crsgrade.spark.grade(split, skip_invalid=True)
    accounting = Accounting()
    expected = Grader().grade_frame(open_table(BAD), skip_invalid=True, accounting=accounting)
    days = _frame(graded.result)
    assert days.select("patient_id", "day", "crs_grade").equals(
        expected.select("patient_id", "day", "crs_grade").sort("patient_id", "day"))
    rejected = pl.from_arrow(graded.rejected.toArrow())
    assert rejected["row"].to_list() == [2, 5, 7, 8, 9]
    assert rejected.columns == ["row", *BAD.columns, "problems"]
    assert rejected.filter(pl.col("row") == 2)["temp_c"].item() == "hot"  # the row as given
    problems = rejected["problems"].to_list()
    told = list(dict.fromkeys(m.replace("spark:", "table:") for ms in problems for m in ms))
    assert told == accounting.skipped
    assert all(problems)  # the second reading of a disagreeing day is told too
    assert len(rejected) == accounting.rows_rejected
    assert BAD.height == days.height + int(expected["readings"].sum()) - expected.height + len(rejected)


def test_a_header_problem_is_raised_before_any_job(spark):
    df = spark.createDataFrame(pl.DataFrame({"patient_id": ["p"], "temp_c": ["38"]}).to_pandas())
    with pytest.raises(crsgrade.ObservationError, match="day"):
        crsgrade.spark.grade(df)


def test_the_documented_examples_run(spark, monkeypatch, tmp_path):
    from .test_readme import PYTHON_BLOCK, ROOT, run_example

    monkeypatch.chdir(ROOT)
    page = ROOT / "docs" / "spark.md"
    examples = [code for code in PYTHON_BLOCK.findall(page.read_text(encoding="utf-8")) if "pyspark" in code]
    assert examples
    for code in examples:
        run_example("docs/spark.md", code)


def test_the_example_job_writes_days_and_patients(spark, cohort, tmp_path):
    import runpy

    job = runpy.run_path(str(ROOT / "examples" / "spark_job.py"))
    job["main"](str(cohort), str(tmp_path), 3)
    days = pl.read_parquet(tmp_path / "days" / "*.parquet").with_columns(pl.col(pl.String).replace("", None))
    assert days.sort("patient_id", "day").equals(_cli("grade", str(cohort), schema=dict(days.schema)))
    patients = pl.read_parquet(tmp_path / "patients" / "*.parquet")
    assert patients.height == days["patient_id"].n_unique()
