"""Grading on Apache Spark (`pip install 'crsgrade[spark]'`, Spark 4): the command line's
pipeline, run in Spark's Python workers on whole patients.

Rows are grouped by a hash bucket of the patient id, so that a bucket holds every row of its
patients, and each bucket is graded by one call, Arrow table in, Arrow table out
(`groupBy(bucket).applyInArrow`). Buckets rather than patients keep the calls few and large,
which is where the pipeline is fast.

A problem names its row as the library names a table's rows: NAME:ROW:COLUMN, ROW counting the
DataFrame's rows from 1 in the order Spark reads them. A worker sees one bucket and cannot know
that number, so it names the row by its Spark row id between two marks, and the row is numbered
where the problems are gathered.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, overload

import polars as pl

from .errors import ObservationError
from .grading import CSV_COLUMNS, Accounting, Grader
from .ruleset import DEFAULT_SYSTEM, RuleSet, default_rules_dir, load_ruleset
from .sources import map_headers, open_table

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import Column, DataFrame
    from pyspark.sql.types import StructType

__all__ = ["SparkGrading", "grade", "summary"]

ROW = "_crsgrade_row"  # Spark's id of an input row (monotonically_increasing_id)
BUCKET = "_crsgrade_bucket"
PROBLEMS = "_crsgrade_problems"
MARK = "\u2063"  # an invisible separator: brackets a row id in a message until the row is numbered
_PART_BITS = 33  # a Spark row id is its partition's number << 33 plus its place in the partition

_KINDS: dict[type, str] = {str: "string", int: "bigint", bool: "boolean", float: "double"}
_GRADED_TYPES: dict[str, type] = {
    "patient_id": str, "day": int,
    **{c: (int if c.endswith("_grade") else bool if c == "fever_waived" else str) for c in CSV_COLUMNS[2:]},
}


@dataclass(frozen=True)
class SparkGrading:
    """What `grade` and `summary` return with `skip_invalid=True`: the result (`days` or
    per-patient `patients`, as `result`) and `rejected`, one row per input row left out: `row`
    (its number in the input, from 1), the input's own columns as given, and `problems` (the
    messages the command line prints for it). Both are computed once and cached by Spark."""

    result: DataFrame
    rejected: DataFrame


@dataclass(frozen=True)
class _Job:
    """Grades one bucket in a worker (what it needs travels with it, pickled)."""

    kind: Literal["days", "patients"]
    ruleset: RuleSet
    settings: tuple[tuple[str, Any], ...]
    scoring: tuple[tuple[str, Any], ...]
    engine: str
    infusion_date: datetime.date | None
    name: str
    inputs: tuple[str, ...]
    types: tuple[tuple[str, type], ...]

    def grader(self) -> Grader:
        key = (self.ruleset.digest, self.settings, self.engine)
        grader = _GRADERS.get(key)
        if grader is None:
            grader = _GRADERS[key] = Grader(self.ruleset, dict(self.settings), self.engine)
        return grader

    def bucket(self, table: pa.Table) -> pa.Table:
        import pyarrow as pa

        table = table.sort_by(ROW)  # the input's order, as the command line reads it
        ids = table.column(ROW).to_pylist()
        frame = pl.from_arrow(table.select(list(self.inputs)))
        assert isinstance(frame, pl.DataFrame)
        source = open_table(frame, self.name, row_labels=[f"{MARK}{i}{MARK}" for i in ids])
        accounting = Accounting(rejected_rows={})
        grader = self.grader()
        try:
            frames = list(grader.frames(source, infusion_date=self.infusion_date, skip_invalid=True,
                                        accounting=accounting))
        except ObservationError:
            if accounting.rows_read:
                raise
            frames = []  # nothing but blank rows
        result = self._days(frames) if self.kind == "days" else self._patients(frames, grader)
        found = accounting.rejected_rows or {}
        rejected = table.take(pa.array(list(found), pa.int64())).select(list(self.inputs))
        return pa.concat_tables([
            self._arrow(dict(zip(result.columns, result.to_arrow().columns, strict=True)), result.height, table),
            self._arrow({ROW: [ids[rec] for rec in found], PROBLEMS: list(found.values()),
                         **{f"_in{i}": rejected.column(c) for i, c in enumerate(self.inputs)}}, len(found), table),
        ])

    def _schema(self) -> pl.Schema:
        kinds = {str: pl.String, int: pl.Int64, bool: pl.Boolean, float: pl.Float64}
        return pl.Schema({name: kinds[kind] for name, kind in self.types})

    def _days(self, frames: list[pl.DataFrame]) -> pl.DataFrame:
        if not frames:
            return pl.DataFrame(schema=self._schema())
        columns = [name for name, _ in self.types]
        return pl.concat([f.select(columns) for f in frames], how="vertical_relaxed").cast(self._schema())

    def _patients(self, frames: list[pl.DataFrame], grader: Grader) -> pl.DataFrame:
        from .episodes import Summariser
        from .views import summary_rows

        manifest = grader.ruleset.manifest
        labels: dict[str, str] = {str(s): label for s, label in manifest.syndromes.items()}
        summariser = Summariser(manifest.system, labels, manifest.version, grader.settings, dict(self.scoring))
        patients = [patient for frame in frames for patient in summariser.add_frame(frame)]
        return pl.DataFrame(list(summary_rows(patients)), schema=self._schema(), orient="row")

    def _arrow(self, columns: Mapping[str, Any], rows: int, table: pa.Table) -> pa.Table:
        """Columns as the output schema has them; the ones not given are empty."""
        import pyarrow as pa

        arrow = {str: pa.string(), int: pa.int64(), bool: pa.bool_(), float: pa.float64()}
        fields = [pa.field(name, arrow[kind]) for name, kind in self.types]
        fields += [pa.field(ROW, pa.int64()), pa.field(PROBLEMS, pa.list_(pa.string()))]
        fields += [pa.field(f"_in{i}", table.schema.field(c).type) for i, c in enumerate(self.inputs)]
        arrays = [pa.nulls(rows, f.type) if f.name not in columns else columns[f.name].cast(f.type)
                  if hasattr(columns[f.name], "cast") else pa.array(columns[f.name], f.type) for f in fields]
        return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


_GRADERS: dict[Any, Grader] = {}  # per worker process, built on its first bucket


def _numbered(messages: list[str] | None, starts: Mapping[int, int] | None) -> list[str]:
    """Messages with each marked row id written as the row's number in the input."""
    mask = (1 << _PART_BITS) - 1

    def number(match: re.Match[str]) -> str:
        row = int(match.group(1))
        return str((starts or {}).get(row >> _PART_BITS, 0) + (row & mask) + 1)

    return [re.sub(f"{MARK}(\\d+){MARK}", number, m) for m in messages or []]


class _Run:
    """One grading of a DataFrame on Spark: the graded output with rejected rows beside it."""

    def __init__(self, df: DataFrame, kind: Literal["days", "patients"], types: dict[str, type], *,
                 system: str, settings: Mapping[str, Any] | None, rules: str | Path | None, engine: str,
                 infusion_date: datetime.date | None, buckets: int | None, name: str):
        from pyspark.sql import functions as F

        from .hematotoxicity import load_hematotoxicity, split_settings

        grading, scoring = split_settings(dict(settings or {}))
        ruleset = load_ruleset(rules if rules is not None else default_rules_dir(system))
        chosen = tuple(ruleset.settings(grading).items())  # a bad setting fails here, not in a worker
        scored = tuple(load_hematotoxicity().settings(scoring).items()) if kind == "patients" else ()
        patient = _patient_column(df, name)
        self.inputs = tuple(df.columns)
        self.types = types
        self.numbered = df.withColumn(ROW, F.monotonically_increasing_id())
        count = buckets or int(df.sparkSession.conf.get("spark.sql.shuffle.partitions") or 200)
        # the reader trims a patient id, so the bucket is chosen by the trimmed id
        trimmed = F.regexp_replace(F.col(f"`{patient}`").cast("string"), r"^\s+|\s+$", "") if patient else F.lit("")
        bucketed = self.numbered.withColumn(BUCKET, F.pmod(F.xxhash64(trimmed), F.lit(count)))
        job = _Job(kind, ruleset, chosen, scored, engine, infusion_date, name, self.inputs, tuple(types.items()))
        def bucket(table: pa.Table) -> pa.Table:  # a function: Spark counts a method's `self` as an argument
            return job.bucket(table)

        self.output = bucketed.groupBy(BUCKET).applyInArrow(bucket, self._spark_schema(df)).persist()

    def _spark_schema(self, df: DataFrame) -> StructType:
        from pyspark.sql.types import ArrayType, LongType, StringType, StructField, StructType, _parse_datatype_string

        fields = [StructField(name, _parse_datatype_string(_KINDS[kind])) for name, kind in self.types.items()]
        fields += [StructField(ROW, LongType()), StructField(PROBLEMS, ArrayType(StringType()))]
        fields += [StructField(f"_in{i}", df.schema[c].dataType) for i, c in enumerate(self.inputs)]
        return StructType(fields)

    def result(self) -> DataFrame:
        from pyspark.sql import functions as F

        return self.output.filter(F.col(ROW).isNull()).select(*[F.col(c) for c in self.types])

    def rejected(self) -> DataFrame:
        """The rejected rows, numbered as in the input, their problems' row ids too."""
        from pyspark.sql import Window
        from pyspark.sql import functions as F
        from pyspark.sql.types import ArrayType, StringType

        part = F.shiftrightunsigned(F.col(ROW), _PART_BITS)
        counts = self.numbered.groupBy(part.alias("_part")).count()
        starts = counts.select("_part", (F.sum("count").over(Window.orderBy("_part")) - F.col("count")).alias("_start"))
        table = starts.agg(F.map_from_entries(F.collect_list(F.struct("_part", "_start"))).alias("_starts"))
        # (a lambda: given the annotated function, Spark tries to infer an Arrow UDF from its hints)
        numbered = F.udf(lambda messages, starts: _numbered(messages, starts), ArrayType(StringType()))
        place = F.col(ROW).bitwiseAND((1 << _PART_BITS) - 1)
        row: Column = F.coalesce(F.element_at("_starts", part), F.lit(0)) + place + F.lit(1)
        return (self.output.filter(F.col(ROW).isNotNull()).crossJoin(table)
                .select(row.alias("row"), *[F.col(f"_in{i}").alias(c) for i, c in enumerate(self.inputs)],
                        numbered(F.col(PROBLEMS), F.col("_starts")).alias("problems"))
                .orderBy("row"))

    def checked(self) -> DataFrame:
        """The result, once no row was rejected; otherwise every problem, raised at once."""
        from pyspark.sql import functions as F

        if self.output.filter(F.col(ROW).isNotNull()).take(1):
            messages: dict[str, None] = {}
            for found in self.rejected().select("problems").collect():
                messages.update(dict.fromkeys(found["problems"]))
            self.output.unpersist()
            raise ObservationError(list(messages))
        return self.result()


def _patient_column(df: DataFrame, name: str) -> str | None:
    """The DataFrame's patient column (None: one patient); its header problems raised as the
    command line says them."""
    open_table(pl.DataFrame(schema=dict.fromkeys(df.columns, pl.String)), name)
    columns = map_headers(df.columns, name, [], [])
    return next((given for given, column in zip(df.columns, columns, strict=True) if column == "patient_id"), None)


@overload
def grade(df: DataFrame, *, system: str = ..., settings: Mapping[str, Any] | None = ..., rules: str | Path | None = ...,
          engine: str = ..., infusion_date: datetime.date | None = ..., skip_invalid: Literal[False] = ...,
          buckets: int | None = ..., name: str = ...) -> DataFrame: ...
@overload
def grade(df: DataFrame, *, system: str = ..., settings: Mapping[str, Any] | None = ..., rules: str | Path | None = ...,
          engine: str = ..., infusion_date: datetime.date | None = ..., skip_invalid: Literal[True],
          buckets: int | None = ..., name: str = ...) -> SparkGrading: ...
def grade(df: DataFrame, *, system: str = DEFAULT_SYSTEM, settings: Mapping[str, Any] | None = None,
          rules: str | Path | None = None, engine: str = "auto", infusion_date: datetime.date | None = None,
          skip_invalid: bool = False, buckets: int | None = None, name: str = "spark") -> DataFrame | SparkGrading:
    """Grades a Spark DataFrame in the observation contract (day numbers, or dates with an
    infusion date): one row per patient-day with the columns and values of `crsgrade grade
    --format csv` (cells as they are, not made spreadsheet-safe).

    Bad rows raise an ObservationError with every problem (this runs the grading, whose result
    Spark keeps); with `skip_invalid`, they are returned in `SparkGrading.rejected` instead.
    `buckets` (default: `spark.sql.shuffle.partitions`) is how many groups the patients are
    hashed into; each group is graded in one call, in one worker's memory."""
    run = _Run(df, "days", _GRADED_TYPES, system=system, settings=settings, rules=rules, engine=engine,
               infusion_date=infusion_date, buckets=buckets, name=name)
    return SparkGrading(run.result(), run.rejected()) if skip_invalid else run.checked()


@overload
def summary(df: DataFrame, *, system: str = ..., settings: Mapping[str, Any] | None = ...,
            rules: str | Path | None = ..., engine: str = ..., infusion_date: datetime.date | None = ...,
            skip_invalid: Literal[False] = ..., buckets: int | None = ..., name: str = ...) -> DataFrame: ...
@overload
def summary(df: DataFrame, *, system: str = ..., settings: Mapping[str, Any] | None = ...,
            rules: str | Path | None = ..., engine: str = ..., infusion_date: datetime.date | None = ...,
            skip_invalid: Literal[True], buckets: int | None = ..., name: str = ...) -> SparkGrading: ...
def summary(df: DataFrame, *, system: str = DEFAULT_SYSTEM, settings: Mapping[str, Any] | None = None,
            rules: str | Path | None = None, engine: str = "auto", infusion_date: datetime.date | None = None,
            skip_invalid: bool = False, buckets: int | None = None, name: str = "spark") -> DataFrame | SparkGrading:
    """The per-patient registry fields of `crsgrade summary --format csv`, one row per patient,
    typed (a list of names as one space-separated text). Settings, bad rows and buckets as for
    `grade`."""
    from .views import SUMMARY_TYPES

    run = _Run(df, "patients", SUMMARY_TYPES, system=system, settings=settings, rules=rules, engine=engine,
               infusion_date=infusion_date, buckets=buckets, name=name)
    return SparkGrading(run.result(), run.rejected()) if skip_invalid else run.checked()
