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
    "vasopressors, vasopressor doses, vasopressor_hours, fluid_boluses": "highest (weight-based doses"
    " converted to µg/min first)",
    "o2_device": "most support: highest oxygen class, then highest flow (device and flow of one reading)",
    "fio2": "highest",
    "ice_score, cartox_score": "lowest (its items taken from the same reading)",
    "capd_score": "highest",
    "papilledema_stage, csf_opening_pressure_mmhg": "highest, over every reading",
    "raised_icp_suspected": "any reading yes",
    "consciousness": "worst (alert < awakens_spontaneously < awakens_to_voice < awakens_to_touch < unarousable)",
    "seizure": "worst over every reading (none < resolved < prolonged)",
    "seizure_kind": "worst over every reading (none < eeg_only < focal < generalized < status_epilepticus)",
    "motor_weakness": "worst over every reading (none < deep_focal)",
    "cerebral_edema": "worst over every reading (none < focal < diffuse)",
    "tocilizumab, siltuximab, anakinra, steroids, antipyretic": "any reading yes",
    "organ_toxicity_grade, transaminitis_grade, creatinine_grade": "highest",
    "sbp_min, dbp_min": "lowest",
    "ferritin, il6, crp, car_t_per_ul": "highest",
    "other_treatment": "every name given in any reading",
    "coagulopathy_replacement, hospitalized, iv_therapies, crs_symptoms, life_threatening": "any reading yes",
    "fever_other_cause, hypotension_other_cause, hypoxia_other_cause, score_other_cause,"
    " consciousness_other_cause": "yes only if every reading with that finding says yes"
    " (neuro_other_cause stands for the last two)",
    "neuro_not_assessable": "yes only if no reading with a score or a level of consciousness is"
    " assessable; otherwise the readings not assessable are set aside",
    "weight_kg": "highest",
    "age_years, death_cause": "must agree across readings",
    "reported_crs_grade, reported_icans_grade": "highest",
    "note": "the notes of the readings, joined with '; '",
    "time": "not kept (the day is graded as a whole)",
}


@dataclass(frozen=True)
class _Group:
    flag: str
    fields: tuple[str, ...]
    finding: str  # in words, for the readings a day sets aside


_VASOPRESSOR_HIGHEST = ("vasopressors", *VASOPRESSOR_DOSES, "vasopressor_hours", "fluid_boluses")
# Events: recorded when they happen, never attributed (one from another cause is not recorded).
_EVENT_WORST = ("seizure", "motor_weakness", "cerebral_edema", "seizure_kind")
_EVENT_HIGHEST = ("papilledema_stage", "csf_opening_pressure_mmhg")
_SCORES = ("ice_score", *ICE_ITEMS, "cartox_score", *CARTOX_ITEMS, "capd_score")
_GROUPS = (
    _Group("fever_other_cause", ("temp_c", "temp_f"), "temperature"),
    _Group("hypotension_other_cause", ("hypotension", "vasopressin", "vasopressor_high_dose",
                                       *_VASOPRESSOR_HIGHEST), "blood pressure and vasopressors"),
    _Group("hypoxia_other_cause", ("o2_device", "o2_flow_lpm", "fio2"), "oxygen"),
    _Group("score_other_cause", _SCORES, "ICE, CAPD or CARTOX-10 score"),
    _Group("consciousness_other_cause", ("consciousness",), "level of consciousness"),
)
_NEURO_GROUPS = ("score_other_cause", "consciousness_other_cause")
_MUST_AGREE = ("age_years", "death_cause")
# Fields outside the attribution groups (organ toxicity is recorded as CRS-related).
_HIGHEST = ("organ_toxicity_grade", "transaminitis_grade", "creatinine_grade",
            "reported_crs_grade", "reported_icans_grade", "weight_kg", *LABS, *_EVENT_HIGHEST)
_ANY_YES = (*THERAPIES, "coagulopathy_replacement", "hospitalized", "iv_therapies", "crs_symptoms",
            "life_threatening", "raised_icp_suspected")


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


def _combine_group(group: _Group, readings: Sequence[Observation], locations: Sequence[str], o2_rank,
                   set_aside: list[str]) -> dict[str, Any]:
    with_values = [i for i, r in enumerate(readings) if any(getattr(r, f) is not None for f in group.fields)]
    counting = [i for i in with_values if readings[i].attributed(group.flag) is not True]
    if counting:
        set_aside += [f"{locations[i]}: {group.finding} attributed to another cause" for i in with_values
                      if i not in counting]
    chosen = [readings[i] for i in counting or with_values]
    if not with_values:
        flag = _any_yes([r.attributed(group.flag) for r in readings])
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
    elif group.flag == "score_other_cause":
        for total, items in (("ice_total", ("ice_score", *ICE_ITEMS)),
                             ("cartox_total", ("cartox_score", *CARTOX_ITEMS))):
            scored = [r for r in chosen if getattr(r, total) is not None]
            if scored:
                lowest = min(scored, key=lambda r: getattr(r, total))
                out.update({name: getattr(lowest, name) for name in items})
        out["capd_score"] = _extreme([r.capd_score for r in chosen], max)
    else:
        out["consciousness"] = _worst([r.consciousness for r in chosen])
    return out


def _assessable(readings: Sequence[Observation], locations: Sequence[str],
                set_aside: list[str]) -> tuple[list[int], bool | None]:
    """The readings whose neurological assessment counts, and the day's neuro_not_assessable:
    readings recorded as not assessable are set aside when another reading was assessed."""
    fields = ("consciousness", *_SCORES)
    assessed = [i for i, r in enumerate(readings)
                if r.neuro_not_assessable is not True and any(getattr(r, f) is not None for f in fields)]
    flagged = [i for i, r in enumerate(readings) if r.neuro_not_assessable is True]
    if assessed and flagged:
        set_aside += [f"{locations[i]}: not assessable, while another reading was assessed" for i in flagged]
        return [i for i in range(len(readings)) if i not in flagged], False
    return list(range(len(readings))), _any_yes([r.neuro_not_assessable for r in readings])


def combine(
    readings: Sequence[Observation],
    locations: Sequence[str],
    o2_rank: Callable[[Observation], tuple],
) -> tuple[Observation | None, list[str], tuple[str, ...]]:
    """One patient-day's readings as one observation, or the problems that prevent it, and the
    readings whose findings were set aside (attributed while another reading's count, or not
    assessable while another reading was assessed).

    `o2_rank` orders readings by oxygen support (the rule set knows the device classes).
    """
    if len(readings) == 1:
        return readings[0].model_copy(update={"time": None}), [], ()
    first = readings[0]
    fields: dict[str, Any] = {"patient_id": first.patient_id, "day": first.day}
    problems = []
    set_aside: list[str] = []
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
    for name in _EVENT_WORST:
        fields[name] = _worst([getattr(r, name) for r in readings])
    fields["note"] = "; ".join(dict.fromkeys(r.note for r in readings if r.note)) or None
    fields["other_treatment"] = "; ".join(dict.fromkeys(t for r in readings for t in r.other_treatments)) or None
    for name in ("sbp_min", "dbp_min"):
        fields[name] = _extreme([getattr(r, name) for r in readings], min)
    neuro, fields["neuro_not_assessable"] = _assessable(readings, locations, set_aside)
    for group in _GROUPS:
        indexes = neuro if group.flag in _NEURO_GROUPS else range(len(readings))
        fields.update(_combine_group(group, [readings[i] for i in indexes], [locations[i] for i in indexes],
                                     o2_rank, set_aside))
    if problems:
        return None, problems, ()
    day = Observation.model_validate({k: v for k, v in fields.items() if v is not None})
    return day, [], tuple(set_aside)
