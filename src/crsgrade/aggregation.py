"""Several readings of one patient-day combined into the day's worst finding.

Exports often hold a row per reading (vitals every 4 hours, an ICE score per nursing shift).
ASTCT grades a day by its worst finding, so each field is combined by the rule in `HOW` below —
the one place these rules are written down (the README repeats this table).

Findings come with attribution flags (`fever_other_cause`, ...). A finding attributed to another
cause must not hide one that counts, so each group of fields is combined over the readings that
count; only when every reading with a value is attributed is the day's finding attributed.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any, Callable, Sequence

from .observations import CARTOX_ITEMS, ICE_ITEMS, LABS, THERAPIES, VASOPRESSOR_DOSES, Observation

HOW: dict[str, str] = {
    "temp_c": "highest (temp_f converted to °C first)",
    "hypotension, vasopressin, vasopressor_high_dose": "any reading yes",
    "vasopressors, vasopressor doses, vasopressor_hours, fluid_boluses": "highest",
    "o2_device": "most support: highest oxygen class, then highest flow (device and flow of one reading)",
    "fio2": "highest",
    "ice_score, cartox_score": "lowest (its items taken from the same reading)",
    "capd_score, papilledema_stage, csf_opening_pressure_mmhg": "highest",
    "consciousness": "worst (alert < awakens_spontaneously < awakens_to_voice < awakens_to_touch < unarousable)",
    "seizure": "worst (none < resolved < prolonged)",
    "seizure_kind": "worst (none < eeg_only < focal < generalized < status_epilepticus)",
    "motor_weakness": "worst (none < deep_focal)",
    "cerebral_edema": "worst (none < focal < diffuse)",
    "tocilizumab, siltuximab, anakinra, steroids, antipyretic": "any reading yes",
    "organ_toxicity_grade, transaminitis_grade, creatinine_grade": "highest",
    "sbp_min, dbp_min": "lowest",
    "ferritin, il6, crp, car_t_per_ul": "highest",
    "other_treatment": "every name given in any reading",
    "coagulopathy_replacement, hospitalized, iv_therapies, crs_symptoms, life_threatening": "any reading yes",
    "fever_other_cause, hypotension_other_cause, hypoxia_other_cause, neuro_other_cause":
        "yes only if every reading with that finding says yes",
    "age_years, death_cause": "must agree across readings",
    "reported_crs_grade, reported_icans_grade": "highest",
    "note": "the notes of the readings, joined with '; '",
    "time": "not kept (the day is graded as a whole)",
}


@dataclass(frozen=True)
class _Group:
    flag: str
    fields: tuple[str, ...]


_VASOPRESSOR_HIGHEST = ("vasopressors", *VASOPRESSOR_DOSES, "vasopressor_hours", "fluid_boluses")
_NEURO_WORST = ("consciousness", "seizure", "motor_weakness", "cerebral_edema", "seizure_kind")
_GROUPS = (
    _Group("fever_other_cause", ("temp_c", "temp_f")),
    _Group("hypotension_other_cause", ("hypotension", "vasopressin", "vasopressor_high_dose",
                                       *_VASOPRESSOR_HIGHEST)),
    _Group("hypoxia_other_cause", ("o2_device", "o2_flow_lpm", "fio2")),
    _Group("neuro_other_cause", ("ice_score", *ICE_ITEMS, "cartox_score", *CARTOX_ITEMS, "capd_score",
                                 "papilledema_stage", "csf_opening_pressure_mmhg", *_NEURO_WORST)),
)
_MUST_AGREE = ("age_years", "death_cause")
# Fields outside the attribution groups (organ toxicity is recorded as CRS-related).
_HIGHEST = ("organ_toxicity_grade", "transaminitis_grade", "creatinine_grade",
            "reported_crs_grade", "reported_icans_grade", *LABS)
_ANY_YES = (*THERAPIES, "coagulopathy_replacement", "hospitalized", "iv_therapies", "crs_symptoms",
            "life_threatening")


def _any_yes(values: list[bool | None]) -> bool | None:
    if True in values:
        return True
    return False if False in values else None


def _worst(values: list[Any]) -> Any:
    present = [v for v in values if v is not None]
    if not present:
        return None
    order = list(type(present[0]))  # enums are declared from best to worst
    return max(present, key=order.index)


def _extreme(values: list[Any], pick: Callable) -> Any:
    present = [v for v in values if v is not None]
    return pick(present) if present else None


def _combine_group(group: _Group, readings: Sequence[Observation], o2_rank) -> dict[str, Any]:
    with_values = [r for r in readings if any(getattr(r, f) is not None for f in group.fields)]
    counting = [r for r in with_values if getattr(r, group.flag) is not True]
    chosen = counting or with_values
    if not with_values:
        flag = _any_yes([getattr(r, group.flag) for r in readings])
    else:
        flag = not counting
    out: dict[str, Any] = {group.flag: flag}
    if group.flag == "fever_other_cause":
        out["temp_c"] = _extreme([r.temperature_c for r in chosen], max)
    elif group.flag == "hypotension_other_cause":
        for name in ("hypotension", "vasopressin", "vasopressor_high_dose"):
            out[name] = _any_yes([getattr(r, name) for r in chosen])
        for name in _VASOPRESSOR_HIGHEST:
            out[name] = _extreme([getattr(r, name) for r in chosen], max)
    elif group.flag == "hypoxia_other_cause":
        if chosen:
            most = max(chosen, key=o2_rank)
            out["o2_device"], out["o2_flow_lpm"] = most.o2_device, most.o2_flow_lpm
        out["fio2"] = _extreme([r.fio2 for r in chosen], max)
    else:
        for total, items in (("ice_total", ("ice_score", *ICE_ITEMS)),
                             ("cartox_total", ("cartox_score", *CARTOX_ITEMS))):
            scored = [r for r in chosen if getattr(r, total) is not None]
            if scored:
                lowest = min(scored, key=lambda r: getattr(r, total))
                out.update({name: getattr(lowest, name) for name in items})
        for name in ("capd_score", "papilledema_stage", "csf_opening_pressure_mmhg"):
            out[name] = _extreme([getattr(r, name) for r in chosen], max)
        for name in _NEURO_WORST:
            out[name] = _worst([getattr(r, name) for r in chosen])
    return out


def combine(
    readings: Sequence[Observation],
    locations: Sequence[str],
    o2_rank: Callable[[Observation], tuple],
) -> tuple[Observation | None, list[str]]:
    """One patient-day's readings as one observation, or the problems that prevent it.

    `o2_rank` orders readings by oxygen support (the rule set knows the device classes).
    """
    if len(readings) == 1:
        return readings[0].model_copy(update={"time": None}), []
    first = readings[0]
    fields: dict[str, Any] = {"patient_id": first.patient_id, "day": first.day}
    problems = []
    for name in _MUST_AGREE:
        values = {getattr(r, name) for r in readings} - {None}
        if len(values) > 1:
            shown = ", ".join(sorted(str(v.value if isinstance(v, Enum) else v) for v in values))
            problems.append(
                f"{', '.join(locations)}: {name}: readings of patient {first.patient_id}"
                f" day {first.day} disagree ({shown})"
            )
        fields[name] = values.pop() if len(values) == 1 else None
    for name in _ANY_YES:
        fields[name] = _any_yes([getattr(r, name) for r in readings])
    for name in _HIGHEST:
        fields[name] = _extreme([getattr(r, name) for r in readings], max)
    fields["note"] = "; ".join(dict.fromkeys(r.note for r in readings if r.note)) or None
    fields["other_treatment"] = "; ".join(dict.fromkeys(t for r in readings for t in r.other_treatments)) or None
    for name in ("sbp_min", "dbp_min"):
        fields[name] = _extreme([getattr(r, name) for r in readings], min)
    for group in _GROUPS:
        fields.update(_combine_group(group, readings, o2_rank))
    if problems:
        return None, problems
    return Observation.model_validate({k: v for k, v in fields.items() if v is not None}), []
