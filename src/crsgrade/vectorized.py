"""The vectorized path: the same rule files, run as polars expressions over a whole file.

Registries regrade cohorts of a million patient-days; one fact at a time through durable-rules
takes close to a minute. Here the resolved conditions of the rule files become polars
expressions (whose null logic is the same three-valued logic), the derived facts are columns, and
the cross-day fever waiver is worked out with array operations. Nothing clinical is written here
that is not read from the rule set.

It takes the common case — a CSV in the observation contract, with valid values — and hands
anything else to the reference path (`Unsupported`): a file with errors or warnings gets the
reference reader's messages, word for word. The test suite checks that both paths write the
same CSV.
"""

from __future__ import annotations

import csv
import io
import re
from functools import reduce
from pathlib import Path
from typing import Any

import polars as pl
from pydantic import ValidationError

from . import conditions as cond
from .columns import CONTRACT_COLUMNS
from .facts import ATTRIBUTION_FLAGS, SOURCE_COLUMNS
from .observations import (
    DEFAULT_PATIENT_ID,
    ICE_ITEMS,
    NEURO_ATTRIBUTION,
    PLAUSIBLE_MAX_FLOW,
    WEIGHT_BASED_DOSES,
    THERAPIES,
    VASOPRESSOR_DOSES,
    Observation,
    enum_of,
    field_kinds,
)
from .output import CSV_COLUMNS
from .reading import _DECIMAL_COMMA, _map_headers, _sniff_delimiter
from .grading import _days
from .ruleset import PLACEHOLDER

_NOT_RECORDED = "not recorded"
_UNSUPPORTED_COLUMNS = ("temperature", "date", "infusion_date")


class Unsupported(Exception):
    """The input needs the reference path: it has errors, warnings or a form not handled here."""


# The facts this path derives. A rule set whose conditions test others (the dose, FiO2 and
# organ-toxicity facts of the older grading systems) is graded on the reference path.
_DERIVED_FACTS = frozenset({
    "fever", "fever_waived", "hypotension", "vasopressors", "vasopressin", "o2_device", "o2_class",
    "ice_total", "capd_total", "consciousness", "seizure", "motor_weakness", "cerebral_edema",
    "death_cause", *ATTRIBUTION_FLAGS,
})


# --- reading ---------------------------------------------------------------------------------

def _check(frame: pl.DataFrame, condition: pl.Expr) -> None:
    """Any row where the condition is true sends the file to the reference path."""
    if frame.select(condition.fill_null(False).any()).item():
        raise Unsupported


def _cell_values(name: str, cells: list[str]) -> list[Any]:
    """The values of a column's distinct cells, each judged by the reference model itself, so
    both paths take exactly the same cells. A cell the model rejects raises Unsupported."""
    enum = enum_of(name)
    base: dict[str, Any] = {"day": 0}
    if name in ICE_ITEMS:  # an item is only valid beside the other four
        base.update({item: 0 for item in ICE_ITEMS})
    values = []
    for cell in cells:
        text = cell.strip()
        if text == "":
            values.append(None)
            continue
        if name in ("patient_id", "note"):
            values.append(text)
            continue
        if {int, float} & set(field_kinds(name)) and _DECIMAL_COMMA.match(text):
            text = text.replace(",", ".")
        try:
            value = getattr(Observation.model_validate({**base, name: text}), name)
        except ValidationError:
            raise Unsupported from None
        values.append(value.value if enum is not None else value.isoformat() if name == "time" else value)
    return values


def _convert(series: pl.Series, name: str) -> pl.Series:
    cells = series.unique().drop_nulls().to_list()
    return series.replace_strict(cells, _cell_values(name, cells), default=None, return_dtype=_dtype(name))


def _ragged(raw: bytes, text: str, delimiter: str, width: int) -> bool:
    """Whether a non-blank row has more or fewer cells than the header (polars would pad it)."""
    if '"' in text:  # quoted cells may hold delimiters and line breaks: count them properly
        rows = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
        return any(len(row) != width for row in rows if any(cell.strip() for cell in row))
    if "\x1f" in text:
        return True  # cannot read the file as plain lines; let the reference path decide
    lines = pl.read_csv(io.BytesIO(raw), has_header=False, separator="\x1f", quote_char=None,
                        infer_schema=False, new_columns=["line"])["line"].str.strip_chars()
    lines = lines.filter(lines.fill_null("") != "")
    return bool((lines.str.count_matches(delimiter, literal=True) != width - 1).any())


def read_frame(raw: bytes, source: str) -> tuple[pl.DataFrame, list[str], int]:
    """CSV bytes as typed contract columns, the header warnings and the row count."""
    if b"\x00" in raw:
        raise Unsupported
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise Unsupported from None
    if text.lstrip()[:1] in ("[", "{") or not text.strip():
        raise Unsupported
    if re.search(r"\r(?!\n)", text):
        raise Unsupported  # old Mac line ends: the reference reader takes them
    first = text.lstrip("\r\n").split("\n", 1)[0]
    delimiter = _sniff_delimiter(first)
    try:
        header = next(csv.reader(io.StringIO(first), delimiter=delimiter))
    except (csv.Error, StopIteration):
        raise Unsupported from None
    problems: list[str] = []
    warnings: list[str] = []
    columns = _map_headers(header, source, problems, warnings)
    if problems or "day" not in columns or any(c in _UNSUPPORTED_COLUMNS for c in columns):
        raise Unsupported
    if _ragged(raw, text, delimiter, len(header)):
        raise Unsupported  # a row with more or fewer cells than the header: the reference names it
    try:
        frame = pl.read_csv(io.BytesIO(raw), separator=delimiter, infer_schema=False, has_header=True,
                            new_columns=[f"c{i}" for i in range(len(header))])
    except Exception:  # ragged rows, stray quotes: the reference reader names the line
        raise Unsupported from None
    typed = pl.DataFrame([_convert(frame[f"c{i}"], c).alias(c) for i, c in enumerate(columns) if c is not None])
    ignored = [frame[f"c{i}"].str.strip_chars().fill_null("") != "" for i, c in enumerate(columns) if c is None]
    blank = ~pl.any_horizontal([pl.col(c).is_not_null() for c in typed.columns] + [pl.lit(s) for s in ignored])
    typed = typed.filter(~blank)  # rows with no cell at all, as the reference reader skips them
    if typed.height == 0:
        raise Unsupported
    missing = [c for c in CONTRACT_COLUMNS if c not in typed.columns]
    typed = typed.with_columns([pl.lit(None, dtype=_dtype(c)).alias(c) for c in missing]).with_columns(
        pl.col("patient_id").fill_null(DEFAULT_PATIENT_ID))
    _check(typed, pl.col("day").is_null())
    _check_consistency(typed)
    typed = typed.with_columns([pl.col("neuro_other_cause").alias(flag) for flag in NEURO_ATTRIBUTION])
    return typed, warnings, typed.height


def _dtype(name: str) -> pl.DataType:
    kinds = field_kinds(name)
    if bool in kinds:
        return pl.Boolean
    if int in kinds:
        return pl.Int64
    if float in kinds:
        return pl.Float64
    return pl.Utf8


def _check_consistency(frame: pl.DataFrame) -> None:
    """Rows the reference path reports as errors or warnings go there."""
    items = [pl.col(n) for n in ICE_ITEMS]
    some = pl.any_horizontal([i.is_not_null() for i in items])
    every = pl.all_horizontal([i.is_not_null() for i in items])
    converted = (pl.col("temp_f") - 32) * 5 / 9
    flow, device = pl.col("o2_flow_lpm"), pl.col("o2_device")
    _check(frame, pl.any_horizontal(
        some & ~every,
        every & pl.col("ice_score").is_not_null() & (pl.sum_horizontal(items) != pl.col("ice_score")),
        (converted - pl.col("temp_c")).abs() > 0.3,
        (flow > 0) & device.is_null(),
        flow > device.replace_strict(PLAUSIBLE_MAX_FLOW, default=None, return_dtype=pl.Float64),
        (device != "room_air") & (flow == 0),
        (pl.col("hypotension") == False) & ((pl.col("vasopressors") > 0) | (pl.col("vasopressin") == True)),  # noqa: E712
        # more agents with a dose than vasopressors recorded: the reference path warns
        pl.sum_horizontal([(pl.col(c) > 0).cast(pl.Int64) for c in VASOPRESSOR_DOSES]) > pl.col("vasopressors"),
        # inputs this path does not derive
        *[pl.col(c).is_not_null() for c in (*NEURO_ATTRIBUTION, "neuro_not_assessable", *WEIGHT_BASED_DOSES)],
        # numbers that Python and polars would write differently (exponent notation)
        *[(pl.col(c) > 0) & (pl.col(c) < 1e-4) for c in ("o2_flow_lpm", "age_years")],
    ))


# --- several readings of a day ---------------------------------------------------------------

def _any_yes(expr: pl.Expr) -> pl.Expr:
    return pl.when(expr.fill_null(False).any()).then(True).when((expr == False).any()).then(False)  # noqa: E712


_GROUPS = {
    "fever": ("fever_other_cause", ["temp_c", "temp_f"]),
    "hypotension": ("hypotension_other_cause", ["hypotension", "vasopressors", "vasopressin"]),
    "hypoxia": ("hypoxia_other_cause", ["o2_device", "o2_flow_lpm"]),
    "score": ("score_other_cause", ["ice_score", *ICE_ITEMS, "capd_score"]),
    "consciousness": ("consciousness_other_cause", ["consciousness"]),
}
_KEYS = ["patient_id", "day"]


def _chosen(flag: str, fields: list[str]) -> tuple[pl.Expr, pl.Expr]:
    """Per reading, whether its values enter the day's (the readings that count if any has a
    value, else those with a value); and per reading, whether it has a value."""
    with_values = pl.any_horizontal([pl.col(f).is_not_null() for f in fields])
    counting = with_values & (pl.col(flag) != True).fill_null(True)  # noqa: E712
    return pl.when(counting.any().over(_KEYS)).then(counting).otherwise(with_values), with_values


def combine_readings(frame: pl.DataFrame, o2_rank: pl.Expr) -> pl.DataFrame:
    """One row per patient-day, each field combined as aggregation.HOW says."""
    agree = frame.group_by(_KEYS).agg([pl.col(c).drop_nulls().n_unique().alias(c) for c in ("age_years", "death_cause")])
    if agree.select((pl.col("age_years") > 1) | (pl.col("death_cause") > 1)).to_series().any():
        raise Unsupported  # readings that disagree: the reference path reports it
    every_item = pl.all_horizontal([pl.col(i).is_not_null() for i in ICE_ITEMS])
    columns = [
        pl.coalesce(pl.col("temp_c"), ((pl.col("temp_f") - 32) * 5 / 9).round(6)).alias("_temperature"),
        pl.coalesce(pl.col("ice_score"), pl.when(every_item).then(pl.sum_horizontal(ICE_ITEMS))).alias("_ice_total"),
    ]
    for name, (flag, fields) in _GROUPS.items():
        chosen, with_values = _chosen(flag, fields)
        columns += [chosen.alias(f"_in_{name}"), with_values.alias(f"_has_{name}")]
    frame = frame.with_columns(columns)
    # Values of readings that do not enter a field are blanked, so that "first after sorting"
    # is null when no reading enters it.
    scored = pl.col("_in_score") & pl.col("_ice_total").is_not_null()
    frame = frame.with_columns(
        pl.when(pl.col("_in_hypoxia")).then(o2_rank).otherwise(-1e9).alias("_o2_key"),
        pl.when(scored).then(pl.col("_ice_total")).otherwise(99).alias("_ice_key"),
        *[pl.when(pl.col("_in_hypoxia")).then(pl.col(c)).alias(c) for c in ("o2_device", "o2_flow_lpm")],
        *[pl.when(scored).then(pl.col(n)).alias(n) for n in ("ice_score", *ICE_ITEMS)],
    )

    def flag_of(name: str) -> pl.Expr:
        flag = _GROUPS[name][0]
        has, chosen = pl.col(f"_has_{name}"), pl.col(f"_in_{name}")
        counting = chosen & (pl.col(flag) != True).fill_null(True)  # noqa: E712
        return pl.when(has.any()).then(~counting.any()).otherwise(_any_yes(pl.col(flag))).alias(flag)

    def within(name: str, column: str) -> pl.Expr:
        return pl.col(column).filter(pl.col(f"_in_{name}"))

    aggs: list[pl.Expr] = [pl.len().cast(pl.UInt32).alias("readings")]
    aggs += [pl.col(c).drop_nulls().first().alias(c) for c in ("age_years", "death_cause")]
    aggs += [_any_yes(pl.col(t)).alias(t) for t in THERAPIES]
    aggs += [pl.col(c).max().alias(c) for c in ("reported_crs_grade", "reported_icans_grade")]
    aggs.append(pl.col("note").drop_nulls().unique(maintain_order=True).str.join("; ").alias("note"))
    aggs += [within("fever", "_temperature").max().alias("temp_c"), flag_of("fever")]
    aggs += [_any_yes(within("hypotension", "hypotension")).alias("hypotension"),
             within("hypotension", "vasopressors").max().alias("vasopressors"),
             _any_yes(within("hypotension", "vasopressin")).alias("vasopressin"), flag_of("hypotension")]
    aggs += [pl.col(c).sort_by("_o2_key", descending=True, maintain_order=True).first().alias(c)
             for c in ("o2_device", "o2_flow_lpm")]
    aggs.append(flag_of("hypoxia"))
    aggs += [pl.col(n).sort_by("_ice_key", maintain_order=True).first().alias(n) for n in ("ice_score", *ICE_ITEMS)]
    aggs += [within("score", "capd_score").max().alias("capd_score"), flag_of("score"), flag_of("consciousness")]
    for name in ("consciousness", "seizure", "motor_weakness", "cerebral_edema"):
        order = [m.value for m in enum_of(name)]
        values = within("consciousness", name) if name == "consciousness" else pl.col(name)  # events: every reading
        rank = values.replace_strict(order, list(range(len(order))), default=None, return_dtype=pl.Int64)
        aggs.append(rank.max().replace_strict(list(range(len(order))), order, default=None,
                                              return_dtype=pl.Utf8).alias(name))
    combined = frame.group_by(_KEYS, maintain_order=True).agg(aggs)
    # temp_f and time are folded into the day; the columns no ASTCT rule uses (the older
    # systems' inputs, figures' laboratory values) are left empty: they do not change its grades
    return combined.with_columns([pl.lit(None, dtype=frame.schema[c]).alias(c) for c in frame.columns
                                  if c not in combined.columns and not c.startswith("_")])


def combine_days(frame: pl.DataFrame, o2_rank: pl.Expr) -> pl.DataFrame:
    """Days with one reading pass through; only days with several are aggregated. Rows keep the
    order of each day's first reading."""
    frame = frame.with_row_index("_first").with_columns(
        pl.len().over(_KEYS).alias("_n"), pl.col("_first").min().over(_KEYS))
    single = frame.filter(pl.col("_n") == 1).with_columns(pl.lit(1, dtype=pl.UInt32).alias("readings"))
    several = frame.filter(pl.col("_n") > 1)
    if several.height:
        order = several.group_by(_KEYS, maintain_order=True).agg(pl.col("_first").first())
        combined = combine_readings(several.drop("_first", "_n"), o2_rank).join(order, on=_KEYS, how="left")
        single = pl.concat([single.drop("_n"), combined.select(single.drop("_n").columns)], how="vertical")
    else:
        single = single.drop("_n")
    return single.sort("_first").drop("_first")


# --- grading ---------------------------------------------------------------------------------


def _to_polars(node: cond.Node) -> pl.Expr:
    """A resolved condition as a polars expression; null is 'unknown', as in conditions.evaluate."""
    if isinstance(node, cond.Test):
        column = pl.col(node.field)
        if node.op == "in":
            return reduce(lambda a, b: a | b, [column == v for v in node.value])
        return {"eq": column.__eq__, "ne": column.__ne__, "lt": column.__lt__, "lte": column.__le__,
                "gt": column.__gt__, "gte": column.__ge__}[node.op](pl.lit(node.value))
    items = [_to_polars(item) for item in node.items]
    return reduce((lambda a, b: a & b) if isinstance(node, cond.All) else (lambda a, b: a | b), items)


def _without(node: cond.Node, field: str) -> cond.Node:
    """The condition with one fact's tests made unknown (for facts that are only a lower bound)."""
    if isinstance(node, cond.Test):
        return cond.Test("__unknown__", "eq", True) if node.field == field else node
    return type(node)(tuple(_without(item, field) for item in node.items))


def _format_float(expr: pl.Expr) -> pl.Expr:
    """facts.format_value for floats: 38.0, 2.5, 37.99999 (polars writes the shortest form that
    reads back, as Python's repr does)."""
    return pl.when(expr.round(1) == expr).then(expr.round(1).cast(pl.Utf8)).otherwise(expr.cast(pl.Utf8))


class VectorGrader:
    """Grades a CSV file with polars, for a Grader's rule set and settings."""

    def __init__(self, grader: Any):
        self.grader = grader
        self.ruleset = grader.ruleset
        self.settings = grader.settings
        self.defs = self.ruleset.definitions
        self.resolved = grader.resolved
        tested = set().union(*(cond.fields_of(node) for node in self.resolved.values()))
        if (tested - _DERIVED_FACTS or self.defs.fever_waiver is None or self.defs.encephalopathy is None
                or set(self.ruleset.syndromes) != {"crs", "icans"}):
            raise Unsupported
        self.rules = [r for r in self.ruleset.rules if r.id in self.resolved]
        self.conditions = {r.id: _to_polars(self.resolved[r.id]) for r in self.rules}
        # devices classed by their flow (a nasal cannula), whose flow left empty is a lower bound
        self.by_flow = pl.col("o2_device").is_in([d for d, e in self.defs.oxygen.devices.items() if e.by_flow])

    # -- derived facts --

    def _o2_class(self) -> pl.Expr:
        oxygen = self.defs.oxygen
        device, flow = pl.col("o2_device"), pl.col("o2_flow_lpm")
        expr = pl.lit(None, dtype=pl.Utf8)
        for name, entry in reversed(list(oxygen.devices.items())):
            if entry.by_flow:
                value = pl.when(flow.is_null() | (flow <= oxygen.flow_boundary_lpm)).then(
                    pl.lit(entry.at_or_below.value(self.settings))).otherwise(pl.lit(entry.above.value(self.settings)))
            else:
                value = pl.lit(entry.class_.value(self.settings))
            expr = pl.when(device == name).then(value).otherwise(expr)
        return expr

    def o2_rank(self) -> pl.Expr:
        classes = list(self.defs.oxygen.classes)
        index = self._o2_class().replace_strict(classes, list(range(len(classes))), default=-1, return_dtype=pl.Float64)
        return index * 1000 + pl.col("o2_flow_lpm").fill_null(-1.0)

    def _facts(self, frame: pl.DataFrame) -> pl.DataFrame:
        defs, settings = self.defs, self.settings
        temperature = pl.coalesce(pl.col("temp_c"), ((pl.col("temp_f") - 32) * 5 / 9).round(6))
        age = pl.coalesce(pl.col("age_years"), pl.col("age_years").drop_nulls().first().over("_p"))
        items = pl.when(pl.all_horizontal([pl.col(i).is_not_null() for i in ICE_ITEMS])).then(
            pl.sum_horizontal([pl.col(i) for i in ICE_ITEMS]))
        capd = age < defs.encephalopathy.capd_below_age.value(settings)
        therapies = list(defs.fever_waiver.therapies) + [
            t for t, s in defs.fever_waiver.therapies_by_setting.items() if settings[s]]
        return frame.with_columns(
            temperature.alias("f_temp_c"),
            (temperature >= defs.fever.threshold_c).alias("fever"),
            age.alias("f_age"),
            pl.when(capd.fill_null(False)).then(None).otherwise(pl.coalesce(pl.col("ice_score"), items)).alias("ice_total"),
            pl.coalesce(pl.col("ice_score"), items).alias("f_ice_recorded"),
            pl.col("capd_score").alias("capd_total"),
            self._o2_class().alias("o2_class"),
            *[pl.col(f).fill_null(False).alias(f) for f in ATTRIBUTION_FLAGS],
            pl.any_horizontal([pl.col(t).fill_null(False) for t in therapies]).alias("f_given"),
            pl.coalesce([pl.when(pl.col(t).fill_null(False)).then(pl.lit(t)) for t in therapies]).alias("f_therapy"),
        )

    def _grade_expr(self, syndrome: str, fired: dict[str, pl.Expr]) -> pl.Expr:
        return pl.max_horizontal([pl.when(fired[r.id]).then(pl.lit(r.grade)) for r in self.rules
                                  if r.syndrome == syndrome])

    def _truths(self, frame: pl.DataFrame, syndrome: str | None = None) -> pl.DataFrame:
        """Each rule's condition as a column `t:ID` (null when unknown), computed once."""
        return frame.with_columns([self.conditions[r.id].alias(f"t:{r.id}") for r in self.rules
                                   if syndrome is None or r.syndrome == syndrome])

    def _fired(self) -> dict[str, pl.Expr]:
        return {r.id: pl.col(f"t:{r.id}").fill_null(False) for r in self.rules}

    def _truth(self, rule_id: str) -> pl.Expr:
        return pl.col(f"t:{rule_id}")

    # -- the fever waiver across days --

    def _waiver(self, frame: pl.DataFrame) -> pl.DataFrame:
        """Which days have fever waived, and after which therapy on which day.

        Same state machine as Grader._grade_patient, in array form: a therapy arms the waiver
        on a day of an ongoing episode (from that day) or on a day graded 1 or more (from the
        next day); the waiver lasts until the first day graded 0 under it."""
        fired = self._fired()
        g_nw = self._truths(frame.with_columns(pl.lit(False).alias("fever_waived")), "crs").select(
            self._grade_expr("crs", fired).alias("g_nw"))
        g_w = self._truths(frame.with_columns(pl.lit(True).alias("fever_waived")), "crs").select(
            self._grade_expr("crs", fired).alias("g_w"))
        graded = pl.concat([frame, g_nw, g_w], how="horizontal")
        n = graded.height
        never_ends = self.defs.fever_waiver.ends.value(self.settings) == "never"
        steps = graded.with_row_index("_i").with_columns(
            pl.col("g_nw").shift(1).forward_fill().over("_p").alias("_prev"),
            (pl.col("f_given") & (pl.col("g_nw") >= 1)).shift(1).over("_p").fill_null(False).alias("_next"),
            (pl.lit(n, dtype=pl.UInt32) if never_ends else
             pl.when(pl.col("g_w") == 0).then(pl.col("_i")).backward_fill().over("_p").fill_null(n)).alias("_nz"),
        ).with_columns(
            (pl.col("f_given") & (pl.col("_prev") >= 1).fill_null(False)).alias("_here"),
        )
        candidates = steps.filter(pl.col("_here") | pl.col("_next")).with_columns(
            pl.when(pl.col("_next")).then(pl.col("_i") - 1).otherwise(pl.col("_i")).alias("_origin"),
            pl.col("_nz").shift(1).over("_p").alias("_prev_nz"),
        ).filter(pl.col("_prev_nz").is_null() | (pl.col("_i") > pl.col("_prev_nz")))
        starts = candidates.select("_i", pl.col("_nz").alias("_end"), "_origin")
        steps = steps.join(starts, on="_i", how="left").with_columns(
            pl.col("_end").forward_fill().over("_p"), pl.col("_origin").forward_fill().over("_p"))
        active = pl.col("_end").is_not_null() & (pl.col("_i") <= pl.col("_end"))
        origin_day = pl.col("day").gather(pl.col("_origin").fill_null(0))
        origin_therapy = pl.col("f_therapy").gather(pl.col("_origin").fill_null(0))
        return steps.with_columns(
            active.alias("fever_waived"),
            pl.when(active).then(pl.format("fever waived after {} on day {}", origin_therapy, origin_day)).alias("f_waiver"),
        ).drop("_i", "_prev", "_next", "_nz", "_here", "_end", "_origin", "g_nw", "g_w")

    # -- messages and reasons --

    def _placeholder(self, name: str, frame: pl.DataFrame) -> pl.Expr:
        column = {"temp_c": "f_temp_c", "age_years": "f_age"}.get(name, name)
        dtype = frame.schema[column]
        value = pl.col(column)
        if dtype == pl.Float64:
            text = _format_float(value)
        elif dtype == pl.Boolean:
            text = pl.when(value).then(pl.lit("True")).otherwise(pl.lit("False"))
        elif dtype == pl.Utf8:
            text = value.str.replace_all("_", " ", literal=True)
        else:
            text = value.cast(pl.Utf8)
        return text.fill_null(_NOT_RECORDED)

    def _message(self, template: str, frame: pl.DataFrame) -> pl.Expr:
        parts, last = [], 0
        for match in PLACEHOLDER.finditer(template):
            parts += [pl.lit(template[last:match.start()]), self._placeholder(match.group(1), frame)]
            last = match.end()
        parts.append(pl.lit(template[last:]))
        return pl.concat_str(parts).str.strip_chars()

    def _reason(self, syndrome: str, top: pl.Expr, fired: dict[str, pl.Expr], frame: pl.DataFrame) -> pl.Expr:
        """grading._join_messages over the messages of the rules that set the grade, without
        lists: messages are split at their template's first " with " once, here."""
        mine = [r for r in self.rules if r.syndrome == syndrome]
        is_top = {r.id: fired[r.id] & (top == r.grade) for r in mine}
        # a rule whose template repeats an earlier same-grade rule's would repeat its message
        shown = {}
        for r in mine:
            twin = next((o for o in mine if o.grade == r.grade and o.message == r.message and o is not r
                         and mine.index(o) < mine.index(r)), None)
            shown[r.id] = is_top[r.id] & (~is_top[twin.id] if twin else pl.lit(True))
        heads = {r.id: r.message.partition(" with ")[0] for r in mine if " with " in r.message}
        count = pl.sum_horizontal([shown[r.id].cast(pl.Int32) for r in mine])
        groups = set(heads.values())
        mergeable = pl.lit(False)
        for head in groups:
            members = [rid for rid, h in heads.items() if h == head]
            others = [r.id for r in mine if r.id not in members]
            only_these = ~pl.any_horizontal([shown[o] for o in others]) if others else pl.lit(True)
            mergeable = mergeable | only_these
        merge = (count > 1) & mergeable
        messages = pl.concat_str([pl.when(shown[r.id]).then(self._message(r.message, frame)) for r in mine],
                                 separator="; ", ignore_nulls=True)
        if not heads:
            return messages
        head = pl.coalesce([pl.when(shown[rid]).then(self._message(h, frame)) for rid, h in heads.items()])
        tails = pl.concat_str([pl.when(shown[rid]).then(self._message(self.ruleset.rule(rid).message.partition(" with ")[2], frame))
                               for rid in heads], separator=" and ", ignore_nulls=True)
        return pl.when(merge).then(pl.concat_str([head, pl.lit(" with "), tails])).otherwise(messages)

    def _unrecorded(self, syndrome: str, considered, frame: pl.DataFrame) -> dict[str, pl.Expr]:
        """grading.Grader._unrecorded, as one boolean expression per input column."""
        defs = self.defs
        events = set(defs.event_facts)
        tools = list(defs.encephalopathy.tools)
        tool_present = pl.any_horizontal([pl.col(t).is_not_null() for t in tools])
        bounded = self.by_flow.fill_null(False) & pl.col("o2_flow_lpm").is_null()
        columns: dict[str, list[pl.Expr]] = {}
        for rule in self.rules:
            if rule.syndrome != syndrome:
                continue
            node = self.resolved[rule.id]
            truth = self._truth(rule.id)
            gate = considered(rule.grade)
            for name in cond.fields_of(node) - events:
                absent = pl.col(name).is_null()
                if name == "ice_total":  # an ICE recorded for a child assessed with CAPD is set aside
                    absent = absent & pl.col("f_ice_recorded").is_null()
                if name in tools:
                    absent = absent & ~tool_present
                columns.setdefault(SOURCE_COLUMNS.get(name, name), []).append(gate & truth.is_null() & absent)
            if "o2_class" in cond.fields_of(node):
                unbounded = pl.col(f"u:{rule.id}").is_null()
                columns.setdefault("o2_flow_lpm", []).append(gate & (truth == False) & bounded & unbounded)  # noqa: E712
        recorded = {c: pl.col(c).is_not_null() for c in CONTRACT_COLUMNS}
        return {c: pl.any_horizontal(columns[c]).fill_null(False) & ~recorded[c]
                for c in CONTRACT_COLUMNS if c in columns}

    def _placeholder_columns(self, syndrome: str) -> list[str]:
        names = {n for r in self.rules if r.syndrome == syndrome for n in PLACEHOLDER.findall(r.message)}
        return sorted({"temp_c": "f_temp_c", "age_years": "f_age"}.get(n, n) for n in names)

    def _syndrome_columns(self, syndrome: str, frame: pl.DataFrame) -> pl.DataFrame:
        """The grade, rule ids, reason and not-recorded columns of one syndrome, added to the
        frame. Ids and reasons depend only on which rules fired and on the values the messages
        show, so they are worked out once per distinct combination and joined back."""
        fired = self._fired()
        top = pl.col(f"{syndrome}_grade")
        above = self._unrecorded(syndrome, lambda g: pl.when(top.is_null()).then(g > 0).otherwise(g > top), frame)
        zero = self._unrecorded(syndrome, lambda g: top.is_null() & (g == 0), frame)
        frame = frame.with_columns(
            pl.concat_str([pl.when(flag).then(pl.lit(c)) for c, flag in above.items()],
                          separator=" ", ignore_nulls=True).alias(f"{syndrome}_not_recorded"),
            pl.concat_str([pl.when(flag).then(pl.lit(c)) for c, flag in zero.items()],
                          separator=", ", ignore_nulls=True).alias("_missing"),
        )
        mine = [r for r in self.rules if r.syndrome == syndrome]
        key = [f"t:{r.id}" for r in mine] + [f"{syndrome}_grade", "_missing"] + self._placeholder_columns(syndrome)
        distinct = frame.select(key).unique()
        missing = pl.col("_missing")
        not_gradable = pl.when(missing == "").then(pl.lit("not gradable from what was recorded")).otherwise(
            pl.concat_str([pl.lit("not gradable: "), missing, pl.lit(" not recorded")]))
        distinct = distinct.with_columns(
            pl.concat_str([pl.when(fired[r.id] & (top == r.grade)).then(pl.lit(r.id)) for r in mine],
                          separator=" ", ignore_nulls=True).alias(f"{syndrome}_rules"),
            pl.when(top.is_null()).then(not_gradable).otherwise(
                self._reason(syndrome, top, fired, distinct)).alias(f"{syndrome}_reason"),
        )
        return frame.join(distinct, on=key, how="left", nulls_equal=True, maintain_order="left").drop("_missing")

    def grade_frame(self, frame: pl.DataFrame) -> pl.DataFrame:
        """Typed contract columns (one row per reading) in, the grade CSV's columns out."""
        if self.defs.fever_waiver.prophylaxis.value(self.settings):
            raise Unsupported  # prophylactic waivers take the reference path
        days = combine_days(frame, self.o2_rank()).with_row_index("_g")
        days = days.with_columns(pl.col("_g").min().over("patient_id").alias("_p"))  # patients as integers
        days = self._facts(days).sort(["_p", "day"], maintain_order=True)
        named = sorted(self.defs.fever_waiver.named(self.settings))
        _check(days, pl.any_horizontal(
            # a therapy named in other_treatment that waives fever; rows after a death: the
            # reference path takes these
            pl.col("other_treatment").str.split("; ").list.eval(pl.element().is_in(named)).list.any(),
            (pl.col("death_cause").is_not_null().cum_sum().shift(1).over("_p") > 0),
        ))
        self.warnings = self._child_ice_warnings(days)
        days = self._waiver(days)
        device = pl.col("o2_device").str.replace_all("_", " ", literal=True)
        days = days.with_columns(
            pl.when(pl.col("fever") & ~pl.col("fever_other_cause")).then(
                pl.concat_str([pl.lit("fever "), _format_float(pl.col("f_temp_c")), pl.lit(" °C")])
            ).otherwise(pl.col("f_waiver")).alias("fever_basis"),
            pl.when(pl.col("o2_flow_lpm").is_not_null()).then(
                pl.concat_str([device, pl.lit(" "), _format_float(pl.col("o2_flow_lpm")), pl.lit(" L/min")])
            ).when(self.by_flow).then(pl.concat_str([device, pl.lit(", flow not recorded")])).otherwise(device).alias("o2_support"),
            pl.lit(None, dtype=pl.Boolean).alias("__unknown__"),  # see _without
        )
        days = self._truths(days).with_columns(
            [_to_polars(_without(self.resolved[r.id], "o2_class")).alias(f"u:{r.id}") for r in self.rules
             if "o2_class" in cond.fields_of(self.resolved[r.id])])
        fired = self._fired()
        days = days.with_columns(self._grade_expr("crs", fired).alias("crs_grade"),
                                 self._grade_expr("icans", fired).alias("icans_grade"))
        for syndrome in ("crs", "icans"):
            days = self._syndrome_columns(syndrome, days)
        out = days.with_columns(pl.col("fever_waived").fill_null(False))
        text = pl.col(pl.Utf8)
        return out.select(CSV_COLUMNS + ("readings",)).with_columns(
            pl.when(text == "").then(None).otherwise(text).name.keep())  # nothing to say: null

    def _child_ice_warnings(self, days: pl.DataFrame) -> list[str]:
        """Grader._grade_patient's warning about children whose ICE was set aside."""
        aside = days.filter(pl.col("f_ice_recorded").is_not_null() & pl.col("ice_total").is_null()
                            & pl.col("capd_score").is_null())
        if aside.height == 0:
            return []
        limit = self.defs.encephalopathy.capd_below_age.value(self.settings)
        grouped = aside.group_by("_p", maintain_order=True).agg(pl.col("patient_id").first(),
                                                               pl.col("f_age").first(), pl.col("day"))
        return [f"patient {pid} (age {age:g}): ICE set aside on {_days(list(days))}: children under {limit:g}"
                " are assessed with CAPD; record capd_score" for _, pid, age, days in grouped.iter_rows()]

    def grade_csv(self, path: str | Path) -> tuple[pl.DataFrame, list[str], int]:
        """The grades of a CSV file (`-`: standard input), its warnings and how many rows it had.
        Raises Unsupported when the reference path must grade it."""
        if str(path) == "-":
            raise Unsupported  # stdin can be read once: the reference reader takes it
        try:
            raw = Path(path).read_bytes()
        except OSError:
            raise Unsupported from None
        frame, warnings, rows = read_frame(raw, str(path))
        graded = self.grade_frame(frame)
        return graded, warnings + self.warnings, rows

    def grade_table(self, table: Any) -> pl.DataFrame:
        """A polars, pandas or Arrow table of observations (contract column names or their
        spellings, any column types) graded. Raises Unsupported like grade_csv."""
        text = as_polars(table).with_columns(pl.all().cast(pl.Utf8)).write_csv()
        typed, _, _ = read_frame(text.encode("utf-8"), "<table>")
        return self.grade_frame(typed)


def as_polars(table: Any) -> pl.DataFrame:
    """A polars, pandas or Arrow table as a polars DataFrame."""
    if isinstance(table, pl.DataFrame):
        return table
    return pl.from_pandas(table) if hasattr(table, "iloc") else pl.from_arrow(table)


def write_csv(graded: pl.DataFrame) -> str:
    """The same text as output.to_csv."""
    return graded.drop("readings").with_columns(pl.col("fever_waived").cast(pl.Utf8)).write_csv(
        line_terminator="\n", null_value="")
