"""Several readings of one patient-day combined into the day's worst finding, on whole columns.

Exports often hold a row per reading (vitals every 4 hours, an ICE score per nursing shift).
ASTCT grades a day by its worst finding, so each column is combined as its declaration says
(`combine` in observations.py; `how_readings_combine` puts it in words for the docs).

Findings come with attribution flags (`fever_other_cause`, ...). A finding attributed to another
cause must not hide one that counts, so each group of fields is combined over the readings that
count; only when every reading with a value is attributed is the day's finding attributed.
Readings recorded as not assessable are set aside when another reading of the day was assessed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import polars as pl

from .errors import capped
from .observations import CARTOX_ITEMS, COLUMNS, ICE_ITEMS, NEURO_ATTRIBUTION, UNIT_CONVERSIONS
from .sources import REC
from .validation import Found, columns_of, enum_rank

Column = Callable[[str], pl.Expr]

KEYS = ["patient_id", "day"]
_DAY = "_g"  # one number per patient-day


@dataclass(frozen=True)
class _Group:
    flag: str
    fields: tuple[str, ...]
    finding: str  # in words, for the readings a day sets aside
    neuro: bool = False


def _declared(combine: str) -> tuple[str, ...]:
    """The columns declared (observations.py) to combine so."""
    return tuple(name for name, spec in COLUMNS.items() if spec.combine == combine)


# An attribution flag's group: the columns declared to combine over the readings that count for it.
GROUPS = tuple(_Group(flag, tuple(n for n, spec in COLUMNS.items() if spec.group == flag), COLUMNS[flag].label,
                      neuro=flag in NEURO_ATTRIBUTION) for flag in _declared("attribution"))
_GROUP_OF = {group.flag: group for group in GROUPS}
_SCORES = _GROUP_OF["score_other_cause"].fields
_MUST_AGREE = _declared("agree")
# a score's total: the day keeps the reading with the lowest, and takes the items from that reading
_TOTAL_OF = {**dict.fromkeys(("ice_score", *ICE_ITEMS), "_ice"),
             **dict.fromkeys(("cartox_score", *CARTOX_ITEMS), "_cartox")}

# Each way of combining in words (the docs' table is built from these).
_IN_WORDS = {
    "dropped": "not kept (the day is graded as a whole)",
    "temperature": "highest (temp_f converted to °C first)",
    "any": "any reading yes",
    "highest": "highest",
    "lowest": "lowest",
    "agree": "must agree across readings",
    "notes": "the notes of the readings, joined with '; '",
    "names": "every name given in any reading",
    "oxygen": "most support: highest oxygen class, then highest flow (device and flow of one reading)",
    "score": "lowest (its items taken from the same reading)",
    "attribution": "yes only if every reading with that finding says yes",
    "not_assessable": "yes only if no reading with a score or a level of consciousness is assessable;"
                      " otherwise the readings not assessable are set aside",
}


def _how(name: str) -> str:
    spec = COLUMNS[name]
    if spec.combine == "converted":
        target, factor = UNIT_CONVERSIONS[name]
        return f"converted into {target} on reading (× {factor:.6g})"
    if spec.combine == "folded":  # into its group's temperature, or the parts it stands for
        into = [n for n, s in COLUMNS.items() if s.group == spec.group and s.combine == "temperature"] \
            if spec.group else list(NEURO_ATTRIBUTION)
        return f"folded into {' and '.join(into)}"
    text = f"worst ({' < '.join(enum_rank(name))})" if spec.combine == "worst" else _IN_WORDS[spec.combine]
    return text + (f", over the readings that count ({spec.group})" if spec.group else "")


def how_readings_combine() -> dict[str, str]:
    """Columns, and how several readings of a day combine them (columns combined alike together)."""
    rows: dict[str, list[str]] = {}
    for name, spec in COLUMNS.items():
        if spec.combine != "key":
            rows.setdefault(_how(name), []).append(name)
    return {", ".join(names): text for text, names in rows.items()}


def temperature(col: Column) -> pl.Expr:
    """A reading's temperature in °C: temp_c, or temp_f converted (100.4 °F is 38.0 °C)."""
    return pl.coalesce(col("temp_c"), ((col("temp_f") - 32) * 5 / 9).round(6))


def total(col: Column, score: str, items: tuple[str, ...]) -> pl.Expr:
    """A score as recorded, or the sum of its items when every item is."""
    every = pl.all_horizontal([col(i).is_not_null() for i in items])
    return pl.coalesce(col(score), pl.when(every).then(pl.sum_horizontal([col(i) for i in items])))


def any_yes(expr: pl.Expr) -> pl.Expr:
    return pl.when(expr.fill_null(False).any()).then(True).when((expr == False).any()).then(False)  # noqa: E712


def _worst(name: str, expr: pl.Expr) -> pl.Expr:
    order = enum_rank(name)
    rank = expr.replace_strict(order, list(range(len(order))), default=None, return_dtype=pl.Int32)
    return rank.max().replace_strict(list(range(len(order))), order, default=None, return_dtype=pl.String)


def order_days(frame: pl.DataFrame) -> pl.DataFrame:
    """Readings in patient order (as patients first appear) and day order within each, with `_p`
    the patient's number and `_g` the patient-day's."""
    frame = frame.with_columns(pl.int_range(pl.len(), dtype=pl.Int64).alias("_i"))
    frame = frame.with_columns(pl.col("_i").min().over("patient_id").alias("_p"))
    in_order = frame.select(((pl.col("_p").diff() > 0) | ((pl.col("_p").diff() == 0) & (pl.col("day").diff() >= 0)))
                            .fill_null(True).all()).item()
    if not in_order:
        frame = frame.sort(["_p", "day"], maintain_order=True)
    new_day = (pl.col("_p") != pl.col("_p").shift()) | (pl.col("day") != pl.col("day").shift())
    return frame.with_columns(new_day.fill_null(True).cum_sum().alias(_DAY)).drop("_i")


def _chosen(col: Column, group: _Group, dropped: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """Per reading: whether it has a value of the group, and whether that value enters the day
    (the readings that count when any does, else those with a value)."""
    has = pl.any_horizontal([col(f).is_not_null() for f in group.fields])
    if group.neuro:
        has = has & ~dropped
    counting = has & (col(group.flag) != True).fill_null(True)  # noqa: E712
    return has, pl.when(counting.any().over(_DAY)).then(counting).otherwise(has)


def disagreements(frame: pl.DataFrame, found: Found) -> set[int]:
    """Readings of one day that disagree on what must agree (age, cause of death) are a problem;
    returns the records of every reading of such days."""
    bad: set[int] = set()
    for name in _MUST_AGREE:
        if name not in frame.columns:
            continue
        given = frame.filter(pl.col(name).is_not_null()).select(*KEYS, name)
        if given.height < 2:
            continue
        values = given.group_by(KEYS).agg(pl.col(name).unique().alias("_values")).filter(
            pl.col("_values").list.len() > 1)
        days = frame.join(values, on=KEYS, how="semi").group_by(KEYS, maintain_order=True).agg(pl.col(REC)).join(
            values, on=KEYS, how="left", maintain_order="left")
        for patient, day, recs, differing in days.iter_rows():
            shown = capped(sorted(f"{v:g}" if isinstance(v, float) else str(v) for v in differing))
            found.problem_as_is(recs[0], 2, f"{capped([found.locate(r) for r in recs])}: {name}: readings of"
                                            f" patient {patient} day {day} disagree ({shown})")
            found.covered.update(dict.fromkeys(recs[1:], recs[0]))
            bad.update(recs)
    return bad


def combine(frame: pl.DataFrame, o2_rank: Callable[[Column], pl.Expr], locate: Callable[[int], str]) -> pl.DataFrame:
    """One row per patient-day, in patient and day order, with `readings` (how many it combines)
    and `set_aside` (the readings whose findings it set aside, and why, one per line). Only the
    columns the readings have come out."""
    if "neuro_other_cause" in frame.columns:
        col = columns_of(frame)
        frame = frame.with_columns([pl.coalesce(col(flag), col("neuro_other_cause")).alias(flag)
                                    for flag in NEURO_ATTRIBUTION])
    frame = order_days(frame)
    day = pl.col(_DAY)
    several = ((day == day.shift(1)) | (day == day.shift(-1))).fill_null(False)
    first = (day != day.shift(1)).fill_null(True)
    frame = frame.with_columns(several.alias("_several"))
    if not frame["_several"].any():
        return frame.drop("_several").with_columns(pl.lit(1, dtype=pl.UInt32).alias("readings"),
                                                   pl.lit(None, dtype=pl.String).alias("set_aside"))
    combined = _combine_several(frame.filter(pl.col("_several")), o2_rank, locate)
    days = frame.filter(first).drop("_several").with_columns(pl.lit(1, dtype=pl.UInt32).alias("readings"),
                                                             pl.lit(None, dtype=pl.String).alias("set_aside"))
    positions = (combined[_DAY] - 1).cast(pl.Int64)  # days are numbered 1, 2, ... in order
    updated = []
    for name in days.columns:
        if name not in combined.columns or name in (_DAY, "_p", REC, "patient_id", "day"):
            continue
        values = combined[name].cast(days.schema[name])
        column = days[name].clone()
        column.scatter(positions, values)
        updated.append(column)
    return days.with_columns(updated)


def _combine_several(frame: pl.DataFrame, o2_rank: Callable[[Column], pl.Expr],
                     locate: Callable[[int], str]) -> pl.DataFrame:
    col = columns_of(frame)
    frame = frame.with_columns(pl.len().over(_DAY).cast(pl.UInt32).alias("readings"))
    neuro_fields = [col(f).is_not_null() for f in ("consciousness", *_SCORES)]
    flagged = (col("neuro_not_assessable") == True).fill_null(False)  # noqa: E712
    assessed = ~flagged & pl.any_horizontal(neuro_fields)
    frame = frame.with_columns((flagged & assessed.any().over(_DAY)).alias("_dropped"),
                               temperature(col).alias("_temperature"), o2_rank(col).alias("_o2"),
                               total(col, "ice_score", ICE_ITEMS).alias("_ice"),
                               total(col, "cartox_score", CARTOX_ITEMS).alias("_cartox"))
    columns = []
    for group in GROUPS:
        has, chosen = _chosen(col, group, pl.col("_dropped"))
        columns += [has.alias(f"_has:{group.flag}"), chosen.alias(f"_in:{group.flag}")]
    frame = frame.with_columns(columns)
    notes = _set_aside(frame, locate)

    def within(flag: str | None, column: str) -> pl.Expr:
        """A column's readings of the day that the group of `flag` keeps (all of them, ungrouped)."""
        chosen = pl.col(column) if column.startswith("_") else col(column)
        return chosen.filter(pl.col(f"_in:{flag}")) if flag else chosen

    def flag_of(group: _Group) -> pl.Expr:
        has, chosen = pl.col(f"_has:{group.flag}"), pl.col(f"_in:{group.flag}")
        counting = chosen & (col(group.flag) != True).fill_null(True)  # noqa: E712
        return pl.when(has.any()).then(~counting.any()).otherwise(any_yes(col(group.flag))).alias(group.flag)

    scored = pl.col("_in:score_other_cause")

    def lowest(column: str) -> pl.Expr:
        kept = scored & pl.col(_TOTAL_OF[column]).is_not_null()
        return col(column).filter(kept).sort_by(pl.col(_TOTAL_OF[column]).filter(kept), maintain_order=True).first()

    def combined_column(name: str, how: str, group: str | None) -> pl.Expr | None:
        """A column's day value, by its declared way of combining (None: not kept in the day)."""
        values = within(group, name)
        by_kind = {
            "agree": lambda: col(name).drop_nulls().first(),
            "any": lambda: any_yes(values),
            "highest": lambda: values.max(),
            "lowest": lambda: values.min(),
            "worst": lambda: _worst(name, values),
            "notes": lambda: col(name).drop_nulls().unique(maintain_order=True).str.join("; "),
            "names": lambda: col(name).str.split("; ").explode().drop_nulls().unique(maintain_order=True)
            .str.join("; "),
            "temperature": lambda: within(group, "_temperature").max(),
            "oxygen": lambda: values.sort_by(within(group, "_o2"), descending=True, maintain_order=True).first(),
            "score": lambda: lowest(name),
            "attribution": lambda: flag_of(_GROUP_OF[name]),
            "not_assessable": lambda: pl.when(pl.col("_dropped").any()).then(False).otherwise(any_yes(col(name))),
        }
        return by_kind[how]().alias(name) if how in by_kind else None

    aggs: list[pl.Expr] = [
        pl.col("patient_id").first(), pl.col("day").first(), pl.col("_p").first(), pl.col(REC).first(),
        pl.col("readings").first(),
        *[expr for name, spec in COLUMNS.items()
          if (expr := combined_column(name, spec.combine, spec.group)) is not None],
    ]
    combined = frame.group_by(_DAY, maintain_order=True).agg(aggs)
    combined = combined.with_columns(
        pl.when(pl.col(c) != "").then(pl.col(c)).alias(c) for c in (*_declared("notes"), *_declared("names")))
    combined = combined.join(notes, on=_DAY, how="left")
    # not kept, or folded into another column (temp_f into temp_c, neuro_other_cause into its parts)
    return combined.with_columns([pl.lit(None, dtype=frame.schema[c]).alias(c) for c in
                                  (*_declared("dropped"), *_declared("folded"), *_declared("converted"))
                                  if c in frame.columns])


def _set_aside(frame: pl.DataFrame, locate: Callable[[int], str]) -> pl.DataFrame:
    """Per patient-day, the readings set aside: not assessable while another was assessed, or a
    finding attributed to another cause while another reading's counted."""
    reasons = [pl.when(pl.col("_dropped")).then(pl.lit("not assessable, while another reading was assessed"))]
    for group in GROUPS:
        aside = pl.col(f"_has:{group.flag}") & ~pl.col(f"_in:{group.flag}")
        reasons.append(pl.when(aside).then(pl.lit(f"{group.finding} attributed to another cause")))
    rows = frame.select(_DAY, REC, pl.concat_list(reasons).list.drop_nulls().alias("_why")).filter(
        pl.col("_why").list.len() > 0)
    findings = [group.finding for group in GROUPS]
    ordered: dict[int, list[tuple[int, int, str]]] = {}
    for day, rec, why in rows.iter_rows():
        for text in why:  # not assessable first, then each group in turn, readings in order
            rank = 0 if text.startswith("not assessable") else 1 + findings.index(
                text.removesuffix(" attributed to another cause"))
            ordered.setdefault(day, []).append((rank, rec, text))
    notes = {day: "\n".join(f"{locate(rec)}: {text}" for _, rec, text in sorted(entries))
             for day, entries in ordered.items()}
    return pl.DataFrame({_DAY: list(notes), "set_aside": list(notes.values())},
                        schema={_DAY: frame.schema[_DAY], "set_aside": pl.String})
