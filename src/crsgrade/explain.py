"""Why a day has its grade: the rules that fired with the values that met them, the rules of
higher grade that did not and the values that stopped them, the grade each domain reached, and
the [open] settings involved. The JSON keeps fact names; `in_words` says the same in clinical
words for people."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from . import conditions as cond
from .facts import ALWAYS_KNOWN, ATTRIBUTION_FLAGS, SET_ASIDE, expected_absent
from .results import (
    ConditionNotMet,
    CriterionNotMet,
    DomainGrade,
    Explanation,
    FiredCriterion,
    SettingEffect,
    Unmet,
)
from .ruleset import Rule, RuleSet
from .syndromes import Syndrome

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
    if spec.type not in ("bool", "choice"):
        return False
    others = [not settings[name]] if spec.type == "bool" else [c for c in spec.choices if c != settings[name]]
    return any(
        cond.evaluate(cond.resolve(rule.condition, rule.named, {**settings, name: other}), fact) is not True
        for other in others
    )


def _unmet(tests: Iterable[cond.Test], fact: Mapping[str, Any]) -> tuple[Unmet, ...]:
    set_aside = fact.get(SET_ASIDE, {})
    needs: dict[str, list[str]] = {}
    for test in tests:
        needs.setdefault(test.field, []).append(_needs(test))
    # tests of one fact are ranges ("3 or more and 6 or less") or alternatives of an any ("1 or 0")
    return tuple(Unmet(fact=name, value=fact.get(name),
                       needs=(" or " if len(set(texts)) > 1 and all(t[:1].isalnum() and " " not in t for t in texts)
                              else " and ").join(dict.fromkeys(texts)),
                       set_aside=set_aside.get(name) if fact.get(name) is None else None)
                 for name, texts in needs.items())


def _shared_not_met(rule: Rule, settings: Mapping[str, Any], fact: Mapping[str, Any],
                    shared: dict[str, ConditionNotMet]) -> tuple[list[str], cond.Node | None]:
    """The named conditions of a rule that say once why they are not met (fever for CRS), and
    the rest of the rule's condition. Records each in `shared`."""
    items = rule.condition.items if isinstance(rule.condition, cond.All) else (rule.condition,)
    because, kept = [], []
    for item in items:
        if isinstance(item, cond.Ref) and item.name in rule.unmet_texts:
            node = cond.resolve(item, rule.named, settings)
            if cond.evaluate(node, fact) is False:
                because.append(item.name)
                shared.setdefault(item.name, ConditionNotMet(
                    name=item.name, text=rule.unmet_texts[item.name],
                    unmet=_unmet(cond.blocking_tests(node, fact), fact)))
                continue
        kept.append(item)
    if not because:
        return [], None
    return because, cond.resolve(cond.All(tuple(kept)), rule.named, settings) if kept else cond.Const(True)


def _domains(ruleset: RuleSet, resolved: Mapping[str, cond.Node], syndrome: Syndrome, fired: list[Rule],
             fact: Mapping[str, Any], absent_anyway: set[str]) -> tuple[DomainGrade, ...]:
    set_aside = fact.get(SET_ASIDE, {})
    domains = ruleset.manifest.domains.get(syndrome, {})

    def tested(domain: str) -> set[str]:
        return set().union(*(cond.fields_of(resolved[r.id]) for r in ruleset.rules
                             if r.syndrome == syndrome and r.domain == domain and r.id in resolved))

    facts = {key: tested(key) - set(ALWAYS_KNOWN) for key in domains}
    out = []
    for key, label in domains.items():
        hits = [rule.grade for rule in fired if rule.domain == key]
        if hits:
            out.append(DomainGrade(domain=key, label=label, grade=max(hits), state=f"grade {max(hits)}"))
            continue
        # a domain's own facts: ICE 0 "because unarousable" also tests consciousness, which is
        # the consciousness domain's
        names = facts[key] - set().union(*(v for k, v in facts.items() if k != key))
        aside = sorted(n for n in names if n in set_aside)
        if any(fact.get(name) is not None for name in names):
            state = "none"
        elif aside:
            state = f"set aside: {set_aside[aside[0]]}"
        elif names <= absent_anyway:
            state = "none recorded"
        else:
            state = "not recorded"
        out.append(DomainGrade(domain=key, label=label, grade=None, state=state))
    return tuple(out)


def explain(
    ruleset: RuleSet,
    resolved: Mapping[str, cond.Node],
    settings: Mapping[str, Any],
    syndrome: Syndrome,
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
    shared: dict[str, ConditionNotMet] = {}
    floor = -1 if grade is None else grade
    absent_anyway = expected_absent(fact, ruleset.definitions) | set(fact.get(SET_ASIDE, {}))
    for rule in sorted(ruleset.rules, key=lambda r: -r.grade):
        node = resolved.get(rule.id)
        if rule.syndrome != syndrome or rule.grade <= floor or rule.id in fired_ids or node is None:
            continue
        because, rest = _shared_not_met(rule, settings, fact, shared)
        if because:
            assert rest is not None  # the rest of the condition, when a shared one is not met
            if isinstance(rest, cond.Const) and not rest.value:
                continue  # switched off by a setting whatever the shared condition
            tests = [] if isinstance(rest, cond.Const) else cond.blocking_tests(rest, fact)
        else:
            tests = cond.blocking_tests(node, fact)
        unmet = _unmet(tests, fact)
        if unmet and all(u.value is None and u.fact in absent_anyway for u in unmet):
            continue  # blocked only by an event not recorded, the other assessment tool, or a fact set aside
        if unmet and all(u.fact in ATTRIBUTION_FLAGS and u.value is False for u in unmet):
            continue  # a rule for findings attributed elsewhere, and nothing was attributed
        not_met.append(CriterionNotMet(id=rule.id, grade=rule.grade, statement=rule.statement, unmet=unmet,
                                       because=tuple(because)))
    effects = {(name, effect) for owner, name, effect in derived_settings if owner == syndrome}
    top = [rule for rule in fired if grade is not None and rule.grade == grade]
    for rule in top:
        for name in rule.settings_used:
            if _decided_by(rule, name, ruleset, settings, fact):
                effects.add((name, f"{rule.id} fires only with {name} = {_word(settings[name])}"))
    return Explanation(
        fired=firing,
        not_met=tuple(not_met),
        settings=setting_effects(effects, settings),
        conditions_not_met=tuple(shared.values()),
        domains=_domains(ruleset, resolved, syndrome, fired, fact, absent_anyway),
    )


def setting_effects(effects: Iterable[tuple[str, str]], settings: Mapping[str, Any]) -> tuple[SettingEffect, ...]:
    """(setting, what it did) pairs as an explanation lists them: by name, then effect."""
    return tuple(SettingEffect(name=n, value=settings[n], effect=e) for n, e in sorted(set(effects)))


def _value_words(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value).replace("_", " ")


def _needs_words(unmet: Unmet, spec: cond.FactSpec | None) -> str:
    """What a rule needed, in words: "fever", "2 or more", "high flow"."""
    if spec is not None and spec.kind == "bool" and unmet.needs in ("yes", "no"):
        return spec.words[0] if unmet.needs == "yes" else spec.words[1]
    return unmet.needs.replace("_", " ")


def values_in_words(values: Mapping[str, Any], facts: Mapping[str, cond.FactSpec]) -> str:
    """The values a rule was met with, as a clinician reads them: "fever, fever waived,
    vasopressors 1"; attribution left at its default (not attributed) goes without saying."""
    words = []
    for name, value in values.items():
        spec = facts.get(name)
        if name in ATTRIBUTION_FLAGS and value is False:
            continue
        if spec is not None and spec.kind == "bool" and isinstance(value, bool):
            words.append(spec.words[0] if value else spec.words[1])
        else:
            words.append(f"{spec.label if spec is not None and spec.label else name} {_value_words(value)}")
    return ", ".join(words)


def in_words(unmet: Unmet, grade: int, facts: Mapping[str, cond.FactSpec]) -> str:
    """An unmet test as a clinician reads it: "vasopressors 0 (grade 3 needs 1 or more)",
    "no fever (grade 1 needs fever)", "ICE set aside (age 9: under 12 is assessed with CAPD)"."""
    spec = facts.get(unmet.fact)
    label = (spec.label if spec is not None and spec.label else unmet.fact)
    needs = f"grade {grade} needs {_needs_words(unmet, spec)}"
    if unmet.value is None:
        if unmet.set_aside:
            return f"{label} set aside ({unmet.set_aside})"
        return f"{label} not recorded ({needs})"
    if spec is not None and spec.kind == "bool" and isinstance(unmet.value, bool):
        return f"{spec.words[0] if unmet.value else spec.words[1]} ({needs})"
    return f"{label} {_value_words(unmet.value)} ({needs})"
