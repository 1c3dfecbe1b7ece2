"""FHIR R4 to observations: a folder of Bulk Data NDJSON files, or a Bundle.

Read: Patient (deceased), Observation (vital signs and laboratory values, and the components of a
panel such as blood pressure), MedicationAdministration (completed only), Procedure and
DeviceUseStatement (with the Device it names) for oxygen support. Codes are matched by the shipped
mapping (importing.py); each resource read is counted, and each one not mapped says why.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import polars as pl

from .errors import ObservationError
from .importing import CodeMap, Imported, as_date, code_key, convert
from .observations import COLUMNS

RESOURCES = ("Patient", "Observation", "MedicationAdministration", "Procedure", "DeviceUseStatement", "Device",
             "Medication")
_DONE = {"Observation": ("final", "amended", "corrected", "preliminary"),
         "MedicationAdministration": ("completed",), "Procedure": ("completed", "in-progress"),
         "DeviceUseStatement": ("active", "completed")}


def read_fhir(source: Path | str, mapping: CodeMap, *, bulk: bool = True) -> Imported:
    """The observations of a FHIR source: a folder of NDJSON files or one Bundle (JSON).

    In a folder, the Observation files (`Observation*.ndjson`) are read in bulk through DuckDB
    and mapped on whole columns (`bulk=False`: resource by resource, as every other file is); a
    file the bulk reader cannot take is read resource by resource, with the same results."""
    imported = Imported("fhir")
    parts = list(_parts(Path(source), mapping, bulk))
    resources = [r for part in parts if isinstance(part, list) for r in part]
    devices = {r["id"]: r for r in resources if r.get("resourceType") == "Device" and "id" in r}
    medications = {r["id"]: r for r in resources if r.get("resourceType") == "Medication" and "id" in r}
    pressors: dict[tuple[str, Any], dict[str, list[str]]] = {}
    before: list[pl.DataFrame] = []  # the readings up to the last Observation file read in bulk, in order
    flushed = 0
    for part in parts:
        if isinstance(part, _Bulk):
            if len(imported.readings) > flushed:
                before.append(pl.DataFrame(imported.readings[flushed:], infer_schema_length=None))
                flushed = len(imported.readings)
            part.count(imported)
            before.append(part.readings)
            continue
        for resource in part:
            _resource(resource, mapping, imported, devices, medications, pressors)
    if before:
        imported.frames.extend(_in_order(before))
        del imported.readings[:flushed]
    for (patient, when), agents in pressors.items():
        ids = [i for given in agents.values() for i in given]
        imported.readings.append({"patient_id": patient, "date": when, "source": "MedicationAdministration",
                                  "source_id": " ".join(ids), "vasopressors": len(agents)})
    return imported


def _resource(resource: dict[str, Any], mapping: CodeMap, imported: Imported, devices: Mapping[str, Any],
              medications: Mapping[str, Any], pressors: dict[tuple[str, Any], dict[str, list[str]]]) -> None:
    kind = resource.get("resourceType")
    if kind not in RESOURCES:
        imported.read[str(kind)] += 1
        imported.unmappable(str(kind), "resource type not read")
        return
    imported.read[kind] += 1
    if kind in ("Device", "Medication"):
        imported.mapped[kind] += 1  # read for the resources that name them
        return
    if kind == "Patient":
        _patient(resource, imported)
        return
    status = resource.get("status")
    if status not in _DONE[kind]:
        imported.unmappable(kind, f"status {status}")
        return
    patient = _patient_of(resource)
    if patient is None:
        imported.unmappable(kind, "no Patient subject")
        return
    if kind == "Observation":
        _observation(resource, patient, mapping, imported)
    elif kind == "MedicationAdministration":
        _administration(resource, patient, mapping, imported, medications, pressors)
    else:
        _support(resource, kind, patient, mapping, imported, devices)


def _parts(source: Path, mapping: CodeMap, bulk: bool) -> Iterator[list[dict[str, Any]] | _Bulk]:
    """The source's resources file by file (all read before any is mapped, so that a broken file
    is said first): an Observation file read in bulk as its readings, any other as its resources."""
    if not source.is_dir():
        yield list(_resources(source))
        return
    files = sorted(p for p in source.iterdir() if p.suffix.lower() in (".ndjson", ".jsonl"))
    if not files:
        raise ObservationError([f"{source}: no .ndjson files (FHIR Bulk Data export)"])
    for path in files:
        if bulk and path.name.lower().startswith("observation"):
            read = _bulk_observations(path, mapping)
            if read is not None:
                yield read
                continue
        yield list(_ndjson(path))


def _resources(source: Path) -> Iterator[dict[str, Any]]:
    import orjson

    if source.is_dir():
        files = sorted(p for p in source.iterdir() if p.suffix.lower() in (".ndjson", ".jsonl"))
        if not files:
            raise ObservationError([f"{source}: no .ndjson files (FHIR Bulk Data export)"])
        for path in files:
            yield from _ndjson(path)
        return
    try:
        bundle = _parsed(orjson, source.read_bytes(), str(source))
    except OSError as exc:
        raise ObservationError([f"{source}: cannot read: {exc.strerror or exc}"]) from None
    if bundle.get("resourceType") != "Bundle":
        raise ObservationError([f"{source}: expected a FHIR Bundle or a folder of NDJSON files,"
                                f" got resourceType {bundle.get('resourceType')!r}"])
    for entry in bundle.get("entry") or []:
        if isinstance(entry, dict) and isinstance(entry.get("resource"), dict):
            yield entry["resource"]


def _ndjson(path: Path) -> Iterator[dict[str, Any]]:
    import orjson

    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            if line.strip():
                yield _parsed(orjson, line, f"{path}:{number}")


def _parsed(orjson: Any, raw: bytes, where: str) -> dict[str, Any]:
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ObservationError([f"{where}: not valid JSON: {exc}"]) from None
    if not isinstance(value, dict):
        raise ObservationError([f"{where}: expected a FHIR resource (a JSON object)"])
    return value


def _patient_of(resource: Mapping[str, Any]) -> str | None:
    reference = (resource.get("subject") or resource.get("patient") or {}).get("reference") or ""
    kind, _, patient = reference.rpartition("/")
    return patient if kind.endswith("Patient") and patient else None


def _when(resource: Mapping[str, Any], *names: str) -> Any:
    for name in names:
        value = resource.get(name)
        if isinstance(value, dict):
            value = value.get("start")
        if value:
            return value
    return None


def _codes(concept: Any, mapping: CodeMap) -> list[tuple[str, str]]:
    """A CodeableConcept's codings as (key, shown): "loinc 8310-5", "LOINC 8310-5 (Body temperature)"."""
    return [_coding(mapping, coding.get("system"), coding["code"], coding.get("display"))
            for coding in (concept or {}).get("coding") or [] if coding.get("code") is not None]


@lru_cache(maxsize=65536)
def _coding(mapping: CodeMap, system: str | None, code: str, display: str | None) -> tuple[str, str]:
    vocabulary = mapping.vocabulary_of(system)
    label = f"{vocabulary or system or '?'} {code}"
    return (code_key(vocabulary, code) if vocabulary else "", f"{label} ({display})" if display else label)


def _patient(resource: Mapping[str, Any], imported: Imported) -> None:
    imported.mapped["Patient"] += 1
    died = resource.get("deceasedDateTime")
    if died and resource.get("id"):
        day = as_date(died)
        if day is not None:
            imported.deaths[resource["id"]] = day


def _observation(resource: Mapping[str, Any], patient: str, mapping: CodeMap, imported: Imported) -> None:
    when = _when(resource, "effectiveDateTime", "effectivePeriod", "issued")
    parts = [(resource.get("code"), resource.get("valueQuantity"))] + [
        (c.get("code"), c.get("valueQuantity")) for c in resource.get("component") or [] if isinstance(c, dict)]
    values: dict[str, float] = {}
    why = None
    for concept, quantity in parts:
        codes = _codes(concept, mapping)
        entry = next((mapping.measurement[key] for key, _ in codes if key in mapping.measurement), None)
        if entry is None or not isinstance(quantity, dict) or quantity.get("value") is None:
            why = why or (f"{codes[0][1]}" if codes and entry is None else None)
            continue
        unit = quantity.get("code") or quantity.get("unit")
        value = convert(entry, float(quantity["value"]), unit)
        if value is None:
            why = f"{codes[0][1]} in unit {unit}"
            continue
        values[entry.column] = value
    if values:
        imported.add("Observation", patient, when, resource.get("id"), **values)
    else:
        imported.unmappable("Observation", why or "no code or value mapped")


def _administration(resource: Mapping[str, Any], patient: str, mapping: CodeMap, imported: Imported,
                    medications: Mapping[str, Any], pressors: dict[tuple[str, Any], dict[str, list[str]]]) -> None:
    concept = resource.get("medicationCodeableConcept")
    reference = (resource.get("medicationReference") or {}).get("reference") or ""
    if concept is None and reference:
        concept = (medications.get(reference.rpartition("/")[2]) or {}).get("code")
    codes = _codes(concept, mapping)
    when = as_date(_when(resource, "effectiveDateTime", "effectivePeriod"))
    names = " ".join(str(c.get("display", "")) for c in (concept or {}).get("coding") or []).lower()
    names += " " + str((concept or {}).get("text", "")).lower()
    if any(key in mapping.car_t for key, _ in codes) or any(name in names for name in mapping.car_t_names):
        if when is not None and (patient not in imported.infusions or when < imported.infusions[patient]):
            imported.infusions[patient] = when
        imported.mapped["MedicationAdministration"] += 1
        return
    column = next((mapping.drug[key] for key, _ in codes if key in mapping.drug), None)
    if column is None:
        imported.unmappable("MedicationAdministration", codes[0][1] if codes else "no medication code")
        return
    if column.startswith("vasopressor:"):
        route = _codes((resource.get("dosage") or {}).get("route"), mapping)
        if any(key in mapping.exclude_routes for key, _ in route) or any(n in names for n in mapping.exclude_names):
            imported.unmappable("MedicationAdministration", f"{codes[0][1]}: not for hypotension (route or form)")
            return
        imported.mapped["MedicationAdministration"] += 1
        agent = column.partition(":")[2]
        pressors.setdefault((patient, when), {}).setdefault(agent, []).append(str(resource.get("id")))
        rate = (resource.get("dosage") or {}).get("rateQuantity")
        if isinstance(rate, dict) and rate.get("value") is not None:
            unit = rate.get("code") or rate.get("unit")
            dose = mapping.doses.get(agent, {}).get(str(unit))
            if dose is None:
                imported.unmappable("MedicationAdministration", f"{agent} dose in unit {unit}")
            else:
                imported.readings.append({"patient_id": patient, "date": when, "source": "MedicationAdministration",
                                          "source_id": str(resource.get("id")), dose: float(rate["value"])})
        return
    imported.add("MedicationAdministration", patient, when, resource.get("id"), **{column: True})


def _support(resource: Mapping[str, Any], kind: str, patient: str, mapping: CodeMap, imported: Imported,
             devices: Mapping[str, Any]) -> None:
    concept = resource.get("code")
    if kind == "DeviceUseStatement":
        reference = (resource.get("device") or {}).get("reference") or ""
        concept = (devices.get(reference.rpartition("/")[2]) or {}).get("type")
    codes = _codes(concept, mapping)
    device = next((mapping.device[key] for key, _ in codes if key in mapping.device), None)
    when = _when(resource, "performedDateTime", "performedPeriod", "timingDateTime", "timingPeriod", "recordedOn")
    if device is None:
        imported.unmappable(kind, codes[0][1] if codes else "no code")
        return
    imported.add(kind, patient, when, resource.get("id"), o2_device=device)


# --- Observation files in bulk: read through DuckDB, mapped on whole columns -----------------------
#
# DuckDB reads the fields `_observation` uses as JSON text (so that a value of another type than
# the one FHIR gives it is seen, not cast), polars maps them on whole columns, and what depends on
# the text of a code, a unit or a date is worked out once per distinct value with the same
# functions as resource by resource. Anything the columns cannot say as `_observation` would (a
# resource of another type, a field of an odd type, a list with a null in it, a file DuckDB cannot
# parse) sends the whole file back to be read resource by resource.

_CODING = "STRUCT(system JSON, code JSON, display JSON)[]"
_QUANTITY = "STRUCT(value JSON, code JSON, unit JSON)"
_BULK_COLUMNS = {
    "resourceType": "JSON", "id": "JSON", "status": "JSON", "subject": "STRUCT(reference JSON)",
    "patient": "STRUCT(reference JSON)", "effectiveDateTime": "JSON", "effectivePeriod": "STRUCT(start JSON)",
    "issued": "JSON", "code": f"STRUCT(coding {_CODING})", "valueQuantity": _QUANTITY,
    "component": f"STRUCT(code STRUCT(coding {_CODING}), valueQuantity {_QUANTITY})[]"}
_BASE = ("patient_id", "date", "source", "source_id")
_NUMBER = re.compile(r"-?[0-9][0-9.eE+-]*")


class _Odd(Exception):
    """A value the bulk reader does not map as `_observation` would: read the file resource by resource."""


@dataclass
class _Bulk:
    """An Observation file read in bulk: its readings (in the order of the file) and its accounting."""

    readings: pl.DataFrame
    read: int
    mapped: int
    unmapped: Counter[str]

    def count(self, imported: Imported) -> None:
        imported.read["Observation"] += self.read
        imported.mapped["Observation"] += self.mapped
        for why, n in self.unmapped.items():
            imported.unmapped[("Observation", why)] += n


def _bulk_observations(path: Path, mapping: CodeMap) -> _Bulk | None:
    """An Observation file's readings as `_observation` gives them, or None when it is to be read
    resource by resource."""
    import duckdb

    try:
        with path.open("rb") as handle:
            if handle.read(3) == b"\xef\xbb\xbf":  # DuckDB skips a byte order mark, orjson refuses it
                return None
    except OSError:
        return None
    if any(c in str(path) for c in "*?[]{}"):  # DuckDB would read the name as a pattern
        return None
    query = (f"SELECT * FROM read_ndjson('{str(path).replace(chr(39), chr(39) * 2)}',"
             f" columns = {_BULK_COLUMNS!r}, format = 'newline_delimited')")
    try:
        with duckdb.connect(":memory:") as connection:
            connection.execute("SET enable_progress_bar = false")
            table = connection.sql(query).to_arrow_table()
    except duckdb.Error:
        return None
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    try:
        return _mapped_observations(frame, mapping)
    except _Odd:
        return None


def _strings(raw: pl.Series) -> pl.Series:
    """JSON text (as DuckDB gives a JSON value) as the string it is; null stays null. A value
    that is not a string is odd."""
    text = raw.cast(pl.String)
    quoted = text.str.starts_with('"')
    if not bool((quoted | text.is_null()).all()):
        raise _Odd
    plain = ~text.str.contains("\\", literal=True)
    decoded = text.str.strip_prefix('"').str.strip_suffix('"')
    if bool((plain | text.is_null()).all()):
        return decoded
    import orjson

    escaped = {t: orjson.loads(t) for t in text.filter(~plain).unique().to_list()}
    return pl.select(pl.when(pl.lit(plain)).then(pl.lit(decoded)).otherwise(
        pl.lit(text).replace_strict(escaped, default=None, return_dtype=pl.String))).to_series()


def _distinct(values: pl.Series, mapped: Callable[[Any], Any], dtype: pl.DataType) -> pl.Series:
    """`mapped` of each value, worked out once for each distinct value."""
    table = {v: mapped(v) for v in values.unique().to_list()}
    return values.replace_strict(table, return_dtype=dtype)


def _json(text: str | None) -> Any:
    import orjson

    return None if text is None else orjson.loads(text)


def _dates(when: pl.Series) -> pl.Series:
    """`as_date` of each value: the ISO date its text starts with."""
    iso = when.str.contains(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}")
    if bool((iso | when.is_null()).all()):
        return _distinct(when.str.slice(0, 10), as_date, pl.Date())
    return _distinct(when, as_date, pl.Date())


def _mapped_observations(frame: pl.DataFrame, mapping: CodeMap) -> _Bulk:
    """The Observations of one file (the columns `_BULK_COLUMNS`, one row each, in file order)
    mapped as `_observation` maps each one."""
    if frame.is_empty():
        return _Bulk(pl.DataFrame(schema={"patient_id": pl.String, "date": pl.Date, "source": pl.String,
                                          "source_id": pl.String}), 0, 0, Counter())
    kinds = _strings(frame["resourceType"])
    if not bool((kinds == "Observation").fill_null(False).all()):
        raise _Odd
    frame = frame.with_row_index("pos")
    subject = frame["subject"].struct.field("reference")
    other = frame["patient"].struct.field("reference")
    if bool((frame["subject"].is_not_null() & subject.is_null() & other.is_not_null()).any()):
        raise _Odd  # an empty subject and a patient: `_patient_of` says which
    reference = _strings(pl.select(pl.coalesce(pl.lit(subject), pl.lit(other))).to_series())
    given = [_strings(frame["effectiveDateTime"]), _strings(frame["effectivePeriod"].struct.field("start")),
             _strings(frame["issued"])]
    when = pl.select(pl.coalesce([pl.when(pl.lit(g) != "").then(pl.lit(g)) for g in given])).to_series()
    entries = [*{id(e): e for e in mapping.measurement.values()}.values()]

    # the Observation's own code and value, then its components': each part's reading, or why not
    main = _part_info(frame.select(pl.col("code").struct.field("coding"), *_quantity(pl.col("valueQuantity"))),
                      mapping, entries)
    columns = _filled(main)
    observations = pl.DataFrame({
        "pos": frame["pos"], "status": _strings(frame["status"]),
        "patient_id": _distinct(reference, lambda r: _patient_of({"subject": {"reference": r}}), pl.String()),
        "date": _dates(when), "source_id": _strings(frame["id"]).fill_null("None")}).with_columns(
        *(pl.when(main["column"] == c).then(main["out"]).alias(c) for c in columns),
        unit_why=main["unit_why"], code_why=main["code_why"])
    components = frame.select("pos", "component").filter(pl.col("component").list.len() > 0)
    if components.height:
        components = components.explode("component")
        if bool(components["component"].is_null().any()):
            raise _Odd  # a null component: `_observation` stops at it
        part = pl.col("component")
        info = _part_info(components.select(part.struct.field("code").struct.field("coding"),
                                            *_quantity(part.struct.field("valueQuantity"))), mapping, entries)
        observations = observations.with_columns(pl.lit(None, pl.Float64).alias(c) for c in _filled(info)
                                                 if c not in columns)
        columns = _filled(main, info)
        found = pl.concat([components.select("pos"), info], how="horizontal").group_by("pos", maintain_order=True).agg(
            *(pl.col("out").filter(pl.col("column") == c).last().alias(f"_{c}") for c in columns),
            pl.col("unit_why").drop_nulls().last().alias("_unit_why"),
            pl.col("code_why").drop_nulls().first().alias("_code_why"))
        observations = observations.join(found, on="pos", how="left", maintain_order="left").with_columns(
            *(pl.coalesce(f"_{c}", c).alias(c) for c in columns),
            pl.coalesce("_unit_why", "unit_why").alias("unit_why"),
            pl.coalesce("code_why", "_code_why").alias("code_why"))
    ok = pl.col("status").is_in(_DONE["Observation"]).fill_null(False)
    valued = pl.any_horizontal([pl.col(c).is_not_null() for c in columns]) if columns else pl.lit(False)
    observations = observations.with_columns(why=pl.when(~ok).then(pl.format("status {}", pl.col("status").fill_null(
        "None"))).when(pl.col("patient_id").is_null()).then(pl.lit("no Patient subject")).when(valued).then(
        pl.lit(None, pl.String)).otherwise(pl.coalesce("unit_why", "code_why", pl.lit("no code or value mapped"))))
    readings = observations.filter(pl.col("why").is_null()).select(
        "patient_id", "date", pl.lit("Observation").alias("source"), "source_id", *columns)
    unmapped = Counter(dict(observations.filter(pl.col("why").is_not_null())["why"].value_counts().iter_rows()))
    return _Bulk(readings, frame.height, readings.height, unmapped)


def _filled(*parts: pl.DataFrame) -> list[str]:
    """The columns parts fill, in the contract's order."""
    return sorted({c for p in parts for c in p["column"].drop_nulls().unique().to_list()}, key=list(COLUMNS).index)


def _quantity(quantity: pl.Expr) -> list[pl.Expr]:
    return [quantity.struct.field("value").alias("value"), quantity.struct.field("code").alias("unit_code"),
            quantity.struct.field("unit").alias("unit_text")]


def _part_info(parts: pl.DataFrame, mapping: CodeMap, entries: list[Any]) -> pl.DataFrame:
    """Each part (`coding`, and its quantity's `value`, `unit_code`, `unit_text` as JSON text) as
    one turn of `_observation`'s loop: the `column` it fills with `out`, or the `unit_why` of a
    unit not accepted, or the `code_why` of a code not mapped."""
    codes = _codes_of(parts["coding"], mapping)
    number = {key: entries.index(entry) for key, entry in mapping.measurement.items()}
    parts = pl.DataFrame({"shown": codes["shown"], "entry": codes["key"].replace_strict(
        number, default=None, return_dtype=pl.Int64), "value": parts["value"], "unit_code": parts["unit_code"],
        "unit_text": parts["unit_text"]})
    keys = ["entry", "value", "unit_code", "unit_text"]
    measured = pl.col("entry").is_not_null() & pl.col("value").is_not_null()

    def converted(key: dict[str, Any]) -> dict[str, Any]:
        value, code, unit = key["value"], _json(key["unit_code"]), _json(key["unit_text"])
        if not isinstance(code, str | None) or not isinstance(unit, str | None) or not _NUMBER.fullmatch(value):
            raise _Odd
        unit = code or unit
        entry = entries[key["entry"]]
        return {"column": entry.column, "out": convert(entry, float(value), unit), "unit": str(unit)}

    distinct = parts.filter(measured).select(keys).unique()
    results = pl.DataFrame([converted(k) for k in distinct.iter_rows(named=True)],
                           schema={"column": pl.String, "out": pl.Float64, "unit": pl.String})
    parts = parts.join(pl.concat([distinct, results], how="horizontal"), on=keys, how="left", nulls_equal=True,
                       maintain_order="left")
    return parts.select(
        pl.when(pl.col("out").is_not_null()).then(pl.col("column")).alias("column"), "out",
        pl.when(measured & pl.col("out").is_null()).then(pl.format("{} in unit {}", "shown", "unit")).alias(
            "unit_why"),
        pl.when(pl.col("entry").is_null()).then(pl.col("shown")).alias("code_why"))


def _codes_of(coding: pl.Series, mapping: CodeMap) -> pl.DataFrame:
    """Each part's codings (a list of system, code, display as JSON text) as `_codes` gives them:
    the first one as a report shows it (`shown`), and the key of the first one the mapping
    knows (`key`)."""
    fields = ["system", "code", "display"]
    if bool((coding.list.len().fill_null(0) <= 1).all()):
        if bool((coding.list.first().is_null() & (coding.list.len() == 1)).any()):
            raise _Odd  # a null coding: `_codes` stops at it
        codings = coding.list.first().struct.unnest().select(fields)
        row = None
    else:
        exploded = pl.DataFrame({"coding": coding}).with_row_index("row").explode("coding", empty_as_null=True,
                                                                                     keep_nulls=True)
        if bool((exploded["coding"].is_null() & coding.list.len().gather(exploded["row"]).gt(0)).any()):
            raise _Odd  # a null coding: `_codes` stops at it
        codings = exploded["coding"].struct.unnest().select(fields)
        row = exploded["row"]

    def coded(key: dict[str, Any]) -> dict[str, Any]:
        system, code, display = (_json(key[f]) for f in fields)
        if code is None:
            return {"key": None, "shown": None}
        if not isinstance(system, str | None) or not isinstance(code, str) or not isinstance(display, str | None):
            raise _Odd
        found, shown = _coding(mapping, system, code, display)
        return {"key": found if found in mapping.measurement else None, "shown": shown}

    distinct = codings.unique()
    results = pl.DataFrame([coded(k) for k in distinct.iter_rows(named=True)],
                           schema={"key": pl.String, "shown": pl.String})
    codings = codings.join(pl.concat([distinct, results], how="horizontal"), on=fields, how="left",
                           nulls_equal=True, maintain_order="left").select("shown", "key")
    if row is None:
        return codings
    return codings.with_columns(row=row).group_by("row", maintain_order=True).agg(
        pl.col("shown").drop_nulls().first(), pl.col("key").drop_nulls().first()).drop("row")


def _in_order(frames: list[pl.DataFrame]) -> list[pl.DataFrame]:
    """Readings as tables that `observations_frame` makes into the same observations as the one
    list of readings they were read as: patients in the order of their first dated reading, each
    one's readings in order, and no table with a column none of its dated readings fill (an
    observation column is shown when a reading kept fills it)."""
    frames = [f for f in frames if f.height]
    if not frames:
        return []
    readings = pl.concat(frames, how="diagonal_relaxed").with_row_index("_row")
    values = [c for c in readings.columns if c not in (*_BASE, "_row")]
    filled = readings.filter(pl.col("date").is_not_null()).group_by("patient_id").agg(
        pl.col("_row").min().alias("_first"),
        pl.concat_str([pl.col(c).is_not_null().any().cast(pl.Int8).cast(pl.String) for c in values]).alias("_filled")
        if values else pl.lit("").alias("_filled"))
    filled = filled.sort("_first").with_columns(
        _run=(pl.col("_filled") != pl.col("_filled").shift(1)).fill_null(True).cum_sum())
    readings = readings.join(filled, on="patient_id", how="left").sort("_first", "_row", nulls_last=True)
    tables = []
    for (_, signature), table in readings.group_by("_run", "_filled", maintain_order=True):
        kept = [c for c, on in zip(values, str(signature or ""), strict=False) if on == "1"]
        tables.append(table.select(*_BASE, *kept))
    return tables
