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
from .syndromes import SYNDROMES, Syndrome

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


class Explainer:
    """Says why a grader's days have their grades. What depends only on the rule set and its
    settings (the rules of each syndrome in order of grade, their named conditions resolved, the
    facts of each domain) is worked out once, not for each explanation."""

    def __init__(self, ruleset: RuleSet, resolved: Mapping[str, cond.Node], settings: Mapping[str, Any]):
        self.ruleset, self.resolved, self.settings = ruleset, resolved, settings
        ordered = sorted(ruleset.rules, key=lambda r: -r.grade)
        self._rules = {s: [r for r in ordered if r.syndrome == s and r.id in resolved] for s in SYNDROMES}
        self._values = {rule_id: sorted(cond.fields_of(node)) for rule_id, node in resolved.items()}
        self._conditions: dict[tuple[str, str], cond.Node] = {}  # a rule's named condition, resolved
        self._rests: dict[tuple[str, tuple[str, ...]], cond.Node] = {}  # the rest of a rule's, resolved
        self._domains = {s: self._domain_facts(s) for s in SYNDROMES}

    def _domain_facts(self, syndrome: Syndrome) -> dict[str, tuple[str, frozenset[str]]]:
        """Each domain's label and own facts: those its rules test that no other domain's do
        (ICE 0 "because unarousable" also tests consciousness, which is the consciousness
        domain's)."""
        domains = self.ruleset.manifest.domains.get(syndrome, {})
        facts = {key: frozenset().union(*(cond.fields_of(self.resolved[r.id]) for r in self._rules[syndrome]
                                          if r.domain == key)) - set(ALWAYS_KNOWN) for key in domains}
        return {key: (label, facts[key] - frozenset().union(*(v for k, v in facts.items() if k != key)))
                for key, label in domains.items()}

    def explain(self, syndrome: Syndrome, grade: int | None, fact: Mapping[str, Any],
                fired: Iterable[Rule]) -> Explanation:
        """A day's explanation of a syndrome from its facts and the rules that fired."""
        settings = self.settings
        fired = [rule for rule in fired if rule.syndrome == syndrome]
        fired_ids = {rule.id for rule in fired}
        firing = tuple(
            FiredCriterion(
                id=rule.id, grade=rule.grade, statement=rule.statement,
                citation=self.ruleset.cite(rule.citation), evidence=rule.evidence,
                values={name: fact[name] for name in self._values[rule.id] if fact.get(name) is not None},
            )
            for rule in sorted(fired, key=lambda r: -r.grade)
        )
        not_met = []
        shared: dict[str, ConditionNotMet] = {}
        floor = -1 if grade is None else grade
        absent_anyway = expected_absent(fact, self.ruleset.definitions) | set(fact.get(SET_ASIDE, {}))
        for rule in self._rules[syndrome]:
            if rule.grade <= floor or rule.id in fired_ids:
                continue
            because, rest = self._shared_not_met(rule, fact, shared)
            if because:
                assert rest is not None  # the rest of the condition, when a shared one is not met
                if isinstance(rest, cond.Const) and not rest.value:
                    continue  # switched off by a setting whatever the shared condition
                tests = [] if isinstance(rest, cond.Const) else cond.blocking_tests(rest, fact)
            else:
                tests = cond.blocking_tests(self.resolved[rule.id], fact)
            unmet = _unmet(tests, fact)
            if unmet and all(u.value is None and u.fact in absent_anyway for u in unmet):
                continue  # blocked only by an event not recorded, the other assessment tool, or a fact set aside
            if unmet and all(u.fact in ATTRIBUTION_FLAGS and u.value is False for u in unmet):
                continue  # a rule for findings attributed elsewhere, and nothing was attributed
            not_met.append(CriterionNotMet(id=rule.id, grade=rule.grade, statement=rule.statement, unmet=unmet,
                                           because=tuple(because)))
        effects = set()
        for rule in fired:
            if grade is not None and rule.grade == grade:
                for name in rule.settings_used:
                    if _decided_by(rule, name, self.ruleset, settings, fact):
                        effects.add((name, f"{rule.id} fires only with {name} = {_word(settings[name])}"))
        return Explanation(
            fired=firing,
            not_met=tuple(not_met),
            settings=setting_effects(effects, settings),
            conditions_not_met=tuple(shared.values()),
            domains=self._domain_grades(syndrome, fired, fact, absent_anyway),
        )

    def _shared_not_met(self, rule: Rule, fact: Mapping[str, Any],
                        shared: dict[str, ConditionNotMet]) -> tuple[list[str], cond.Node | None]:
        """The named conditions of a rule that say once why they are not met (fever for CRS), and
        the rest of the rule's condition. Records each in `shared`."""
        items = rule.condition.items if isinstance(rule.condition, cond.All) else (rule.condition,)
        because, kept = [], []
        for item in items:
            if isinstance(item, cond.Ref) and item.name in rule.unmet_texts:
                node = self._conditions.get((rule.id, item.name))
                if node is None:
                    node = self._conditions[(rule.id, item.name)] = cond.resolve(item, rule.named, self.settings)
                if cond.evaluate(node, fact) is False:
                    because.append(item.name)
                    shared.setdefault(item.name, ConditionNotMet(
                        name=item.name, text=rule.unmet_texts[item.name],
                        unmet=_unmet(cond.blocking_tests(node, fact), fact)))
                    continue
            kept.append(item)
        if not because:
            return [], None
        rest = self._rests.get((rule.id, tuple(because)))
        if rest is None:
            rest = self._rests[(rule.id, tuple(because))] = cond.resolve(
                cond.All(tuple(kept)), rule.named, self.settings) if kept else cond.Const(True)
        return because, rest

    def _domain_grades(self, syndrome: Syndrome, fired: list[Rule], fact: Mapping[str, Any],
                       absent_anyway: set[str]) -> tuple[DomainGrade, ...]:
        set_aside = fact.get(SET_ASIDE, {})
        out = []
        for key, (label, names) in self._domains[syndrome].items():
            hits = [rule.grade for rule in fired if rule.domain == key]
            if hits:
                out.append(DomainGrade(domain=key, label=label, grade=max(hits), state=f"grade {max(hits)}"))
                continue
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
