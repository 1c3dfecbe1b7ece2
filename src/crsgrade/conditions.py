"""The condition language of the rule files, and its two evaluators.

A condition is plain data, so a rule file never executes code:

    all: [c, ...]        every condition holds        any: [c, ...]   at least one holds
    not: c               c is known to be false       ref: name       a named condition of the file
    setting: name        a bool setting is true       setting: name, is: value   a choice setting
    field: value         the fact equals value        field: {op: value, ...}    op is one of
                                                      eq ne lt lte gt gte in

An unrecorded fact makes a test unknown, never true or false; a rule fires only when its
condition is known to be true. `not` is pushed down to the tests at load time (not gte becomes
lt, and both need the fact recorded), and settings are folded into constants, so what reaches an
evaluator is only all/any over field tests. `to_durable` turns that into durable-rules' JSON
conditions; `evaluate` is the same logic in Python for where durable-rules cannot run.

Conditions are bounded so that no rule file can make loading or grading run away: a condition
nests at most MAX_DEPTH levels (all, any, not and ref each count one, named conditions
expanded) and holds at most MAX_TESTS tests once its named conditions are expanded.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any as AnyValue

from .suggestions import did_you_mean as _closest

OPERATORS = ("eq", "ne", "lt", "lte", "gt", "gte", "in")
_ORDERING = ("lt", "lte", "gt", "gte")
_NEGATED = {"eq": "ne", "ne": "eq", "lt": "gte", "lte": "gt", "gt": "lte", "gte": "lt"}
_DURABLE = {"ne": "$neq", "lt": "$lt", "lte": "$lte", "gt": "$gt", "gte": "$gte"}
MAX_DEPTH = 100
# The shipped rules hold fewer than 10; durable-rules hangs building an `any` of more than 512.
MAX_TESTS = 500
TOO_DEEP = f"conditions nest more than {MAX_DEPTH} levels deep (all, any, not and ref each count one)"
TOO_MANY = (f"more than {MAX_TESTS} tests once named conditions are expanded"
            " (a ref counts the tests of its condition every time)")


class ConditionError(ValueError):
    """A condition is malformed; the message says where and what is allowed."""


class _TooDeep(Exception):
    """Raised deep inside a condition and reported at its top, so the message stays short."""


@dataclass(frozen=True)
class FactSpec:
    """What the rules may test about one fact: its kind and, for text, the allowed values; and
    how an explanation names it in clinical words (`label`; for a bool, the phrases for yes
    and no)."""

    kind: str  # "bool", "number" or "text"
    values: tuple[str, ...] = ()
    description: str = ""
    label: str = ""
    words: tuple[str, str] = ("", "")


@dataclass(frozen=True)
class SettingSpec:
    kind: str  # "bool", "choice" or "number"
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class Test:
    field: str
    op: str
    value: AnyValue


@dataclass(frozen=True)
class All:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Any:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    item: Node


@dataclass(frozen=True)
class Ref:
    name: str


@dataclass(frozen=True)
class SettingTest:
    name: str
    value: AnyValue


@dataclass(frozen=True)
class Const:
    value: bool


Node = Test | All | Any | Not | Ref | SettingTest | Const


class Parser:
    """Parses raw YAML data into condition nodes, checking fields, operators and values."""

    def __init__(
        self,
        facts: Mapping[str, FactSpec],
        settings: Mapping[str, SettingSpec],
        refs: set[str],
    ):
        self.facts = facts
        self.settings = settings
        self.refs = refs

    def parse(self, raw: AnyValue, where: str = "when") -> Node:
        try:
            return self._node(raw, where, 1)
        except _TooDeep:
            raise ConditionError(f"{where}: {TOO_DEEP}") from None

    def _node(self, raw: AnyValue, where: str, depth: int) -> Node:
        if depth > MAX_DEPTH:
            raise _TooDeep
        if not isinstance(raw, dict) or not raw:
            raise ConditionError(f"{where}: a condition must be a mapping, got {raw!r}")
        keys = set(raw)
        if keys <= {"setting", "is"} and "setting" in keys:
            return self._setting(raw, where)
        if len(raw) != 1:
            raise ConditionError(
                f"{where}: a condition has exactly one key (all, any, not, ref, setting or a fact),"
                f" got {sorted(map(str, raw))}; combine tests with all:"
            )
        key, value = next(iter(raw.items()))
        if key in ("all", "any"):
            if not isinstance(value, list) or not value:
                raise ConditionError(f"{where}.{key}: expected a non-empty list of conditions")
            items = tuple(self._node(item, f"{where}.{key}[{i}]", depth + 1) for i, item in enumerate(value))
            return All(items) if key == "all" else Any(items)
        if key == "not":
            return Not(self._node(value, f"{where}.not", depth + 1))
        if key == "ref":
            if not isinstance(value, str) or value not in self.refs:
                raise ConditionError(
                    f"{where}: unknown named condition '{value}'{_closest(str(value), self.refs)}"
                )
            return Ref(value)
        return self._field(key, value, where)

    def _setting(self, raw: dict[str, AnyValue], where: str) -> Node:
        name = raw["setting"]
        spec = self.settings.get(name) if isinstance(name, str) else None
        if spec is None:
            raise ConditionError(
                f"{where}: unknown setting '{name}'{_closest(str(name), self.settings)}"
            )
        if spec.kind == "bool":
            if "is" in raw and not isinstance(raw["is"], bool):
                raise ConditionError(f"{where}: setting '{name}' is true or false")
            return SettingTest(name, raw.get("is", True))
        if spec.kind == "choice":
            if raw.get("is") not in spec.choices:
                raise ConditionError(
                    f"{where}: setting '{name}' needs 'is:' one of {', '.join(spec.choices)}"
                )
            return SettingTest(name, raw["is"])
        raise ConditionError(f"{where}: number setting '{name}' cannot be tested in a condition")

    def _field(self, name: str, value: AnyValue, where: str) -> Node:
        spec = self.facts.get(name)
        if spec is None:
            raise ConditionError(
                f"{where}: unknown fact '{name}'{_closest(str(name), self.facts)}"
                f"; known facts: {', '.join(sorted(self.facts))}"
            )
        if not isinstance(value, dict):
            return self._test(name, spec, "eq", value, where)
        if not value:
            raise ConditionError(f"{where}.{name}: no operator given; use one of {', '.join(OPERATORS)}")
        tests = tuple(self._test(name, spec, op, v, where) for op, v in value.items())
        return tests[0] if len(tests) == 1 else All(tests)

    def _test(self, name: str, spec: FactSpec, op: str, value: AnyValue, where: str) -> Test:
        here = f"{where}.{name}"
        if op not in OPERATORS:
            raise ConditionError(
                f"{here}: unknown operator '{op}'{_closest(str(op), OPERATORS)};"
                f" allowed: {', '.join(OPERATORS)}"
            )
        if op in _ORDERING and spec.kind != "number":
            raise ConditionError(f"{here}: '{op}' compares numbers, but '{name}' is {spec.kind}")
        if op == "in":
            if not isinstance(value, list) or not value:
                raise ConditionError(f"{here}: 'in' takes a non-empty list")
            return Test(name, "in", tuple(self._value(name, spec, v, here) for v in value))
        return Test(name, op, self._value(name, spec, value, here))

    @staticmethod
    def _value(name: str, spec: FactSpec, value: AnyValue, here: str) -> AnyValue:
        if spec.kind == "bool":
            if not isinstance(value, bool):
                raise ConditionError(f"{here}: '{name}' is true or false, got {value!r}")
        elif spec.kind == "number":
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ConditionError(f"{here}: '{name}' is a number, got {value!r}")
        elif value not in spec.values:
            raise ConditionError(
                f"{here}: '{name}' cannot be {value!r}{_closest(str(value), spec.values)};"
                f" allowed: {', '.join(spec.values)}"
            )
        return value


def extent(node: Node, named: Mapping[str, tuple[int, int]]) -> tuple[int, int]:
    """How deep a condition nests and how many tests it holds with its refs expanded, given
    those of the named conditions it refers to: what MAX_DEPTH and MAX_TESTS bound."""
    if isinstance(node, Ref):
        depth, tests = named[node.name]
        return depth + 1, tests
    if isinstance(node, Not):
        depth, tests = extent(node.item, named)
        return depth + 1, tests
    if isinstance(node, All | Any):
        parts = [extent(item, named) for item in node.items]
        return 1 + max(depth for depth, _ in parts), sum(tests for _, tests in parts)
    if isinstance(node, Test):
        return 1, len(node.value) if node.op == "in" else 1
    return 1, 1  # a setting test, folded away by resolution but walked before it


def refs_of(node: Node) -> list[str]:
    """The named conditions a condition refers to directly."""
    if isinstance(node, Ref):
        return [node.name]
    if isinstance(node, Not):
        return refs_of(node.item)
    if isinstance(node, All | Any):
        return [name for item in node.items for name in refs_of(item)]
    return []


def resolve(
    node: Node,
    named: Mapping[str, Node],
    settings: Mapping[str, AnyValue],
    negate: bool = False,
    memo: dict[tuple[str, bool], Node] | None = None,
) -> Node:
    """Expands refs, folds settings into constants and pushes `not` down to the tests. Each
    named condition is resolved once per polarity (`memo`): conditions that refer to others
    several times would otherwise cost time exponential in the length of the chain."""
    memo = {} if memo is None else memo
    if isinstance(node, Ref):
        key = (node.name, negate)
        if key not in memo:
            memo[key] = resolve(named[node.name], named, settings, negate, memo)
        return memo[key]
    if isinstance(node, Not):
        return resolve(node.item, named, settings, not negate, memo)
    if isinstance(node, SettingTest):
        return Const((settings[node.name] == node.value) != negate)
    if isinstance(node, Const):
        return Const(node.value != negate)
    if isinstance(node, Test):
        if not negate:
            return node
        if node.op == "in":
            return All(tuple(Test(node.field, "ne", v) for v in node.value))
        return Test(node.field, _NEGATED[node.op], node.value)
    conjunctive = isinstance(node, All) != negate
    items = [resolve(item, named, settings, negate, memo) for item in node.items]
    return _simplify(conjunctive, items)


def _simplify(conjunctive: bool, items: list[Node]) -> Node:
    absorbing = not conjunctive  # False ends an all, True ends an any
    kept: list[Node] = []
    for item in items:
        if isinstance(item, Const):
            if item.value == absorbing:
                return Const(absorbing)
            continue
        kept.append(item)
    if not kept:
        return Const(conjunctive)
    if len(kept) == 1:
        return kept[0]
    return All(tuple(kept)) if conjunctive else Any(tuple(kept))


def to_durable(node: Node) -> dict[str, AnyValue]:
    """durable-rules' JSON form of a resolved condition."""
    if isinstance(node, Test):
        if node.op == "eq":
            return {node.field: node.value}
        if node.op == "in":
            return {"$or": [{node.field: v} for v in node.value]}
        return {_DURABLE[node.op]: {node.field: node.value}}
    if isinstance(node, All | Any):
        return {"$and" if isinstance(node, All) else "$or": [to_durable(i) for i in node.items]}
    raise TypeError(f"not a resolved condition: {node!r}")


def evaluate(node: Node, fact: Mapping[str, AnyValue]) -> bool | None:
    """Three-valued truth of a resolved condition: None when an unrecorded fact decides it."""
    if isinstance(node, Test):
        value = fact.get(node.field)
        if value is None:
            return None
        if node.op == "eq":
            return bool(value == node.value)
        if node.op == "ne":
            return bool(value != node.value)
        if node.op == "in":
            return bool(value in node.value)
        if node.op == "lt":
            return bool(value < node.value)
        if node.op == "lte":
            return bool(value <= node.value)
        if node.op == "gt":
            return bool(value > node.value)
        return bool(value >= node.value)
    if isinstance(node, Const):
        return node.value
    if not isinstance(node, All | Any):
        raise TypeError(f"not a resolved condition: {node!r}")
    results = [evaluate(item, fact) for item in node.items]
    if isinstance(node, All):
        if False in results:
            return False
        return None if None in results else True
    if True in results:
        return True
    return None if None in results else False


Compiled = Callable[[Mapping[str, AnyValue]], "bool | None"]


def compile_node(node: Node) -> Compiled:
    """`evaluate` for one resolved condition, as a closure built once: the same three-valued
    logic, without walking the tree for every fact."""
    if isinstance(node, Const):
        value = node.value
        return lambda fact: value
    if isinstance(node, Test):
        name, target = node.field, node.value
        compare: Callable[[AnyValue], bool] = {
            "eq": lambda v: v == target, "ne": lambda v: v != target, "in": lambda v: v in target,
            "lt": lambda v: v < target, "lte": lambda v: v <= target, "gt": lambda v: v > target,
            "gte": lambda v: v >= target}[node.op]

        def test(fact: Mapping[str, AnyValue]) -> bool | None:
            value = fact.get(name)
            return None if value is None else compare(value)
        return test
    if not isinstance(node, All | Any):
        raise TypeError(f"not a resolved condition: {node!r}")
    items = [compile_node(item) for item in node.items]
    decisive = not isinstance(node, All)  # one false item decides `all`, one true item `any`

    def combined(fact: Mapping[str, AnyValue]) -> bool | None:
        unknown = False
        for item in items:
            result = item(fact)
            if result is decisive:
                return decisive
            unknown = unknown or result is None
        return None if unknown else not decisive
    return combined


_FIELDS: dict[int, tuple[Node, frozenset[str]]] = {}


def fields_of(node: Node) -> frozenset[str]:
    """The facts a resolved condition tests (remembered per node: rules are tested often)."""
    found = _FIELDS.get(id(node))
    if found is not None and found[0] is node:
        return found[1]
    fields = frozenset(_fields_of(node))
    if isinstance(node, All | Any):
        _FIELDS[id(node)] = (node, fields)
    return fields


def _fields_of(node: Node) -> set[str]:
    """The facts a resolved condition tests."""
    if isinstance(node, Test):
        return {node.field}
    if isinstance(node, All | Any):
        return set().union(*(fields_of(item) for item in node.items))
    return set()


def settings_of(node: Node, named: Mapping[str, Node]) -> set[str]:
    """The settings an unresolved condition depends on (the [open] choices it rests on)."""
    if isinstance(node, SettingTest):
        return {node.name}
    if isinstance(node, Ref):
        return settings_of(named[node.name], named)
    if isinstance(node, Not):
        return settings_of(node.item, named)
    if isinstance(node, All | Any):
        return set().union(*(settings_of(item, named) for item in node.items))
    return set()


def blocking_tests(node: Node, fact: Mapping[str, AnyValue]) -> list[Test]:
    """The tests that keep a resolved condition from being true: the false or unknown tests of
    an `all`, and those of every branch of an `any`. Empty when the condition holds."""
    if evaluate(node, fact) is True:
        return []
    if isinstance(node, Test):
        return [node]
    if isinstance(node, All | Any):
        return [test for item in node.items for test in blocking_tests(item, fact)]
    return []
