"""The fever waiver across a patient's days, on whole columns.

One piece of ASTCT is not a single-day judgement: once a patient with CRS has had a waiving
therapy, fever is no longer required, until the episode resolves (a day graded CRS 0). Each day
is graded both ways first (the distinct fact combinations make that cheap); this scan then says,
day by day, which of the two applies:

- a therapy given on a day of an ongoing episode waives fever from that day; one given on the
  first day of an episode (a day graded 1 or more with no waiver yet), from the next day; one
  given before any CRS, only with the setting that lets prophylaxis waive fever, from that day;
- a waiver lasts until the first day graded 0 under it (for a prophylactic one, the first such
  day after an episode has begun), or for good with `waiver_ends = never`;
- "in an episode" means the last graded day before was graded 1 or more: days without a grade
  neither start nor end anything.

Waivers are found one per patient per round, left to right; a patient rarely has more than two.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import polars as pl

_NEVER = 1 << 40


def given(definitions: Any, settings: Mapping[str, Any], col: Callable[[str], pl.Expr]) -> tuple[pl.Expr, pl.Expr]:
    """Whether a waiving therapy was given on a day, and the first one given (those with a column
    of their own in the rule set's order, then those named in other_treatment)."""
    waiver = definitions.fever_waiver
    columns = list(waiver.therapies) + [t for t, s in waiver.therapies_by_setting.items() if settings[s]]
    named = sorted(waiver.named(settings))
    names = col("other_treatment").str.split("; ")
    first_named = names.list.eval(pl.element().filter(pl.element().is_in(named))).list.first()
    therapy = pl.coalesce([pl.when(col(c).fill_null(False)).then(pl.lit(c)) for c in columns] + [first_named])
    return therapy.is_not_null(), therapy


def _within(expr: pl.Expr, first: pl.Expr, sentinel: int) -> pl.Expr:
    """`expr` of the row before, within a patient (`sentinel` on a patient's first row)."""
    return pl.when(first).then(sentinel).otherwise(expr.shift(1))


def scan(days: pl.DataFrame, prophylaxis: bool, never_ends: bool) -> pl.DataFrame:
    """`days` in patient and day order, with `_p` (patient), `_given`, `g_nw` and `g_w` (the CRS
    grade without and with the waiver); returns, one row per day, `_waived`, `_origin` (the row of
    the day the waiving therapy was given) and `_prophylactic`."""
    n = days.height
    patient = pl.col("_p")
    first, last = (patient != patient.shift(1)).fill_null(True), (patient != patient.shift(-1)).fill_null(True)
    index = pl.int_range(n, dtype=pl.Int64)

    def next_row_where(condition: pl.Expr) -> pl.Expr:
        # the first row at or after this one, within the patient, where the condition holds
        found = pl.when(condition).then(index).when(last).then(_NEVER)
        return found.backward_fill()

    frame = days.select("_p", "_given", "g_nw", "g_w").with_columns(
        index.alias("_i"), first.alias("_first"),
        next_row_where(pl.col("g_w") == 0).alias("_zero"),
        next_row_where(pl.col("g_w") >= 1).alias("_sick"),
        pl.when(last).then(index).backward_fill().alias("_last"),
    )
    zero = frame["_zero"].to_list()
    waived, prophylactic = bytearray(n), bytearray(n)
    origin: list[int | None] = [None] * n
    # each round: the rows no waiver covers yet, of patients who may still have one
    treated = frame.select(pl.col("_given").cast(pl.Int32).sum().over("_p") > 0).to_series() \
        if frame["_given"].any() else None
    work = frame.filter(treated) if treated is not None else frame.clear()
    while work.height:
        starts = (pl.col("_p") != pl.col("_p").shift(1)).fill_null(True)
        previous = _within(pl.col("g_nw"), starts, -1).forward_fill()
        in_episode = (previous >= 1).fill_null(False)
        opened = (pl.col("_given") & (pl.col("g_nw") >= 1).fill_null(False))
        after = _within(opened.cast(pl.Int8), starts, 0).cast(pl.Boolean).fill_null(False)
        here = pl.col("_given") & (in_episode | prophylaxis)
        candidates = work.with_columns(after.alias("_after"), in_episode.alias("_in"), starts.alias("_starts")) \
            .filter(pl.col("_after") | here)
        first_of = candidates.filter((pl.col("_p") != pl.col("_p").shift(1)).fill_null(True))
        if first_of.height == 0:
            break
        ends = {}
        for patient_no, start, from_before, was_in, sick, last_row in first_of.select(
                "_p", "_i", "_after", "_in", "_sick", "_last").iter_rows():
            proph = not from_before and not was_in
            if never_ends:
                end = last_row
            elif proph:
                end = last_row if sick >= _NEVER or zero[sick] >= _NEVER else int(zero[sick])
            else:
                end = last_row if zero[start] >= _NEVER else int(zero[start])
            span = end + 1 - start
            waived[start:end + 1] = b"\x01" * span
            origin[start:end + 1] = [start - 1 if from_before else start] * span
            prophylactic[start:end + 1] = (b"\x01" if proph else b"\x00") * span
            if end < last_row:
                ends[patient_no] = end
        if not ends:
            break
        limit = pl.col("_p").replace_strict(ends, default=-1, return_dtype=pl.Int64)
        work = work.filter(pl.col("_i") > limit).filter(pl.col("_p").is_in(list(ends)))
    return pl.DataFrame({"_waived": pl.Series(waived, dtype=pl.UInt8).cast(pl.Boolean),
                         "_origin": pl.Series(origin, dtype=pl.Int64),
                         "_prophylactic": pl.Series(prophylactic, dtype=pl.UInt8).cast(pl.Boolean)})
