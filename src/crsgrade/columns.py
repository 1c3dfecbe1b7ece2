"""Column names as exports spell them, mapped onto the observation contract.

A header is first normalised (lower case, units in brackets and punctuation turned into `_`,
so "Temp (°C)" becomes `temp_c`), then looked up here. This table is the documented list of
accepted spellings; anything else is warned about and ignored.
"""

from __future__ import annotations

import re

from .observations import COLUMNS, Observation

# Columns that are read but are not fields of an observation: they are turned into fields.
# Each: what it means, and its other spellings.
EXTRA_COLUMNS: dict[str, tuple[str, tuple[str, ...]]] = {
    "date": ("instead of `day`: the ISO date of the reading; day = date − infusion date",
             ("visit_date", "assessment_date", "obs_date", "observation_date")),
    "infusion_date": ("the ISO date of infusion (day 0), on any one row of a patient, or for the whole file"
                      " with `--infusion-date`",
                      ("car_t_date", "cart_date", "infusion", "date_of_infusion", "day0_date")),
    "temperature": ("a temperature of unstated unit: °C if 25-45, °F (with a warning) if 77-113",
                    ("temp", "tmax", "max_temp", "t_max", "highest_temperature", "body_temperature")),
}
CONTRACT_COLUMNS = tuple(Observation.model_fields)
KNOWN_COLUMNS = CONTRACT_COLUMNS + tuple(EXTRA_COLUMNS)

# Every column's other spellings, as declared with it (the docs' table of spellings).
ALIASES: dict[str, tuple[str, ...]] = {
    **{name: spec.aliases for name, spec in COLUMNS.items() if spec.aliases},
    **{name: aliases for name, (_, aliases) in EXTRA_COLUMNS.items()},
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
