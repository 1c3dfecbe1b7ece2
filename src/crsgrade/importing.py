"""Importing observations from where they live (OMOP CDM, FHIR R4): the shipped mapping of codes to
columns, what every importer returns, and the steps they share — the infusion date, the scores
the standards do not code, and writing the observation CSV.

An importer reads its source into readings: one row per record mapped, with `patient_id`,
`date`, the contract columns it fills, and where it came from (`source`, `source_id`). Nothing is
dropped silently: every record read is counted by table or resource, and every code not mapped is
counted and reported.
"""

from __future__ import annotations

import datetime
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import polars as pl
from pydantic import BaseModel, ConfigDict, Field, field_validator

from .errors import ObservationError
from .observations import COLUMNS
from .ruleset import _parse, _read_bytes, shipped

SOURCES = ("omop", "fhir")
# The observation CSV's columns that come first and last, around the ones a source fills.
_FIRST_AND_LAST = ("patient_id", "day", "source", "source_id")
_CODE = r"^[A-Za-z0-9]+ \S+$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class MeasurementMap(_Strict):
    column: str
    codes: tuple[str, ...] = Field(min_length=1)
    units: dict[str, float | Literal["fahrenheit"]] = Field(min_length=1)

    @field_validator("column")
    @classmethod
    def _numeric(cls, column: str) -> str:
        if column not in COLUMNS:
            raise ValueError(f"'{column}' is not an observation column")
        return column


class DrugMap(_Strict):
    column: Literal["tocilizumab", "siltuximab", "anakinra", "steroids", "antipyretic", "gcsf", "vasopressin"]
    codes: tuple[str, ...] = Field(min_length=1)


class AgentMap(_Strict):
    agent: str
    codes: tuple[str, ...] = Field(min_length=1)
    # a dose rate's UCUM unit -> the dose column it fills (µg/kg/min is turned into µg/min with
    # the patient's weight when graded)
    doses: dict[str, str] = {}

    @field_validator("doses")
    @classmethod
    def _dose_columns(cls, doses: dict[str, str]) -> dict[str, str]:
        unknown = [c for c in doses.values() if c not in COLUMNS]
        if unknown:
            raise ValueError(f"not observation columns: {', '.join(unknown)}")
        return doses


class Exclusions(_Strict):
    routes: tuple[str, ...] = ()
    names: tuple[str, ...] = ()


class Mapping_(_Strict):
    version: str
    fhir_systems: dict[str, str] = {}
    measurements: list[MeasurementMap] = []
    drugs: list[DrugMap] = []
    vasopressors: list[AgentMap] = []
    exclude: Exclusions = Exclusions()
    devices: dict[Literal["nasal_cannula", "high_flow_nasal_cannula", "face_mask", "non_rebreather", "venturi",
                          "cpap", "bipap", "mechanical_ventilation", "blow_by"], tuple[str, ...]] = {}
    car_t_products: tuple[str, ...] = ()
    # the products' names (international names and brands), matched in a drug's name where its
    # code is not one of car_t_products
    car_t_names: tuple[str, ...] = ()
    # codes not yet checked against their vocabulary's release
    unverified: tuple[str, ...] = ()


@dataclass(frozen=True, eq=False)
class CodeMap:
    """The mapping as lookups: each "VOCABULARY CODE" to what it stands for."""

    measurement: dict[str, MeasurementMap]
    drug: dict[str, str]  # code -> column, or "vasopressor:<agent>"
    device: dict[str, str]  # code -> o2_device
    car_t: frozenset[str]
    car_t_names: tuple[str, ...]
    exclude_routes: frozenset[str]
    exclude_names: tuple[str, ...]
    fhir_systems: dict[str, str]  # FHIR system URL -> vocabulary
    doses: dict[str, dict[str, str]]  # vasopressor agent -> dose unit -> column

    def vocabulary_of(self, system: str | None) -> str | None:
        return self.fhir_systems.get(system or "")


def load_mapping(extra: Path | str | None = None) -> CodeMap:
    """The shipped mapping, with a site's own entries (`--mapping FILE`) added to it."""
    paths = [shipped("rules", "sources", "mapping.yaml"), *([Path(extra)] if extra is not None else [])]
    return _code_map(tuple((str(p), _read_bytes(Path(p))) for p in paths))


@lru_cache(maxsize=4)
def _code_map(files: tuple[tuple[str, bytes], ...]) -> CodeMap:
    measurement: dict[str, MeasurementMap] = {}
    drug: dict[str, str] = {}
    device: dict[str, str] = {}
    car_t: set[str] = set()
    routes: set[str] = set()
    names: list[str] = []
    systems: dict[str, str] = {}
    doses: dict[str, dict[str, str]] = {}
    car_t_names: list[str] = []
    for path, raw in files:
        parsed, _, _ = _parse(Mapping_, Path(path), raw)
        mapping: Mapping_ = parsed
        for entry in mapping.measurements:
            measurement.update(dict.fromkeys(map(_key, entry.codes), entry))
        for d in mapping.drugs:
            drug.update(dict.fromkeys(map(_key, d.codes), d.column))
        for agent in mapping.vasopressors:
            drug.update(dict.fromkeys(map(_key, agent.codes), f"vasopressor:{agent.agent}"))
            doses.setdefault(agent.agent, {}).update(agent.doses)
        for o2_device, codes in mapping.devices.items():
            device.update(dict.fromkeys(map(_key, codes), o2_device))
        car_t.update(map(_key, mapping.car_t_products))
        car_t_names += [n.lower() for n in mapping.car_t_names]
        routes.update(map(_key, mapping.exclude.routes))
        names += [n.lower() for n in mapping.exclude.names]
        systems.update({url: vocabulary for vocabulary, url in mapping.fhir_systems.items()})
    return CodeMap(measurement, drug, device, frozenset(car_t), tuple(car_t_names), frozenset(routes), tuple(names),
                   systems, doses)


def mapping_rows() -> list[tuple[str, str, str]]:
    """The shipped mapping as the docs table shows it: what is filled, from which codes, and how
    (units accepted, or what is counted); an unverified code is marked."""
    parsed, _, _ = _parse(Mapping_, shipped("rules", "sources", "mapping.yaml"),
                          _read_bytes(shipped("rules", "sources", "mapping.yaml")))
    mapping: Mapping_ = parsed

    def codes(listed: Iterable[str]) -> str:
        return ", ".join(f"{c} (unverified)" if c in mapping.unverified else c for c in listed)

    rows = [(f"`{m.column}`", codes(m.codes), "units " + ", ".join(
        f"{unit} (°F converted)" if factor == "fahrenheit" else unit if factor == 1 else f"{unit} (× {factor:g})"
        for unit, factor in m.units.items())) for m in mapping.measurements]
    rows += [(f"`{d.column}`", codes(d.codes), "yes on the day given") for d in mapping.drugs]
    rows += [("`vasopressors`", codes(c for a in mapping.vasopressors for c in a.codes),
              "the number of these agents given that day (" + ", ".join(a.agent for a in mapping.vasopressors)
              + "); not by route " + codes(mapping.exclude.routes) + " or a drug named "
              + ", ".join(mapping.exclude.names))]
    rows += [(f"`o2_device` = `{device}`", codes(listed), "on the day recorded")
             for device, listed in mapping.devices.items()]
    rows.append(("day 0", codes(mapping.car_t_products), "the first day a CAR T-cell product is given (or a drug"
                 " named " + ", ".join(mapping.car_t_names) + ")"))
    return rows


def _key(code: str) -> str:
    """"RxNorm 7512" -> "rxnorm 7512": vocabularies are matched without regard to case."""
    vocabulary, _, value = code.strip().partition(" ")
    return f"{vocabulary.lower()} {value.strip()}"


def code_key(vocabulary: str, code: str) -> str:
    return _key(f"{vocabulary} {code}")


def convert(entry: MeasurementMap, value: float, unit: str | None) -> float | None:
    """A reading in the column's unit, or None when its unit is not one the mapping accepts."""
    factor = entry.units.get(unit or "")
    if factor is None:
        return None
    if factor == "fahrenheit":
        return round((value - 32) * 5 / 9, 2)
    return round(value * float(factor), 6)


@dataclass
class Imported:
    """What an importer read: the readings, and the accounting of every record."""

    source: str
    readings: list[dict[str, Any]] = field(default_factory=list)
    # readings read in bulk, as tables of the same columns (patient_id, date, source, source_id and
    # the contract columns each fills); they come before `readings` in the observations
    frames: list[pl.DataFrame] = field(default_factory=list)
    read: Counter[str] = field(default_factory=Counter)  # records read, by table or resource
    mapped: Counter[str] = field(default_factory=Counter)  # of them, mapped to a reading
    unmapped: Counter[tuple[str, str]] = field(default_factory=Counter)  # (table, code or why) -> count
    infusions: dict[str, datetime.date] = field(default_factory=dict)  # patient -> CAR-T infusion date
    deaths: dict[str, datetime.date] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def add(self, table: str, patient: str, when: Any, source_id: Any, **columns: Any) -> None:
        self.mapped[table] += 1
        self.readings.append({"patient_id": patient, "date": as_date(when), "source": table,
                              "source_id": str(source_id), **columns})

    def unmappable(self, table: str, why: str) -> None:
        self.unmapped[(table, why)] += 1

    def report(self, most: int = 40) -> list[str]:
        """The summary on stderr: records read and mapped per table, and what was not mapped, the
        commonest `most` reasons one a line and the rest counted together."""
        lines = [f"{self.source}: {table}: {count:,} read, {self.mapped[table]:,} mapped"
                 for table, count in sorted(self.read.items())]
        reasons = sorted(self.unmapped.items(), key=lambda item: (-item[1], item[0]))
        lines += [f"{self.source}: {table}: not mapped: {why} ({count:,})" for (table, why), count in reasons[:most]]
        if len(reasons) > most:
            rest = reasons[most:]
            lines.append(f"{self.source}: not mapped: {len(rest):,} other codes or reasons"
                         f" ({sum(count for _, count in rest):,} records)")
        return lines + self.warnings


def as_date(value: Any) -> datetime.date | None:
    if value is None:
        return None
    if isinstance(value, datetime.datetime):
        return value.date()
    if isinstance(value, datetime.date):
        return value
    text = str(value).strip()
    try:
        return datetime.date.fromisoformat(text[:10])
    except ValueError:
        return None


def read_infusion_dates(path: Path | str) -> dict[str, datetime.date]:
    """`--infusion-dates FILE`: a CSV of person_id,infusion_date; its dates win."""
    try:
        frame = pl.read_csv(path, infer_schema=False)
    except (OSError, pl.exceptions.PolarsError) as exc:
        raise ObservationError([f"{path}: cannot read the infusion dates: {exc}"]) from None
    missing = [c for c in ("person_id", "infusion_date") if c not in frame.columns]
    if missing:
        raise ObservationError([f"{path}:1: no {' or '.join(missing)} column; expected person_id,infusion_date"])
    dates, problems = {}, []
    for number, (person, text) in enumerate(frame.select("person_id", "infusion_date").iter_rows(), start=2):
        when = as_date(text)
        if person is None or when is None:
            problems.append(f"{path}:{number}: expected a person_id and an ISO infusion_date, got {person!r},"
                            f" {text!r}")
            continue
        dates[str(person).strip()] = when
    if problems:
        raise ObservationError(problems)
    return dates


def read_scores(path: Path | str) -> list[dict[str, Any]]:
    """`--scores FILE`: what the standards do not code (ICE, CAPD, consciousness, seizures, ...),
    in the contract's column names with person_id and date (or datetime), as readings."""
    try:
        frame = pl.read_csv(path, infer_schema=False)
    except (OSError, pl.exceptions.PolarsError) as exc:
        raise ObservationError([f"{path}: cannot read the scores: {exc}"]) from None
    when = "date" if "date" in frame.columns else "datetime" if "datetime" in frame.columns else None
    if "person_id" not in frame.columns or when is None:
        raise ObservationError([f"{path}:1: expected person_id and date (or datetime) columns"])
    unknown = [c for c in frame.columns if c not in COLUMNS and c not in ("person_id", when)]
    if unknown:
        raise ObservationError([f"{path}:1:{c}: not an observation column" for c in unknown])
    readings = []
    for number, row in enumerate(frame.iter_rows(named=True), start=2):
        day = as_date(row.pop(when))
        person = row.pop("person_id")
        if day is None or person is None:
            raise ObservationError([f"{path}:{number}: expected a person_id and an ISO {when}"])
        readings.append({"patient_id": str(person).strip(), "date": day, "source": "scores",
                         "source_id": f"{Path(path).name}:{number}", **{k: v for k, v in row.items() if v}})
    return readings


def observations_frame(imported: Imported, infusion_dates: Mapping[str, datetime.date] | None = None,
                       scores: Iterable[dict[str, Any]] = ()) -> pl.DataFrame:
    """The readings as observation rows in the contract: patient_id, date, infusion_date, the
    columns, source and source_id; patients in order, each patient's rows by date. A patient
    with no infusion date is warned about and left out (their records stay counted)."""
    readings = [*imported.readings, *scores]
    infusions = {**imported.infusions, **(infusion_dates or {})}
    tables = [f for f in imported.frames if f.height]
    patients = {r["patient_id"] for r in readings}.union(*(f["patient_id"].unique().to_list() for f in tables))
    without = sorted(patients - set(infusions))
    if without:
        shown = ", ".join(without[:10]) + (f", ... ({len(without)} in all)" if len(without) > 10 else "")
        imported.warnings.append(f"{imported.source}: no infusion date for {shown}: their records are counted,"
                                 " not graded (give one with --infusion-dates FILE)")
    kept = [r for r in readings if r["patient_id"] in infusions and r["date"] is not None]
    dated = pl.col("patient_id").is_in(list(infusions)) & pl.col("date").is_not_null()
    kept_tables = [f for f in (t.filter(dated) for t in tables) if f.height]
    for patient, died in imported.deaths.items():
        if patient in infusions:
            imported.warnings.append(f"{imported.source}: patient {patient} died on {died}; the cause is not coded:"
                                     " give death_cause with --scores FILE to grade it")
    present = set().union(*(r.keys() for r in kept), *(f.columns for f in kept_tables))
    columns = ["patient_id", "date", "infusion_date",
               *[c for c in COLUMNS if c not in _FIRST_AND_LAST and c in present], "source", "source_id"]
    rows = [{**r, "infusion_date": infusions[r["patient_id"]]} for r in kept]
    if not rows and not kept_tables:
        return pl.DataFrame(schema={c: pl.String for c in columns})
    parts = [f.with_columns(pl.col("patient_id").replace_strict(infusions, return_dtype=pl.Date)
                            .alias("infusion_date")) for f in kept_tables]
    parts += [pl.DataFrame(rows, infer_schema_length=None)] if rows else []
    frame = parts[0] if len(parts) == 1 else pl.concat(parts, how="diagonal_relaxed")
    order = {patient: n for n, patient in enumerate(frame["patient_id"].unique(maintain_order=True))}
    return frame.select([c for c in columns if c in frame.columns]).with_columns(
        pl.col("patient_id").replace_strict(order, return_dtype=pl.Int64).alias("_order")
    ).sort("_order", "date", maintain_order=True).drop("_order")


def import_source(kind: str, source: Path | str, mapping: Path | str | None = None,
                  infusion_dates: Path | str | None = None,
                  scores: Path | str | None = None) -> tuple[pl.DataFrame, Imported]:
    """Observations from an OMOP CDM (`omop`) or FHIR R4 (`fhir`) source, with their accounting."""
    codes = load_mapping(mapping)
    if kind == "omop":
        from .omop import read_omop

        imported = read_omop(source, codes)
    elif kind == "fhir":
        from .fhir import read_fhir

        imported = read_fhir(source, codes)
    else:
        raise ObservationError([f"{source}: unknown kind of source '{kind}'; known: {', '.join(SOURCES)}"])
    dates = read_infusion_dates(infusion_dates) if infusion_dates is not None else None
    extra = read_scores(scores) if scores is not None else []
    return observations_frame(imported, dates, extra), imported


def write_observations(frame: pl.DataFrame, handle: Any) -> None:
    """The observation CSV of `crsgrade import`: dates as ISO dates, booleans as yes/no."""
    frame.with_columns(pl.col(pl.Boolean).replace_strict({True: "yes", False: "no"}, return_dtype=pl.String)
                       ).write_csv(handle, date_format="%Y-%m-%d", null_value="", line_terminator="\n")
