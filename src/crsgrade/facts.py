"""The facts the rules test, and how the days' columns become them.

Python derives only what the guide calls derived facts — temperature in °C, ICE total, oxygen
class, whether fever counts, FiO2, whether vasopressors are high-dose — and takes every
threshold, device class and therapy list it needs from the rule set's `definitions`. They are
derived on whole columns: each fact is a column `f.NAME`; beside them, `s.NAME` says why a fact
recorded was set aside, `u.NAME` names the input that would settle a fact left unknown, and
`r.COLUMN` whether an input column was recorded. Text shown in messages ("nasal cannula 2.0
L/min") is written by Python once per distinct value. Whether fever is waived depends on the
days before, so the waiver (waiver.py) adds `f.fever_waived` and `f.fever_basis` afterwards.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from enum import StrEnum
from typing import Any

import polars as pl

from .combining import temperature, total
from .conditions import FactSpec
from .observations import (
    CARTOX_ITEMS,
    ICE_ITEMS,
    NEURO_ATTRIBUTION,
    VASOPRESSOR_DOSES,
    CerebralEdema,
    Consciousness,
    DeathCause,
    MotorWeakness,
    O2Device,
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
# Derived facts that can be left unknown for want of one input (named in a `u.` column), and
# those that can be only a lower bound (flagged in an `lb.` column).
UNSETTLED_FACTS = ("vasopressor_high_dose",)
LOWER_BOUND_FACTS = ("o2_class",)
NOT_ASSESSABLE = "not assessable (neuro_not_assessable)"


def format_value(value: Any) -> str:
    """A fact as a message shows it: 38.0 not 38, 37.96 not 38.0 (every digit recorded), nasal cannula not
    nasal_cannula, empty as 'not recorded'."""
    if value is None:
        return "not recorded"
    if isinstance(value, float):
        return f"{value:.1f}" if round(value, 1) == value else repr(value)
    return str(value).replace("_", " ")


def _text(enum: type[StrEnum], label: str) -> FactSpec:
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


def dose_unit(column: str) -> str:
    """The unit of a dose column, from its name."""
    return "µg/kg/min" if column.endswith("_ug_kg_min") else "µg/min"


def texts(frame: pl.DataFrame, columns: list[str], say: Callable[..., str | None]) -> pl.Series:
    """Text written by Python once per distinct combination of some columns (never per row)."""
    distinct = frame.select(columns).unique()
    said = pl.Series([say(*values) for values in distinct.iter_rows()], dtype=pl.String)
    lookup = distinct.with_columns(said.alias("_said"))
    return frame.select(columns).join(lookup, on=columns, how="left", nulls_equal=True,
                                      maintain_order="left")["_said"]


def _fact(name: str) -> pl.Expr:
    return pl.col(f"f.{name}")


def _oxygen(col: Callable[[str], pl.Expr], definitions: Any, settings: Mapping[str, Any]) -> tuple[pl.Expr, pl.Expr]:
    """The oxygen class of each day from the device table, and whether it is a lower bound (a
    device classed by flow with no flow recorded is the least it can be)."""
    oxygen = definitions.oxygen
    device, flow = col("o2_device"), col("o2_flow_lpm")
    classes: dict[str, pl.Expr] = {}
    by_flow = []
    for name, entry in oxygen.devices.items():
        if entry.by_flow:
            by_flow.append(name)
            classes[name] = pl.when(flow.is_null() | (flow <= oxygen.flow_boundary_lpm)).then(
                pl.lit(entry.at_or_below.value(settings))).otherwise(pl.lit(entry.above.value(settings)))
    fixed = {name: entry.class_.value(settings) for name, entry in oxygen.devices.items() if not entry.by_flow}
    expr = device.replace_strict(fixed, default=None, return_dtype=pl.String)
    for name, value in classes.items():
        expr = pl.when(device == name).then(value).otherwise(expr)
    return expr, device.is_in(by_flow) & flow.is_null()


def o2_rank(definitions: Any, settings: Mapping[str, Any], col: Callable[[str], pl.Expr] | None = None) -> pl.Expr:
    """Readings ordered by oxygen support: class (as the rule set lists them), then flow."""
    col = col or (lambda name: pl.col(name))
    classes = list(definitions.oxygen.classes)
    index = _oxygen(col, definitions, settings)[0].replace_strict(classes, list(range(len(classes))), default=-1,
                                                                  return_dtype=pl.Float64)
    return index * 1000 + col("o2_flow_lpm").fill_null(-1.0)


def _vasopressor_facts(col: Callable[[str], pl.Expr], dose: Any) -> list[pl.Expr]:
    """The vasopressor count (agents given a dose count too) and, for systems that grade by
    dose, whether the vasopressors are high-dose. A recorded `vasopressor_high_dose` is taken as
    it is; otherwise the rule set's table decides, for at least its hours: an agent's own
    threshold applies to monotherapy only (one agent, no vasopressin); with vasopressin the
    norepinephrine equivalent of the other agents is compared with `with_vasopressin_ne`; any
    other combination's with `combination_ne`."""
    dosed = [(col(c) > 0).fill_null(False) for c in VASOPRESSOR_DOSES]
    n_dosed = pl.sum_horizontal([d.cast(pl.Int64) for d in dosed])
    recorded = pl.any_horizontal([col(c).is_not_null() for c in VASOPRESSOR_DOSES])
    given = pl.coalesce(col("vasopressors"), pl.when(recorded).then(n_dosed))
    count = pl.max_horizontal(given, pl.when(given.is_not_null()).then(n_dosed))
    facts = [count.alias("f.vasopressors")]
    if dose is None:
        return facts
    agents = {spec.column: spec for spec in dose.agents.values()}
    ne = pl.sum_horizontal([col(c).fill_null(0) * agents[c].ne_factor for c in VASOPRESSOR_DOSES if c in agents])
    hours = col("vasopressor_hours")
    vasopressin = col("vasopressin").fill_null(False)
    mono = (count == 1) & (n_dosed == 1) & ~vasopressin
    mono_high = pl.any_horizontal([(col(c) >= spec.monotherapy_high_dose).fill_null(False)
                                   for c, spec in agents.items()])
    high = (pl.when(vasopressin).then(ne >= dose.with_vasopressin_ne).when(mono).then(mono_high)
            .otherwise(ne >= dose.combination_ne))
    every_dose_known = count.is_not_null() & (count <= n_dosed)
    short = (hours < dose.min_hours).fill_null(False)
    derived = (pl.when(short).then(False).when(high).then(pl.when(hours.is_not_null()).then(True))
               .when(every_dose_known).then(False))
    recorded_flag = col("vasopressor_high_dose")
    none_given = (count == 0) & ~vasopressin
    return [
        *facts,
        pl.when(n_dosed > 0).then(ne.round(6)).alias("f.ne_equivalent"),
        pl.coalesce(recorded_flag, pl.when(none_given).then(False), derived).alias("f.vasopressor_high_dose"),
        pl.when(recorded_flag.is_null() & ~none_given & high & ~short & hours.is_null())
        .then(pl.lit("vasopressor_hours")).alias("u.vasopressor_high_dose"),
    ]


def _fio2(col: Callable[[str], pl.Expr], estimates: Any) -> pl.Expr:
    """FiO2 in %: as recorded, or estimated from the device (and flow) by the rule set's table."""
    device, flow = col("o2_device"), col("o2_flow_lpm")
    estimate = pl.lit(None, dtype=pl.Float64)
    for name, entry in (estimates.devices.items() if estimates is not None else ()):
        value = (pl.lit(entry.percent, dtype=pl.Float64) if entry.percent is not None else
                 pl.when(flow.is_not_null()).then(
                     pl.min_horizontal(entry.base + entry.per_lpm * flow, pl.lit(entry.max)).round(6)))
        estimate = pl.when(device == name).then(value).otherwise(estimate)
    return pl.coalesce(col("fio2"), estimate).alias("f.fio2")


CHILD = "child"  # the code in s.ice_total of an ICE set aside because the patient is a child
# The facts a day can set aside (each has an `s.` column where some system sets it aside).
ASIDE_FACTS = ("ice_total", "capd_total", "cartox_total", "consciousness")


def derive(frame: pl.DataFrame, definitions: Any, settings: Mapping[str, Any]) -> pl.DataFrame:
    """The facts of each patient-day as columns `f.NAME`, with `s.`, `u.` and `lb.` beside them
    (see the module's text). Unrecorded facts are null."""
    from .validation import columns_of

    col = columns_of(frame)
    o2_class, lower_bound = _oxygen(col, definitions, settings)
    age = pl.coalesce(col("age_years"), col("age_years").drop_nulls().first().over("_p")) \
        if "age_years" in frame.columns else pl.lit(None, dtype=pl.Float64)
    encephalopathy = definitions.encephalopathy
    limit = encephalopathy.capd_below_age.value(settings) if encephalopathy else None
    child = (age < limit).fill_null(False) if limit is not None else pl.lit(False)
    ice = total(col, "ice_score", ICE_ITEMS)
    temp = temperature(col)
    aside = definitions.not_assessable.sets_aside if definitions.not_assessable else ()
    unassessed = (col("neuro_not_assessable") == True).fill_null(False)  # noqa: E712
    facts: dict[str, pl.Expr] = {
        "temp_c": temp,
        "fever": temp >= definitions.fever.threshold_c,
        "hypotension": col("hypotension"),
        "vasopressin": col("vasopressin"),
        "o2_device": col("o2_device"),
        "o2_flow_lpm": col("o2_flow_lpm"),
        "o2_class": o2_class,
        "ice_total": pl.when(~child).then(ice),
        "capd_total": col("capd_score"),
        "cartox_total": total(col, "cartox_score", CARTOX_ITEMS),
        **{c: col(c) for c in ("consciousness", "seizure", "motor_weakness", "cerebral_edema", "death_cause")},
        "age_years": age,
        **{flag: col(flag).fill_null(False) for flag in ATTRIBUTION_FLAGS},
        **{name: col(name) for name in RECORDED_FACTS},
    }
    for name in aside:
        facts[name] = pl.when(unassessed).then(None).otherwise(facts[name])
    facts["cartox_scored"] = facts["cartox_total"].is_not_null()
    ice_aside = pl.when(unassessed & pl.lit("ice_total" in aside)).then(pl.lit(NOT_ASSESSABLE)).when(
        child & ice.is_not_null()).then(pl.lit(CHILD))
    return frame.with_columns(
        *[expr.alias(f"f.{name}") for name, expr in facts.items()],
        *_vasopressor_facts(col, definitions.vasopressor_dose),
        _fio2(col, definitions.fio2_estimate),
        lower_bound.alias("lb.o2_class"),
        ice_aside.alias("s.ice_total"),
        *[pl.when(unassessed).then(pl.lit(NOT_ASSESSABLE)).alias(f"s.{name}") for name in aside if name != "ice_total"],
    )


def message_facts(definitions: Any, settings: Mapping[str, Any],
                  ) -> dict[str, tuple[tuple[str, ...], Callable[..., Any]]]:
    """The facts messages show but rules do not test, each with the day's columns it is written
    from and how: the oxygen support and FiO2 in words, the vasopressors' basis for high dose,
    why fever counts or is waived. Written once per distinct value."""
    dose = definitions.vasopressor_dose
    agents = {spec.column: name for name, spec in dose.agents.items()} if dose is not None else {}

    def support(device: str | None, flow: float | None) -> str | None:
        if device is None:
            return None
        if flow is not None:
            return f"{format_value(device)} {format_value(flow)} L/min"
        by_flow = definitions.oxygen.devices[device].by_flow
        return f"{format_value(device)}, flow not recorded" if by_flow else format_value(device)

    def fio2_basis(fio2: float | None, recorded: float | None, device: str | None, flow: float | None) -> str | None:
        if fio2 is None:
            return None
        if recorded is not None:
            return f"FiO2 {fio2:g} %"
        estimates = definitions.fio2_estimate
        shown = format_value(device) + (f" {format_value(flow)} L/min" if flow is not None and
                                         estimates.devices[device].percent is None else "")
        return f"FiO2 {fio2:g} % (estimated: {shown})"

    def vasopressor_basis(recorded: bool | None, count: int | None, vasopressin: bool | None, ne: float | None,
                          hours: float | None, *doses: float | None) -> str | None:
        if dose is None:
            return None
        if recorded is not None:
            return "recorded as high-dose" if recorded else "recorded as not high-dose"
        dosed = {c: amount for c, amount in zip(VASOPRESSOR_DOSES, doses, strict=False) if amount}
        if (count == 0 and not vasopressin) or not (dosed or vasopressin):
            return None
        total_ne = ne or 0.0
        if vasopressin:
            text = f"vasopressin with norepinephrine equivalent {total_ne:.6g} µg/min"
        elif count == 1 and len(dosed) == 1 and next(iter(dosed)) in agents:
            column, amount = next(iter(dosed.items()))
            text = f"{agents[column]} {amount:g} {dose_unit(column)} alone"
        else:
            more = f" from {count} vasopressors" if count is not None and count >= 2 else ""
            text = f"norepinephrine equivalent {total_ne:.6g} µg/min{more}"
        return text + (f" for {hours:g} h" if hours is not None else "")

    def fever_basis(fever: bool | None, other: bool | None, temp: float | None, therapy: str | None,
                    day: int | None) -> str | None:
        if fever and not other:
            return f"fever {format_value(temp)} °C"
        return None if therapy is None else f"fever waived after {therapy} on day {day}"

    return {
        "o2_support": (("o2_device", "o2_flow_lpm"), support),
        "fio2_basis": (("f.fio2", "fio2", "o2_device", "o2_flow_lpm"), fio2_basis),
        "vasopressor_basis": (("vasopressor_high_dose", "f.vasopressors", "vasopressin", "f.ne_equivalent",
                               "vasopressor_hours", *VASOPRESSOR_DOSES), vasopressor_basis),
        "fever_basis": (("f.fever", "f.fever_other_cause", "f.temp_c", "_waiver_therapy", "_waiver_day"),
                        fever_basis),
    }


def aside_reason(code: str, age: float | None, definitions: Any, settings: Mapping[str, Any]) -> str:
    """Why a fact was set aside, in words."""
    if code == CHILD and definitions.encephalopathy is not None and age is not None:
        return f"age {age:g}: under {definitions.encephalopathy.capd_below_age.value(settings):g} is assessed with CAPD"
    return code


def fact_of(row: Mapping[str, Any], definitions: Any, settings: Mapping[str, Any]) -> dict[str, Any]:
    """A day's facts as the rules and messages see them, from its columns (unrecorded facts left
    out), with the facts set aside and the inputs that would settle unknown ones."""
    fact = {name[2:]: value for name, value in row.items() if name.startswith("f.") and value is not None}
    for name, (columns, say) in message_facts(definitions, settings).items():
        value = say(*(row.get(c) for c in columns))
        if value is not None:
            fact[name] = value
    set_aside = {name[2:]: aside_reason(code, row.get("f.age_years"), definitions, settings)
                 for name, code in row.items() if name.startswith("s.") and code is not None}
    unrecorded = {name[2:]: column for name, column in row.items() if name.startswith("u.") and column is not None}
    if set_aside:
        fact[SET_ASIDE] = set_aside
    if unrecorded:
        fact[UNRECORDED_INPUTS] = unrecorded
    return fact


def expected_absent(fact: Mapping[str, Any], definitions: Any) -> set[str]:
    """Facts whose absence says nothing: events (recorded only when they happen) and the
    encephalopathy tool not in use when the other one was recorded."""
    absent = set(definitions.event_facts) - {
        detail for detail, event in definitions.event_details.items() if fact.get(event) not in (None, "none")}
    tools = definitions.encephalopathy.tools if definitions.encephalopathy else ()
    if any(fact.get(tool) is not None for tool in tools):
        absent |= set(tools)
    return absent


# The input column a derived fact comes from, for messages about what was not recorded.
SOURCE_COLUMNS = {
    "fever": "temp_c",
    "o2_class": "o2_device",
    "ice_total": "ice_score",
    "capd_total": "capd_score",
    "cartox_total": "cartox_score",
}
