"""The facts the rules test, and how one observation day becomes one fact.

Python derives only what the guide calls derived facts — temperature in °C, ICE total, oxygen
class, whether fever counts, whether it is waived — and takes every threshold, device class and
therapy list it needs from the rule set's `definitions`. The cross-day state of the fever waiver
is kept by `grading.py`; here it arrives as two arguments.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any, Mapping

from .conditions import FactSpec
from .observations import (
    NEURO_ATTRIBUTION,
    VASOPRESSOR_DOSES,
    CerebralEdema,
    Consciousness,
    DeathCause,
    MotorWeakness,
    O2Device,
    Observation,
    Seizure,
    SeizureKind,
)

ATTRIBUTION_FLAGS = (
    "fever_other_cause",
    "hypotension_other_cause",
    "hypoxia_other_cause",
    *NEURO_ATTRIBUTION,
)

# Facts that messages may show but conditions may not test: the measurements behind derived
# facts (conditions test fever, o2_class and the assessment tool, whose thresholds are in the
# rule set's definitions), the text that names why fever counts or is waived, and the oxygen
# support in words ("nasal cannula 2.0 L/min", "face mask, flow not recorded").
MESSAGE_ONLY_FACTS = ("temp_c", "o2_flow_lpm", "age_years", "fever_basis", "o2_support", "fio2_basis",
                      "ne_equivalent", "vasopressor_basis")
# Facts taken as recorded, under their column's name (the inputs of the older grading systems).
RECORDED_FACTS = (
    "vasopressor_hours", "fluid_boluses", "organ_toxicity_grade", "transaminitis_grade",
    "creatinine_grade", "coagulopathy_replacement", "hospitalized", "iv_therapies", "crs_symptoms",
    "life_threatening", "papilledema_stage", "csf_opening_pressure_mmhg", "seizure_kind",
    "raised_icp_suspected",
)
# Where derive() records, for a derived fact left unknown, the input column that would settle it.
UNRECORDED_INPUTS = "_unrecorded_inputs"
# Where derive() records facts that were recorded but set aside, and why (ICE in a child assessed
# with CAPD; the assessment of a day recorded as not assessable): set aside is not "not recorded".
SET_ASIDE = "_set_aside"
NOT_ASSESSABLE = "not assessable (neuro_not_assessable)"


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, Enum) else value


def format_value(value: Any) -> str:
    """A fact as a message shows it: 38.0 not 38, 37.96 not 38.0 (every digit recorded), nasal cannula not
    nasal_cannula, empty as 'not recorded'."""
    if value is None:
        return "not recorded"
    if isinstance(value, float):
        return f"{value:.1f}" if round(value, 1) == value else repr(value)
    return str(value).replace("_", " ")


def _text(enum, label: str) -> FactSpec:
    return FactSpec("text", tuple(member.value for member in enum), label=label)


def _flag(label: str, yes: str, no: str, description: str = "") -> FactSpec:
    return FactSpec("bool", description=description, label=label, words=(yes, no))


def _number(label: str, description: str) -> FactSpec:
    return FactSpec("number", description=description, label=label)


def _attributed(finding: str) -> FactSpec:
    return _flag(f"{finding} attributed elsewhere", f"{finding} attributed to another cause",
                 f"{finding} not attributed to another cause")


def fact_vocabulary(oxygen_classes: tuple[str, ...]) -> dict[str, FactSpec]:
    """Every fact a condition may test, with its kind, allowed values and clinical words."""
    return {
        "fever": _flag("fever", "fever", "no fever", "highest temperature at or above the fever threshold"),
        "fever_waived": _flag("fever waiver", "fever waived", "fever not waived",
                              "fever requirement waived after CRS therapy"),
        "hypotension": _flag("hypotension", "hypotension", "no hypotension"),
        "vasopressors": _number("vasopressors", "vasopressors in use, vasopressin not counted"),
        "vasopressin": _flag("vasopressin", "vasopressin", "no vasopressin"),
        "o2_device": _text(O2Device, "oxygen device"),
        "o2_class": FactSpec("text", oxygen_classes, "oxygen support class of the device and flow",
                             label="oxygen support"),
        "ice_total": _number("ICE", "ICE score, for patients assessed with ICE"),
        "capd_total": _number("CAPD", "CAPD total, for children assessed with CAPD"),
        "consciousness": _text(Consciousness, "consciousness"),
        "seizure": _text(Seizure, "seizure"),
        "motor_weakness": _text(MotorWeakness, "motor weakness"),
        "cerebral_edema": _text(CerebralEdema, "cerebral edema"),
        "death_cause": _text(DeathCause, "death"),
        "fever_other_cause": _attributed("fever"),
        "hypotension_other_cause": _attributed("hypotension"),
        "hypoxia_other_cause": _attributed("hypoxia"),
        "score_other_cause": _attributed("ICE/CAPD score"),
        "consciousness_other_cause": _attributed("depressed consciousness"),
        "fio2": _number("FiO2 %", "FiO2 %, recorded or estimated from device and flow"),
        "vasopressor_high_dose": _flag("high-dose vasopressors", "high-dose vasopressors",
                                       "vasopressors not at high dose",
                                       "vasopressors at high dose (recorded, or from doses)"),
        "vasopressor_hours": _number("hours on vasopressors", "hours on vasopressors"),
        "fluid_boluses": _number("fluid boluses", "fluid boluses given for hypotension"),
        "organ_toxicity_grade": _number("organ toxicity grade",
                                        "CTCAE grade of CRS-related organ toxicity, not transaminitis"),
        "transaminitis_grade": _number("transaminitis grade", "CTCAE grade of CRS-related transaminitis"),
        "creatinine_grade": _number("creatinine grade", "CTCAE grade of CRS-related creatinine increase"),
        "coagulopathy_replacement": _flag("coagulopathy", "coagulopathy needing replacement",
                                          "no coagulopathy needing replacement",
                                          "coagulopathy needing FFP, cryoprecipitate or fibrinogen"),
        "hospitalized": _flag("hospitalization", "in hospital for CRS", "not in hospital for CRS"),
        "iv_therapies": _flag("IV therapies", "IV therapies for hypotension", "no IV therapies for hypotension",
                              "IV therapies other than fluids for hypotension"),
        "crs_symptoms": _flag("symptoms", "constitutional symptoms", "no constitutional symptoms",
                              "constitutional symptoms (myalgia, malaise, fatigue)"),
        "life_threatening": _flag("life-threatening", "life-threatening", "not life-threatening",
                                  "life-threatening, urgent intervention needed"),
        "cartox_total": _number("CARTOX-10", "CARTOX-10 score"),
        "cartox_scored": _flag("CARTOX-10", "CARTOX-10 scored", "no CARTOX-10 score",
                               "a CARTOX-10 score was recorded (the patient could be assessed)"),
        "papilledema_stage": _number("papilledema stage", "papilledema stage (Frisén) 0-5"),
        "csf_opening_pressure_mmhg": _number("CSF opening pressure (mmHg)", "CSF opening pressure, mmHg"),
        "raised_icp_suspected": _flag("raised pressure suspected", "raised intracranial pressure suspected",
                                      "raised intracranial pressure not suspected",
                                      "raised intracranial pressure suspected (the reason for the pressure)"),
        "seizure_kind": _text(SeizureKind, "seizure kind"),
    }


# Facts every day has: attribution is false unless recorded, fever is waived only when the waiver
# says so, and whether a CARTOX-10 was scored is always known.
ALWAYS_KNOWN = (*ATTRIBUTION_FLAGS, "fever_waived", "cartox_scored")


def complete(fact: Mapping[str, Any]) -> dict[str, Any]:
    """Fills the facts that are always known: attribution is false unless recorded, and fever
    is waived only when the waiver says so."""
    filled = {name: False for name in ATTRIBUTION_FLAGS}
    filled["fever_waived"] = False
    filled.update({k: v for k, v in fact.items() if v is not None})
    return filled


@dataclass(frozen=True)
class Waiver:
    """Why fever is waived today: the therapy, the day it was given, and the settings that let
    it waive fever (an antipyretic, or therapy given before any CRS)."""

    therapy: str
    day: int
    settings: tuple[str, ...] = ()

    def describe(self) -> str:
        return f"fever waived after {self.therapy} on day {self.day}"


def _oxygen_entry(obs: Observation, oxygen: Any) -> Any:
    """The device table entry that classes the day's oxygen support: a class or a setting."""
    if obs.o2_device is None:
        return None
    device = oxygen.devices[obs.o2_device.value]
    if not device.by_flow:
        return device.class_
    if obs.o2_flow_lpm is None or obs.o2_flow_lpm <= oxygen.flow_boundary_lpm:
        return device.at_or_below  # with no flow recorded: the least the device can be
    return device.above


def oxygen_class(obs: Observation, oxygen: Any, settings: Mapping[str, Any]) -> str | None:
    """The class of the day's oxygen support, from the rule set's device table."""
    entry = _oxygen_entry(obs, oxygen)
    return None if entry is None else entry.value(settings)


def settings_consulted(obs: Observation, fact: Mapping[str, Any], definitions: Any,
                       settings: Mapping[str, Any], waiver: Waiver | None) -> list[tuple[str, str, str]]:
    """The [open] settings the derived facts of this day rest on: (syndrome, setting, what it
    did)."""
    used = []
    if waiver is not None and fact.get("fever_waived"):
        used += [("crs", name, waiver.describe()) for name in waiver.settings]
    entry = _oxygen_entry(obs, definitions.oxygen)
    if getattr(entry, "setting", None):
        used.append(("crs", entry.setting, f"{fact.get('o2_support')} classed as {fact.get('o2_class')}"))
    encephalopathy = definitions.encephalopathy
    age_setting = getattr(encephalopathy.capd_below_age, "setting", None) if encephalopathy else None
    age = fact.get("age_years")
    if age_setting and age is not None and obs.ice_total is not None:
        tool = "CAPD, so ICE is not used" if uses_capd(age, definitions, settings) else "ICE"
        used.append(("icans", age_setting, f"age {age:g}: assessed with {tool}"))
    return used


def uses_capd(age_years: float | None, definitions: Any, settings: Mapping[str, Any]) -> bool | None:
    """Whether a patient of this age is assessed with CAPD (None when age is not recorded or
    the system does not use CAPD)."""
    if age_years is None or definitions.encephalopathy is None:
        return None
    return age_years < definitions.encephalopathy.capd_below_age.value(settings)


def derive(
    obs: Observation,
    *,
    age_years: float | None,
    definitions: Any,
    settings: Mapping[str, Any],
    waiver: Waiver | None,
) -> dict[str, Any]:
    """The fact the engine sees for one patient-day; unrecorded facts are left out, and facts
    recorded but set aside are named under SET_ASIDE with the reason."""
    temp = obs.temperature_c
    fever = None if temp is None else temp >= definitions.fever.threshold_c
    capd = uses_capd(age_years, definitions, settings)
    fact = {
        "temp_c": temp,
        "fever": fever,
        "fever_waived": waiver is not None,
        "hypotension": obs.hypotension,
        "vasopressin": obs.vasopressin,
        "o2_device": obs.o2_device.value if obs.o2_device else None,
        "o2_flow_lpm": obs.o2_flow_lpm,
        "o2_class": oxygen_class(obs, definitions.oxygen, settings),
        "ice_total": None if capd else obs.ice_total,
        "capd_total": obs.capd_score,
        "consciousness": obs.consciousness,
        "seizure": obs.seizure,
        "motor_weakness": obs.motor_weakness,
        "cerebral_edema": obs.cerebral_edema,
        "death_cause": obs.death_cause,
        "age_years": age_years,
        "cartox_total": obs.cartox_total,
        **{name: obs.attributed(name) for name in ATTRIBUTION_FLAGS},
        **{name: getattr(obs, name) for name in RECORDED_FACTS},
    }
    set_aside: dict[str, str] = {}
    if capd and obs.ice_total is not None:
        limit = definitions.encephalopathy.capd_below_age.value(settings)
        set_aside["ice_total"] = f"age {age_years:g}: under {limit:g} is assessed with CAPD"
    if obs.neuro_not_assessable and definitions.not_assessable is not None:
        for name in definitions.not_assessable.sets_aside:
            fact[name] = None
            set_aside[name] = NOT_ASSESSABLE
    fact["cartox_scored"] = fact["cartox_total"] is not None and "cartox_total" not in set_aside
    fact = complete({name: _plain(value) for name, value in fact.items()})
    unrecorded: dict[str, str] = {}
    fact.update(_vasopressor_facts(obs, definitions.vasopressor_dose, unrecorded))
    fact.update(_fio2_facts(obs, definitions.fio2_estimate))
    fact = {name: value for name, value in fact.items() if value is not None}
    if unrecorded:
        fact[UNRECORDED_INPUTS] = unrecorded
    if set_aside:
        fact[SET_ASIDE] = set_aside
    if obs.o2_device is not None:
        flow = obs.o2_flow_lpm
        device = format_value(obs.o2_device.value)
        if flow is not None:
            fact["o2_support"] = f"{device} {format_value(flow)} L/min"
        elif definitions.oxygen.devices[obs.o2_device.value].by_flow:
            fact["o2_support"] = f"{device}, flow not recorded"
        else:
            fact["o2_support"] = device
    if fever and not fact["fever_other_cause"]:
        fact["fever_basis"] = f"fever {format_value(temp)} °C"
    elif waiver is not None:
        fact["fever_basis"] = waiver.describe()
    return fact


def dose_unit(column: str) -> str:
    """The unit of a dose column, from its name."""
    return "µg/kg/min" if column.endswith("_ug_kg_min") else "µg/min"


def _vasopressor_facts(obs: Observation, dose: Any, unrecorded: dict[str, str]) -> dict[str, Any]:
    """The vasopressor count (agents given a dose count too) and, for systems that grade by
    dose, whether the vasopressors are high-dose. A recorded `vasopressor_high_dose` is taken as
    it is; otherwise the rule set's table decides, for at least its hours: an agent's own
    threshold applies to monotherapy only (one agent, no vasopressin); with vasopressin the
    norepinephrine equivalent of the other agents is compared with `with_vasopressin_ne`; any
    other combination's with `combination_ne`."""
    dosed = {name: getattr(obs, name) for name in VASOPRESSOR_DOSES if getattr(obs, name)}
    recorded = any(getattr(obs, name) is not None for name in VASOPRESSOR_DOSES)
    count = obs.vasopressors if obs.vasopressors is not None else (len(dosed) if recorded else None)
    if count is not None:
        count = max(count, len(dosed))
    facts: dict[str, Any] = {"vasopressors": count}
    if dose is None:
        return facts
    agents = {spec.column: (name, spec) for name, spec in dose.agents.items()}
    ne = sum(amount * agents[column][1].ne_factor for column, amount in dosed.items() if column in agents)
    facts["ne_equivalent"] = round(ne, 6) if dosed else None
    hours = obs.vasopressor_hours
    for_hours = f" for {hours:g} h" if hours is not None else ""
    if obs.vasopressor_high_dose is not None:
        facts["vasopressor_high_dose"] = obs.vasopressor_high_dose
        facts["vasopressor_basis"] = "recorded as high-dose" if obs.vasopressor_high_dose else "recorded as not high-dose"
        return facts
    vasopressin = bool(obs.vasopressin)
    if count == 0 and not vasopressin:
        facts["vasopressor_high_dose"] = False
        return facts
    if vasopressin:
        high = ne >= dose.with_vasopressin_ne
        basis = f"vasopressin with norepinephrine equivalent {ne:.6g} µg/min"
    elif count == 1 and len(dosed) == 1:
        column, amount = next(iter(dosed.items()))
        name, spec = agents[column]
        high = amount >= spec.monotherapy_high_dose
        basis = f"{name} {amount:g} {dose_unit(column)} alone"
    else:
        high = ne >= dose.combination_ne
        agents_text = f" from {count} vasopressors" if count is not None and count >= 2 else ""
        basis = f"norepinephrine equivalent {ne:.6g} µg/min{agents_text}"
    if dosed or vasopressin:
        facts["vasopressor_basis"] = basis + for_hours
    # more doses could only raise the equivalent: a high one is high whatever is missing
    every_dose_known = count is not None and count <= len(dosed)
    if hours is not None and hours < dose.min_hours:
        facts["vasopressor_high_dose"] = False
    elif high:
        facts["vasopressor_high_dose"] = True if hours is not None else None
        if hours is None:
            unrecorded["vasopressor_high_dose"] = "vasopressor_hours"
    else:
        facts["vasopressor_high_dose"] = False if every_dose_known else None
    return facts


def _fio2_facts(obs: Observation, estimates: Any) -> dict[str, Any]:
    """FiO2 in %: as recorded, or estimated from the device (and flow) by the rule set's table,
    and said to be estimated wherever it is shown."""
    if obs.fio2 is not None:
        return {"fio2": obs.fio2, "fio2_basis": f"FiO2 {obs.fio2:g} %"}
    if estimates is None or obs.o2_device is None or obs.o2_device.value not in estimates.devices:
        return {}
    table = estimates.devices[obs.o2_device.value]
    device = format_value(obs.o2_device.value)
    if table.percent is not None:
        return {"fio2": table.percent, "fio2_basis": f"FiO2 {table.percent:g} % (estimated: {device})"}
    if obs.o2_flow_lpm is None:
        return {}
    value = round(min(table.base + table.per_lpm * obs.o2_flow_lpm, table.max), 6)
    return {"fio2": value,
            "fio2_basis": f"FiO2 {value:g} % (estimated: {device} {format_value(obs.o2_flow_lpm)} L/min)"}


def expected_absent(fact: Mapping[str, Any], definitions: Any) -> set[str]:
    """Facts whose absence says nothing: events (recorded only when they happen) and the
    encephalopathy tool not in use when the other one was recorded."""
    absent = set(definitions.event_facts) - {
        detail for detail, event in definitions.event_details.items() if fact.get(event) not in (None, "none")}
    tools = definitions.encephalopathy.tools if definitions.encephalopathy else ()
    if any(fact.get(tool) is not None for tool in tools):
        absent |= set(tools)
    return absent


def lower_bounds(fact: Mapping[str, Any], definitions: Any) -> dict[str, str]:
    """Derived facts that are only a lower bound because an input was not recorded, with that
    input's column: the oxygen class of a device whose class depends on a flow left empty."""
    device = fact.get("o2_device")
    if device and definitions.oxygen.devices[device].by_flow and fact.get("o2_flow_lpm") is None:
        return {"o2_class": "o2_flow_lpm"}
    return {}


def waiving_therapies(obs: Observation, definitions: Any, settings: Mapping[str, Any]) -> list[str]:
    """The therapies given on this day that waive fever under the current settings: those with
    a column of their own, then other therapies recorded by name in other_treatment."""
    waiver = definitions.fever_waiver
    if waiver is None:
        return []
    columns = list(waiver.therapies) + [
        therapy for therapy, setting in waiver.therapies_by_setting.items() if settings[setting]
    ]
    return [name for name in columns if getattr(obs, name)] + [
        name for name in obs.other_treatments if name in waiver.named(settings)]


def blocked_therapies(obs: Observation, definitions: Any, settings: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Therapies given on this day that would waive fever but for a setting: (therapy, setting)."""
    waiver = definitions.fever_waiver
    if waiver is None:
        return []
    return [(therapy, setting) for therapy, setting in waiver.therapies_by_setting.items()
            if not settings[setting] and getattr(obs, therapy)]


# The input column a derived fact comes from, for messages about what was not recorded.
SOURCE_COLUMNS = {
    "fever": "temp_c",
    "o2_class": "o2_device",
    "ice_total": "ice_score",
    "capd_total": "capd_score",
    "cartox_total": "cartox_score",
}
