"""Importing observations from an OMOP CDM v5.4 database: `read_omop(SOURCE, mapping)`.

SOURCE is a DuckDB database file (.duckdb, .db), opened read-only, or a folder of the CDM's
tables with their OHDSI names as CSV or Parquet files (`person.csv`, `measurement.parquet`, a
`measurement/` folder of Parquet parts, ...). Everything is read through DuckDB SQL; nothing is
ever written to the source.

Codes are matched by vocabulary and code through the CDM's own `concept` table, never by
concept ids: a MEASUREMENT by its LOINC code with its unit's UCUM code, a DRUG_EXPOSURE by the
RxNorm ingredients its clinical drug rolls up to through `concept_ancestor`, an oxygen device in
PROCEDURE_OCCURRENCE, DEVICE_EXPOSURE or OBSERVATION by its HCPCS, CPT4, ICD10PCS or SNOMED
code. Every record read is counted by table, and every record not mapped is counted with why.

The vocabulary tables (`concept`, and `concept_ancestor` when there is a DRUG_EXPOSURE table)
must be there; a clinical table that is missing is warned about and read as empty.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from .errors import ObservationError
from .importing import CodeMap, Imported

if TYPE_CHECKING:
    import duckdb

SOURCE = "omop"
DATABASE_SUFFIXES = (".duckdb", ".db")


@dataclass(frozen=True)
class _Table:
    """A CDM table as read here: its record id, its concept, the date (`<date>` or the date of
    `<date>time`) and the other columns used."""

    name: str
    id: str | None
    concept: str | None
    date: str | None
    other: tuple[str, ...] = ()

    @property
    def datetime(self) -> str | None:
        return f"{self.date}time" if self.date else None

    def expected(self) -> str:
        columns = [c for c in (self.id, "person_id" if self.date else None, self.concept) if c]
        columns += [f"{self.date} (or {self.datetime})"] if self.date else []
        return ", ".join([*columns, *self.other])


MEASUREMENT = _Table("measurement", "measurement_id", "measurement_concept_id", "measurement_date",
                     ("value_as_number", "unit_concept_id"))
DRUG_EXPOSURE = _Table("drug_exposure", "drug_exposure_id", "drug_concept_id", "drug_exposure_start_date",
                       ("route_concept_id",))
PROCEDURE = _Table("procedure_occurrence", "procedure_occurrence_id", "procedure_concept_id", "procedure_date")
DEVICE = _Table("device_exposure", "device_exposure_id", "device_concept_id", "device_exposure_start_date")
OBSERVATION = _Table("observation", "observation_id", "observation_concept_id", "observation_date")
DEATH = _Table("death", None, None, "death_date")
CONCEPT = _Table("concept", None, None, None, ("concept_id", "concept_name", "vocabulary_id", "concept_code"))
ANCESTOR = _Table("concept_ancestor", None, None, None, ("ancestor_concept_id", "descendant_concept_id"))
CLINICAL = (MEASUREMENT, DRUG_EXPOSURE, PROCEDURE, DEVICE, OBSERVATION, DEATH)
DEVICE_TABLES = (PROCEDURE, DEVICE, OBSERVATION)


def read_omop(source: Path | str, mapping: CodeMap) -> Imported:
    """The readings of an OMOP CDM: a DuckDB file or a folder of CSV or Parquet tables."""
    import duckdb

    path = Path(source)
    imported = Imported(SOURCE)
    try:
        connection = _connect(duckdb, path)
    except duckdb.Error as exc:
        raise ObservationError([f"{path}: cannot open as a DuckDB database: {_first_line(exc)}"]) from None
    try:
        cdm = _Cdm(connection, path, duckdb.Error)
        cdm.prepare(mapping, imported)
        if cdm.has(MEASUREMENT):
            _measurements(cdm, imported)
        if cdm.has(DRUG_EXPOSURE):
            _drugs(cdm, mapping, imported)
        for table in DEVICE_TABLES:
            if cdm.has(table):
                _devices(cdm, table, imported)
        if cdm.has(DEATH):
            _deaths(cdm, imported)
    except duckdb.Error as exc:
        raise ObservationError([f"{path}: cannot read the OMOP tables: {_first_line(exc)}"]) from None
    finally:
        connection.close()
    return imported


def _connect(duckdb: Any, path: Path) -> duckdb.DuckDBPyConnection:
    if path.is_dir():
        return duckdb.connect(":memory:")
    if not path.exists():
        raise ObservationError([f"{path}: no such file or folder; expected a DuckDB file (.duckdb, .db) or a"
                                " folder of OMOP CDM tables (person.csv, measurement.csv, ... or .parquet)"])
    if path.suffix.lower() not in DATABASE_SUFFIXES:
        raise ObservationError([f"{path}: not a DuckDB file (.duckdb, .db) nor a folder of OMOP CDM tables"])
    return duckdb.connect(str(path), read_only=True)


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


class _Cdm:
    """The CDM's tables as temporary views with the columns used, ids as text, concept ids as
    integers and dates as dates, whatever the types of the source."""

    def __init__(self, connection: duckdb.DuckDBPyConnection, path: Path, error: type[Exception]):
        self.connection = connection
        self.error = error
        self.path = path
        self.folder = path.is_dir()
        self.present: set[str] = set()

    def has(self, table: _Table) -> bool:
        return table.name in self.present

    def sql(self, query: str) -> pl.DataFrame:
        frame = pl.from_arrow(self.connection.sql(query).to_arrow_table())
        assert isinstance(frame, pl.DataFrame)
        return frame

    def run(self, query: str) -> None:
        self.connection.execute(query)

    def prepare(self, mapping: CodeMap, imported: Imported) -> None:
        relations = self._folder_relations() if self.folder else self._database_relations()
        problems: list[str] = []
        missing: list[str] = []
        for table in (*CLINICAL, CONCEPT, ANCESTOR):
            relation = relations.get(table.name)
            if relation is None:
                missing.append(table.name)
                continue
            where, text = relation
            try:
                columns = {c.lower(): c for c in self.connection.sql(f"SELECT * FROM {text} LIMIT 0").columns}
            except self.error as exc:
                problems.append(f"{where}: cannot read the {table.name} table: {_first_line(exc)}")
                continue
            view = self._view(table, text, columns)
            if view is None:
                problems.append(f"{where}: the {table.name} table lacks columns; expected {table.expected()}"
                                f" (found {', '.join(columns) or 'none'})")
                continue
            self.run(view)
            self.present.add(table.name)
        if "concept" in missing:
            problems.append(self._missing("concept", "the vocabulary's codes (concept_id, concept_name,"
                                                     " vocabulary_id, concept_code)"))
        if "concept_ancestor" in missing and self.has(DRUG_EXPOSURE):
            problems.append(self._missing("concept_ancestor", "to roll clinical drugs up to their ingredients"
                                                              " (ancestor_concept_id, descendant_concept_id)"))
        if not any(self.has(t) for t in CLINICAL) and not problems:
            problems.append(self._missing("measurement", "or any other clinical table ("
                                          + ", ".join(t.name for t in CLINICAL) + ")"))
        if problems:
            raise ObservationError(problems)
        absent = [t.name for t in CLINICAL if t.name in missing]
        if absent:
            imported.warnings.append(f"{SOURCE}: {self.path}: no {', '.join(absent)} table: read as empty")
        self._code_tables(mapping)

    def _missing(self, table: str, what: str) -> str:
        where = (f"{self.path}: no {table}.csv or {table}.parquet" if self.folder
                 else f"{self.path}: no {table} table")
        return f"{where}; expected the OMOP CDM {table} table: {what}"

    def _folder_relations(self) -> dict[str, tuple[str, str]]:
        """Each table's file (any case of its name) and how DuckDB reads it."""
        files: dict[str, list[Path]] = {}
        for entry in self.path.iterdir():
            name = entry.name.lower()
            if entry.is_dir():  # a folder of Parquet parts
                files.setdefault(name, []).append(entry)
                continue
            for suffix in (".csv", ".csv.gz", ".parquet"):
                if name.endswith(suffix):
                    files.setdefault(name.removesuffix(suffix), []).append(entry)
        relations = {}
        problems = []
        for table in (*CLINICAL, CONCEPT, ANCESTOR):
            found = sorted(files.get(table.name, []))
            if len(found) > 1:
                problems.append(f"{self.path}: both {' and '.join(p.name for p in found)}: keep one {table.name}"
                                " table")
                continue
            if not found:
                continue
            file = found[0]
            if file.is_dir():
                relation = f"read_parquet({_literal(str(file / '*.parquet'))})"
            elif file.name.lower().endswith(".parquet"):
                relation = f"read_parquet({_literal(str(file))})"
            else:
                relation = f"read_csv({_literal(str(file))}, header = true, all_varchar = true)"
            relations[table.name] = (str(file), relation)
        if problems:
            raise ObservationError(problems)
        return relations

    def _database_relations(self) -> dict[str, tuple[str, str]]:
        """Each table or view of the database by its name in any case, in the `main` schema
        before any other."""
        rows = self.connection.execute(
            "SELECT table_catalog, table_schema, table_name FROM information_schema.tables"
            " WHERE table_catalog = current_database()"
            " ORDER BY table_schema <> 'main', table_schema, table_name").fetchall()
        relations: dict[str, tuple[str, str]] = {}
        for catalog, schema, name in rows:
            text = f"{_quote(catalog)}.{_quote(schema)}.{_quote(name)}"
            relations.setdefault(name.lower(), (f"{self.path}: {schema}.{name}", text))
        return relations

    def _view(self, table: _Table, relation: str, columns: dict[str, str]) -> str | None:
        """The view over a table, or None when a column it needs is missing."""

        def col(name: str) -> str:
            return _quote(columns[name])

        needed = [c for c in (table.id, table.concept, *table.other) if c]
        if table.date:
            needed.append("person_id")
        if any(c not in columns for c in needed):
            return None
        if table.date and table.datetime and table.date not in columns and table.datetime not in columns:
            return None
        if table is CONCEPT:
            kind = "TABLE" if self.folder else "VIEW"  # CSV is parsed once, not for every query
            return (f"CREATE TEMP {kind} _concept AS SELECT try_cast({col('concept_id')} AS BIGINT) AS concept_id,"
                    f" CAST({col('concept_name')} AS VARCHAR) AS concept_name,"
                    f" trim(CAST({col('vocabulary_id')} AS VARCHAR)) AS vocabulary_id,"
                    f" trim(CAST({col('concept_code')} AS VARCHAR)) AS concept_code FROM {relation}")
        if table is ANCESTOR:
            return (f"CREATE TEMP VIEW _concept_ancestor AS"
                    f" SELECT try_cast({col('ancestor_concept_id')} AS BIGINT) AS ancestor_concept_id,"
                    f" try_cast({col('descendant_concept_id')} AS BIGINT) AS descendant_concept_id FROM {relation}")
        selected = [f"{_text(col('person_id'))} AS patient_id"]
        dates = []
        if table.date in columns:
            dates.append(f"try_cast({col(table.date)} AS DATE)")
        if table.datetime in columns:
            dates.append(f"CAST(try_cast({col(table.datetime)} AS TIMESTAMP) AS DATE)")
        selected.append(f"coalesce({', '.join(dates)}) AS date")
        if table.id:
            selected.append(f"{_text(col(table.id))} AS source_id")
        if table.concept:
            selected.append(f"try_cast({col(table.concept)} AS BIGINT) AS concept_id")
        for name in table.other:
            kind = "DOUBLE" if name == "value_as_number" else "BIGINT"
            selected.append(f"try_cast({col(name)} AS {kind}) AS {name}")
        return f"CREATE TEMP VIEW _{table.name} AS SELECT {', '.join(selected)} FROM {relation}"

    def _code_tables(self, mapping: CodeMap) -> None:
        """The mapping as tables: `_map` (kind, vocabulary, code, target) and `_units` (code,
        unit, factor, fahrenheit), with `_codes`, the CDM's concepts the mapping names."""
        rows = [*(("measurement", key, entry.column) for key, entry in mapping.measurement.items()),
                *(("drug", key, column) for key, column in mapping.drug.items()),
                *(("device", key, device) for key, device in mapping.device.items()),
                *(("car_t", key, "car_t") for key in mapping.car_t)]
        codes = pl.DataFrame([(kind, *key.split(" ", 1), key, target) for kind, key, target in rows],
                             schema=["kind", "vocabulary", "code", "key", "target"], orient="row")
        units = pl.DataFrame([(key, unit, 0.0 if factor == "fahrenheit" else float(factor), factor == "fahrenheit")
                              for key, entry in mapping.measurement.items() for unit, factor in entry.units.items()],
                             schema={"key": pl.String, "unit": pl.String, "factor": pl.Float64,
                                     "fahrenheit": pl.Boolean}, orient="row")
        self.connection.register("_map_frame", codes.to_arrow())
        self.connection.register("_units_frame", units.to_arrow())
        self.run("CREATE TEMP TABLE _units AS SELECT * FROM _units_frame")
        self.run("CREATE TEMP TABLE _codes AS SELECT c.concept_id, m.kind, m.key, m.target FROM _concept c"
                 " JOIN _map_frame m ON lower(c.vocabulary_id) = m.vocabulary AND c.concept_code = m.code")
        if mapping.car_t_names:  # a CAR-T product also by its name, its code aside
            names = pl.DataFrame({"name": list(mapping.car_t_names)})
            self.connection.register("_car_t_names", names.to_arrow())
            self.run("INSERT INTO _codes SELECT DISTINCT c.concept_id, 'car_t', 'car_t', 'car_t' FROM _concept c"
                     " JOIN _car_t_names n ON contains(lower(c.concept_name), n.name)"
                     " WHERE c.concept_id NOT IN (SELECT concept_id FROM _codes WHERE kind = 'car_t')")
            self.connection.unregister("_car_t_names")
        self.connection.unregister("_map_frame")
        self.connection.unregister("_units_frame")


def _text(column: str) -> str:
    """An id as text: a whole number without a decimal point or leading zeros, whatever its type."""
    return f"coalesce(CAST(try_cast({column} AS BIGINT) AS VARCHAR), trim(CAST({column} AS VARCHAR)))"


ORDER = "ORDER BY try_cast(patient_id AS BIGINT), patient_id, date, try_cast(source_id AS BIGINT), source_id"


def _count_read(cdm: _Cdm, table: _Table, imported: Imported) -> None:
    imported.read[table.name] += int(cdm.sql(f"SELECT count(*) AS n FROM _{table.name}")["n"][0])


def _unmapped(imported: Imported, table: str, counts: pl.DataFrame) -> None:
    """Records not mapped, counted by why (columns `why` and `n`)."""
    for why, count in counts.select("why", "n").iter_rows():
        imported.unmapped[(table, why)] += int(count)


def _code(vocabulary: str | None, code: str | None, name: str | None, concept_id: int | None, column: str) -> str:
    """A concept as a report names it: "LOINC 59408-5 (Oxygen saturation ...)"."""
    if vocabulary is None:
        return f"{column} {concept_id} (not in the concept table)"
    return f"{vocabulary} {code} ({name})" if name else f"{vocabulary} {code}"


def _extend(imported: Imported, table: str, readings: pl.DataFrame, column: str, mapped: int) -> None:
    """Readings (patient_id, date, source_id, value) of one column, added as a table."""
    if readings.is_empty():
        return
    imported.frames.append(readings.select("patient_id", "date", pl.lit(table).alias("source"), "source_id",
                                           pl.col("value").alias(column)))
    imported.mapped[table] += mapped


def _measurements(cdm: _Cdm, imported: Imported) -> None:
    """value_as_number with its unit's UCUM code, converted into the column's unit as `convert`
    does; a code not mapped, a unit not accepted, no value or no date: counted with why."""
    cdm.run("""
        CREATE TEMP TABLE _measured AS
        SELECT m.patient_id, m.date, m.source_id, m.concept_id, m.value_as_number AS value, k.key, k.target,
               u.concept_code AS unit, f.factor, f.fahrenheit,
               CASE WHEN k.key IS NULL THEN 'code' WHEN f.key IS NULL THEN 'unit'
                    WHEN m.value_as_number IS NULL THEN 'value' WHEN m.date IS NULL THEN 'date' END AS why
        FROM _measurement m
        LEFT JOIN (SELECT * FROM _codes WHERE kind = 'measurement') k ON k.concept_id = m.concept_id
        LEFT JOIN _concept u ON u.concept_id = m.unit_concept_id
        LEFT JOIN _units f ON f.key = k.key AND f.unit = u.concept_code""")
    counts = cdm.sql("""
        SELECT t.why, t.concept_id, t.unit, c.vocabulary_id, c.concept_code, c.concept_name, t.n FROM (
            SELECT why, concept_id, unit, count(*) AS n FROM _measured GROUP BY ALL) t
        LEFT JOIN _concept c ON c.concept_id = t.concept_id""")
    imported.read[MEASUREMENT.name] += int(counts["n"].sum())
    reasons = []
    for why, concept_id, unit, vocabulary, code, label, n in counts.filter(pl.col("why").is_not_null()).iter_rows():
        name = _code(vocabulary, code, label, concept_id, "measurement_concept_id")
        text = {"code": name, "unit": f"{name} in unit {unit}" if unit else f"{name} with no unit",
                "value": f"{name} with no value_as_number", "date": f"{name} with no date"}[why]
        reasons.append((text, n))
    _unmapped(imported, MEASUREMENT.name, pl.DataFrame(reasons, schema=["why", "n"], orient="row"))
    mapped = cdm.sql(f"""
        SELECT patient_id, date, source_id, target,
               CASE WHEN fahrenheit THEN round((value - 32) * 5 / 9, 2) ELSE round(value * factor, 6) END AS value
        FROM _measured WHERE why IS NULL {ORDER}""")
    cdm.run("DROP TABLE _measured")
    for (target,), readings in _by_target(mapped):
        _extend(imported, MEASUREMENT.name, readings, target, readings.height)


def _by_target(frame: pl.DataFrame) -> Iterator[tuple[tuple[Any, ...], pl.DataFrame]]:
    yield from frame.group_by("target", maintain_order=True)


def _drugs(cdm: _Cdm, mapping: CodeMap, imported: Imported) -> None:
    """Exposures rolled up to the mapping's ingredients; a vasopressor given by an excluded
    route or named so (an auto-injector) left out; the vasopressor agents of a patient-day
    counted into one reading; CAR-T products giving the infusion date."""
    _count_read(cdm, DRUG_EXPOSURE, imported)
    cdm.run("""
        CREATE TEMP TABLE _rolled AS
        WITH targets AS (SELECT concept_id, kind, target FROM _codes WHERE kind IN ('drug', 'car_t')),
             rolled AS (SELECT a.descendant_concept_id AS concept_id, t.kind, t.target
                        FROM _concept_ancestor a JOIN targets t ON a.ancestor_concept_id = t.concept_id
                        UNION SELECT concept_id, kind, target FROM targets)
        SELECT d.patient_id, d.date, d.source_id, d.concept_id, d.route_concept_id, r.kind, r.target
        FROM _drug_exposure d LEFT JOIN rolled r ON r.concept_id = d.concept_id""")
    unmapped = cdm.sql("""
        SELECT t.concept_id, c.vocabulary_id, c.concept_code, c.concept_name, t.n FROM (
            SELECT concept_id, count(*) AS n FROM _rolled WHERE kind IS NULL GROUP BY ALL) t
        LEFT JOIN _concept c ON c.concept_id = t.concept_id""")
    _unmapped(imported, DRUG_EXPOSURE.name, pl.DataFrame(
        [(_code(v, c, name, i, "drug_concept_id"), n) for i, v, c, name, n in unmapped.iter_rows()],
        schema=["why", "n"], orient="row"))
    given = cdm.sql(f"""
        SELECT r.patient_id, r.date, r.source_id, r.kind, r.target, c.vocabulary_id || ' ' || c.concept_code
               || coalesce(' (' || c.concept_name || ')', '') AS drug, c.concept_name AS name,
               lower(o.vocabulary_id) || ' ' || o.concept_code AS route,
               o.vocabulary_id || ' ' || o.concept_code AS route_name
        FROM (SELECT DISTINCT * FROM _rolled WHERE kind IS NOT NULL) r
        LEFT JOIN _concept c ON c.concept_id = r.concept_id
        LEFT JOIN _concept o ON o.concept_id = r.route_concept_id
        {ORDER}, target""")
    cdm.run("DROP TABLE _rolled")
    undated = given.filter(pl.col("date").is_null())
    given = given.filter(pl.col("date").is_not_null())
    reasons = [(f"{drug} with no date", 1) for drug in undated["drug"]]
    for patient, when in given.filter(pl.col("kind") == "car_t").group_by("patient_id").agg(
            pl.col("date").min()).iter_rows():
        earliest: datetime.date = when
        imported.infusions[patient] = min(earliest, imported.infusions.get(patient, earliest))
    drugs = given.filter(pl.col("kind") == "drug")
    # an agent given so is not a vasopressor for hypotension (an epinephrine auto-injector)
    agent = pl.col("target").str.starts_with("vasopressor:")
    named = (pl.col("name").str.to_lowercase().str.contains_any(list(mapping.exclude_names)).fill_null(False)
             if mapping.exclude_names else pl.lit(False))
    drugs = drugs.with_columns(
        pl.when(agent & pl.col("route").is_in(sorted(mapping.exclude_routes)))
        .then(pl.format("{}: not for hypotension (route {})", pl.col("drug"), pl.col("route_name")))
        .when(agent & named)
        .then(pl.format("{}: not for hypotension (its form)", pl.col("drug")))
        .alias("excluded"))
    reasons += [(why, 1) for why in drugs["excluded"].drop_nulls()]
    _unmapped(imported, DRUG_EXPOSURE.name, pl.DataFrame(reasons, schema=["why", "n"], orient="row"))
    kept = drugs.filter(pl.col("excluded").is_null())
    mapped_ids = set(kept["source_id"]) | set(given.filter(pl.col("kind") == "car_t")["source_id"])
    imported.mapped[DRUG_EXPOSURE.name] += len(mapped_ids)
    agents = kept.filter(pl.col("target").str.starts_with("vasopressor:"))
    per_day = agents.group_by("patient_id", "date", maintain_order=True).agg(
        pl.col("target").n_unique().cast(pl.Int64).alias("value"),
        pl.col("source_id").unique().sort().str.join(" ").alias("source_id"))
    _extend(imported, DRUG_EXPOSURE.name, per_day, "vasopressors", 0)
    for (target,), readings in _by_target(kept.filter(~pl.col("target").str.starts_with("vasopressor:"))):
        _extend(imported, DRUG_EXPOSURE.name, readings.with_columns(value=pl.lit(True)), str(target), 0)


def _devices(cdm: _Cdm, table: _Table, imported: Imported) -> None:
    """Oxygen devices: a code the mapping names sets o2_device on its day."""
    cdm.run(f"""
        CREATE TEMP TABLE _coded AS
        SELECT t.patient_id, t.date, t.source_id, t.concept_id, k.target
        FROM _{table.name} t LEFT JOIN (SELECT * FROM _codes WHERE kind = 'device') k ON k.concept_id = t.concept_id""")
    counts = cdm.sql("""
        SELECT t.concept_id, t.mapped, t.dated, c.vocabulary_id, c.concept_code, c.concept_name, t.n FROM (
            SELECT concept_id, target IS NOT NULL AS mapped, date IS NOT NULL AS dated, count(*) AS n
            FROM _coded GROUP BY ALL) t
        LEFT JOIN _concept c ON c.concept_id = t.concept_id""")
    imported.read[table.name] += int(counts["n"].sum())
    reasons = [(_code(v, c, name, i, table.concept or "") + (" with no date" if mapped else ""), n)
               for i, mapped, dated, v, c, name, n in counts.iter_rows() if not (mapped and dated)]
    _unmapped(imported, table.name, pl.DataFrame(reasons, schema=["why", "n"], orient="row"))
    mapped = cdm.sql(f"SELECT patient_id, date, source_id, target, target AS value FROM _coded"
                     f" WHERE target IS NOT NULL AND date IS NOT NULL {ORDER}")
    cdm.run("DROP TABLE _coded")
    _extend(imported, table.name, mapped, "o2_device", mapped.height)


def _deaths(cdm: _Cdm, imported: Imported) -> None:
    """The date of death (its cause is not coded in the CDM)."""
    _count_read(cdm, DEATH, imported)
    deaths = cdm.sql("SELECT patient_id, min(date) AS date, count(*) AS n FROM _death WHERE date IS NOT NULL"
                     " GROUP BY patient_id ORDER BY try_cast(patient_id AS BIGINT), patient_id")
    for patient, when, _ in deaths.iter_rows():
        imported.deaths[patient] = when
    imported.mapped[DEATH.name] += int(deaths["n"].sum())
    undated = imported.read[DEATH.name] - imported.mapped[DEATH.name]
    if undated:
        imported.unmapped[(DEATH.name, "no death_date")] += undated
