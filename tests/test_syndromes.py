"""The syndromes are declared once (crsgrade.syndromes): results, outputs and views iterate over
them, so a further syndrome is added there, not across the code."""

from __future__ import annotations

import re
from pathlib import Path

import crsgrade
from crsgrade.episodes import summarise
from crsgrade.grading import CSV_COLUMNS
from crsgrade.syndromes import ACROSS_SYSTEMS, NAMES, SYNDROMES

SOURCE = Path(crsgrade.__file__).parent
EXAMPLE = Path(__file__).parents[1] / "examples" / "dasatinib_case.csv"


def test_every_syndrome_has_its_names():
    assert set(NAMES) == set(ACROSS_SYSTEMS) == set(SYNDROMES)


def test_no_module_spells_out_the_syndromes():
    spelled = re.compile(r"""["']crs["'],\s*["']icans["']""")
    found = [path.name for path in SOURCE.glob("*.py") if path.name != "syndromes.py"
             and spelled.search(path.read_text(encoding="utf-8"))]
    assert not found, f"list the syndromes with crsgrade.syndromes.SYNDROMES in {found}"


def test_results_are_keyed_by_syndrome():
    result = crsgrade.grade(EXAMPLE)
    day = result.patient("case1").days[7]
    assert list(day.grades) == list(SYNDROMES) and list(day.reported_grades) == list(SYNDROMES)
    assert day.icans is day.grades["icans"] and day.grade("icans") == 4
    patient = summarise(result).patients[0]
    assert list(patient.syndromes) == list(SYNDROMES) and patient.icans.highest_grade == 4


def test_csv_columns_cover_every_syndrome():
    for syndrome in SYNDROMES:
        assert {f"{syndrome}_grade", f"{syndrome}_rules", f"{syndrome}_reason",
                f"{syndrome}_not_recorded"} <= set(CSV_COLUMNS)
