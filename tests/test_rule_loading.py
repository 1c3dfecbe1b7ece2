"""Malformed rule files fail with the file, line, rule id and what is wrong; loading is data only."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from crsgrade import RuleFileError, load_ruleset
from crsgrade import conditions as cond
from crsgrade.ruleset import MAX_FILE_BYTES, default_rules_dir


@pytest.fixture
def rules(tmp_path) -> Path:
    target = tmp_path / "astct2019"
    shutil.copytree(default_rules_dir(), target)
    return target


def edit(path: Path, old: str, new: str, count: int = 1) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"fixture text not found: {old!r}"
    path.write_text(text.replace(old, new, count), encoding="utf-8")


def load_error(directory: Path) -> str:
    with pytest.raises(RuleFileError) as info:
        load_ruleset(directory)
    return str(info.value)


def test_shipped_rules_load():
    ruleset = load_ruleset()
    assert ruleset.manifest.system == "astct2019"
    assert {rule.syndrome for rule in ruleset.rules} == {"crs", "icans"}


def test_unknown_field(rules):
    edit(rules / "crs.yaml", "    name: fever\n", "    name: fever\n    severity: high\n")
    message = load_error(rules)
    assert "crs.yaml:" in message and "rule ASTCT-CRS-1-FEVER" in message
    assert "severity: unknown field" in message


def test_missing_citation_names_file_line_and_rule(rules):
    edit(rules / "crs.yaml",
         '    citation: {ref: lee2019, where: "CRS grading table, grade 1"}\n', "")
    message = load_error(rules)
    assert "rule ASTCT-CRS-1-FEVER" in message and "citation: required field missing" in message
    line = int(message.split("crs.yaml:")[1].split(":")[0])
    text = (rules / "crs.yaml").read_text().splitlines()
    assert "ASTCT-CRS-1-FEVER" in "\n".join(text[line - 3:line + 1])


def test_unknown_citation_reference(rules):
    edit(rules / "crs.yaml", "citation: {ref: lee2019, where: \"CRS grading table, grade 1\"}",
         "citation: {ref: lee2020, where: \"x\"}")
    assert "unknown reference 'lee2020'" in load_error(rules)


def test_bad_operator(rules):
    edit(rules / "crs.yaml", "vasopressors: {gte: 2}", "vasopressors: {atleast: 2}")
    message = load_error(rules)
    assert "ASTCT-CRS-4-MULTIPLE-VASOPRESSORS" in message
    assert "unknown operator 'atleast'" in message and "allowed: eq, ne" in message


def test_ordering_operator_on_text_fact(rules):
    edit(rules / "icans.yaml", "consciousness: awakens_to_touch\n", "consciousness: {gte: 3}\n")
    assert "compares numbers, but 'consciousness' is text" in load_error(rules)


def test_unknown_fact_suggests_the_closest(rules):
    edit(rules / "crs.yaml", "- hypotension: true", "- hypotensoin: true")
    message = load_error(rules)
    assert "unknown fact 'hypotensoin'" in message and "did you mean 'hypotension'" in message


def test_unknown_enum_value(rules):
    edit(rules / "icans.yaml", "seizure: prolonged", "seizure: status")
    message = load_error(rules)
    assert "'seizure' cannot be 'status'" in message and "allowed: none, resolved, prolonged" in message


def test_wrong_value_type(rules):
    edit(rules / "crs.yaml", "- hypotension: true", "- hypotension: 1")
    assert "'hypotension' is true or false, got 1" in load_error(rules)


def test_wrong_grade_type(rules):
    edit(rules / "crs.yaml", "    grade: 3\n", '    grade: "3"\n')
    message = load_error(rules)
    assert "grade" in message and "ASTCT-CRS-3-ONE-VASOPRESSOR" in message


def test_grade_out_of_range(rules):
    edit(rules / "crs.yaml", "    grade: 3\n", "    grade: 6\n")
    assert "grade: Input should be less than or equal to 5" in load_error(rules)


def test_duplicate_rule_id(rules):
    edit(rules / "crs.yaml", "id: ASTCT-CRS-3-HIGH-FLOW-OXYGEN", "id: ASTCT-CRS-3-ONE-VASOPRESSOR")
    message = load_error(rules)
    assert "rule ASTCT-CRS-3-ONE-VASOPRESSOR: duplicate rule id" in message


def test_unknown_named_condition(rules):
    edit(rules / "crs.yaml", "ref: fever_criterion\n", "ref: fever_criterium\n")
    assert "unknown named condition 'fever_criterium'" in load_error(rules)


def test_cyclic_named_conditions(rules):
    edit(rules / "crs.yaml", "      hypoxia_other_cause: false\n", "      ref: hypotension_counts\n")
    edit(rules / "crs.yaml", "      hypotension_other_cause: false\n", "      ref: hypoxia_counts\n")
    assert "refer to each other" in load_error(rules)


def test_unknown_setting_in_condition(rules):
    edit(rules / "crs.yaml", "setting: vasopressin_alone_counts", "setting: vasopressin_alone")
    assert "unknown setting 'vasopressin_alone'" in load_error(rules)


def test_missing_examples(rules):
    edit(rules / "crs.yaml", "        - {death_cause: other}\n        - {death_cause: icans}\n", "")
    message = load_error(rules)
    assert "ASTCT-CRS-5-DEATH" in message and "does_not_match" in message


def test_example_with_unknown_fact(rules):
    edit(rules / "crs.yaml", "        - {death_cause: other}\n", "        - {death: other}\n")
    assert "unknown fact 'death'" in load_error(rules)


def test_message_placeholder_must_be_a_fact(rules):
    edit(rules / "crs.yaml", 'message: "fever {temp_c} °C"', 'message: "fever {temperature} °C"')
    assert "unknown fact '{temperature}'" in load_error(rules)


def test_yaml_syntax_error_has_a_line(rules):
    edit(rules / "icans.yaml", "    grade: 4\n", "    grade: [4\n")
    message = load_error(rules)
    assert "icans.yaml:" in message and "YAML syntax error" in message


def test_device_table_must_cover_every_device(rules):
    edit(rules / "ruleset.yaml", "      venturi: {class: high_flow}\n", "")
    assert "missing: ['venturi']" in load_error(rules)


def test_device_class_must_be_known(rules):
    edit(rules / "ruleset.yaml", "venturi: {class: high_flow}", "venturi: {class: very_high}")
    assert "'very_high' is not one of the oxygen classes" in load_error(rules)


def test_setting_default_must_fit(rules):
    edit(rules / "ruleset.yaml", "    default: episode_resolved\n", "    default: sometimes\n")
    assert "default 'sometimes' is not one of choices" in load_error(rules)


def test_not_a_rule_set_directory(tmp_path):
    assert "not a rule set directory" in load_error(tmp_path)


def test_loading_never_executes_code(rules, tmp_path):
    marker = tmp_path / "executed"
    edit(rules / "crs.yaml", "syndrome: crs\n",
         f"syndrome: !!python/object/apply:os.system ['touch {marker}']\n")
    message = load_error(rules)
    assert "YAML syntax error" in message or "could not determine a constructor" in message
    assert not marker.exists()


def test_message_templates_are_not_format_strings(engine):
    # A placeholder is a fact name, nothing more: attribute access is not interpreted.
    from crsgrade.rendering import render

    assert render("{temp_c.__class__}", {"temp_c": 38.0}) == "{temp_c.__class__}"
    assert render("fever {temp_c} °C", {"temp_c": 38.0}) == "fever 38.0 °C"


# Rule files are data from anyone: loading one stays bounded in time, memory and what it reads.

def line_of(path: Path, text: str) -> int:
    """The number of the first line holding `text`."""
    return next(number for number, line in enumerate(path.read_text().splitlines(), 1) if text in line)


def test_yaml_aliases_are_refused_before_they_expand(rules):
    laughs = "lol0: &lol0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
        f"lol{n}: &lol{n} [{', '.join([f'*lol{n - 1}'] * 10)}]\n" for n in range(1, 10))
    edit(rules / "crs.yaml", "syndrome: crs\n", "syndrome: crs\n" + laughs)
    message = load_error(rules)
    line = line_of(rules / "crs.yaml", laughs.splitlines()[1])
    assert f"crs.yaml:{line}: YAML aliases (*lol0) are not allowed in rule files" in message


def test_a_key_given_twice_is_refused(rules):
    text = (rules / "crs.yaml").read_text()
    grade_line = next(line for line in text.splitlines() if line.strip().startswith("grade:"))
    indent = grade_line[:len(grade_line) - len(grade_line.lstrip())]
    edit(rules / "crs.yaml", grade_line + "\n", grade_line + "\n" + indent + "grade: 4\n")
    message = load_error(rules)
    line = text.splitlines().index(grade_line) + 2
    assert f"crs.yaml:{line}: key 'grade' given twice in one mapping; YAML would keep only the last" in message


def chained_conditions(path: Path, count: int, when: str) -> None:
    """Named conditions c1..c{count}, each `when` (a template of the previous one's name)."""
    chain = "".join(f"  c{n}:\n    statement: c{n}\n    when: {when.format(previous=f'c{n - 1}')}\n"
                    for n in range(1, count + 1))
    edit(path, "conditions:\n", "conditions:\n  c0:\n    statement: c0\n    when: {vasopressors: {gte: 3}}\n" + chain)


def test_conditions_referring_twice_to_the_previous_are_bounded(rules):
    # 22 conditions each referring twice to the previous took 15 s to load, doubling with each.
    chained_conditions(rules / "crs.yaml", 22, "{{any: [{{ref: {previous}}}, {{ref: {previous}}}]}}")
    edit(rules / "crs.yaml", "- ref: fever_criterion", "- ref: c22")
    message = load_error(rules)  # (before the bound, this took 15 s, doubling with each condition)
    assert f"crs.yaml:{line_of(rules / 'crs.yaml', 'statement: c9')}: conditions.c9: more than 500 tests" in message


def test_resolving_shared_references_is_linear_and_unchanged():
    def inline(node):  # refs expanded by substitution: what resolution must be equivalent to
        if isinstance(node, cond.Ref):
            return inline(named[node.name])
        if isinstance(node, cond.Not):
            return cond.Not(inline(node.item))
        if isinstance(node, cond.All | cond.Any):
            return type(node)(tuple(inline(item) for item in node.items))
        return node

    named = {"c0": cond.All((cond.Test("vasopressors", "gte", 3), cond.SettingTest("counts", True)))}
    for n in range(1, 60):
        previous = cond.Ref(f"c{n - 1}")
        either = (previous, cond.Not(previous), cond.Test("fever", "eq", True))
        named[f"c{n}"] = cond.Any(either) if n % 2 else cond.All(either)
    for value in (True, False):  # 2^59 tests if walked as a tree: it would never return
        cond.resolve(cond.Ref("c59"), named, {"counts": value})
    for n in range(6):
        for value in (True, False):
            expected = cond.resolve(inline(cond.Ref(f"c{n}")), {}, {"counts": value})
            assert cond.resolve(cond.Ref(f"c{n}"), named, {"counts": value}) == expected


@pytest.mark.parametrize("depth", [101, 5000])
def test_deep_nesting_is_refused_with_its_rule_or_line(rules, depth):
    nested = "{all: [" * depth + "{fever: true}" + "]}" * depth
    edit(rules / "crs.yaml", "- ref: fever_criterion", "- " + nested)
    message = load_error(rules)  # never a RecursionError
    line = line_of(rules / "crs.yaml", "- " + nested)
    if depth == 101:
        assert (f"crs.yaml:{line - 1}: rule ASTCT-CRS-2-HYPOTENSION: when: conditions nest more than 100 levels"
                in message)
    else:
        assert f"crs.yaml:{line}: YAML nests more than 210 levels deep" in message


def test_nesting_up_to_the_limit_loads_and_grades(rules, engine):
    from crsgrade import Grader

    nested = "{not: " * 98 + "{fever: true}" + "}" * 98  # with the rule's all and the test: 100 levels
    edit(rules / "crs.yaml", "- ref: fever_criterion", "- " + nested)
    grader = Grader(load_ruleset(rules), engine=engine)
    assert grader.grade([{"day": 0, "temp_c": 38.5, "hypotension": True}]).days()[0].crs.grade == 2


def test_long_reference_chains_are_refused(rules):
    chained_conditions(rules / "crs.yaml", 5000, "{{ref: {previous}}}")
    message = load_error(rules)
    line = line_of(rules / "crs.yaml", "statement: c100")
    assert f"crs.yaml:{line}: conditions.c100: conditions nest more than 100 levels deep" in message


@pytest.mark.parametrize("name", ["crs.yaml", "ruleset.yaml"])
def test_symlinked_rule_files_are_refused_unread(rules, tmp_path, name):
    secret = tmp_path / "secret"
    secret.write_text("not-yaml: [SECRET-CONTENT\n")
    (rules / name).unlink()
    (rules / name).symlink_to(secret)
    message = load_error(rules)
    assert f"{name}: not a regular file; a rule set directory holds only regular *.yaml files" in message
    assert "SECRET-CONTENT" not in message


def test_only_regular_files_are_read(rules):
    (rules / "extra.yaml").mkdir()
    assert "extra.yaml: not a regular file" in load_error(rules)


def test_rule_file_size_is_capped(rules):
    with (rules / "icans.yaml").open("a", encoding="utf-8") as file:
        file.write("#" * MAX_FILE_BYTES)
    assert "icans.yaml: larger than 1,000,000 bytes, the most a rule file may hold" in load_error(rules)


@pytest.mark.parametrize("number", [".inf", "-.inf", ".nan", "1.0e+400", "1.0e-5", "1.0e+20", "100000000000000000000"])
@pytest.mark.parametrize("file, old, new", [
    ("crs.yaml", "vasopressors: {gte: 2}", "vasopressors: {{gte: {}}}"),
    ("crs.yaml", "        - {death_cause: other}\n", "        - {{death_cause: other, vasopressors: {}}}\n"),
    ("ruleset.yaml", "threshold_c: 38.0", "threshold_c: {}"),
])
def test_numbers_are_ones_both_evaluators_read(rules, number, file, old, new):
    edit(rules / file, old, new.format(number))
    message = load_error(rules)
    line = line_of(rules / file, new.format(number).strip())
    assert f"{file}:{line}:" in message
    assert "is not allowed; numbers in rule files are finite: 0, or from 0.0001 up to 1e16 in size" in message


def test_numbers_as_text_must_be_finite(rules):
    edit(rules / "ruleset.yaml", "threshold_c: 38.0", 'threshold_c: "inf"')
    assert "threshold_c: Input should be a finite number" in load_error(rules)


@pytest.mark.parametrize("value", ["!!int twelve", "2024-13-45", "!!bool maybe"])
def test_yaml_values_that_cannot_be_read(rules, value):
    edit(rules / "crs.yaml", "    grade: 3\n", f"    grade: {value}\n")
    assert "crs.yaml: YAML value that cannot be read" in load_error(rules)


def test_number_setting_declares_its_range(rules):
    edit(rules / "ruleset.yaml", "    min: 0\n    max: 18\n", "")
    assert "a number setting needs its allowed range: min and max" in load_error(rules)


def test_number_setting_default_within_its_range(rules):
    edit(rules / "ruleset.yaml", "    default: 12\n", "    default: 40\n")
    assert "default 40 is outside the allowed range, 0 to 18" in load_error(rules)
