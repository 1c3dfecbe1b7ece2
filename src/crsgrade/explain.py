"""Why a day has its grade: the rules that fired with the values that met them, the rules of
higher grade that did not and the values that stopped them, and the [open] settings involved."""

from __future__ import annotations

from typing import Any, Iterable, Mapping

from . import conditions as cond
from .facts import expected_absent
from .results import CriterionNotMet, Explanation, FiredCriterion, SettingEffect, Unmet
from .ruleset import Rule, RuleSet

_NEEDS = {
    "eq": "{}", "ne": "not {}", "lt": "below {}", "lte": "{} or less", "gt": "above {}",
    "gte": "{} or more",
}


def _word(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _needs(test: cond.Test) -> str:
    if test.op == "in":
        return "one of " + ", ".join(_word(v) for v in test.value)
    return _NEEDS[test.op].format(_word(test.value))


def _decided_by(rule: Rule, name: str, ruleset: RuleSet, settings: Mapping[str, Any],
               fact: Mapping[str, Any]) -> bool:
    """Whether the rule would not fire had the setting another value."""
    spec = ruleset.manifest.settings[name]
    others = [not settings[name]] if spec.type == "bool" else [c for c in spec.choices if c != settings[name]]
    return any(
        cond.evaluate(cond.resolve(rule.condition, rule.named, {**settings, name: other}), fact) is not True
        for other in others
    )


def explain(
    ruleset: RuleSet,
    resolved: Mapping[str, cond.Node],
    settings: Mapping[str, Any],
    syndrome: str,
    grade: int | None,
    fact: Mapping[str, Any],
    fired: Iterable[Rule],
    derived_settings: Iterable[tuple[str, str, str]],
) -> Explanation:
    fired = [rule for rule in fired if rule.syndrome == syndrome]
    fired_ids = {rule.id for rule in fired}
    firing = tuple(
        FiredCriterion(
            id=rule.id, grade=rule.grade, statement=rule.statement,
            citation=ruleset.cite(rule.citation), evidence=rule.evidence,
            values={name: fact[name] for name in sorted(cond.fields_of(resolved[rule.id]))
                    if fact.get(name) is not None},
        )
        for rule in sorted(fired, key=lambda r: -r.grade)
    )
    not_met = []
    floor = -1 if grade is None else grade
    absent_anyway = expected_absent(fact, ruleset.definitions)
    for rule in sorted(ruleset.rules, key=lambda r: -r.grade):
        node = resolved.get(rule.id)
        if rule.syndrome != syndrome or rule.grade <= floor or rule.id in fired_ids or node is None:
            continue
        needs: dict[str, list[str]] = {}
        for test in cond.blocking_tests(node, fact):
            needs.setdefault(test.field, []).append(_needs(test))
        if all(fact.get(name) is None and name in absent_anyway for name in needs):
            continue  # blocked only by an event not recorded or the other assessment tool
        unmet = tuple(Unmet(fact=name, value=fact.get(name), needs=" and ".join(dict.fromkeys(texts)))
                      for name, texts in needs.items())
        not_met.append(CriterionNotMet(id=rule.id, grade=rule.grade, statement=rule.statement, unmet=unmet))
    effects = {(name, effect) for owner, name, effect in derived_settings if owner == syndrome}
    top = [rule for rule in fired if grade is not None and rule.grade == grade]
    for rule in top:
        for name in rule.settings_used:
            if _decided_by(rule, name, ruleset, settings, fact):
                effects.add((name, f"{rule.id} fires only with {name} = {_word(settings[name])}"))
    return Explanation(
        fired=firing,
        not_met=tuple(not_met),
        settings=tuple(SettingEffect(name=n, value=settings[n], effect=e) for n, e in sorted(effects)),
    )
