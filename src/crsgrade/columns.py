"""Column names as exports spell them, mapped onto the observation contract.

A header is first normalised (lower case, units in brackets and punctuation turned into `_`,
so "Temp (°C)" becomes `temp_c`), then looked up here. This table is the documented list of
accepted spellings; anything else is warned about and ignored.
"""

from __future__ import annotations

import re

from .observations import Observation

# Columns that are read but are not fields of an observation: they are turned into fields.
#   date, infusion_date   ISO dates; day = date - infusion_date
#   temperature           a temperature of unstated unit: °C if 25-45, °F if 77-113
EXTRA_COLUMNS = ("date", "infusion_date", "temperature")
CONTRACT_COLUMNS = tuple(Observation.model_fields)
KNOWN_COLUMNS = CONTRACT_COLUMNS + EXTRA_COLUMNS

ALIASES: dict[str, tuple[str, ...]] = {
    "patient_id": ("patient", "patientid", "patient_no", "subject", "subject_id", "pid", "id", "mrn"),
    "day": ("study_day", "day_post_infusion", "days_post_infusion", "day_from_infusion", "d"),
    "time": ("hour", "clock_time", "time_of_day"),
    "date": ("visit_date", "assessment_date", "obs_date", "observation_date"),
    "infusion_date": ("car_t_date", "cart_date", "infusion", "date_of_infusion", "day0_date"),
    "temp_c": ("temperature_c", "temp_celsius", "temperature_celsius", "tmax_c", "max_temp_c",
               "t_c", "temp_deg_c"),
    "temp_f": ("temperature_f", "temp_fahrenheit", "temperature_fahrenheit", "tmax_f",
               "max_temp_f", "t_f", "temp_deg_f"),
    "temperature": ("temp", "tmax", "max_temp", "t_max", "highest_temperature", "body_temperature"),
    "hypotension": ("hypotensive", "low_bp"),
    "vasopressors": ("vasopressor", "pressors", "n_vasopressors", "vasopressor_count", "num_vasopressors"),
    "o2_device": ("oxygen_device", "o2_support", "oxygen_support", "oxygen", "o2", "device"),
    "o2_flow_lpm": ("o2_flow", "oxygen_flow", "flow", "flow_lpm", "o2_lpm", "o2_flow_l_min",
                    "oxygen_flow_l_min", "flow_l_min"),
    "tocilizumab": ("toci", "tcz"),
    "steroids": ("steroid", "corticosteroids", "corticosteroid"),
    "antipyretic": ("antipyretics",),
    "ice_score": ("ice", "ice_total", "ice_10"),
    "capd_score": ("capd", "capd_total"),
    "consciousness": ("loc", "level_of_consciousness", "consciousness_level"),
    "seizure": ("seizures",),
    "motor_weakness": ("motor", "weakness"),
    "cerebral_edema": ("edema", "cerebral_oedema", "oedema"),
    "age_years": ("age", "age_y", "age_yrs"),
    "fio2": ("fio2_percent", "fio2_pct", "fio2_fraction", "fi_o2", "inspired_o2"),
    "norepinephrine_ug_min": ("norepinephrine", "noradrenaline", "noradrenaline_ug_min", "norepinephrine_mcg_min"),
    "dopamine_ug_kg_min": ("dopamine", "dopamine_mcg_kg_min"),
    "epinephrine_ug_min": ("epinephrine", "adrenaline", "adrenaline_ug_min", "epinephrine_mcg_min"),
    "phenylephrine_ug_min": ("phenylephrine", "phenylephrine_mcg_min"),
    "vasopressor_hours": ("hours_on_vasopressors", "vasopressor_duration_h", "pressor_hours"),
    "cartox_score": ("cartox", "cartox_10", "cartox10"),
    "sbp_min": ("sbp", "systolic_bp", "min_sbp", "systolic_min"),
    "dbp_min": ("dbp", "diastolic_bp", "min_dbp", "diastolic_min"),
    "other_treatment": ("other_treatments", "other_therapy", "treatment"),
    "il6": ("il_6", "interleukin_6"),
    "car_t_per_ul": ("car_t", "car_t_cells", "car_t_cells_ul", "car_t_ul"),
    "papilledema_stage": ("papilledema", "papilloedema_stage", "papilloedema"),
    # no unitless spellings for the CSF opening pressure: it is often given in cmH2O

    "death_cause": ("cause_of_death", "death"),
}
_ALIAS_OF = {alias: column for column, aliases in ALIASES.items() for alias in aliases}


def normalise_header(header: str) -> str:
    """'Temp (°C)' -> 'temp_c'; 'O2 flow (L/min)' -> 'o2_flow_l_min'; 'ICE' -> 'ice'."""
    text = header.strip().lstrip("\ufeff").lower().replace("°", "")
    return re.sub(r"[^a-z0-9]+", "_", text).strip("_")


def column_for(header: str) -> str | None:
    """The contract column (or extra column) a header stands for, or None if unknown."""
    key = normalise_header(header)
    if key in KNOWN_COLUMNS:
        return key
    return _ALIAS_OF.get(key)
