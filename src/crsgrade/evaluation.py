"""Distinct fact combinations: the rules run once per combination, not once per day.

A million patient-days hold a few thousand distinct combinations of what the rules test, once
each number is reduced to where it falls among the thresholds the rules compare it with (below,
at or between them). Each day gets an integer key packed from those codes — and from the few
things a grade's "could be higher" list depends on beyond them: which facts were set aside,
which derived facts are lower bounds or wait on one more input. Each distinct key is decoded back
into a fact with a representative value per number, run through the evaluator (durable-rules or
plain Python, the same resolved conditions), graded both with fever waived and not, and joined
back to its days. Nothing here is clinical: thresholds, facts and grades come from the rules.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from . import conditions as cond
from .columns import CONTRACT_COLUMNS
from .facts import (
    LOWER_BOUND_FACTS,
    NOT_ASSESSABLE,
    SET_ASIDE,
    SOURCE_COLUMNS,
    UNRECORDED_INPUTS,
    UNSETTLED_FACTS,
    complete,
    expected_absent,
)
from .ruleset import Rule, RuleSet
from .syndromes import SYNDROMES

_WORD = 1 << 62  # a packed key word stays below this


@dataclass(frozen=True)
class _Part:
    """One component of the key: the column it is coded from and how."""

    name: str  # a fact, or r.COLUMN / s.FACT / u.FACT / lb.FACT
    kind: str  # bool, text, number, flag, aside
    values: tuple[Any, ...] = ()  # text: the allowed values; number: the thresholds

    @property
    def size(self) -> int:
        if self.kind == "text":
            return len(self.values) + 2  # null, each value, anything else
        if self.kind == "number":
            return 2 * len(self.values) + 2  # null, below, at each, between or above
        return 2 if self.kind == "flag" else 3  # bool: null, false, true; aside: none, not assessable, other

    def code(self) -> pl.Expr:
        column = pl.col(self.name if "." in self.name else f"f.{self.name}")
        if self.kind == "bool":
            return pl.when(column.is_null()).then(0).when(column).then(2).otherwise(1)
        if self.kind == "flag":
            return column.is_not_null().cast(pl.Int64)
        if self.kind == "aside":
            return pl.when(column.is_null()).then(0).when(column == NOT_ASSESSABLE).then(1).otherwise(2)
        if self.kind == "text":
            index = column.replace_strict(list(self.values), list(range(1, len(self.values) + 1)),
                                          default=len(self.values) + 1, return_dtype=pl.Int64)
            return pl.when(column.is_null()).then(0).otherwise(index)
        rank = sum(((column > t).cast(pl.Int64) * 2 + (column == t).cast(pl.Int64) for t in self.values),
                   pl.lit(1, dtype=pl.Int64))
        return pl.when(column.is_null()).then(0).otherwise(rank)

    def value(self, code: int) -> Any:
        """A representative value of a code: any value with that code tests alike."""
        if code == 0:
            return None
        if self.kind == "bool":
            return code == 2
        if self.kind in ("flag", "aside"):
            return code
        if self.kind == "text":
            return self.values[code - 1] if code <= len(self.values) else "\0other"
        if code % 2 == 0:  # at a threshold
            return self.values[code // 2 - 1]
        below = (code - 1) // 2  # how many thresholds lie below the value
        if below == 0:
            return self.values[0] - 1 if self.values else 0
        if below == len(self.values):
            return self.values[-1] + 1
        return (self.values[below - 1] + self.values[below]) / 2


def _thresholds(nodes: Sequence[cond.Node]) -> dict[str, set[Any]]:
    found: dict[str, set[Any]] = {}

    def walk(node: cond.Node) -> None:
        if isinstance(node, cond.Test):
            found.setdefault(node.field, set()).update(node.value if node.op == "in" else (node.value,))
        elif isinstance(node, cond.All | cond.Any):
            for item in node.items:
                walk(item)

    for node in nodes:
        walk(node)
    return found


@dataclass(frozen=True)
class Outcome:
    """What the rules make of one combination: the rules that fired, and per syndrome the grade,
    the rules that set it, the columns whose absence could hide a higher grade, and the reason
    when there is no grade."""

    fired: tuple[str, ...]
    grade: Mapping[str, int | None]
    top: Mapping[str, tuple[str, ...]]
    not_recorded: Mapping[str, tuple[str, ...]]
    no_grade: Mapping[str, str | None]
    not_assessed: Mapping[str, bool]


@dataclass
class Outcomes:
    """Every outcome met so far, by number, so that days can carry a number and the texts be
    gathered per number."""

    items: list[Outcome] = field(default_factory=list)

    def add(self, outcome: Outcome) -> int:
        self.items.append(outcome)
        return len(self.items) - 1

    def series(self, what: str, syndrome: str) -> pl.Series:
        """One value per outcome number: grade (Int64) or rule ids / not recorded (text)."""
        if what == "grade":
            return pl.Series([o.grade[syndrome] for o in self.items], dtype=pl.Int64)
        if what == "top":
            return pl.Series([" ".join(o.top[syndrome]) or None for o in self.items], dtype=pl.String)
        return pl.Series([" ".join(o.not_recorded[syndrome]) or None for o in self.items], dtype=pl.String)


class Evaluation:
    """A rule set's resolved conditions and evaluator, applied to distinct combinations."""

    def __init__(self, ruleset: RuleSet, resolved: Mapping[str, cond.Node], evaluator: Any,
                 store: Path | None = None):
        """`store`: a compiled rule cache file (see compiled.py) to start from and keep to."""
        self.ruleset, self.resolved, self.evaluator = ruleset, resolved, evaluator
        self.rules = {rule.id: rule for rule in ruleset.rules}
        self.tests = {rule.id: cond.fields_of(node) for rule, node in
                      ((self.rules[i], n) for i, n in resolved.items())}
        self.compiled = {rule_id: cond.compile_node(node) for rule_id, node in resolved.items()}
        tested = sorted(set().union(*self.tests.values()) - {"fever_waived"}) if self.tests else []
        self.tested = (*tested, "fever_waived")
        # the facts each syndrome's rules test, for what its explanations depend on
        self.tested_by: dict[str, tuple[str, ...]] = {syndrome: tuple(sorted(set().union(*(
            fields for rule_id, fields in self.tests.items() if self.rules[rule_id].syndrome == syndrome))))
            for syndrome in SYNDROMES}
        self.waiver = ruleset.definitions.fever_waiver is not None
        thresholds = _thresholds(list(resolved.values()))
        facts = ruleset.facts
        parts = []
        for name in tested:
            spec = facts[name]
            if spec.kind == "number":
                parts.append(_Part(name, "number", tuple(sorted(thresholds.get(name, ())))))
            elif spec.kind == "text":
                parts.append(_Part(name, "text", spec.values))
            else:
                parts.append(_Part(name, "bool"))
        definitions = ruleset.definitions
        aside = set(definitions.not_assessable.sets_aside if definitions.not_assessable else ()) | {"ice_total"}
        parts += [_Part(f"s.{name}", "aside") for name in tested if name in aside]
        parts += [_Part(f"u.{name}", "flag") for name in tested if name in UNSETTLED_FACTS]
        parts += [_Part(f"lb.{name}", "bool") for name in tested if name in LOWER_BOUND_FACTS]
        self.parts = parts
        self.words: list[list[_Part]] = [[]]
        product = 1
        for part in parts:
            if product * part.size >= _WORD:
                self.words.append([])
                product = 1
            self.words[-1].append(part)
            product *= part.size
        self.outcomes = Outcomes()
        self._cache: dict[tuple[int, ...], tuple[int, int]] = {}
        from .compiled import Stored, load

        self.store = store
        # the cache file's outcomes, by their numbers there (none without a file)
        self._stored: Stored = load(store) if store is not None else Stored()
        self._numbered: dict[int, int] = {}  # a stored outcome's number there, to its number here
        self._new = 0  # combinations evaluated since the cache file was written

    def keep(self) -> None:
        """Writes the outcomes met so far to the cache file, with those it held, when there are
        new ones."""
        if self.store is not None and self._new:
            from .compiled import save

            for key in self._stored.table.keys() - self._cache.keys():
                self._from_store(key)
            save(self.store, self.outcomes.items, self._cache)
            self._new = 0

    def _from_store(self, key: tuple[int, ...]) -> tuple[int, int] | None:
        """A combination's outcome numbers, taken from the cache file when it holds them."""
        if key not in self._stored.table:
            return None
        numbers = []
        for number in self._stored.table[key]:
            if number not in self._numbered:
                self._numbered[number] = self.outcomes.add(self._stored.outcome(number))
            numbers.append(self._numbered[number])
        found = self._cache[key] = (numbers[0], numbers[1])
        return found

    def _present(self, frame: pl.DataFrame) -> pl.DataFrame:
        """The columns the parts read, added empty where the frame has none."""
        names = [p.name if "." in p.name else f"f.{p.name}" for p in self.parts]
        missing = [n for n in names if n not in frame.columns]
        return frame.with_columns([pl.lit(None, dtype=pl.Boolean if n.startswith("lb.") else pl.String).alias(n)
                                   for n in missing])

    def keys(self, frame: pl.DataFrame) -> pl.DataFrame:
        """The frame with `_k0`, `_k1`, ...: each day's combination, packed."""
        if not hasattr(self, "_packed"):
            self._packed = []
            for number, word in enumerate(self.words):
                expr = pl.lit(0, dtype=pl.Int64)
                for part in word:
                    expr = expr * part.size + part.code()
                self._packed.append(expr.alias(f"_k{number}"))
        return frame.with_columns(self._present(frame).select(self._packed))

    def _decode(self, key: tuple[int, ...]) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for word, packed in zip(self.words, key, strict=False):
            for part in reversed(word):
                packed, code = divmod(packed, part.size)
                values[part.name] = part.value(code)
        fact = {name: value for name, value in values.items() if "." not in name and value is not None}
        aside = {name[2:]: (NOT_ASSESSABLE if code == 1 else "set aside")
                 for name, code in values.items() if name.startswith("s.") and code}
        if aside:
            fact[SET_ASIDE] = aside
        unrecorded = {name[2:]: "vasopressor_hours" for name, code in values.items() if name.startswith("u.") and code}
        if unrecorded:
            fact[UNRECORDED_INPUTS] = unrecorded
        fact["_lower_bounds"] = {name[3:] for name, value in values.items() if name.startswith("lb.") and value}
        return fact

    def outcome_numbers(self, frame: pl.DataFrame) -> pl.DataFrame:
        """For each day (the frame holds `_k*`): `_o_nw` and `_o_w`, the numbers of its outcome
        with fever not waived and waived, and `g_nw`, `g_w`, the CRS grades of each."""
        keys = [f"_k{n}" for n in range(len(self.words))]
        new = frame.select(keys).unique()
        rows = []
        for key in new.iter_rows():
            if key not in self._cache and self._from_store(key) is None:
                fact = self._decode(key)
                not_waived = self.outcomes.add(self.outcome({**fact, "fever_waived": False}))
                waived = self.outcomes.add(self.outcome({**fact, "fever_waived": True})) \
                    if self.waiver else not_waived
                self._cache[key] = (not_waived, waived)
                self._new += 1
            rows.append(self._cache[key])
        lookup = new.with_columns(pl.Series("_o_nw", [r[0] for r in rows], dtype=pl.UInt32),
                                  pl.Series("_o_w", [r[1] for r in rows], dtype=pl.UInt32))
        numbered = frame.join(lookup, on=keys, how="left", maintain_order="left")
        crs = self.outcomes.series("grade", "crs")
        return numbered.with_columns(crs.gather(numbered["_o_nw"]).alias("g_nw"),
                                     crs.gather(numbered["_o_w"]).alias("g_w"))

    def outcome(self, fact: dict[str, Any]) -> Outcome:
        """The rules that fire on a fact, and what they make of each syndrome."""
        evaluated = complete({k: v for k, v in fact.items() if not k.startswith("_")})
        full = {**evaluated, **{k: v for k, v in fact.items() if k.startswith("_")}}
        fired = [self.rules[rule_id] for rule_id in self.evaluator.fired(evaluated)]
        truths = {rule_id: test(full) for rule_id, test in self.compiled.items()}
        grade: dict[str, int | None] = {}
        top: dict[str, tuple[str, ...]] = {}
        missing: dict[str, tuple[str, ...]] = {}
        no_grade: dict[str, str | None] = {}
        not_assessed: dict[str, bool] = {}
        for syndrome in SYNDROMES:
            mine = sorted((r for r in fired if r.syndrome == syndrome), key=lambda r: -r.grade)
            not_assessed[syndrome] = self._not_assessed(syndrome, full)
            if syndrome not in self.ruleset.syndromes:
                grade[syndrome], top[syndrome], missing[syndrome] = None, (), ()
                labels = " and ".join(self.ruleset.label(s) for s in self.ruleset.syndromes)
                no_grade[syndrome] = f"not graded: {self.ruleset.manifest.name} grades {labels} only"
                continue
            if not mine:
                grade[syndrome], top[syndrome] = None, ()
                missing[syndrome] = self._unrecorded(syndrome, full, truths, lambda r: r.grade > 0)
                no_grade[syndrome] = NOT_ASSESSABLE if not_assessed[syndrome] else self._not_gradable(
                    syndrome, full, truths)
                continue
            best = mine[0].grade
            grade[syndrome] = best
            top[syndrome] = tuple(r.id for r in mine if r.grade == best)
            missing[syndrome] = self._unrecorded(syndrome, full, truths, lambda r, best=best: r.grade > best)
            no_grade[syndrome] = None
        ordered = tuple(r.id for r in sorted(fired, key=lambda r: -r.grade))
        return Outcome(ordered, grade, top, missing, no_grade, not_assessed)

    def _not_assessed(self, syndrome: str, fact: Mapping[str, Any]) -> bool:
        """Whether facts this syndrome's rules test were set aside as not assessable."""
        aside = {name for name, why in fact.get(SET_ASIDE, {}).items() if why == NOT_ASSESSABLE}
        return bool(aside) and any(aside & self.tests[rule_id] for rule_id in self.tests
                                   if self.rules[rule_id].syndrome == syndrome)

    def _unrecorded(self, syndrome: str, fact: Mapping[str, Any], truths: Mapping[str, bool | None],
                    considered: Any) -> tuple[str, ...]:
        """The input columns, left empty, on which a considered rule of the syndrome was waiting:
        rules whose condition is unknown rather than false, or false only because a derived fact
        is a lower bound (a nasal cannula with no flow). Event findings (seizure, edema, ...) are
        recorded only when they happen, a day assessed with one encephalopathy tool does not
        expect the other, and facts set aside (not assessable, ICE in a child) are not missing,
        so those empty cells are not listed."""
        definitions = self.ruleset.definitions
        absent_anyway = expected_absent(fact, definitions) | set(fact.get(SET_ASIDE, {}))
        bounds = {name: "o2_flow_lpm" for name in fact.get("_lower_bounds", ())}
        inputs = {**SOURCE_COLUMNS, **fact.get(UNRECORDED_INPUTS, {})}
        columns: set[str] = set()
        for rule_id, truth in truths.items():
            rule = self.rules[rule_id]
            if rule.syndrome != syndrome or not considered(rule):
                continue
            if truth is None:
                columns |= {inputs.get(name, name) for name in self.tests[rule_id] - absent_anyway
                            if fact.get(name) is None}
            elif truth is False:
                for name, column in bounds.items():
                    if name in self.tests[rule_id]:
                        unbounded = {k: v for k, v in fact.items() if k != name}
                        if self.compiled[rule_id](unbounded) is None:
                            columns.add(column)
        return tuple(c for c in CONTRACT_COLUMNS if c in columns)

    def _not_gradable(self, syndrome: str, fact: Mapping[str, Any], truths: Mapping[str, bool | None]) -> str:
        """Why a day has no grade: the unrecorded values that a grade-0 rule would have needed."""
        missing = self._unrecorded(syndrome, fact, truths, lambda rule: rule.grade == 0)
        if not missing:
            return "not gradable from what was recorded"
        return f"not gradable: {', '.join(missing)} not recorded"

    def rules_of(self, number: int, syndrome: str | None = None) -> list[Rule]:
        """The rules that fired for an outcome, highest grade first."""
        rules = [self.rules[rule_id] for rule_id in self.outcomes.items[number].fired]
        return [r for r in rules if syndrome is None or r.syndrome == syndrome]
