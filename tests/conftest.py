from __future__ import annotations

import os
from pathlib import Path

import pytest

from crsgrade import GradedDay, Grader
from crsgrade.evaluators import durable_available

# Every test evaluates its fact combinations afresh; the compiled rule cache has tests of its own
# (test_compiled.py). Set before any grader is built, and inherited by the commands tests start.
os.environ["CRSGRADE_NO_CACHE"] = "1"

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "dasatinib_case.csv"
ENGINES = ["python"] + (["durable"] if durable_available() else [])

_graders: dict[tuple, Grader] = {}


def grader_for(engine: str, system: str = "astct2019", **settings) -> Grader:
    """One Grader per engine, system and settings for the whole run (each compiles its rules
    once)."""
    key = (engine, system, tuple(sorted(settings.items())))
    if key not in _graders:
        _graders[key] = Grader(settings=settings, engine=engine, system=system)
    return _graders[key]


@pytest.fixture(params=ENGINES)
def engine(request) -> str:
    return request.param


def forms_agree(records: list[dict], result, grader) -> None:
    """The same rows given as a table grade exactly as given as records (two input forms, one
    pipeline)."""
    from crsgrade.output import to_csv

    graded = grader.grade(_table(records))
    assert to_csv(graded) == to_csv(result)


def _table(records: list[dict]):
    import polars as pl

    columns = list(dict.fromkeys(key for record in records for key in record))
    return pl.DataFrame({c: [None if r.get(c) is None else str(r[c]) for r in records] for c in columns},
                        schema={c: pl.Utf8 for c in columns})


@pytest.fixture
def grade_days(engine):
    """Grades a list of observation dicts for one patient; returns the graded days in order.
    Every case is also graded as a table, which must give the same grades."""

    def run(rows: list[dict], **settings) -> list[GradedDay]:
        rows = [{"day": index, **row} for index, row in enumerate(rows)]
        grader = grader_for(engine, **settings)
        result = grader.grade(rows)
        forms_agree(rows, result, grader)
        return [day for patient in result.patients for day in patient.days]

    return run


@pytest.fixture
def grade_day(grade_days):
    """Grades one observation day."""

    def run(**observation) -> GradedDay:
        settings = observation.pop("settings", {})
        return grade_days([observation], **settings)[0]

    return run


def always_in_batches(open_path):
    """open_path, reading every file a batch at a time however small it is."""
    from crsgrade import sources

    def opened(path):
        source = str(path)
        return sources._open(sources._Text(source, path=sources.Path(path)), source, [])
    return opened
