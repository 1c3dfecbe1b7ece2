"""The observation record: one patient-day, as the public CSV column contract defines it.

Field names are the CSV column names. Empty means "not recorded", which is never the same as
normal: the rules decide what an unrecorded value means for a grade.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator
from pydantic.json_schema import JsonDict

DEFAULT_PATIENT_ID = "1"
THERAPIES = ("tocilizumab", "siltuximab", "anakinra", "steroids", "antipyretic")
ICE_ITEMS = ("ice_orientation", "ice_naming", "ice_commands", "ice_writing", "ice_attention")
CARTOX_ITEMS = ("cartox_orientation", "cartox_naming", "cartox_writing", "cartox_counting")
# Per-agent vasopressor doses, for the systems that grade by dose (Lee 2014, Penn, CARTOX).
VASOPRESSOR_DOSES = ("norepinephrine_ug_min", "dopamine_ug_kg_min", "epinephrine_ug_min",
                     "phenylephrine_ug_min")
# Weight-based doses (µg/kg/min), converted to the µg/min column with the patient's weight_kg.
WEIGHT_BASED_DOSES = {"norepinephrine_ug_kg_min": "norepinephrine_ug_min",
                      "epinephrine_ug_kg_min": "epinephrine_ug_min",
                      "phenylephrine_ug_kg_min": "phenylephrine_ug_min"}
# The attribution of the neurological assessment, in two parts; neuro_other_cause stands for both.
NEURO_ATTRIBUTION = ("score_other_cause", "consciousness_other_cause")
# The blood values a graded day carries for the hematotoxicity scores (the columns they read).
BLOOD = ("anc", "hemoglobin", "platelets", "crp", "ferritin", "ldh", "creatinine", "gcsf", "baseline")


class O2Device(StrEnum):
    room_air = "room_air"
    blow_by = "blow_by"
    nasal_cannula = "nasal_cannula"
    high_flow_nasal_cannula = "high_flow_nasal_cannula"
    face_mask = "face_mask"
    non_rebreather = "non_rebreather"
    venturi = "venturi"
    cpap = "cpap"
    bipap = "bipap"
    mechanical_ventilation = "mechanical_ventilation"


class Consciousness(StrEnum):
    alert = "alert"
    awakens_spontaneously = "awakens_spontaneously"
    awakens_to_voice = "awakens_to_voice"
    awakens_to_touch = "awakens_to_touch"
    unarousable = "unarousable"


class Seizure(StrEnum):
    none = "none"
    resolved = "resolved"
    prolonged = "prolonged"


class MotorWeakness(StrEnum):
    none = "none"
    deep_focal = "deep_focal"


class CerebralEdema(StrEnum):
    none = "none"
    focal = "focal"
    diffuse = "diffuse"


class SeizureKind(StrEnum):
    none = "none"
    eeg_only = "eeg_only"
    focal = "focal"
    generalized = "generalized"
    status_epilepticus = "status_epilepticus"


class DeathCause(StrEnum):
    crs = "crs"
    icans = "icans"
    other = "other"


# Accepted spellings of enumerated values (after lower-casing, with spaces and hyphens as "_").
ENUM_ALIASES = {
    "o2_device": {
        "none": "room_air", "ra": "room_air", "air": "room_air",
        "nc": "nasal_cannula", "lfnc": "nasal_cannula", "low_flow_nasal_cannula": "nasal_cannula",
        "hfnc": "high_flow_nasal_cannula", "high_flow": "high_flow_nasal_cannula",
        "simple_mask": "face_mask", "facemask": "face_mask", "mask": "face_mask",
        "nrb": "non_rebreather", "non_rebreather_mask": "non_rebreather",
        "venturi_mask": "venturi", "bpap": "bipap",
        "mv": "mechanical_ventilation", "ventilator": "mechanical_ventilation",
        "intubated": "mechanical_ventilation", "invasive_ventilation": "mechanical_ventilation",
    },
    "consciousness": {"awake": "alert", "normal": "alert", "coma": "unarousable", "stupor": "unarousable"},
    "seizure": {"no": "none"},
    "seizure_kind": {
        "no": "none", "eeg": "eeg_only", "nonconvulsive": "eeg_only", "non_convulsive": "eeg_only",
        "subclinical": "eeg_only", "partial": "focal", "convulsive": "generalized",
        "tonic_clonic": "generalized", "status": "status_epilepticus",
    },
    "motor_weakness": {"no": "none", "hemiparesis": "deep_focal", "paraparesis": "deep_focal"},
    "cerebral_edema": {"no": "none"},
}

# Highest oxygen flow a device plausibly delivers, L/min; a larger flow is warned about as a
# likely data-entry error (it still grades as recorded).
PLAUSIBLE_MAX_FLOW = {
    "room_air": 0, "blow_by": 15, "nasal_cannula": 15, "high_flow_nasal_cannula": 80,
    "face_mask": 15, "non_rebreather": 25, "venturi": 15, "cpap": 80, "bipap": 80,
    "mechanical_ventilation": 80,
}



# How the readings of one day combine, per column (combining.py implements each; the docs say
# each in words): see `column`.
COMBINE = ("key", "dropped", "temperature", "any", "highest", "lowest", "worst", "agree", "notes",
           "names", "oxygen", "score", "attribution", "folded", "not_assessable", "converted")
# Columns given in another unit, converted into the contract's on reading: column -> (the
# contract's column, the factor its value is multiplied by).
UNIT_CONVERSIONS: dict[str, tuple[str, float]] = {
    "anc_10_9_l": ("anc", 1000.0), "hemoglobin_g_l": ("hemoglobin", 0.1), "crp_mg_dl": ("crp", 10.0),
    "creatinine_umol_l": ("creatinine", 1 / 88.42), "bilirubin_umol_l": ("bilirubin", 1 / 17.1),
    "fibrinogen_g_l": ("fibrinogen", 100.0),
}


def column(default: Any = ..., *, combine: str, label: str, unit: str, description: str,
           aliases: tuple[str, ...] = (), group: str | None = None, figure: str | None = None,
           **constraints: Any) -> Any:
    """A column of the contract, declared in this one place: its type is the field's annotation
    and its bounds the constraints; here also how several readings of a day combine (`combine`,
    over the readings that count for the attribution flag `group`), the label and unit that
    figures and messages use, the other spellings a header may use, the figure panel that draws
    it, and what it means (the docs' column table)."""
    extra: JsonDict = {"combine": combine, "group": group, "label": label, "unit": unit, "aliases": list(aliases),
             "figure": figure}
    return Field(default, description=description, json_schema_extra=extra, **constraints)


@dataclass(frozen=True)
class ColumnSpec:
    """What `column` declared about a column."""

    name: str
    description: str
    combine: str
    group: str | None
    label: str
    unit: str
    aliases: tuple[str, ...]
    figure: str | None


DAY_RANGE = (-365, 3650)
# days outside this range are allowed but unusual enough to be warned about
USUAL_DAYS = (-30, 365)


class Observation(BaseModel):
    """One patient-day. Only `day` is required; every other field may be left unrecorded."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    patient_id: str = column(
        DEFAULT_PATIENT_ID, combine="key", label="patient", unit="",
        aliases=("patient", "patientid", "patient_no", "subject", "subject_id", "pid", "id", "mrn"),
        description="patient identifier, text; absent → one patient (`1`)")
    # a year before infusion to ten years after: a day outside is a typing error (a date typed
    # as a day, 20240302), and no figure or scan should span it
    day: int = column(
        ge=DAY_RANGE[0], le=DAY_RANGE[1], combine="key", label="day", unit="days",
        aliases=("study_day", "day_post_infusion", "days_post_infusion", "day_from_infusion", "d"),
        description=("day relative to infusion (day 0 = infusion; negative = before), a whole number from -365"
                     " to 3650"))
    time: datetime.time | None = column(
        None, combine="dropped", label="time", unit="", aliases=("hour", "clock_time", "time_of_day"),
        description="time of a reading (`08:30`), when a day has several rows")
    temp_c: float | None = column(
        None, gt=25, lt=45, combine="temperature", group="fever_other_cause", label="temperature", unit="°C",
        aliases=("temperature_c", "temp_celsius", "temperature_celsius", "tmax_c", "max_temp_c", "t_c", "temp_deg_c"),
        description="highest temperature of the day, °C; may be given with `temp_f` if they agree")
    temp_f: float | None = column(
        None, gt=77, lt=113, combine="folded", group="fever_other_cause", label="temperature", unit="°F",
        aliases=("temperature_f", "temp_fahrenheit", "temperature_fahrenheit", "tmax_f",
                 "max_temp_f", "t_f", "temp_deg_f"),
        description="highest temperature of the day, °F (converted to °C)")
    hypotension: bool | None = column(
        None, combine="any", group="hypotension_other_cause", label="hypotension", unit="",
        aliases=("hypotensive", "low_bp"), description="boolean: hypotension present")
    vasopressors: int | None = column(
        None, ge=0, le=10, combine="highest", group="hypotension_other_cause", label="vasopressors",
        unit="agents",
        aliases=("vasopressor", "pressors", "n_vasopressors", "vasopressor_count", "num_vasopressors"),
        description="whole number 0-10: vasopressors in use, **not counting vasopressin**")
    vasopressin: bool | None = column(
        None, combine="any", group="hypotension_other_cause", label="vasopressin", unit="",
        description="boolean: vasopressin in use")
    o2_device: O2Device | None = column(
        None, combine="oxygen", group="hypoxia_other_cause", label="oxygen device", unit="",
        aliases=("oxygen_device", "o2_support", "oxygen_support", "oxygen", "o2", "device"),
        description=("oxygen device: `room_air` (or `none`), `blow_by`, `nasal_cannula`, `high_flow_nasal_cannula`, "
                     "`face_mask`, `non_rebreather`, `venturi`, `cpap`, `bipap`, `mechanical_ventilation`"))
    o2_flow_lpm: float | None = column(
        None, ge=0, le=80, combine="oxygen", group="hypoxia_other_cause", label="oxygen flow", unit="L/min",
        aliases=("o2_flow", "oxygen_flow", "flow", "flow_lpm",
                 "o2_lpm", "o2_flow_l_min", "oxygen_flow_l_min", "flow_l_min"),
        description="oxygen flow, L/min (0-80)")
    tocilizumab: bool | None = column(
        None, combine="any", label="tocilizumab", unit="", aliases=("toci", "tcz"),
        description="boolean: tocilizumab given that day")
    siltuximab: bool | None = column(
        None, combine="any", label="siltuximab", unit="", description="boolean: siltuximab given that day")
    anakinra: bool | None = column(
        None, combine="any", label="anakinra", unit="", description="boolean: anakinra given that day")
    steroids: bool | None = column(
        None, combine="any", label="steroids", unit="",
        aliases=("steroid", "corticosteroids", "corticosteroid"),
        description="boolean: corticosteroids given that day")
    antipyretic: bool | None = column(
        None, combine="any", label="antipyretic", unit="", aliases=("antipyretics",),
        description="boolean: an antipyretic given that day")
    fever_other_cause: bool | None = column(
        None, combine="attribution", label="temperature", unit="",
        description="boolean: the fever is attributed to something other than CRS (infection)")
    hypotension_other_cause: bool | None = column(
        None, combine="attribution", label="blood pressure and vasopressors", unit="",
        description="boolean: the hypotension is attributed to something other than CRS (sepsis, tamponade)")
    hypoxia_other_cause: bool | None = column(
        None, combine="attribution", label="oxygen", unit="",
        description=("boolean: the hypoxia is attributed to something other than CRS (intubation for airway "
                     "protection, baseline or home oxygen, oxygen for comfort)"))
    ice_score: int | None = column(
        None, ge=0, le=10, combine="score", group="score_other_cause", label="ICE", unit="points",
        aliases=("ice", "ice_total", "ice_10"),
        description="ICE score 0-10; or all five items, which must agree with it if both are given")
    ice_orientation: int | None = column(
        None, ge=0, le=4, combine="score", group="score_other_cause", label="ICE orientation", unit="points",
        description="ICE item: orientation, 0-4")
    ice_naming: int | None = column(
        None, ge=0, le=3, combine="score", group="score_other_cause", label="ICE naming", unit="points",
        description="ICE item: naming, 0-3")
    ice_commands: int | None = column(
        None, ge=0, le=1, combine="score", group="score_other_cause", label="ICE commands", unit="points",
        description="ICE item: following commands, 0-1")
    ice_writing: int | None = column(
        None, ge=0, le=1, combine="score", group="score_other_cause", label="ICE writing", unit="points",
        description="ICE item: writing, 0-1")
    ice_attention: int | None = column(
        None, ge=0, le=1, combine="score", group="score_other_cause", label="ICE attention", unit="points",
        description="ICE item: attention, 0-1")
    consciousness: Consciousness | None = column(
        None, combine="worst", group="consciousness_other_cause", label="consciousness", unit="",
        aliases=("loc", "level_of_consciousness", "consciousness_level"),
        description=("level of consciousness: `alert`, `awakens_spontaneously` (depressed, wakes without stimulus), "
                     "`awakens_to_voice`, `awakens_to_touch`, `unarousable`"))
    seizure: Seizure | None = column(
        None, combine="worst", label="seizure", unit="", aliases=("seizures",),
        description=("`none`, `resolved` (clinical seizure that resolves rapidly, or EEG seizure that resolves with "
                     "intervention), `prolonged` (> 5 min, or repetitive without return to baseline)"))
    motor_weakness: MotorWeakness | None = column(
        None, combine="worst", label="motor weakness", unit="", aliases=("motor", "weakness"),
        description="`none`, `deep_focal` (hemiparesis, paraparesis)")
    cerebral_edema: CerebralEdema | None = column(
        None, combine="worst", label="cerebral edema", unit="", aliases=("edema", "cerebral_oedema", "oedema"),
        description=("`none`, `focal`, `diffuse` (posturing, CN VI palsy, papilledema and Cushing's triad count as "
                     "`diffuse`)"))
    neuro_other_cause: bool | None = column(
        None, combine="folded", label="neurological assessment", unit="",
        description=("boolean: both `score_other_cause` and `consciousness_other_cause` at once; either given on the "
                     "same row wins for its part"))
    score_other_cause: bool | None = column(
        None, combine="attribution", label="ICE, CAPD or CARTOX-10 score", unit="",
        description=("boolean: the ICE, CAPD or CARTOX-10 score is explained by another cause (aphasia from a stroke, "
                     "a language barrier)"))
    consciousness_other_cause: bool | None = column(
        None, combine="attribution", label="level of consciousness", unit="",
        description="boolean: the depressed level of consciousness is explained by another cause (sedation)")
    neuro_not_assessable: bool | None = column(
        None, combine="not_assessable", label="not assessable", unit="",
        description=("boolean: the patient could not be assessed (sedated, intubated for another reason): the day's "
                     "ICE/CAPD and consciousness are set aside, and the day does not end an ICANS episode"))
    age_years: float | None = column(
        None, ge=0, le=120, combine="agree", label="age", unit="years", aliases=("age", "age_y", "age_yrs"),
        description="age in years (once per patient is enough)")
    capd_score: int | None = column(
        None, ge=0, le=32, combine="highest", group="score_other_cause", label="CAPD", unit="points",
        aliases=("capd", "capd_total"), description="CAPD total, 0-32, for children")
    death_cause: DeathCause | None = column(
        None, combine="agree", label="cause of death", unit="", aliases=("cause_of_death", "death"),
        description="cause of death: `crs`, `icans` or `other`")
    fio2: float | None = column(
        None, ge=21, le=100, combine="highest", group="hypoxia_other_cause", label="FiO2", unit="%",
        aliases=("fio2_percent", "fio2_pct", "fio2_fraction", "fi_o2", "inspired_o2"),
        description=("FiO2 as a fraction (0.21-1.0) or a percent (21-100), kept as a percent; empty: estimated from "
                     "the device and flow where the grading system's table allows"))
    norepinephrine_ug_min: float | None = column(
        None, ge=0, le=500, combine="highest", group="hypotension_other_cause", label="norepinephrine",
        unit="µg/min",
        aliases=("norepinephrine", "noradrenaline", "noradrenaline_ug_min", "norepinephrine_mcg_min"),
        description=("highest norepinephrine dose of the day, µg/min; an agent with a dose counts towards "
                     "`vasopressors`"))
    dopamine_ug_kg_min: float | None = column(
        None, ge=0, le=50, combine="highest", group="hypotension_other_cause", label="dopamine",
        unit="µg/kg/min", aliases=("dopamine", "dopamine_mcg_kg_min"),
        description="highest dopamine dose of the day, µg/kg/min")
    epinephrine_ug_min: float | None = column(
        None, ge=0, le=500, combine="highest", group="hypotension_other_cause", label="epinephrine",
        unit="µg/min", aliases=("epinephrine", "adrenaline", "adrenaline_ug_min", "epinephrine_mcg_min"),
        description="highest epinephrine dose of the day, µg/min")
    phenylephrine_ug_min: float | None = column(
        None, ge=0, le=2000, combine="highest", group="hypotension_other_cause", label="phenylephrine",
        unit="µg/min", aliases=("phenylephrine", "phenylephrine_mcg_min"),
        description="highest phenylephrine dose of the day, µg/min")
    norepinephrine_ug_kg_min: float | None = column(
        None, ge=0, le=10, combine="highest", label="norepinephrine", unit="µg/kg/min",
        description=("weight-based norepinephrine dose, µg/kg/min, converted to µg/min with the row's `weight_kg` (or "
                     "the patient's first); one given both ways must agree within 2 %"))
    epinephrine_ug_kg_min: float | None = column(
        None, ge=0, le=10, combine="highest", label="epinephrine", unit="µg/kg/min",
        description="weight-based epinephrine dose, µg/kg/min, converted like norepinephrine's")
    phenylephrine_ug_kg_min: float | None = column(
        None, ge=0, le=30, combine="highest", label="phenylephrine", unit="µg/kg/min",
        description="weight-based phenylephrine dose, µg/kg/min, converted like norepinephrine's")
    weight_kg: float | None = column(
        None, ge=1, le=400, combine="highest", label="weight", unit="kg",
        description="body weight, kg (1-400)")
    vasopressor_high_dose: bool | None = column(
        None, combine="any", group="hypotension_other_cause", label="high-dose vasopressors", unit="",
        description="boolean: the vasopressors meet the high-dose definition (overrides what the doses say)")
    vasopressor_hours: float | None = column(
        None, ge=0, le=10000, combine="highest", group="hypotension_other_cause",
        label="hours on vasopressors", unit="h",
        aliases=("hours_on_vasopressors", "vasopressor_duration_h", "pressor_hours"),
        description="hours on vasopressors so far in this episode (MSKCC's 24 h, the 3 h of the high-dose table)")
    fluid_boluses: int | None = column(
        None, ge=0, le=50, combine="highest", group="hypotension_other_cause", label="fluid boluses",
        unit="boluses", description="whole number: fluid boluses given for hypotension that day")
    organ_toxicity_grade: int | None = column(
        None, ge=0, le=4, combine="highest", label="organ toxicity", unit="CTCAE grade",
        description=("0-4: highest CTCAE grade of CRS-related organ toxicity **other than transaminitis** (kidney "
                     "included)"))
    transaminitis_grade: int | None = column(
        None, ge=0, le=4, combine="highest", label="transaminitis", unit="CTCAE grade",
        description="0-4: CTCAE grade of CRS-related transaminase increase")
    creatinine_grade: int | None = column(
        None, ge=0, le=4, combine="highest", label="creatinine increase", unit="CTCAE grade",
        description="0-4: CTCAE grade of CRS-related creatinine increase")
    coagulopathy_replacement: bool | None = column(
        None, combine="any", label="coagulopathy replacement", unit="",
        description="boolean: coagulopathy needing fresh frozen plasma, cryoprecipitate or fibrinogen concentrate")
    hospitalized: bool | None = column(
        None, combine="any", label="hospitalized", unit="", description="boolean: in hospital for CRS")
    iv_therapies: bool | None = column(
        None, combine="any", label="IV therapies", unit="",
        description="boolean: IV therapies other than fluids for hypotension")
    crs_symptoms: bool | None = column(
        None, combine="any", label="CRS symptoms", unit="",
        description="boolean: constitutional CRS symptoms (myalgia, malaise, fatigue, nausea, headache)")
    life_threatening: bool | None = column(
        None, combine="any", label="life-threatening", unit="",
        description="boolean: the investigator judges the CRS life-threatening, urgent intervention needed")
    cartox_score: int | None = column(
        None, ge=0, le=10, combine="score", group="score_other_cause", label="CARTOX-10", unit="points",
        aliases=("cartox", "cartox_10", "cartox10"), description="CARTOX-10 score 0-10; or all four items")
    cartox_orientation: int | None = column(
        None, ge=0, le=5, combine="score", group="score_other_cause", label="CARTOX orientation",
        unit="points", description="CARTOX-10 item: orientation, 0-5")
    cartox_naming: int | None = column(
        None, ge=0, le=3, combine="score", group="score_other_cause", label="CARTOX naming", unit="points",
        description="CARTOX-10 item: naming, 0-3")
    cartox_writing: int | None = column(
        None, ge=0, le=1, combine="score", group="score_other_cause", label="CARTOX writing", unit="points",
        description="CARTOX-10 item: writing, 0-1")
    cartox_counting: int | None = column(
        None, ge=0, le=1, combine="score", group="score_other_cause", label="CARTOX counting", unit="points",
        description="CARTOX-10 item: counting backwards, 0-1")
    papilledema_stage: int | None = column(
        None, ge=0, le=5, combine="highest", label="papilledema", unit="Frisén stage",
        aliases=("papilledema", "papilloedema_stage", "papilloedema"),
        description="papilledema stage 0-5 (Frisén)")
    csf_opening_pressure_mmhg: float | None = column(
        None, ge=0, le=100, combine="highest", label="CSF opening pressure", unit="mmHg",
        description=("CSF opening pressure, mmHg (not cmH2O: 20 mmHg ≈ 27 cmH2O; a header without the unit is not "
                     "read)"))
    raised_icp_suspected: bool | None = column(
        None, combine="any", label="raised ICP suspected", unit="",
        description=("boolean: raised intracranial pressure was suspected (why the pressure was measured; CARTOX "
                     "counts a pressure below 20 mmHg only then, or with papilledema stage 1-2)"))
    seizure_kind: SeizureKind | None = column(
        None, combine="worst", label="seizure kind", unit="",
        description=("`none`, `eeg_only` (non-convulsive, on EEG), `focal` (partial), `generalized`, "
                     "`status_epilepticus`"))
    sbp_min: float | None = column(
        None, ge=20, le=300, combine="lowest", label="systolic", unit="mmHg",
        aliases=("sbp", "systolic_bp", "min_sbp", "systolic_min"),
        description="lowest systolic blood pressure of the day, mmHg (drawn by `crsgrade plot`; not graded)")
    dbp_min: float | None = column(
        None, ge=10, le=200, combine="lowest", label="diastolic", unit="mmHg",
        aliases=("dbp", "diastolic_bp", "min_dbp", "diastolic_min"),
        description="lowest diastolic blood pressure of the day, mmHg (drawn by `crsgrade plot`; not graded)")
    other_treatment: str | None = column(
        None, combine="names", label="other treatment", unit="",
        aliases=("other_treatments", "other_therapy", "treatment"),
        description=("other therapies given that day, by name (`dasatinib`; several separated by `;`); anti-cytokine "
                     "therapies named in the rule set waive fever like tocilizumab"))
    ferritin: float | None = column(
        None, gt=0, le=1000000.0, combine="highest", label="ferritin", unit="ng/mL", figure="labs",
        description="ferritin, ng/mL (drawn on a log axis by `crsgrade plot`; not graded)")
    il6: float | None = column(
        None, gt=0, le=1000000.0, combine="highest", label="IL-6", unit="pg/mL", figure="labs",
        aliases=("il_6", "interleukin_6"),
        description="IL-6, pg/mL (drawn on a log axis by `crsgrade plot`; not graded)")
    crp: float | None = column(
        None, gt=0, le=10000.0, combine="highest", label="CRP", unit="mg/L", figure="labs",
        description="CRP, mg/L (drawn on a log axis by `crsgrade plot`; not graded)")
    car_t_per_ul: float | None = column(
        None, gt=0, le=1000000.0, combine="highest", label="CAR T cells", unit="cells/µL", figure="labs",
        aliases=("car_t", "car_t_cells", "car_t_cells_ul", "car_t_ul"),
        description="CAR T cells per µL of blood (drawn on a log axis by `crsgrade plot`; not graded)")
    # Blood counts and chemistry, for hematotoxicity (hematotoxicity.py, rules/hematotoxicity/):
    # each day's worst value; a row marked `baseline` is the draw before lymphodepletion.
    anc: float | None = column(
        None, ge=0, le=100000.0, combine="lowest", label="ANC", unit="/µL", figure="counts",
        aliases=("neutrophils", "absolute_neutrophil_count", "anc_ul", "neutrophil_count"),
        description=("absolute neutrophil count, /µL (the day's lowest): CAR-HEMATOTOX at baseline, ICAHT after"
                     " infusion"))
    hemoglobin: float | None = column(
        None, gt=0, le=25.0, combine="lowest", label="hemoglobin", unit="g/dL",
        aliases=("hb", "hgb", "haemoglobin", "hemoglobin_g_dl"),
        description="hemoglobin, g/dL (the day's lowest): CAR-HEMATOTOX at baseline")
    platelets: float | None = column(
        None, ge=0, le=5000.0, combine="lowest", label="platelets", unit="×10⁹/L", figure="counts",
        aliases=("plt", "platelet_count", "platelets_10_9_l"),
        description="platelet count, ×10⁹/L (the day's lowest): CAR-HEMATOTOX at baseline; EASIX")
    ldh: float | None = column(
        None, gt=0, le=100000.0, combine="highest", label="LDH", unit="U/L",
        aliases=("lactate_dehydrogenase",),
        description="lactate dehydrogenase, U/L (the day's highest): EASIX")
    creatinine: float | None = column(
        None, gt=0, le=50.0, combine="highest", label="creatinine", unit="mg/dL",
        aliases=("creat", "serum_creatinine", "creatinine_mg_dl"),
        description="serum creatinine, mg/dL (the day's highest): EASIX")
    fibrinogen: float | None = column(
        None, ge=0, le=2000.0, combine="lowest", label="fibrinogen", unit="mg/dL",
        description="fibrinogen, mg/dL (the day's lowest); recorded, not graded")
    alt: float | None = column(
        None, ge=0, le=100000.0, combine="highest", label="ALT", unit="U/L", aliases=("alat", "sgpt"),
        description="alanine aminotransferase, U/L (the day's highest); recorded, not graded")
    ast: float | None = column(
        None, ge=0, le=100000.0, combine="highest", label="AST", unit="U/L", aliases=("asat", "sgot"),
        description="aspartate aminotransferase, U/L (the day's highest); recorded, not graded")
    bilirubin: float | None = column(
        None, ge=0, le=100.0, combine="highest", label="bilirubin", unit="mg/dL",
        aliases=("total_bilirubin", "bili"),
        description="total bilirubin, mg/dL (the day's highest); recorded, not graded")
    anc_10_9_l: float | None = column(
        None, ge=0, le=100.0, combine="converted", label="ANC", unit="×10⁹/L",
        aliases=("anc_g_l", "neutrophils_10_9_l", "anc_x10_9_l"),
        description="absolute neutrophil count in ×10⁹/L (G/L), converted to /µL (× 1000)")
    hemoglobin_g_l: float | None = column(
        None, gt=0, le=250.0, combine="converted", label="hemoglobin", unit="g/L", aliases=("hb_g_l", "hgb_g_l"),
        description="hemoglobin in g/L, converted to g/dL (÷ 10)")
    crp_mg_dl: float | None = column(
        None, gt=0, le=1000.0, combine="converted", label="CRP", unit="mg/dL",
        description="CRP in mg/dL, converted to mg/L (× 10)")
    creatinine_umol_l: float | None = column(
        None, gt=0, le=4421.0, combine="converted", label="creatinine", unit="µmol/L",
        aliases=("creatinine_mol_l", "creat_umol_l"),
        description="creatinine in µmol/L, converted to mg/dL (÷ 88.42)")
    bilirubin_umol_l: float | None = column(
        None, ge=0, le=1710.0, combine="converted", label="bilirubin", unit="µmol/L",
        aliases=("bilirubin_mol_l", "total_bilirubin_umol_l"),
        description="total bilirubin in µmol/L, converted to mg/dL (÷ 17.1)")
    fibrinogen_g_l: float | None = column(
        None, ge=0, le=20.0, combine="converted", label="fibrinogen", unit="g/L",
        description="fibrinogen in g/L, converted to mg/dL (× 100)")
    gcsf: bool | None = column(
        None, combine="any", label="G-CSF", unit="",
        aliases=("g_csf", "filgrastim", "pegfilgrastim", "growth_factor"),
        description="G-CSF (filgrastim, pegfilgrastim) given that day; counted by the ICAHT summary")
    baseline: bool | None = column(
        None, combine="any", label="baseline", unit="",
        aliases=("baseline_draw", "pre_lymphodepletion"),
        description=("yes on the blood draw before lymphodepletion (a row with a negative day): the values"
                     " CAR-HEMATOTOX and baseline EASIX are computed from"))
    reported_crs_grade: int | None = column(
        None, ge=0, le=5, combine="highest", label="reported CRS grade", unit="grade",
        description="the investigator's CRS grade (0-5), compared with the computed one by `crsgrade summary`")
    reported_icans_grade: int | None = column(
        None, ge=0, le=5, combine="highest", label="reported ICANS grade", unit="grade",
        description="the investigator's ICANS grade (0-5), compared with the computed one by `crsgrade summary`")
    source: str | None = column(
        None, combine="dropped", label="source", unit="",
        description=("where a reading came from: the OMOP table or FHIR resource type it was imported from"
                     " (`crsgrade import`); carried, not graded"))
    source_id: str | None = column(
        None, combine="dropped", label="source id", unit="",
        description="the id of the record a reading was imported from; carried, not graded")
    note: str | None = column(
        None, combine="notes", label="note", unit="",
        description="free text shown with the day (`explain`, `demo`); not graded")

    @field_validator("patient_id", mode="before")
    @classmethod
    def _patient_id_text(cls, value: object) -> object:
        return str(value).strip() if isinstance(value, int | str) else value

    @field_validator(
        "o2_device", "consciousness", "seizure", "motor_weakness", "cerebral_edema", "death_cause",
        "seizure_kind", mode="before",
    )
    @classmethod
    def _normalise_enum(cls, value: object, info: ValidationInfo) -> object:
        if isinstance(value, str):
            value = "_".join(value.strip().lower().replace("-", " ").split())
            return ENUM_ALIASES.get(info.field_name or "", {}).get(value, value)
        return value

    @field_validator("other_treatment", mode="before")
    @classmethod
    def _treatment_names(cls, value: object) -> object:
        """Names separated by ';' or ',', each trimmed and lower-cased; none left is empty."""
        if not isinstance(value, str):
            return value
        names = [n.strip().lower() for n in value.replace(",", ";").split(";") if n.strip()]
        return "; ".join(dict.fromkeys(names)) or None

    @property
    def other_treatments(self) -> tuple[str, ...]:
        return tuple(self.other_treatment.split("; ")) if self.other_treatment else ()

    @field_validator("fio2", mode="before")
    @classmethod
    def _fio2_percent(cls, value: object) -> object:
        """FiO2 as a fraction (0.21-1.0) or a percent (21-100), kept as a percent."""
        try:
            number = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return value
        if isinstance(value, bool):
            return value
        if 0.21 <= number <= 1.0:
            return round(number * 100, 6)
        if 1.0 < number < 21:
            raise ValueError("FiO2 must be a fraction from 0.21 to 1.0 or a percent from 21 to 100")
        return number

    @model_validator(mode="after")
    def _scores_consistent(self) -> Observation:
        for label, total, names in (("ICE", "ice_score", ICE_ITEMS), ("CARTOX-10", "cartox_score", CARTOX_ITEMS)):
            items = [getattr(self, name) for name in names]
            recorded = [name for name, value in zip(names, items, strict=False) if value is not None]
            if recorded and len(recorded) < len(names):
                missing = ", ".join(name for name in names if name not in recorded)
                raise ValueError(f"{label} items are incomplete: {missing} not recorded")
            score = getattr(self, total)
            if recorded and score is not None and sum(items) != score:
                raise ValueError(f"{total} {score} disagrees with the sum of its items ({sum(items)})")
        return self

    @property
    def ice_total(self) -> int | None:
        """The ICE score, from `ice_score` or the sum of its five items."""
        return _total(self, "ice_score", ICE_ITEMS)

    @property
    def cartox_total(self) -> int | None:
        """The CARTOX-10 score, from `cartox_score` or the sum of its four items."""
        return _total(self, "cartox_score", CARTOX_ITEMS)

    def attributed(self, flag: str) -> bool | None:
        """An attribution flag as recorded; the two parts of the neurological assessment fall
        back on neuro_other_cause, which stands for both."""
        value: bool | None = getattr(self, flag)
        if value is None and flag in NEURO_ATTRIBUTION:
            return self.neuro_other_cause
        return value

    @property
    def temperature_c(self) -> float | None:
        """The day's highest temperature in °C (`temp_f` converted when `temp_c` is empty)."""
        if self.temp_c is not None:
            return self.temp_c
        if self.temp_f is not None:
            return round((self.temp_f - 32) * 5 / 9, 6)  # 100.4 °F is 38.0 °C, 100.39 °F is not
        return None


def _total(obs: Observation, score: str, items: tuple[str, ...]) -> int | None:
    total: int | None = getattr(obs, score)
    if total is not None:
        return total
    values = [getattr(obs, name) for name in items]
    return None if None in values else sum(values)


def _spec(name: str) -> ColumnSpec:
    field = Observation.model_fields[name]
    extra = field.json_schema_extra
    if not isinstance(extra, dict) or not field.description:
        raise TypeError(f"Observation.{name}: declare it with column()")
    combine, group, label, unit, aliases, figure = (
        extra[key] for key in ("combine", "group", "label", "unit", "aliases", "figure"))
    if not (isinstance(combine, str) and isinstance(group, str | None) and isinstance(label, str)
            and isinstance(unit, str) and isinstance(aliases, list) and isinstance(figure, str | None)):
        raise TypeError(f"Observation.{name}: declare it with column()")
    return ColumnSpec(name=name, description=field.description, combine=combine, group=group,
                      label=label, unit=unit, aliases=tuple(map(str, aliases)), figure=figure)


COLUMNS: dict[str, ColumnSpec] = {name: _spec(name) for name in Observation.model_fields}
# Laboratory values drawn in the course figure (not graded).
LABS = tuple(name for name, spec in COLUMNS.items() if spec.figure == "labs")
COUNTS = tuple(name for name, spec in COLUMNS.items() if spec.figure == "counts")


def field_kinds(name: str) -> tuple[Any, ...]:
    """The types a field's annotation admits (e.g. (float, NoneType))."""
    annotation = Observation.model_fields[name].annotation
    return get_args(annotation) or (annotation,)


def enum_of(name: str) -> type[StrEnum] | None:
    """The enumeration of an enumerated field, or None."""
    return next((k for k in field_kinds(name) if isinstance(k, type) and issubclass(k, StrEnum)), None)


def bounds(name: str) -> tuple[float | None, float | None]:
    """A numeric field's allowed range, from its constraints (inclusive or not)."""
    low = high = None
    for meta in Observation.model_fields[name].metadata:
        for attr in ("ge", "gt"):
            if getattr(meta, attr, None) is not None:
                low = getattr(meta, attr)
        for attr in ("le", "lt"):
            if getattr(meta, attr, None) is not None:
                high = getattr(meta, attr)
    return low, high
