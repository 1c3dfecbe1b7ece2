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

from typing import Any, Mapping

import polars as pl

_NEVER = 1 << 40


def given(definitions: Any, settings: Mapping[str, Any]) -> tuple[pl.Expr, pl.Expr]:
    """Whether a waiving therapy was given on a day, and the first one given (those with a column
    of their own in the rule set's order, then those named in other_treatment)."""
    waiver = definitions.fever_waiver
    columns = list(waiver.therapies) + [t for t, s in waiver.therapies_by_setting.items() if settings[s]]
    named = sorted(waiver.named(settings))
    names = pl.col("other_treatment").str.split("; ")
    first_named = names.list.eval(pl.element().filter(pl.element().is_in(named))).list.first()
    therapy = pl.coalesce([pl.when(pl.col(c).fill_null(False)).then(pl.lit(c)) for c in columns] + [first_named])
    return therapy.is_not_null(), therapy


def scan(days: pl.DataFrame, prophylaxis: bool, never_ends: bool) -> pl.DataFrame:
    """`days` in patient and day order, with `_p` (patient), `_given`, `g_nw` and `g_w` (the CRS
    grade without and with the waiver); returns, one row per day, `_waived`, `_origin` (the row of
    the day the waiving therapy was given) and `_prophylactic`."""
    n = days.height
    frame = days.select("_p", "_given", "g_nw", "g_w").with_columns(pl.int_range(n, dtype=pl.Int64).alias("_i"))
    frame = frame.with_columns(
        pl.when(pl.col("g_w") == 0).then(pl.col("_i")).backward_fill().over("_p").fill_null(_NEVER).alias("_zero"),
        pl.when(pl.col("g_w") >= 1).then(pl.col("_i")).backward_fill().over("_p").fill_null(_NEVER).alias("_sick"),
        pl.col("_i").max().over("_p").alias("_last"),
    )
    zero = frame["_zero"].to_list()
    waived, prophylactic = bytearray(n), bytearray(n)
    origin: list[int | None] = [None] * n
    # each round: the rows no waiver covers yet, of patients who may still have one
    work = frame.filter(pl.col("_given").any().over("_p"))
    while work.height:
        in_episode = (pl.col("g_nw").shift(1).over("_p").forward_fill().over("_p") >= 1).fill_null(False)
        after = (pl.col("_given") & (pl.col("g_nw") >= 1).fill_null(False)).shift(1).over("_p").fill_null(False)
        here = pl.col("_given") & (in_episode | prophylaxis)
        first = work.with_columns(after.alias("_after"), in_episode.alias("_in")).filter(
            pl.col("_after") | here).group_by("_p", maintain_order=True).first()
        if first.height == 0:
            break
        ends = {}
        for patient, start, from_before, was_in, sick, last in first.select(
                "_p", "_i", "_after", "_in", "_sick", "_last").iter_rows():
            proph = not from_before and not was_in
            if never_ends:
                end = last
            elif proph:
                end = last if sick >= _NEVER or zero[sick] >= _NEVER else int(zero[sick])
            else:
                end = last if zero[start] >= _NEVER else int(zero[start])
            span = end + 1 - start
            waived[start:end + 1] = b"\x01" * span
            origin[start:end + 1] = [start - 1 if from_before else start] * span
            prophylactic[start:end + 1] = (b"\x01" if proph else b"\x00") * span
            if end < last:
                ends[patient] = end
        work = work.filter(pl.col("_p").is_in(list(ends)) & (pl.col("_i") > pl.col("_p").replace_strict(
            ends, default=_NEVER, return_dtype=pl.Int64)))
    return pl.DataFrame({"_waived": pl.Series(waived, dtype=pl.UInt8).cast(pl.Boolean),
                         "_origin": pl.Series(origin, dtype=pl.Int64),
                         "_prophylactic": pl.Series(prophylactic, dtype=pl.UInt8).cast(pl.Boolean)})
