"""Every rule carries its citation, statement, rationale and examples, and its own examples pass
on every engine (the sqlfluff / semgrep-rules pattern: examples live beside the rule)."""

from __future__ import annotations

import pytest

from crsgrade import load_ruleset
from crsgrade.conditions import settings_of
from crsgrade.facts import complete

from .conftest import ENGINES, grader_for

RULESET = load_ruleset()
CASES = [
    pytest.param(rule, kind, index, example, engine,
                 id=f"{rule.id}-{kind}-{index}-{engine}")
    for rule in RULESET.rules
    for kind in ("matches", "does_not_match")
    for index, example in enumerate(getattr(rule.examples, kind))
    for engine in ENGINES
]


@pytest.mark.parametrize("rule, kind, index, example, engine", CASES)
def test_rule_examples(rule, kind, index, example, engine):
    fired = {r.id for r in grader_for(engine).fired(complete(example))}
    if kind == "matches":
        assert rule.id in fired, f"{rule.id} should fire on {example}"
    else:
        assert rule.id not in fired, f"{rule.id} should not fire on {example}"


@pytest.mark.parametrize("rule", RULESET.rules, ids=lambda r: r.id)
def test_rule_is_documented(rule):
    assert rule.citation.ref in RULESET.manifest.references
    assert rule.citation.where.strip()
    assert rule.statement.strip() and rule.rationale.strip() and rule.message.strip()
    assert rule.examples.matches and rule.examples.does_not_match
    assert rule.since
    assert rule.id.startswith(f"ASTCT-{rule.syndrome.upper()}-{rule.grade}-")


def test_rule_ids_unique_and_names_unique_per_syndrome():
    ids = [rule.id for rule in RULESET.rules]
    assert len(ids) == len(set(ids))
    names = [(rule.syndrome, rule.name) for rule in RULESET.rules]
    assert len(names) == len(set(names))


def test_every_grade_of_both_syndromes_has_a_rule():
    for syndrome in ("crs", "icans"):
        grades = {rule.grade for rule in RULESET.rules if rule.syndrome == syndrome}
        assert grades == {0, 1, 2, 3, 4, 5}, syndrome


def test_every_setting_is_used_by_a_rule_or_a_definition():
    used = set()
    for rule in RULESET.rules:
        used |= settings_of(rule.condition, rule.named)
    text = RULESET.manifest.definitions.model_dump_json()
    used |= {name for name in RULESET.manifest.settings if f'"{name}"' in text}
    assert used == set(RULESET.manifest.settings)


def test_every_setting_is_documented():
    for name, spec in RULESET.manifest.settings.items():
        assert spec.statement.strip() and spec.rationale.strip(), name
        assert spec.citation.ref in RULESET.manifest.references, name


def test_verify_items_are_flagged():
    # The reference marks grade 5 of both syndromes [verify]; the rule files must say so.
    flagged = {rule.id for rule in RULESET.rules if rule.evidence == "verify"}
    assert flagged == {"ASTCT-CRS-5-DEATH", "ASTCT-ICANS-5-DEATH"}
