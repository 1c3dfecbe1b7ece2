"""FHIR R4 to observations: a folder of Bulk Data NDJSON files, or a Bundle.

Read: Patient (deceased), Observation (vital signs and laboratory values, and the components of a
panel such as blood pressure), MedicationAdministration (completed only), Procedure and
DeviceUseStatement (with the Device it names) for oxygen support. Codes are matched by the shipped
mapping (importing.py); each resource read is counted, and each one not mapped says why.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from .errors import ObservationError
from .importing import CodeMap, Imported, as_date, code_key, convert

RESOURCES = ("Patient", "Observation", "MedicationAdministration", "Procedure", "DeviceUseStatement", "Device",
             "Medication")
_DONE = {"Observation": ("final", "amended", "corrected", "preliminary"),
         "MedicationAdministration": ("completed",), "Procedure": ("completed", "in-progress"),
         "DeviceUseStatement": ("active", "completed")}


def read_fhir(source: Path | str, mapping: CodeMap) -> Imported:
    """The observations of a FHIR source: a folder of NDJSON files or one Bundle (JSON)."""
    imported = Imported("fhir")
    resources = list(_resources(Path(source)))
    devices = {r["id"]: r for r in resources if r.get("resourceType") == "Device" and "id" in r}
    medications = {r["id"]: r for r in resources if r.get("resourceType") == "Medication" and "id" in r}
    pressors: dict[tuple[str, Any], dict[str, list[str]]] = {}
    for resource in resources:
        kind = resource.get("resourceType")
        if kind not in RESOURCES:
            imported.read[str(kind)] += 1
            imported.unmappable(str(kind), "resource type not read")
            continue
        imported.read[kind] += 1
        if kind in ("Device", "Medication"):
            imported.mapped[kind] += 1  # read for the resources that name them
            continue
        if kind == "Patient":
            _patient(resource, imported)
            continue
        status = resource.get("status")
        if status not in _DONE[kind]:
            imported.unmappable(kind, f"status {status}")
            continue
        patient = _patient_of(resource)
        if patient is None:
            imported.unmappable(kind, "no Patient subject")
            continue
        if kind == "Observation":
            _observation(resource, patient, mapping, imported)
        elif kind == "MedicationAdministration":
            _administration(resource, patient, mapping, imported, medications, pressors)
        else:
            _support(resource, kind, patient, mapping, imported, devices)
    for (patient, when), agents in pressors.items():
        ids = [i for given in agents.values() for i in given]
        imported.readings.append({"patient_id": patient, "date": when, "source": "MedicationAdministration",
                                  "source_id": " ".join(ids), "vasopressors": len(agents)})
    return imported


def _resources(source: Path) -> Iterator[dict[str, Any]]:
    import orjson

    if source.is_dir():
        files = sorted(p for p in source.iterdir() if p.suffix.lower() in (".ndjson", ".jsonl"))
        if not files:
            raise ObservationError([f"{source}: no .ndjson files (FHIR Bulk Data export)"])
        for path in files:
            with path.open("rb") as handle:
                for number, line in enumerate(handle, start=1):
                    if line.strip():
                        yield _parsed(orjson, line, f"{path}:{number}")
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
        (c.get("code"), c.get("valueQuantity")) for c in resource.get("component") or []]
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
