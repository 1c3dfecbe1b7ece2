"""A small synthetic FHIR R4 export (Bulk Data NDJSON, or one Bundle) whose grades are known:
patient P1 has the fever, hypotension on two vasopressors and CPAP of a CRS grade 3 day, then a
grade 0 day; P2 has no CAR-T product (no infusion date)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

LOINC, RXNORM = "http://loinc.org", "http://www.nlm.nih.gov/research/umls/rxnorm"
SNOMED, CPT = "http://snomed.info/sct", "http://www.ama-assn.org/go/cpt"


def _coding(system: str, code: str, display: str = "") -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code, **({"display": display} if display else {})}]}


def _vital(rid: str, patient: str, when: str, code: str, value: float, unit: str) -> dict[str, Any]:
    return {"resourceType": "Observation", "id": rid, "status": "final", "subject": {"reference": f"Patient/{patient}"},
            "effectiveDateTime": when, "code": _coding(LOINC, code),
            "valueQuantity": {"value": value, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit}}


def _given(rid: str, patient: str, when: str, code: str, display: str = "", status: str = "completed",
           route: str | None = None) -> dict[str, Any]:
    resource = {"resourceType": "MedicationAdministration", "id": rid, "status": status,
                "subject": {"reference": f"Patient/{patient}"}, "effectiveDateTime": when,
                "medicationCodeableConcept": _coding(RXNORM, code, display)}
    if route:
        resource["dosage"] = {"route": _coding(SNOMED, route)}
    return resource


def resources() -> list[dict[str, Any]]:
    p1 = "P1"
    return [
        {"resourceType": "Patient", "id": p1},
        {"resourceType": "Patient", "id": "P2", "deceasedDateTime": "2024-03-09"},
        _given("car-t", p1, "2024-03-01T10:00:00Z", "1999573", "tisagenlecleucel"),
        # day 1: hourly temperatures (one in °F), blood pressure as a panel, two vasopressors, CPAP
        _vital("t1", p1, "2024-03-02T02:00:00Z", "8310-5", 38.2, "Cel"),
        _vital("t2", p1, "2024-03-02T08:00:00Z", "8310-5", 102.2, "[degF]"),
        {"resourceType": "Observation", "id": "bp1", "status": "final", "subject": {"reference": "Patient/P1"},
         "effectiveDateTime": "2024-03-02T08:00:00Z", "code": _coding(LOINC, "85354-9", "Blood pressure panel"),
         "component": [
             {"code": _coding(LOINC, "8480-6"), "valueQuantity": {"value": 82, "code": "mm[Hg]"}},
             {"code": _coding(LOINC, "8462-4"), "valueQuantity": {"value": 45, "code": "mm[Hg]"}}]},
        _given("ne1", p1, "2024-03-02T09:00:00Z", "7512", "norepinephrine"),
        _given("phe1", p1, "2024-03-02T11:00:00Z", "8163", "phenylephrine"),
        _given("epi-im", p1, "2024-03-02T12:00:00Z", "3992", "epinephrine auto-injector", route="78421000"),
        _given("toc1", p1, "2024-03-02T13:00:00Z", "612865", "tocilizumab"),
        {"resourceType": "Procedure", "id": "cpap1", "status": "completed", "subject": {"reference": "Patient/P1"},
         "performedDateTime": "2024-03-02T14:00:00Z", "code": _coding(CPT, "94660", "CPAP initiation")},
        _vital("anc1", p1, "2024-03-02T06:00:00Z", "751-8", 0.4, "10*3/uL"),
        # day 2: afebrile on room air, no vasopressors
        _vital("t3", p1, "2024-03-03T08:00:00Z", "8310-5", 36.9, "Cel"),
        {"resourceType": "Device", "id": "nc", "type": _coding(SNOMED, "336623009", "Oxygen nasal cannula")},
        {"resourceType": "DeviceUseStatement", "id": "dus1", "status": "completed",
         "subject": {"reference": "Patient/P1"}, "timingDateTime": "2024-03-03T09:00:00Z",
         "device": {"reference": "Device/nc"}},
        # not mapped: an unknown LOINC code, a unit the mapping does not accept, a cancelled dose
        _vital("x1", p1, "2024-03-03T08:00:00Z", "2345-7", 5.4, "mmol/L"),
        _vital("x2", p1, "2024-03-03T09:00:00Z", "8310-5", 310.0, "K"),
        _given("ne2", p1, "2024-03-03T09:00:00Z", "7512", "norepinephrine", status="not-done"),
        # P2: readings but no CAR-T product
        _vital("t9", "P2", "2024-03-05T08:00:00Z", "8310-5", 38.5, "Cel"),
        {"resourceType": "Encounter", "id": "e1", "status": "finished"},
    ]


def write_ndjson(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    by_type: dict[str, list[dict[str, Any]]] = {}
    for resource in resources():
        by_type.setdefault(resource["resourceType"], []).append(resource)
    for kind, items in by_type.items():
        (folder / f"{kind}.ndjson").write_text("".join(json.dumps(r) + "\n" for r in items), encoding="utf-8")
    return folder


def write_bundle(path: Path, items: list[dict[str, Any]] | None = None) -> Path:
    """A Bundle of the export above, or of the resources given."""
    items = resources() if items is None else items
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in items]}
    path.write_text(json.dumps(bundle), encoding="utf-8")
    return path


# The same patient by hand, in the observation contract (day 0 = 2024-03-01).
EQUIVALENT_CSV = """patient_id,day,temp_c,sbp_min,dbp_min,vasopressors,tocilizumab,o2_device,anc
P1,1,38.2,82,45,2,yes,cpap,400
P1,1,39.0,,,,,,
P1,2,36.9,,,,,nasal_cannula,
"""
