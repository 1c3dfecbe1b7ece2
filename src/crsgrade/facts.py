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

from enum import Enum
from typing import Any, Callable, Mapping

import polars as pl

from .conditions import FactSpec
from .combining import temperature, total
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


def _oxygen(definitions: Any, settings: Mapping[str, Any]) -> tuple[pl.Expr, pl.Expr]:
    """The oxygen class of each day from the device table, and whether it is a lower bound (a
    device classed by flow with no flow recorded is the least it can be)."""
    oxygen = definitions.oxygen
    device, flow = pl.col("o2_device"), pl.col("o2_flow_lpm")
    expr = pl.lit(None, dtype=pl.String)
    by_flow = []
    for name, entry in reversed(list(oxygen.devices.items())):
        if entry.by_flow:
            by_flow.append(name)
            value = pl.when(flow.is_null() | (flow <= oxygen.flow_boundary_lpm)).then(
                pl.lit(entry.at_or_below.value(settings))).otherwise(pl.lit(entry.above.value(settings)))
        else:
            value = pl.lit(entry.class_.value(settings))
        expr = pl.when(device == name).then(value).otherwise(expr)
    return expr, device.is_in(by_flow) & flow.is_null()


def o2_rank(definitions: Any, settings: Mapping[str, Any]) -> pl.Expr:
    """Readings ordered by oxygen support: class (as the rule set lists them), then flow."""
    classes = list(definitions.oxygen.classes)
    index = _oxygen(definitions, settings)[0].replace_strict(classes, list(range(len(classes))), default=-1,
                                                             return_dtype=pl.Float64)
    return index * 1000 + pl.col("o2_flow_lpm").fill_null(-1.0)


def format_number(value: float) -> str:
    return f"{value:g}"


def _vasopressor_facts(frame: pl.DataFrame, dose: Any) -> pl.DataFrame:
    """The vasopressor count (agents given a dose count too) and, for systems that grade by
    dose, whether the vasopressors are high-dose. A recorded `vasopressor_high_dose` is taken as
    it is; otherwise the rule set's table decides, for at least its hours: an agent's own
    threshold applies to monotherapy only (one agent, no vasopressin); with vasopressin the
    norepinephrine equivalent of the other agents is compared with `with_vasopressin_ne`; any
    other combination's with `combination_ne`."""
    dosed = [(pl.col(c) > 0).fill_null(False) for c in VASOPRESSOR_DOSES]
    n_dosed = pl.sum_horizontal([d.cast(pl.Int64) for d in dosed])
    recorded = pl.any_horizontal([pl.col(c).is_not_null() for c in VASOPRESSOR_DOSES])
    count = pl.coalesce(pl.col("vasopressors"), pl.when(recorded).then(n_dosed))
    frame = frame.with_columns(pl.max_horizontal(count, pl.when(count.is_not_null()).then(n_dosed))
                               .alias("f.vasopressors"), n_dosed.alias("_dosed"))
    if dose is None:
        return frame.drop("_dosed")
    agents = {spec.column: (name, spec) for name, spec in dose.agents.items()}
    ne = pl.sum_horizontal([pl.col(c).fill_null(0) * agents[c][1].ne_factor for c in VASOPRESSOR_DOSES if c in agents])
    count, hours = _fact("vasopressors"), pl.col("vasopressor_hours")
    vasopressin = pl.col("vasopressin").fill_null(False)
    mono = (count == 1) & (pl.col("_dosed") == 1) & ~vasopressin
    agent = pl.coalesce([pl.when(pl.col(c) > 0).then(pl.lit(c)) for c in agents])
    amount = pl.coalesce([pl.when(pl.col(c) > 0).then(pl.col(c)) for c in agents])
    mono_high = pl.any_horizontal([(pl.col(c) >= spec.monotherapy_high_dose).fill_null(False)
                                   for c, (_, spec) in agents.items()])
    high = (pl.when(vasopressin).then(ne >= dose.with_vasopressin_ne).when(mono).then(mono_high)
            .otherwise(ne >= dose.combination_ne))
    every_dose_known = count.is_not_null() & (count <= pl.col("_dosed"))
    short = (hours < dose.min_hours).fill_null(False)
    derived = (pl.when(short).then(False).when(high).then(pl.when(hours.is_not_null()).then(True))
               .when(every_dose_known).then(False))
    recorded_flag = pl.col("vasopressor_high_dose")
    none_given = (count == 0) & ~vasopressin
    frame = frame.with_columns(
        pl.when(pl.col("_dosed") > 0).then(ne.round(6)).alias("f.ne_equivalent"),
        pl.coalesce(recorded_flag, pl.when(none_given).then(False), derived).alias("f.vasopressor_high_dose"),
        pl.when(recorded_flag.is_null() & ~none_given & high & ~short & hours.is_null())
        .then(pl.lit("vasopressor_hours")).alias("u.vasopressor_high_dose"),
        ne.alias("_ne"), agent.alias("_agent"), amount.alias("_amount"), mono.alias("_mono"),
        vasopressin.alias("_vasopressin"), none_given.alias("_none_given"),
    )

    def basis(recorded: bool | None, none_given: bool, dosed: int, vasopressin: bool, mono: bool,
              ne: float, agent: str | None, amount: float | None, count: int | None, hours: float | None) -> str | None:
        if recorded is not None:
            return "recorded as high-dose" if recorded else "recorded as not high-dose"
        if none_given or not (dosed or vasopressin):
            return None
        if vasopressin:
            text = f"vasopressin with norepinephrine equivalent {ne:.6g} µg/min"
        elif mono and agent is not None and amount is not None:
            text = f"{agents[agent][0]} {amount:g} {dose_unit(agent)} alone"
        else:
            more = f" from {count} vasopressors" if count is not None and count >= 2 else ""
            text = f"norepinephrine equivalent {ne:.6g} µg/min{more}"
        return text + (f" for {hours:g} h" if hours is not None else "")

    said = texts(frame, ["vasopressor_high_dose", "_none_given", "_dosed", "_vasopressin", "_mono", "_ne", "_agent",
                         "_amount", "f.vasopressors", "vasopressor_hours"], basis)
    return frame.with_columns(said.alias("f.vasopressor_basis")).drop(
        "_dosed", "_ne", "_agent", "_amount", "_mono", "_vasopressin", "_none_given")


def _fio2_facts(frame: pl.DataFrame, estimates: Any) -> pl.DataFrame:
    """FiO2 in %: as recorded, or estimated from the device (and flow) by the rule set's table,
    and said to be estimated wherever it is shown."""
    device, flow = pl.col("o2_device"), pl.col("o2_flow_lpm")
    estimate = pl.lit(None, dtype=pl.Float64)
    for name, entry in (estimates.devices.items() if estimates is not None else ()):
        value = (pl.lit(entry.percent, dtype=pl.Float64) if entry.percent is not None else
                 pl.when(flow.is_not_null()).then(
                     pl.min_horizontal(entry.base + entry.per_lpm * flow, pl.lit(entry.max)).round(6)))
        estimate = pl.when(device == name).then(value).otherwise(estimate)
    frame = frame.with_columns(pl.coalesce(pl.col("fio2"), estimate).alias("f.fio2"))

    def basis(fio2: float | None, recorded: float | None, device: str | None, flow: float | None) -> str | None:
        if fio2 is None:
            return None
        if recorded is not None:
            return f"FiO2 {fio2:g} %"
        shown = format_value(device) + (f" {format_value(flow)} L/min" if flow is not None and
                                         estimates.devices[device].percent is None else "")
        return f"FiO2 {fio2:g} % (estimated: {shown})"

    return frame.with_columns(texts(frame, ["f.fio2", "fio2", "o2_device", "o2_flow_lpm"], basis).alias("f.fio2_basis"))


def derive(frame: pl.DataFrame, definitions: Any, settings: Mapping[str, Any]) -> pl.DataFrame:
    """The facts of each patient-day as columns `f.NAME`, with `s.`, `u.` and `r.` beside them
    (see the module's text). Unrecorded facts are null."""
    o2_class, lower_bound = _oxygen(definitions, settings)
    age = pl.coalesce(pl.col("age_years"), pl.col("age_years").drop_nulls().first().over("_p"))
    encephalopathy = definitions.encephalopathy
    limit = encephalopathy.capd_below_age.value(settings) if encephalopathy else None
    capd = (age < limit) if limit is not None else pl.lit(None, dtype=pl.Boolean)
    ice = total("ice_score", ICE_ITEMS)
    temp = temperature()
    frame = frame.with_columns(
        temp.alias("f.temp_c"),
        (temp >= definitions.fever.threshold_c).alias("f.fever"),
        pl.col("hypotension").alias("f.hypotension"),
        pl.col("vasopressin").alias("f.vasopressin"),
        pl.col("o2_device").alias("f.o2_device"),
        pl.col("o2_flow_lpm").alias("f.o2_flow_lpm"),
        o2_class.alias("f.o2_class"),
        lower_bound.alias("lb.o2_class"),
        pl.when(~capd.fill_null(False)).then(ice).alias("f.ice_total"),
        pl.col("capd_score").alias("f.capd_total"),
        total("cartox_score", CARTOX_ITEMS).alias("f.cartox_total"),
        *[pl.col(c).alias(f"f.{c}") for c in ("consciousness", "seizure", "motor_weakness", "cerebral_edema",
                                              "death_cause")],
        age.alias("f.age_years"),
        *[pl.col(flag).fill_null(False).alias(f"f.{flag}") for flag in ATTRIBUTION_FLAGS],
        *[pl.col(name).alias(f"f.{name}") for name in RECORDED_FACTS],
        ice.alias("_ice_recorded"),
    )
    if limit is not None:
        frame = frame.with_columns(texts(
            frame.with_columns(pl.when(capd.fill_null(False) & pl.col("_ice_recorded").is_not_null()).then(age)
                               .alias("_child")), ["_child"],
            lambda child: None if child is None else f"age {child:g}: under {limit:g} is assessed with CAPD"
        ).alias("s.ice_total"))
    aside = definitions.not_assessable.sets_aside if definitions.not_assessable else ()
    unassessed = (pl.col("neuro_not_assessable") == True).fill_null(False)  # noqa: E712
    frame = frame.with_columns(
        *[pl.when(unassessed).then(None).otherwise(_fact(name)).alias(f"f.{name}") for name in aside],
        *[pl.when(unassessed).then(pl.lit(NOT_ASSESSABLE)).otherwise(
            pl.col(f"s.{name}") if f"s.{name}" in frame.columns else None).alias(f"s.{name}") for name in aside],
    )
    frame = frame.with_columns(_fact("cartox_total").is_not_null().alias("f.cartox_scored"))
    frame = _vasopressor_facts(frame, definitions.vasopressor_dose)
    frame = _fio2_facts(frame, definitions.fio2_estimate)

    def support(device: str | None, flow: float | None) -> str | None:
        if device is None:
            return None
        if flow is not None:
            return f"{format_value(device)} {format_value(flow)} L/min"
        return f"{format_value(device)}, flow not recorded" if definitions.oxygen.devices[device].by_flow \
            else format_value(device)

    return frame.with_columns(texts(frame, ["o2_device", "o2_flow_lpm"], support).alias("f.o2_support")).drop(
        "_ice_recorded")


def fever_text(frame: pl.DataFrame) -> pl.Series:
    """"fever 38.1 °C" where fever counts: the start of most CRS messages."""
    counts = (_fact("fever") & ~_fact("fever_other_cause")).fill_null(False)
    return texts(frame.with_columns(pl.when(counts).then(_fact("temp_c")).alias("_t")), ["_t"],
                 lambda t: None if t is None else f"fever {format_value(t)} °C")


def fact_of(row: Mapping[str, Any]) -> dict[str, Any]:
    """A day's facts as the rules and messages see them, from its `f.` columns (unrecorded
    facts left out), with the facts set aside and the inputs that would settle unknown ones."""
    fact = {name[2:]: value for name, value in row.items() if name.startswith("f.") and value is not None}
    set_aside = {name[2:]: why for name, why in row.items() if name.startswith("s.") and why is not None}
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
