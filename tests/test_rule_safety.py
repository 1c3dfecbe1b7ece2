"""Rule sets and settings as an attack surface: system names are never paths, settings stay in
their ranges, an edited rule file is read again, and any rule file either loads or is refused
with a CrsgradeError, quickly."""

from __future__ import annotations

import shutil
import string
import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import crsgrade
from crsgrade import CrsgradeError, RuleFileError, SettingsError, load_ruleset
from crsgrade.cli import app
from crsgrade.ruleset import default_rules_dir, shipped_systems

from .test_rule_loading import edit

DAY = [{"day": 0, "temp_c": 38.5}]


@pytest.mark.parametrize("system", ["../..", "astct2019/../lee2014", "/etc", "ASTCT2019"])
def test_system_names_are_never_paths(system):
    with pytest.raises(RuleFileError, match=rf"^no grading system '.*'; shipped: {', '.join(shipped_systems())}$"):
        default_rules_dir(system)
    with pytest.raises(RuleFileError, match="no grading system"):
        crsgrade.grade(DAY, system=system)
    result = CliRunner().invoke(app, ["settings", "--system", system])
    assert result.exit_code == 1 and "no grading system" in result.output


@pytest.mark.parametrize("value", ["inf", "nan", "-5", "18.5", "1e400", float("inf"), float("nan"), -0.5, True, None])
def test_number_settings_stay_in_their_range(value):
    with pytest.raises(SettingsError, match=r"capd_below_age: .* is not a number in the allowed range, 0 to 18$"):
        crsgrade.grade(DAY, settings={"capd_below_age": value})


def test_number_setting_range_on_the_command_line(tmp_path):
    observations = tmp_path / "day.csv"
    observations.write_text("patient_id,day,temp_c\np,0,38.5\n")
    result = CliRunner().invoke(app, ["grade", str(observations), "--set", "capd_below_age=inf"])
    assert result.exit_code == 1 and "allowed range, 0 to 18" in result.output
    assert CliRunner().invoke(app, ["grade", str(observations), "--set", "capd_below_age=18"]).exit_code == 0


@pytest.mark.parametrize("name, value", [
    ("capd_below_age", [1]), ("capd_below_age", {1: 2, "a": 3}), ("antipyretic_waives_fever", {}),
    ("antipyretic_waives_fever", [True]), ("waiver_ends", [1]), ("waiver_ends", {"a": 1}),
    ("more_fever_waiving_therapies", {"a": [1]}), ("more_fever_waiving_therapies", [{"a": 1}]),
    ("hfnc_at_low_flow", None), ("capd_below_age", bytearray(b"x")), ("capd_below_age", object()),
])
def test_odd_setting_values_are_settings_errors(name, value):
    with pytest.raises(SettingsError, match=f"^setting {name}: "):
        crsgrade.grade(DAY, settings={name: value})


@pytest.mark.parametrize("overrides, message", [
    ({1: True, "a": 1}, "unknown settings 1, a; known settings: antipyretic_waives_fever"),
    (["capd_below_age"], "settings are a mapping of setting names to values, not a list"),
])
def test_odd_settings_are_settings_errors(overrides, message):
    with pytest.raises(SettingsError, match=message):
        crsgrade.grade(DAY, settings=overrides)


def test_an_edited_rule_file_is_read_again(tmp_path):
    rules = tmp_path / "rules"
    shutil.copytree(default_rules_dir(), rules)
    assert crsgrade.grade(DAY, rules=rules).days()[0].crs.grade == 1
    first = load_ruleset(rules)
    assert load_ruleset(rules) is first  # unchanged files: loaded once
    edit(rules / "ruleset.yaml", "threshold_c: 38.0", "threshold_c: 39.0")
    assert crsgrade.grade(DAY, rules=rules).days()[0].crs.grade == 0
    assert load_ruleset(rules).digest != first.digest


# Fuzzing the loader: generated rule files, mutated shipped ones and random bytes must each load
# or be refused with a CrsgradeError whose every line names its file, in bounded time.

FACTS = ["fever", "vasopressors", "o2_class", "seizure", "death_cause", "hypotension", "temp_c", "x"]
NAMES = [f"c{n}" for n in range(4)]
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=8),
    st.sampled_from(["none", "crs", "low_flow", "resolved", ".inf", "1e400"]),
)
VALUES = st.one_of(SCALARS, st.lists(SCALARS, max_size=3), st.dictionaries(st.text(max_size=4), SCALARS, max_size=2))
LEAVES = st.one_of(
    st.builds(lambda fact, value: {fact: value}, st.sampled_from(FACTS), VALUES),
    st.builds(lambda fact, op, value: {fact: {op: value}}, st.sampled_from(FACTS),
              st.sampled_from(["eq", "ne", "lt", "gte", "in", "like"]), VALUES),
    st.builds(lambda name: {"ref": name}, st.sampled_from(NAMES) | VALUES),
    st.builds(lambda name: {"setting": name}, st.sampled_from(["waiver_ends", "capd_below_age", "x"]) | VALUES),
    VALUES,
)
CONDITIONS = st.recursive(LEAVES, lambda inner: st.one_of(
    st.builds(lambda items: {"all": items}, st.lists(inner, max_size=4)),
    st.builds(lambda items: {"any": items}, st.lists(inner, max_size=4)),
    st.builds(lambda item: {"not": item}, inner),
), max_leaves=20)


def rule_file(conditions: dict, when: object) -> str:
    rule = {"id": "ASTCT-CRS-1-FUZZ", "name": "fuzz", "grade": 1, "since": "0.1.0", "statement": "s",
            "message": "m", "rationale": "r", "citation": {"ref": "lee2019", "where": "w"}, "when": when,
            "examples": {"matches": [{"fever": True}], "does_not_match": [{"fever": False}]}}
    named = {name: {"statement": name, "when": condition} for name, condition in conditions.items()}
    return yaml.safe_dump({"syndrome": "crs", "conditions": named, "rules": [rule]})


@st.composite
def chains(draw) -> str:
    """Named conditions each referring, once or more, to the previous; nested all the while."""
    length, refs, nesting = draw(st.integers(0, 400)), draw(st.integers(1, 3)), draw(st.integers(0, 150))
    named = {"c0": draw(st.sampled_from([{"fever": True}, {"setting": "vasopressin_alone_counts"}]))}
    for n in range(1, length + 1):
        named[f"c{n}"] = {"any": [{"ref": f"c{n - 1}"}] * refs}
    when: dict = {"ref": f"c{length}"}
    for _ in range(nesting):
        when = {"not": when}
    return rule_file(named, when)


@st.composite
def mutated(draw) -> str:
    """A shipped rule file with a line replaced by YAML-ish noise."""
    name = draw(st.sampled_from(["crs.yaml", "icans.yaml", "ruleset.yaml"]))
    lines = (default_rules_dir() / name).read_text(encoding="utf-8").splitlines()
    at = draw(st.integers(0, len(lines) - 1))
    noise = draw(st.text(alphabet=string.ascii_lowercase + string.digits + " .:-_&*!|>{}[],'\"#%@\t\n", max_size=30))
    indent = len(lines[at]) - len(lines[at].lstrip())
    lines[at] = " " * indent + noise if draw(st.booleans()) else lines[at] + noise
    return name, "\n".join(lines) + "\n"


def loads_or_refuses(files: dict[str, bytes | str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp) / "rules"
        shutil.copytree(default_rules_dir(), directory)
        for name, content in files.items():
            (directory / name).write_bytes(content.encode() if isinstance(content, str) else content)
        try:
            ruleset = load_ruleset(directory)
            ruleset.resolved(ruleset.settings())
        except CrsgradeError as exc:
            assert all(line.startswith(str(directory)) for line in str(exc).splitlines()), str(exc)


# No deadline: how long an example takes is not what these tests check (a slow machine would fail them).
FUZZ = hypothesis_settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(st.dictionaries(st.sampled_from(NAMES), CONDITIONS, max_size=4), CONDITIONS)
def test_generated_rule_files_load_or_are_refused(conditions, when):
    loads_or_refuses({"crs.yaml": rule_file(conditions, when)})


@FUZZ
@given(chains())
def test_reference_chains_and_nesting_load_or_are_refused(text):
    loads_or_refuses({"crs.yaml": text})


@FUZZ
@given(mutated())
def test_mutated_rule_files_load_or_are_refused(file):
    name, text = file
    loads_or_refuses({name: text})


@FUZZ
@given(st.binary(max_size=200), st.sampled_from(["crs.yaml", "ruleset.yaml", "extra.yaml"]))
def test_random_bytes_load_or_are_refused(content, name):
    loads_or_refuses({name: content})
