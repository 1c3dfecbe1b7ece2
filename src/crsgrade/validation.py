"""Validation: raw cells to typed readings, with every problem of a batch found at once.

Each column is converted by what the observation contract (observations.py) says it holds. The
common spellings are converted column by column in polars; a cell they do not cover is judged by
`parse_cell` once per distinct value, so the rules of what is accepted are written once, here,
and a million rows cost what their distinct cells cost. Checks across columns (a score and its
items, two temperatures, a date and a day, a dose per kg and a weight) run on whole columns, and
only the rows they find are put in words.

Problems and warnings are (record, order, message) triples: sorted, they read row by row in
the order the columns are checked; the pipeline adds the locations.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import polars as pl

from .columns import CONTRACT_COLUMNS
from .errors import printable, shortened
from .observations import (
    CARTOX_ITEMS,
    COLUMNS,
    DAY_RANGE,
    DEFAULT_PATIENT_ID,
    ENUM_ALIASES,
    ICE_ITEMS,
    PLAUSIBLE_MAX_FLOW,
    UNIT_CONVERSIONS,
    USUAL_DAYS,
    VASOPRESSOR_DOSES,
    WEIGHT_BASED_DOSES,
    Observation,
    bounds,
    enum_of,
    field_kinds,
)
from .sources import REC
from .suggestions import did_you_mean

BOOL_TEXT = "true/false, yes/no or 1/0"
_BOOLEANS = {"true": True, "false": False, "yes": True, "no": False, "1": True, "0": False}
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
_DECIMAL_COMMA = re.compile(r"^[+-]?\d+,\d+$")
# A temperature in temp_c this far from a body temperature in °C is one in °F.
FAHRENHEIT = (77.0, 113.0)
_DATE_COLUMNS = ("date", "infusion_date")
_TEXT_COLUMNS = ("patient_id", "other_treatment", "note")
# control characters a text cell may not hold (a note may hold tabs and line breaks)
_CONTROL = {"note": r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]"}
_ANY_CONTROL = r"[\x00-\x1f\x7f-\x9f]"


def kind(name: str) -> str:
    """What a column holds: bool, int, float, enum, time, date or text."""
    if name in _DATE_COLUMNS:
        return "date"
    if name == "temperature":
        return "float"
    kinds = field_kinds(name)
    if enum_of(name) is not None:
        return "enum"
    for python, word in ((bool, "bool"), (int, "int"), (float, "float"), (datetime.time, "time")):
        if python in kinds:
            return word
    return "text"


def dtype(name: str) -> pl.DataType:
    return {"bool": pl.Boolean(), "int": pl.Int64(), "float": pl.Float64(), "date": pl.Date()}.get(
        kind(name), pl.String())


def _enum_key(text: str) -> str:
    return "_".join(text.lower().replace("-", " ").split())


def parse_cell(name: str, text: str) -> tuple[bool, Any]:
    """Whether a cell is acceptable, and its value (None: not recorded). Bounds are checked on
    the typed column."""
    text = text.strip()
    if not text:
        return True, None
    what = kind(name)
    if what == "bool":
        value = _BOOLEANS.get(text.lower())
        return value is not None, value
    if what == "enum":
        key = _enum_key(text)
        key = ENUM_ALIASES.get(name, {}).get(key, key)
        enum = enum_of(name)
        return (True, key) if enum is not None and key in {m.value for m in enum} else (False, None)
    if what in ("int", "float"):
        if _DECIMAL_COMMA.match(text):
            text = text.replace(",", ".")
        if not _NUMBER.match(text):
            return False, None
        number = float(text)
        if what == "int":
            return (True, int(number)) if number == int(number) else (False, None)
        return True, number
    if what == "date":
        try:
            return True, datetime.date.fromisoformat(text)
        except ValueError:
            try:
                return True, datetime.datetime.fromisoformat(text).date()
            except ValueError:
                return False, None
    if what == "time":
        try:
            return True, datetime.time.fromisoformat(text if len(text) != 4 else "0" + text).isoformat()
        except ValueError:
            return False, None
    if re.search(_CONTROL.get(name, _ANY_CONTROL), text):
        return False, None
    if name == "other_treatment":
        names = [n.strip().lower() for n in text.replace(",", ";").split(";") if n.strip()]
        return True, "; ".join(dict.fromkeys(" ".join(n.split()) for n in names)) or None
    return True, text


def allowed(name: str, value: Any) -> str:
    """What a column allows, in words, with the closest allowed value when there is one."""
    enum = enum_of(name) if kind(name) == "enum" else None
    if enum is not None:
        options = [m.value for m in enum]
        aliases = list(ENUM_ALIASES.get(name, {}))
        return f"allowed: {', '.join(options)}{did_you_mean(str(value), options + aliases)}"
    what = kind(name)
    if what == "text":
        return f"control characters (such as ESC{'' if name == 'note' else ' or a line break'}) are not allowed"
    if what == "bool":
        return f"expected {BOOL_TEXT}"
    if what == "time":
        return "expected a time such as 08:30"
    if what == "date":
        return f"expected an ISO date such as 2024-03-{18 if name == 'date' else 14}"
    if name == "fio2":
        return "expected a fraction from 0.21 to 1.0 or a percent from 21 to 100"
    low, high = bounds(name)
    number = "a whole number" if what == "int" else "a number"
    span = f" from {low:g} to {high:g}" if low is not None and high is not None else ""
    hint = ""
    ok, parsed = parse_cell("temp_c", str(value)) if name == "temp_c" else (False, None)
    if ok and parsed is not None and FAHRENHEIT[0] <= parsed <= FAHRENHEIT[1]:
        hint = "; this looks like °F: put it in temp_f"
    return f"expected {number}{span}{hint}"


def _fast(name: str, column: pl.Expr) -> pl.Expr:
    """The common spellings of a column converted in polars; null where they do not cover a cell."""
    what = kind(name)
    if what in ("int", "float"):
        number = column.cast(pl.Float64, strict=False)
        return pl.when(number.is_finite()).then(number)
    if what == "bool":
        spellings = {variant: value for text, value in _BOOLEANS.items()
                     for variant in (text, text.upper(), text.title())}
        return column.replace_strict(spellings, default=None, return_dtype=pl.Boolean)
    if what == "enum":
        enum = enum_of(name)
        assert enum is not None
        names = {m.value: m.value for m in enum} | ENUM_ALIASES.get(name, {})
        return column.replace_strict(names, default=None, return_dtype=pl.String)
    if what == "text" and name != "other_treatment":
        stripped = column.str.strip_chars()
        return pl.when((stripped != "") & ~stripped.str.contains(_CONTROL.get(name, _ANY_CONTROL))).then(stripped)
    return pl.lit(None, dtype=pl.String)


@dataclass
class Found:
    """Problems and warnings of a batch, as (record, order, message); `locate` says where a
    record is, and each message starts with it."""

    locate: Callable[[int], str]
    problems: list[tuple[int, int, str]] = field(default_factory=list)
    warnings: list[tuple[int, int, str]] = field(default_factory=list)
    # a record whose problem is told in another record's message (the readings of one day)
    covered: dict[int, int] = field(default_factory=dict)

    def problem(self, recs: list[int], order: int, messages: list[str]) -> None:
        self.problems += [(rec, order, printable(self.locate(rec) + message))
                          for rec, message in zip(recs, messages, strict=True)]

    def problem_as_is(self, rec: int, order: int, message: str) -> None:
        """A problem whose message names its own locations (several readings of a day)."""
        self.problems.append((rec, order, printable(message)))

    def warning(self, recs: list[int], order: int, messages: list[str]) -> None:
        self.warnings += [(rec, order, printable(self.locate(rec) + message))
                          for rec, message in zip(recs, messages, strict=True)]


# Where each kind of problem comes in a row's list: cells as split, the unitless temperature,
# the date, each column in contract order, then the checks across columns.
_SPLIT, _TEMPERATURE, _DATE = 0, 1, 2
_COLUMN = {name: 3 + i for i, name in enumerate(CONTRACT_COLUMNS)}
_ACROSS = 3 + len(CONTRACT_COLUMNS)


def _convert(frame: pl.DataFrame, found: Found) -> pl.DataFrame:
    """Every raw column typed; cells that are not acceptable are problems (and null)."""
    raw = [c for c in frame.columns if c not in (REC, "_other") and frame.schema[c] == pl.String]
    typed = frame.with_columns([_fast(c, pl.col(c)).alias(c) for c in raw])
    for name in raw:
        what = kind(name)
        column, converted = frame[name], typed[name]
        unmatched = column.is_not_null() & converted.is_null()
        if what in ("date", "time") or name == "other_treatment":
            unmatched = column.is_not_null()
        if not unmatched.any():
            continue
        cells = column.filter(unmatched).unique().to_list()
        judged = {cell: parse_cell(name, cell) for cell in cells}
        target = dtype(name) if what != "int" else pl.Float64()
        values = pl.Series([judged[c][1] for c in cells], dtype=target)
        mapped = column.replace_strict(pl.Series(cells, dtype=pl.String), values, default=None, return_dtype=target)
        typed = typed.with_columns(pl.when(unmatched).then(mapped).otherwise(
            converted.cast(target) if what not in ("date", "time") and name != "other_treatment" else None)
            .alias(name))
        bad = [c for c in cells if not judged[c][0]]
        if bad:
            rows = frame.filter(column.is_in(bad)).select(REC, name)
            found.problem(rows[REC].to_list(), _order(name), [
                f":{name}: value '{shortened(cell)}' — {allowed(name, cell)}" for cell in rows[name].to_list()])
    return typed


def _order(name: str) -> int:
    return {"temperature": _TEMPERATURE, "date": _DATE, "infusion_date": _DATE}.get(name, _COLUMN.get(name, _ACROSS))


def _out_of_bounds(frame: pl.DataFrame, raw: pl.DataFrame, found: Found) -> pl.DataFrame:
    """Numbers outside their column's range, and whole numbers that are not whole, are problems."""
    checks = []
    for name in frame.columns:
        what = kind(name) if name not in (REC, "_blank") else None
        if what not in ("int", "float") or name in ("temperature", "fio2"):
            continue
        low, high = bounds(name)
        value = pl.col(name)
        bad = pl.lit(False)
        for limit, op in ((low, "low"), (high, "high")):
            if limit is None:
                continue
            meta = {m for meta in Observation.model_fields[name].metadata for m in ("gt", "ge", "lt", "le")
                    if getattr(meta, m, None) is not None}
            strict = ("gt" in meta) if op == "low" else ("lt" in meta)
            bad = bad | ((value <= limit) if op == "low" and strict else (value < limit) if op == "low"
                         else (value >= limit) if strict else (value > limit))
        if what == "int":
            bad = bad | (value != value.floor())
        if frame.schema[name].is_float():
            bad = bad | value.is_nan()
        checks.append(bad.fill_null(False).alias(name))
    if not checks:
        return frame
    flags = frame.select(checks)
    for name in flags.columns:
        if flags[name].any():
            rows = raw.filter(flags[name]).select(REC, name)
            found.problem(rows[REC].to_list(), _order(name),
                          [f":{name}: value '{_shown(cell)}' — {allowed(name, _shown(cell))}"
                           for cell in rows[name].to_list()])
            frame = frame.with_columns(pl.when(flags[name]).then(None).otherwise(pl.col(name)).alias(name))
    numbers = [c for c in frame.columns if c not in (REC, "_blank") and kind(c) in ("int", "float")]
    return frame.with_columns([pl.col(c).cast(pl.Int64) if kind(c) == "int" else pl.col(c) + 0.0  # -0.0 is 0
                               for c in numbers])


def _shown(cell: Any) -> str:
    if isinstance(cell, float):
        return f"{cell:g}" if cell == int(cell) and abs(cell) < 1e15 else repr(cell)
    return str(cell)


def _fio2(frame: pl.DataFrame, raw: pl.DataFrame, found: Found) -> pl.DataFrame:
    """FiO2 as a fraction (0.21-1.0) or a percent (21-100), kept as a percent."""
    if "fio2" not in frame.columns:
        return frame
    value = pl.col("fio2")
    bad = ((value < 0.21) | ((value > 1) & (value < 21)) | (value > 100)).fill_null(False)
    flags = frame.select(bad).to_series()
    if flags.any():
        rows = raw.filter(flags).select(REC, "fio2")
        found.problem(rows[REC].to_list(), _order("fio2"),
                      [f":fio2: value '{_shown(cell)}' — {allowed('fio2', cell)}" for cell in rows["fio2"].to_list()])
    return frame.with_columns(pl.when(bad).then(None).when(value <= 1).then((value * 100).round(6))
                              .otherwise(value).alias("fio2"))


def _temperature(frame: pl.DataFrame, raw: pl.DataFrame, found: Found) -> pl.DataFrame:
    """A temperature of unstated unit: °C when a body temperature in °C, °F (with a warning) when
    one in °F; it fills temp_c or temp_f where they are empty."""
    if "temperature" not in frame.columns:
        return frame
    low, high = bounds("temp_c")
    value = pl.col("temperature")
    celsius = (value > low) & (value < high)
    fahrenheit = (value > FAHRENHEIT[0]) & (value < FAHRENHEIT[1])
    flags = frame.select((value.is_not_null() & ~celsius & ~fahrenheit).alias("bad"),
                         (value.is_not_null() & fahrenheit).alias("warm"))
    bad, warm = flags.to_series(0), flags.to_series(1)
    if bad.any():
        rows = raw.filter(bad).select(REC, "temperature")
        found.problem(rows[REC].to_list(), _TEMPERATURE, [
            f":temperature: value '{_shown(cell)}' — expected a temperature in °C ({low:g}-{high:g})"
            f" or °F ({FAHRENHEIT[0]:g}-{FAHRENHEIT[1]:g})" for cell in rows["temperature"].to_list()])
    if warm.any():
        rows = frame.filter(warm).select(REC, "temperature")
        found.warning(rows[REC].to_list(), _TEMPERATURE, [
            f":temperature: value '{_shown(v)}' read as °F ({(v - 32) * 5 / 9:.1f} °C)" for v in rows["temperature"]])
    frame = _ensure(frame, ("temp_c", "temp_f"))
    as_celsius = pl.when(celsius).then(value).otherwise((value - 32) * 5 / 9)
    given = pl.coalesce(pl.col("temp_c"), (pl.col("temp_f") - 32) * 5 / 9)
    disagrees = ((as_celsius - given).abs() > 0.3).fill_null(False)
    wrong = frame.filter(disagrees & ~bad)
    found.problem(wrong[REC].to_list(), _TEMPERATURE, [
        f":temperature: value '{_shown(t)}' disagrees with "
        + (f"temp_c {c:g}" if c is not None else f"temp_f {f:g}") for t, c, f in
        wrong.select("temperature", "temp_c", "temp_f").iter_rows()])
    return frame.with_columns(
        pl.coalesce(pl.col("temp_c"), pl.when(celsius & ~disagrees).then(value)).alias("temp_c"),
        pl.coalesce(pl.col("temp_f"), pl.when(fahrenheit & ~disagrees).then(value)).alias("temp_f"),
    ).drop("temperature")


def columns_of(frame: pl.DataFrame) -> Callable[[str], pl.Expr]:
    """A column of the frame by its contract name, or an empty one of its type when the input
    had no such column: frames carry only the columns an input has."""
    present = set(frame.columns)
    return lambda name: pl.col(name) if name in present else pl.lit(None, dtype=dtype(name)).alias(name)


def _ensure(frame: pl.DataFrame, names: tuple[str, ...]) -> pl.DataFrame:
    """Columns the contract names that the input did not have, added empty."""
    missing = [name for name in names if name not in frame.columns]
    return frame.with_columns([pl.lit(None, dtype=dtype(name)).alias(name) for name in missing])


def _patients(frame: pl.DataFrame, found: Found) -> pl.DataFrame:
    """patient_id: one patient when the column is absent; every cell needed when it is there."""
    if "patient_id" not in frame.columns:
        return frame.with_columns(pl.lit(DEFAULT_PATIENT_ID).alias("patient_id"))
    missing = frame.filter(pl.col("patient_id").is_null()
                           & ~pl.col(REC).is_in(_recs_with(found, _COLUMN["patient_id"])))
    if missing.height:
        found.problem(missing[REC].to_list(), _COLUMN["patient_id"],
                      [":patient_id: required, but empty"] * missing.height)
    return frame


def _days(frame: pl.DataFrame, raw: pl.DataFrame, infusion_date: datetime.date | None,
          found: Found) -> pl.DataFrame:
    """`day`, from the column or from `date` and the patient's infusion date."""
    frame = _ensure(frame, ("day",))
    if "date" in frame.columns:
        frame = _ensure(frame, ("infusion_date",))
        infusion = pl.col("infusion_date").drop_nulls().first().over("patient_id")
        conflicting = frame.filter(pl.col("infusion_date").is_not_null() & (pl.col("infusion_date") != infusion))
        if conflicting.height:
            first = frame.filter(pl.col("infusion_date").is_not_null()).group_by("patient_id", maintain_order=True).agg(
                pl.col("infusion_date").first(), pl.col(REC).first())
            given = {pid: (date, rec) for pid, date, rec in first.iter_rows()}
            found.problem(conflicting[REC].to_list(), _DATE, [
                f":infusion_date: {date} differs from {given[pid][0]} given at {found.locate(given[pid][1])}"
                for pid, date in conflicting.select("patient_id", "infusion_date").iter_rows()])
        day0 = pl.coalesce(infusion, pl.lit(infusion_date, dtype=pl.Date))
        computed = (pl.col("date") - day0).dt.total_days()
        frame = frame.with_columns(computed.alias("_computed"), day0.alias("_day0"))
        no_infusion = frame.filter(pl.col("date").is_not_null() & pl.col("_day0").is_null())
        found.problem(no_infusion[REC].to_list(), _DATE,
                      [":date: no infusion date for this patient (column infusion_date or --infusion-date)"]
                      * no_infusion.height)
        disagree = frame.filter(pl.col("day").is_not_null() & pl.col("_computed").is_not_null()
                                & (pl.col("day") != pl.col("_computed")))
        found.problem(disagree[REC].to_list(), _COLUMN["day"], [
            f":day: value '{raw_day}' disagrees with date {date} (day {computed} after infusion on {day0})"
            for raw_day, date, computed, day0 in disagree.join(
                raw.select(REC, pl.col("day").alias("_raw_day")) if "day" in raw.columns else
                disagree.select(REC, pl.lit(None).alias("_raw_day")), on=REC, how="left").select(
                "_raw_day", "date", "_computed", "_day0").iter_rows()])
        low, high = DAY_RANGE
        far = frame.filter(pl.col("day").is_null() & ~pl.col("_computed").is_between(low, high).fill_null(True))
        found.problem(far[REC].to_list(), _DATE, [
            f":date: {date} is day {computed:,} after infusion on {day0}; days from {low} to {high} are allowed"
            for date, computed, day0 in far.select("date", "_computed", "_day0").iter_rows()])
        frame = frame.with_columns(pl.coalesce(pl.col("day"), pl.when(pl.col("_computed").is_between(low, high))
                                               .then(pl.col("_computed"))).alias("day")).drop("_computed", "_day0")
    dated = raw["date"].is_not_null() if "date" in raw.columns else pl.Series([False] * raw.height, dtype=pl.Boolean)
    empty_day = frame.filter(pl.col("day").is_null() & ~dated & ~pl.col(REC).is_in(_recs_with(found, _COLUMN["day"])))
    found.problem(empty_day[REC].to_list(), _COLUMN["day"], [":day: required, but empty"] * empty_day.height)
    _unusual_days(frame, found)
    return frame.drop(*[c for c in _DATE_COLUMNS if c in frame.columns])


def _unusual_days(frame: pl.DataFrame, found: Found) -> None:
    """One warning per patient with days far from infusion (allowed, but rarely meant)."""
    low, high = USUAL_DAYS
    unusual = frame.filter(~pl.col("day").is_between(low, high).fill_null(True)).group_by(
        "patient_id", maintain_order=True).agg(pl.col(REC).first(), pl.col("day").first(), pl.len())
    found.warning(unusual[REC].to_list(), _COLUMN["day"], [
        f":day: value '{day}': patient {pid} has {count} day{'s' if count > 1 else ''} outside {low} to {high};"
        " check they count days from infusion" for pid, _, day, count in unusual.iter_rows()])


# An ANC in /µL below this with a fraction is far likelier a count in ×10⁹/L.
_ANC_LOOKS_PER_NL = 30


def _anc_unit(frame: pl.DataFrame, found: Found) -> None:
    """One warning per patient whose every ANC is small and some not whole: likely ×10⁹/L, which
    would be graded as profound neutropenia."""
    if "anc" not in frame.columns:
        return
    anc = pl.col("anc")
    suspect = frame.filter(anc.is_not_null()).group_by("patient_id", maintain_order=True).agg(
        pl.col(REC).first(), anc.max().alias("_max"), (anc != anc.round(0)).any().alias("_fraction")
    ).filter((pl.col("_max") < _ANC_LOOKS_PER_NL) & pl.col("_fraction"))
    found.warning(suspect[REC].to_list(), _COLUMN["anc"], [
        f":anc: patient {pid} has ANC values of at most {top:g}, which look like ×10⁹/L: give them as"
        " anc_10_9_l (or in /µL); graded as recorded, in /µL" for pid, _, top, _ in suspect.iter_rows()])


def _recs_with(found: Found, order: int) -> list[int]:
    return [rec for rec, o, _ in found.problems if o == order]


def _scores(frame: pl.DataFrame, found: Found) -> None:
    """A score and its items: all items or none, and their sum equal to the score."""
    col = columns_of(frame)
    for label, total, items in (("ICE", "ice_score", ICE_ITEMS), ("CARTOX-10", "cartox_score", CARTOX_ITEMS)):
        if not set(items) & set(frame.columns):
            continue
        present = [col(item).is_not_null() for item in items]
        some, every = pl.any_horizontal(present), pl.all_horizontal(present)
        partial = frame.filter(some & ~every)
        found.problem(partial[REC].to_list(), _ACROSS, [
            f":{total}: {label} items are incomplete: {', '.join(i for i in items if row[i] is None)} not recorded"
            for row in partial.select([col(i) for i in items]).iter_rows(named=True)])
        summed = pl.sum_horizontal([col(i) for i in items])
        wrong = frame.filter(every & col(total).is_not_null() & (summed != col(total)))
        found.problem(wrong[REC].to_list(), _ACROSS, [
            f":{total}: {total} {score} disagrees with the sum of its items ({items_sum})"
            for score, items_sum in wrong.select(col(total), summed.alias("_sum")).iter_rows()])


def _temperatures_agree(frame: pl.DataFrame, found: Found) -> None:
    if not {"temp_c", "temp_f"} <= set(frame.columns):
        return
    converted = (pl.col("temp_f") - 32) * 5 / 9
    wrong = frame.filter(((converted - pl.col("temp_c")).abs() > 0.3).fill_null(False))
    found.problem(wrong[REC].to_list(), _ACROSS + 2, [
        f":temp_f: value '{f:g}' ({(f - 32) * 5 / 9:.1f} °C) disagrees with temp_c {c:g}"
        for f, c in wrong.select("temp_f", "temp_c").iter_rows()])


def _per_minute(frame: pl.DataFrame, raw: pl.DataFrame, found: Found) -> pl.DataFrame:
    """Weight-based doses (µg/kg/min) as µg/min, with the row's weight or the patient's first;
    a dose given both ways must agree within 2 %."""
    if not set(WEIGHT_BASED_DOSES) & set(frame.columns):
        return frame
    frame = _ensure(frame, ("weight_kg", *WEIGHT_BASED_DOSES, *WEIGHT_BASED_DOSES.values()))
    weight = pl.coalesce(pl.col("weight_kg"), pl.col("weight_kg").drop_nulls().first().over("patient_id"))
    for per_kg, column in WEIGHT_BASED_DOSES.items():
        dose = pl.col(per_kg)
        converted = (dose * weight).round(6)
        no_weight = frame.filter(dose.is_not_null() & weight.is_null())
        if no_weight.height:
            shown = raw.filter(pl.col(REC).is_in(no_weight[REC].to_list())).select(per_kg).to_series().to_list()
            found.problem(no_weight[REC].to_list(), _ACROSS + 1, [
                f":{per_kg}: value '{cell}' — a dose per kg needs the patient's weight: give weight_kg on this or"
                f" another row of patient {pid}"
                for cell, pid in zip(shown, no_weight["patient_id"].to_list(), strict=True)])
        given = pl.col(column)
        disagree = frame.filter(given.is_not_null() & converted.is_not_null()
                                 & ((given - converted).abs() > 0.02 * pl.max_horizontal(given, converted)))
        if disagree.height:
            shown = raw.filter(pl.col(REC).is_in(disagree[REC].to_list())).select(column).to_series().to_list()
            found.problem(disagree[REC].to_list(), _ACROSS + 1, [
                f":{column}: value '{cell}' disagrees with {per_kg} {d:g} × weight_kg {w:g} = {c:g} µg/min"
                for cell, (d, w, c) in zip(shown, disagree.select(
                    pl.col(per_kg), weight.alias("_w"), converted.alias("_c")).iter_rows(), strict=False)])
        frame = frame.with_columns(pl.coalesce(given, converted).alias(column))
    return frame


def _units(frame: pl.DataFrame, raw: pl.DataFrame, found: Found) -> pl.DataFrame:
    """Values given in another unit, in the contract's; given both ways, they must agree within 2 %."""
    for variant, (column, factor) in UNIT_CONVERSIONS.items():
        if variant not in frame.columns:
            continue
        frame = _ensure(frame, (column,))
        converted, given = (pl.col(variant) * factor).round(6), pl.col(column)
        disagree = frame.filter(given.is_not_null() & converted.is_not_null()
                                & ((given - converted).abs() > 0.02 * pl.max_horizontal(given, converted)))
        if disagree.height:
            shown = raw.filter(pl.col(REC).is_in(disagree[REC].to_list())).select(column).to_series().to_list()
            unit = COLUMNS[column].unit
            found.problem(disagree[REC].to_list(), _COLUMN[column], [
                f":{column}: value '{cell}' disagrees with {variant} {v:g} ({c:g} {unit})"
                for cell, (v, c) in zip(shown, disagree.select(pl.col(variant), converted.alias("_c")).iter_rows(),
                                        strict=True)])
        frame = frame.with_columns(pl.coalesce(given, converted).alias(column))
    return frame


def _baseline(frame: pl.DataFrame, found: Found) -> None:
    """A baseline draw is before lymphodepletion: a value after infusion is not a baseline."""
    if "baseline" not in frame.columns:
        return
    late = frame.filter((pl.col("baseline") == True) & (pl.col("day") >= 0))  # noqa: E712
    found.problem(late[REC].to_list(), _COLUMN["baseline"], [
        f":baseline: value 'yes' on day {day}; the baseline draw is before lymphodepletion, on a negative day"
        for day in late["day"].to_list()])


def _contradictions(frame: pl.DataFrame, found: Found) -> None:
    """Warnings: values graded as recorded that look like a data-entry slip."""
    frame = frame.select(REC, *[c for c in ("o2_flow_lpm", "o2_device", "hypotension", "vasopressors", "vasopressin",
                                            *VASOPRESSOR_DOSES) if c in frame.columns])
    frame = _ensure(frame, ("o2_flow_lpm", "o2_device", "hypotension", "vasopressors", "vasopressin"))
    flow, device = pl.col("o2_flow_lpm"), pl.col("o2_device")
    limit = device.replace_strict(PLAUSIBLE_MAX_FLOW, default=None, return_dtype=pl.Float64)
    doses = [c for c in VASOPRESSOR_DOSES if c in frame.columns]
    dosed = pl.sum_horizontal([(pl.col(c) > 0).fill_null(False).cast(pl.Int64) for c in doses]) if doses else pl.lit(0)

    def too_few(vasopressors: float, *amounts: float | None) -> str:
        names = [name for name, amount in zip(doses, amounts, strict=True) if amount is not None and amount > 0]
        return (f":vasopressors: value '{vasopressors}' but doses of {len(names)} vasopressors are recorded"
                f" ({', '.join(names)}); graded as {len(names)}")

    checks: list[tuple[pl.Expr, list[str], Callable[..., str]]] = [
        ((flow > 0) & device.is_null(), ["o2_flow_lpm"],
         lambda f: f":o2_flow_lpm: value '{f:g}' with no o2_device; oxygen is graded by device, so this flow is"
                   " not graded"),
        (flow > limit, ["o2_flow_lpm", "o2_device"],
         lambda f, d: f":o2_flow_lpm: value '{f:g}' is implausible for {d} (at most {PLAUSIBLE_MAX_FLOW[d]} L/min);"
                      " graded as recorded"),
        ((device != "room_air") & (flow == 0), ["o2_device"],
         lambda d: f":o2_flow_lpm: value '0' with {d}; graded by the device as recorded"),
        ((pl.col("hypotension") == False) & ((pl.col("vasopressors") > 0) | (pl.col("vasopressin") == True)),  # noqa: E712
         [], lambda: ":hypotension: value 'no' while vasopressors or vasopressin are recorded; graded by the"
                     " vasopressors"),
        (pl.col("vasopressors").is_not_null() & (dosed > pl.col("vasopressors")), ["vasopressors", *doses], too_few),
    ]
    flagged = frame.select([condition.fill_null(False).alias(str(n)) for n, (condition, _, _) in enumerate(checks)])
    for order, (_, columns, say) in enumerate(checks):
        mask = flagged[str(order)]
        if mask.any():
            rows = frame.select(REC, *columns).filter(mask)
            messages = [say(*values) for values in rows.select(columns).iter_rows()] if columns else \
                [say()] * rows.height
            found.warning(rows[REC].to_list(), _ACROSS + 3 + order, messages)


def _comparable(raw: pl.DataFrame) -> pl.DataFrame:
    """A typed column (from a table) whose type does not fit its column, as text, so that it is
    judged like a cell: `day: true` is not day 1."""
    casts = []
    for name, current in raw.schema.items():
        if name in (REC, "_other") or current == pl.String:
            continue
        what = kind(name)
        fits = (what in ("int", "float") and current.is_numeric()) or (what == "bool" and current == pl.Boolean)
        if not fits or (current.is_float() and not raw[name].is_finite().fill_null(True).all()):
            casts.append(pl.col(name).cast(pl.String))  # inf and NaN too: quoted as they are
    return raw.with_columns(casts)


def validate(raw: pl.DataFrame, infusion_date: datetime.date | None, found: Found) -> tuple[pl.DataFrame, int]:
    """Raw cells (rows with no cell at all already dropped) to typed readings with every
    contract column, and how many rows turned out blank (cells of spaces only); the problems
    and warnings go to `found`. A row whose every cell is a value not allowed is not blank:
    it is read, and rejected."""
    raw = _comparable(raw)
    frame = _convert(raw, found)
    cells = [c for c in frame.columns if c not in (REC, "_other")]
    refused = sorted({rec for rec, _, _ in found.problems})
    blank = pl.all_horizontal([pl.col(c).is_null() for c in cells]) & ~pl.col("_other") & ~pl.col(REC).is_in(refused)
    blanks = frame.select(blank.sum()).item()
    if blanks:
        keep = frame.select(~blank).to_series()
        frame, raw = frame.filter(keep), raw.filter(keep)
    frame, raw = frame.drop("_other"), raw.drop("_other")
    numeric_raw = raw.with_columns([pl.col(c).cast(pl.String) for c in raw.columns
                                    if raw.schema[c] != pl.String and c not in (REC, "_blank")])
    frame = _out_of_bounds(frame, numeric_raw, found)
    frame = _fio2(frame, numeric_raw, found)
    frame = _temperature(frame, numeric_raw, found)
    frame = _patients(frame, found)
    frame = _days(frame, numeric_raw, infusion_date, found)
    _scores(frame, found)
    frame = _per_minute(frame, numeric_raw, found)
    frame = _units(frame, numeric_raw, found)
    _temperatures_agree(frame, found)
    _contradictions(frame, found)
    _baseline(frame, found)
    _anc_unit(frame, found)
    return frame.select(REC, *[c for c in CONTRACT_COLUMNS if c in frame.columns]), blanks


def enum_rank(name: str) -> list[str]:
    """The values of an enumerated column from best to worst, as declared."""
    enum: type[StrEnum] | None = enum_of(name)
    assert enum is not None
    return [m.value for m in enum]
