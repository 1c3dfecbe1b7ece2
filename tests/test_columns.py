"""The column contract: every input column is declared once (observations.py), and what is
derived from the declaration — header spellings, how readings of a day combine, figure labels —
follows it for every column, including one added tomorrow."""

from __future__ import annotations

import pytest

from crsgrade.columns import ALIASES, column_for
from crsgrade.combining import GROUPS, how_readings_combine
from crsgrade.figures import courses
from crsgrade.observations import COLUMNS, COMBINE, LABS, bounds, enum_of, field_kinds

from .conftest import grader_for


@pytest.mark.parametrize("name", list(COLUMNS))
def test_every_column_declares_everything(name):
    spec = COLUMNS[name]
    assert spec.description.strip() and spec.label.strip(), name
    assert isinstance(spec.unit, str) and isinstance(spec.aliases, tuple)
    assert spec.combine in COMBINE
    assert spec.figure in (None, "labs", "counts")
    assert spec.group is None or COLUMNS[spec.group].combine == "attribution"
    for alias in spec.aliases:
        assert column_for(alias) == name


def test_every_attribution_flag_groups_the_columns_declared_under_it():
    assert {g.flag for g in GROUPS} == {n for n, s in COLUMNS.items() if s.combine == "attribution"}
    assert all(group.fields for group in GROUPS)


def test_aliases_come_from_the_declarations():
    assert {name: aliases for name, aliases in ALIASES.items() if name in COLUMNS} == {
        name: spec.aliases for name, spec in COLUMNS.items() if spec.aliases}


def test_the_combining_table_names_every_column_but_the_keys():
    named = [n.strip() for columns in how_readings_combine() for n in columns.split(",")]
    assert sorted(named) == sorted(n for n, s in COLUMNS.items() if s.combine != "key")


def two_values(name: str) -> tuple[object, object] | None:
    """Two different valid values of a column, the first the lesser."""
    kinds = field_kinds(name)
    enum = enum_of(name)
    if enum is not None:
        values = [m.value for m in enum]
        return values[0], values[-1]
    if bool in kinds:
        return False, True
    if int in kinds or float in kinds:
        low, high = bounds(name)
        low = 0 if low is None else low
        high = low + 10 if high is None else high
        first = low + (high - low) / 4
        second = low + (high - low) / 2
        return (round(first), round(second)) if int in kinds else (first, second)
    return "first", "second"


EXPECTED = {"highest": lambda a, b: b, "lowest": lambda a, b: a, "any": lambda a, b: True,
            "worst": lambda a, b: b, "notes": lambda a, b: f"{a}; {b}", "names": lambda a, b: f"{a}; {b}",
            "temperature": lambda a, b: b}
SIMPLE = [n for n, s in COLUMNS.items() if s.combine in EXPECTED] + ["ice_score", "cartox_score"]


@pytest.mark.parametrize("name", SIMPLE)
def test_two_readings_of_a_day_combine_as_declared(name):
    first, second = two_values(name)
    if name == "fio2":
        first, second = 40.0, 60.0
    day = -1 if name == "baseline" else 1  # a baseline draw is before infusion
    rows = [{"patient_id": "p", "day": day, name: first}, {"patient_id": "p", "day": day, name: second}]
    if name.endswith("_ug_kg_min"):  # converted to µg/min with the weight
        rows = [{**r, "weight_kg": 70} for r in rows]
    frame = grader_for("python").grade_frame(rows)
    assert frame.height == 1 and frame["readings"].item() == 2
    kind = COLUMNS[name].combine
    expected = min(first, second) if kind == "score" else EXPECTED[kind](first, second)
    assert frame[name].item() == expected, (name, kind)


def test_every_laboratory_column_is_drawn_with_its_label_and_unit():
    rows = [{"patient_id": "p", "day": day, **{name: 10.0 + day for name in LABS}} for day in (0, 1)]
    _, figures = courses(grader_for("python"), rows)
    [labs] = [panel for panel in figures["p"].panels if panel.key == "labs"]
    assert [series.name for series in labs.series] == [
        f"{COLUMNS[name].label} ({COLUMNS[name].unit})" for name in LABS]


def test_every_column_in_another_unit_names_its_contract_column():
    from crsgrade.observations import UNIT_CONVERSIONS

    converted = {n for n, s in COLUMNS.items() if s.combine == "converted"}
    assert converted == set(UNIT_CONVERSIONS)
    for name, (target, factor) in UNIT_CONVERSIONS.items():
        assert COLUMNS[target].combine not in ("converted", "folded") and factor > 0
        assert COLUMNS[name].label == COLUMNS[target].label and COLUMNS[name].unit != COLUMNS[target].unit
        assert bounds(name)[1] * factor == pytest.approx(bounds(target)[1], rel=0.01), name
