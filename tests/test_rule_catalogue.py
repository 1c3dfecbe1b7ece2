"""Every rule carries its citation, statement, rationale and examples, and its own examples pass
on every engine (the sqlfluff / semgrep-rules pattern: examples live beside the rule)."""

from __future__ import annotations

import pytest

from crsgrade import load_ruleset
from crsgrade.conditions import settings_of
from crsgrade.facts import complete
from crsgrade.ruleset import default_rules_dir, shipped_systems

from .conftest import ENGINES, grader_for

SYSTEMS = {system: load_ruleset(default_rules_dir(system)) for system in shipped_systems()}
RULES = [(system, rule) for system, ruleset in SYSTEMS.items() for rule in ruleset.rules]
CASES = [
    pytest.param(system, rule, kind, index, example, engine,
                 id=f"{rule.id}-{kind}-{index}-{engine}")
    for system, rule in RULES
    for kind in ("matches", "does_not_match")
    for index, example in enumerate(getattr(rule.examples, kind))
    for engine in ENGINES
]


def test_every_rules_directory_is_a_shipped_system_or_the_scores():
    """Systems are discovered by their ruleset.yaml: a directory without one would be skipped,
    unless it is the hematotoxicity scores' (scores.yaml) or the import mapping's (mapping.yaml)."""
    from crsgrade.ruleset import shipped

    folders = {path.name: path for path in shipped("rules").iterdir() if path.is_dir()}
    assert set(SYSTEMS) == {name for name, path in folders.items() if (path / "ruleset.yaml").is_file()}
    assert set(folders) - set(SYSTEMS) == {"hematotoxicity", "sources"}
    assert (folders["hematotoxicity"] / "scores.yaml").is_file() and (folders["sources"] / "mapping.yaml").is_file()


@pytest.mark.parametrize("system, rule, kind, index, example, engine", CASES)
def test_rule_examples(system, rule, kind, index, example, engine):
    fired = {r.id for r in grader_for(engine, system).fired(complete(example))}
    if kind == "matches":
        assert rule.id in fired, f"{rule.id} should fire on {example}"
    else:
        assert rule.id not in fired, f"{rule.id} should not fire on {example}"


@pytest.mark.parametrize("system, rule", RULES, ids=lambda v: getattr(v, "id", v))
def test_rule_is_documented(system, rule):
    ruleset = SYSTEMS[system]
    assert rule.citation.ref in ruleset.manifest.references
    assert rule.citation.where.strip()
    assert rule.statement.strip() and rule.rationale.strip() and rule.message.strip()
    assert rule.examples.matches and rule.examples.does_not_match
    assert rule.since
    assert rule.id.startswith(f"{ruleset.manifest.rule_prefix}-{ruleset.label(rule.syndrome)}-{rule.grade}-")


@pytest.mark.parametrize("system", SYSTEMS)
def test_rule_ids_unique_and_names_unique_per_syndrome(system):
    rules = SYSTEMS[system].rules
    ids = [rule.id for rule in rules]
    assert len(ids) == len(set(ids))
    names = [(rule.syndrome, rule.name) for rule in rules]
    assert len(names) == len(set(names))


@pytest.mark.parametrize("system", SYSTEMS)
def test_every_grade_of_every_graded_syndrome_has_a_rule(system):
    ruleset = SYSTEMS[system]
    for syndrome in ruleset.syndromes:
        grades = {rule.grade for rule in ruleset.rules if rule.syndrome == syndrome}
        assert grades == {0, 1, 2, 3, 4, 5}, syndrome


@pytest.mark.parametrize("system", SYSTEMS)
def test_every_setting_is_used_by_a_rule_or_a_definition(system):
    ruleset = SYSTEMS[system]
    used = set()
    for rule in ruleset.rules:
        used |= settings_of(rule.condition, rule.named)
    text = ruleset.manifest.definitions.model_dump_json()
    used |= {name for name in ruleset.manifest.settings if f'"{name}"' in text}
    assert used == set(ruleset.manifest.settings)


@pytest.mark.parametrize("system", SYSTEMS)
def test_every_setting_is_documented(system):
    manifest = SYSTEMS[system].manifest
    for name, spec in manifest.settings.items():
        assert spec.statement.strip() and spec.rationale.strip(), name
        assert spec.citation.ref in manifest.references, name


def _flagged(system: str) -> set[str]:
    ruleset = SYSTEMS[system]
    return {rule.id for rule in ruleset.rules if rule.evidence == "verify"} | set(ruleset.unverified_tables)


def test_verify_items_are_flagged():
    # What the reference marks [verify]: grade 5 of ASTCT; the whole CTCAE and CRES tables; the
    # high-dose vasopressor table (and the rules that use it). The FiO2 estimate is not from any
    # grading paper, so it is flagged wherever it is used.
    assert _flagged("astct2019") == {"ASTCT-CRS-5-DEATH", "ASTCT-ICANS-5-DEATH"}
    assert _flagged("ctcae5") == {r.id for r in SYSTEMS["ctcae5"].rules} | {"fio2_estimate"}
    assert _flagged("lee2014") == {"LEE2014-CRS-3-HIGH-DOSE-VASOPRESSOR", "fio2_estimate", "vasopressor_dose"}
    assert _flagged("penn") == {"PENN-CRS-4-HIGH-DOSE-VASOPRESSOR", "vasopressor_dose"}
    assert _flagged("mskcc") == {"MSKCC-CRS-4-LIFE-THREATENING", "fio2_estimate"}
    cres = {r.id for r in SYSTEMS["cartox"].rules if r.syndrome == "icans"}
    assert _flagged("cartox") == cres | {"CARTOX-CRS-3-HIGH-DOSE-VASOPRESSOR", "fio2_estimate", "vasopressor_dose"}


@pytest.mark.parametrize("system", SYSTEMS)
def test_a_system_with_domains_puts_every_graded_rule_in_one(system):
    ruleset = SYSTEMS[system]
    for syndrome, domains in ruleset.manifest.domains.items():
        for rule in ruleset.rules:
            if rule.syndrome == syndrome and 1 <= rule.grade <= 4:
                assert rule.domain in domains, rule.id
