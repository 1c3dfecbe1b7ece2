"""The observation record: one patient-day, as the public CSV column contract defines it.

Field names are the CSV column names. Empty means "not recorded", which is never the same as
normal: the rules decide what an unrecorded value means for a grade.
"""

from __future__ import annotations

import datetime
from enum import StrEnum
from typing import get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

DEFAULT_PATIENT_ID = "1"
THERAPIES = ("tocilizumab", "siltuximab", "anakinra", "steroids", "antipyretic")
ICE_ITEMS = ("ice_orientation", "ice_naming", "ice_commands", "ice_writing", "ice_attention")
CARTOX_ITEMS = ("cartox_orientation", "cartox_naming", "cartox_writing", "cartox_counting")
# Laboratory values drawn in the course figure (not graded): each day's highest.
LABS = ("ferritin", "il6", "crp", "car_t_per_ul")
# Per-agent vasopressor doses, for the systems that grade by dose (Lee 2014, Penn, CARTOX).
VASOPRESSOR_DOSES = ("norepinephrine_ug_min", "dopamine_ug_kg_min", "epinephrine_ug_min",
                     "phenylephrine_ug_min")
# Weight-based doses (µg/kg/min), converted to the µg/min column with the patient's weight_kg.
WEIGHT_BASED_DOSES = {"norepinephrine_ug_kg_min": "norepinephrine_ug_min",
                      "epinephrine_ug_kg_min": "epinephrine_ug_min",
                      "phenylephrine_ug_kg_min": "phenylephrine_ug_min"}
# The attribution of the neurological assessment, in two parts; neuro_other_cause stands for both.
NEURO_ATTRIBUTION = ("score_other_cause", "consciousness_other_cause")


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



DAY_RANGE = (-365, 3650)
# days outside this range are allowed but unusual enough to be warned about
USUAL_DAYS = (-30, 365)


class Observation(BaseModel):
    """One patient-day. Only `day` is required; every other field may be left unrecorded."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    patient_id: str = DEFAULT_PATIENT_ID
    # a year before infusion to ten years after: a day outside is a typing error (a date typed
    # as a day, 20240302), and no figure or scan should span it
    day: int = Field(ge=DAY_RANGE[0], le=DAY_RANGE[1])
    time: datetime.time | None = None
    temp_c: float | None = Field(None, gt=25, lt=45)
    temp_f: float | None = Field(None, gt=77, lt=113)
    hypotension: bool | None = None
    vasopressors: int | None = Field(None, ge=0, le=10)
    vasopressin: bool | None = None
    o2_device: O2Device | None = None
    o2_flow_lpm: float | None = Field(None, ge=0, le=80)
    tocilizumab: bool | None = None
    siltuximab: bool | None = None
    anakinra: bool | None = None
    steroids: bool | None = None
    antipyretic: bool | None = None
    fever_other_cause: bool | None = None
    hypotension_other_cause: bool | None = None
    hypoxia_other_cause: bool | None = None
    ice_score: int | None = Field(None, ge=0, le=10)
    ice_orientation: int | None = Field(None, ge=0, le=4)
    ice_naming: int | None = Field(None, ge=0, le=3)
    ice_commands: int | None = Field(None, ge=0, le=1)
    ice_writing: int | None = Field(None, ge=0, le=1)
    ice_attention: int | None = Field(None, ge=0, le=1)
    consciousness: Consciousness | None = None
    seizure: Seizure | None = None
    motor_weakness: MotorWeakness | None = None
    cerebral_edema: CerebralEdema | None = None
    neuro_other_cause: bool | None = None
    score_other_cause: bool | None = None
    consciousness_other_cause: bool | None = None
    neuro_not_assessable: bool | None = None
    age_years: float | None = Field(None, ge=0, le=120)
    capd_score: int | None = Field(None, ge=0, le=32)
    death_cause: DeathCause | None = None
    fio2: float | None = Field(None, ge=21, le=100)
    norepinephrine_ug_min: float | None = Field(None, ge=0, le=500)
    dopamine_ug_kg_min: float | None = Field(None, ge=0, le=50)
    epinephrine_ug_min: float | None = Field(None, ge=0, le=500)
    phenylephrine_ug_min: float | None = Field(None, ge=0, le=2000)
    norepinephrine_ug_kg_min: float | None = Field(None, ge=0, le=10)
    epinephrine_ug_kg_min: float | None = Field(None, ge=0, le=10)
    phenylephrine_ug_kg_min: float | None = Field(None, ge=0, le=30)
    weight_kg: float | None = Field(None, ge=1, le=400)
    vasopressor_high_dose: bool | None = None
    vasopressor_hours: float | None = Field(None, ge=0, le=10000)
    fluid_boluses: int | None = Field(None, ge=0, le=50)
    organ_toxicity_grade: int | None = Field(None, ge=0, le=4)
    transaminitis_grade: int | None = Field(None, ge=0, le=4)
    creatinine_grade: int | None = Field(None, ge=0, le=4)
    coagulopathy_replacement: bool | None = None
    hospitalized: bool | None = None
    iv_therapies: bool | None = None
    crs_symptoms: bool | None = None
    life_threatening: bool | None = None
    cartox_score: int | None = Field(None, ge=0, le=10)
    cartox_orientation: int | None = Field(None, ge=0, le=5)
    cartox_naming: int | None = Field(None, ge=0, le=3)
    cartox_writing: int | None = Field(None, ge=0, le=1)
    cartox_counting: int | None = Field(None, ge=0, le=1)
    papilledema_stage: int | None = Field(None, ge=0, le=5)
    csf_opening_pressure_mmhg: float | None = Field(None, ge=0, le=100)
    raised_icp_suspected: bool | None = None
    seizure_kind: SeizureKind | None = None
    sbp_min: float | None = Field(None, ge=20, le=300)
    dbp_min: float | None = Field(None, ge=10, le=200)
    other_treatment: str | None = None
    ferritin: float | None = Field(None, gt=0, le=1e6)
    il6: float | None = Field(None, gt=0, le=1e6)
    crp: float | None = Field(None, gt=0, le=1e4)
    car_t_per_ul: float | None = Field(None, gt=0, le=1e6)
    reported_crs_grade: int | None = Field(None, ge=0, le=5)
    reported_icans_grade: int | None = Field(None, ge=0, le=5)
    note: str | None = None

    @field_validator("patient_id", mode="before")
    @classmethod
    def _patient_id_text(cls, value: object) -> object:
        return str(value).strip() if isinstance(value, int | str) else value

    @field_validator(
        "o2_device", "consciousness", "seizure", "motor_weakness", "cerebral_edema", "death_cause",
        "seizure_kind", mode="before",
    )
    @classmethod
    def _normalise_enum(cls, value: object, info) -> object:
        if isinstance(value, str):
            value = "_".join(value.strip().lower().replace("-", " ").split())
            return ENUM_ALIASES.get(info.field_name, {}).get(value, value)
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
            recorded = [name for name, value in zip(names, items) if value is not None]
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
        value = getattr(self, flag)
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
    if getattr(obs, score) is not None:
        return getattr(obs, score)
    values = [getattr(obs, name) for name in items]
    return None if None in values else sum(values)


def field_kinds(name: str) -> tuple:
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
