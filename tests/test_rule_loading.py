"""Malformed rule files fail with the file, line, rule id and what is wrong; loading is data only."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from crsgrade import RuleFileError, load_ruleset
from crsgrade.ruleset import default_rules_dir


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
