"""Seeded synthetic cohorts in the observation CSV format, for benchmarks, tests and demos.

Each patient has about a month of days around infusion, with gaps and unrecorded values. Most
develop CRS in the first week, rising to a peak and falling; tocilizumab, steroids and
antipyretics are given as a team would, so the fever waiver comes into play; some develop ICANS
with ICE scores (now and then as the five items) or, for children, CAPD; some ICU days have
several readings. The values are plausible and valid: the file grades without warnings.
"""

from __future__ import annotations

import csv
import random
from pathlib import Path

COLUMNS = (
    "patient_id", "day", "age_years", "temp_c", "hypotension", "vasopressors", "vasopressin",
    "o2_device", "o2_flow_lpm", "tocilizumab", "steroids", "antipyretic", "hypoxia_other_cause",
    "ice_score", "ice_orientation", "ice_naming", "ice_commands", "ice_writing", "ice_attention",
    "capd_score", "consciousness", "seizure", "cerebral_edema",
)
# The inputs only the older grading systems use (doses, FiO2, organ toxicity, CARTOX-10, ...).
OLDER_SYSTEM_COLUMNS = (
    "fio2", "norepinephrine_ug_min", "epinephrine_ug_min", "vasopressor_high_dose", "vasopressor_hours",
    "fluid_boluses", "organ_toxicity_grade", "transaminitis_grade", "creatinine_grade",
    "coagulopathy_replacement", "hospitalized", "iv_therapies", "crs_symptoms", "life_threatening",
    "cartox_score", "papilledema_stage", "csf_opening_pressure_mmhg", "seizure_kind",
)
_CRS_PEAK = ((1, 40), (2, 35), (3, 16), (4, 9))
_ICANS_PEAK = ((1, 35), (2, 30), (3, 25), (4, 10))


def _course(rng: random.Random, peak: int, onset: int) -> dict[int, int]:
    """Day -> grade: rising to the peak, holding, then falling back to 0."""
    grades, day = {}, onset
    for grade in range(1, peak):
        for _ in range(rng.randint(0, 1)):
            grades[day] = grade
            day += 1
    for _ in range(rng.randint(1, 3)):
        grades[day] = peak
        day += 1
    for grade in range(peak - 1, 0, -1):
        for _ in range(rng.randint(1, 2)):
            grades[day] = grade
            day += 1
    return grades


def _weighted(rng: random.Random, table) -> int:
    return rng.choices([v for v, _ in table], weights=[w for _, w in table])[0]


def _crs_signs(rng: random.Random, grade: int, treated: bool) -> dict:
    row: dict = {"hypotension": "no", "vasopressors": 0, "vasopressin": "no", "o2_device": "room_air",
                 "o2_flow_lpm": ""}
    fever = grade >= 1 and (not treated or rng.random() < 0.3)
    row["temp_c"] = round(rng.uniform(38.0, 40.2), 1) if fever else round(rng.uniform(36.2, 37.9), 1)
    if grade >= 2:
        if rng.random() < 0.6:
            row["hypotension"] = "yes"
        else:
            row["o2_device"], row["o2_flow_lpm"] = "nasal_cannula", rng.choice([1, 2, 3, 4, 5, 6])
    if grade >= 3:
        if rng.random() < 0.5:
            row.update(hypotension="yes", vasopressors=1, vasopressin=rng.choice(["yes", "no", "no"]))
        else:
            row.update(rng.choice([{"o2_device": "high_flow_nasal_cannula", "o2_flow_lpm": rng.choice([20, 30, 40])},
                                   {"o2_device": "nasal_cannula", "o2_flow_lpm": rng.choice([7, 8])},
                                   {"o2_device": "face_mask", "o2_flow_lpm": rng.choice([6, 8, 10])},
                                   {"o2_device": "non_rebreather", "o2_flow_lpm": 15}]))
    if grade >= 4:
        if rng.random() < 0.5:
            row.update(hypotension="yes", vasopressors=rng.choice([2, 3]))
        else:
            row.update(o2_device=rng.choice(["bipap", "cpap", "mechanical_ventilation"]), o2_flow_lpm="")
    return row


def _icans_signs(rng: random.Random, grade: int, child: bool) -> dict:
    row: dict = {"consciousness": "alert"}
    if child:
        row["capd_score"] = {0: 0, 1: rng.randint(1, 8), 2: rng.randint(1, 8), 3: rng.randint(9, 20),
                             4: ""}[grade]
    else:
        score = {0: 10, 1: rng.randint(7, 9), 2: rng.randint(3, 6), 3: rng.randint(0, 2), 4: 0}[grade]
        if rng.random() < 0.3:
            orientation = min(4, score)
            naming = min(3, score - orientation)
            rest = score - orientation - naming
            row.update(ice_orientation=orientation, ice_naming=naming, ice_commands=int(rest >= 1),
                       ice_writing=int(rest >= 2), ice_attention=int(rest >= 3))
        else:
            row["ice_score"] = score
    row["consciousness"] = {0: "alert", 1: rng.choice(["alert", "awakens_spontaneously"]), 2: "awakens_to_voice",
                            3: rng.choice(["awakens_to_touch", "alert"]), 4: "unarousable"}[grade]
    if grade >= 3 and rng.random() < 0.25:
        row["seizure"] = "resolved" if grade == 3 else "prolonged"
    if grade == 4 and rng.random() < 0.2:
        row["cerebral_edema"] = "diffuse"
    return row


def patient_rows(rng: random.Random, patient_id: str, days: int, readings_share: float) -> list[dict]:
    child = rng.random() < 0.15
    age = rng.randint(3, 11) if child else 12 if rng.random() < 0.03 else rng.randint(18, 82)
    crs = _course(rng, _weighted(rng, _CRS_PEAK), rng.randint(0, 6)) if rng.random() < 0.75 else {}
    icans = _course(rng, _weighted(rng, _ICANS_PEAK), rng.randint(3, 10)) if rng.random() < 0.3 else {}
    rows: list[dict] = []
    treated = False
    for day in range(-2, days - 2):
        if rng.random() < 0.05:
            continue  # a day missing from the record
        grade = crs.get(day, 0)
        row = {"patient_id": patient_id, "day": day, **_crs_signs(rng, grade, treated)}
        if grade >= 2 and rng.random() < 0.8:
            row["tocilizumab"] = "yes"
            treated = True
        if (grade >= 3 or icans.get(day, 0) >= 2) and rng.random() < 0.7:
            row["steroids"] = "yes"
            treated = True
        if grade == 1 and rng.random() < 0.3:
            row["antipyretic"] = "yes"
            treated = True
        if crs and day > max(crs):
            treated = False  # the episode is over
        row.update(_icans_signs(rng, icans.get(day, 0), child))
        if not rows:
            row["age_years"] = age
        for column in ("hypotension", "vasopressin", "consciousness", "temp_c"):
            if rng.random() < 0.04:
                row[column] = ""  # not recorded
        extra = 0
        if grade >= 3 and rng.random() < readings_share:
            extra = rng.randint(1, 3)
        rows.append(row)
        for _ in range(extra):
            again = {**row, **_crs_signs(rng, max(grade - 1, 0), treated)}
            again.pop("age_years", None)
            rows.append(again)
    return rows


def older_system_inputs(rng: random.Random, row: dict) -> dict:
    """Values of the older systems' columns that fit a row's ASTCT findings."""
    out: dict = {}
    pressors = row.get("vasopressors") or 0
    if pressors:
        out["norepinephrine_ug_min"] = rng.choice([4, 8, 12, 20, 30])
        if pressors >= 2:
            out["epinephrine_ug_min"] = rng.choice([2, 5, 10])
        out["vasopressor_hours"] = rng.choice(["", 2, 6, 20, 30])
        if rng.random() < 0.1:
            out["vasopressor_high_dose"] = rng.choice(["yes", "no"])
        out["life_threatening"] = "yes" if pressors >= 2 and rng.random() < 0.3 else rng.choice(["no", ""])
    if row.get("hypotension") == "yes":
        out["fluid_boluses"] = rng.choice([0, 1, 2, 3])
    device = row.get("o2_device")
    high_support = ("high_flow_nasal_cannula", "venturi", "cpap", "bipap", "mechanical_ventilation")
    if device in high_support and rng.random() < 0.7:
        out["fio2"] = rng.choice([0.3, 0.4, 45, 60, 100])
    elif device == "nasal_cannula" and rng.random() < 0.2:
        out["fio2"] = rng.choice([28, 36, 40])
    if rng.random() < 0.5:
        out.update({name: rng.choice([0, 0, 0, 1, 1, 2, 3, 4])
                    for name in ("organ_toxicity_grade", "transaminitis_grade", "creatinine_grade")})
    for name, share in (("hospitalized", 0.8), ("iv_therapies", 0.3), ("crs_symptoms", 0.4),
                        ("coagulopathy_replacement", 0.03)):
        if rng.random() < 0.7:
            out[name] = "yes" if rng.random() < share else "no"
    ice = row.get("ice_score")
    if ice not in (None, "") and rng.random() < 0.6:
        out["cartox_score"] = ice
    seizure = row.get("seizure")
    if seizure and rng.random() < 0.7:
        out["seizure_kind"] = "status_epilepticus" if seizure == "prolonged" else rng.choice(["focal", "generalized"])
    if row.get("cerebral_edema") and rng.random() < 0.5:
        out["papilledema_stage"] = rng.randint(1, 5)
        out["csf_opening_pressure_mmhg"] = rng.choice([15, 22, 30])
    return out


def cohort_rows(patient_days: int, seed: int = 2019, days_per_patient: int = 30, readings_share: float = 0.3,
                older_systems: bool = False):
    """Rows of a cohort of about `patient_days` patient-days (more rows: some days have several).
    With `older_systems`, the same rows also carry the older grading systems' inputs (drawn
    from a generator of their own, so the ASTCT columns are the same either way)."""
    rng = random.Random(seed)
    extra = random.Random(seed + 1)
    made, number = 0, 0
    while made < patient_days:
        number += 1
        rows = patient_rows(rng, f"P{number:06d}", min(days_per_patient, patient_days - made), readings_share)
        made += len({r["day"] for r in rows}) or 1
        for row in rows:
            yield {**row, **older_system_inputs(extra, row)} if older_systems else row


def write_cohort(path: str | Path, patient_days: int, seed: int = 2019, older_systems: bool = False) -> int:
    """Writes a synthetic cohort CSV; returns the number of rows written."""
    count = 0
    columns = COLUMNS + (OLDER_SYSTEM_COLUMNS if older_systems else ())
    with Path(path).open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, lineterminator="\n", extrasaction="raise")
        writer.writeheader()
        for row in cohort_rows(patient_days, seed, older_systems=older_systems):
            writer.writerow(row)
            count += 1
    return count
