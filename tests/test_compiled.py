"""The compiled rule cache: a second run reads the outcomes the first evaluated and grades the
same; a file for other rules, settings or an evaluator is never read; a damaged or hostile file
is ignored; the cache off writes nothing."""

from __future__ import annotations

import os
import pickle
import time
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from crsgrade import Grader
from crsgrade.cli import app
from crsgrade.compiled import cache_dir, cache_file, load
from crsgrade.grading import CSV_COLUMNS
from crsgrade.synthetic import write_cohort

from .conftest import EXAMPLE


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("CRSGRADE_NO_CACHE", raising=False)
    monkeypatch.setenv("CRSGRADE_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cohort") / "cohort.csv"
    write_cohort(path, 3000, seed=11, older_systems=True)
    return path


class _Refuses:
    """An evaluator that must not be asked: every outcome should come from the cache."""

    name = "python"

    def fired(self, fact):
        raise AssertionError(f"evaluated a combination the cache holds: {fact}")


def _graded(grader: Grader, path: Path) -> pl.DataFrame:
    """The columns of `grade --format csv` (outcome numbers differ with the order they were met)."""
    return grader.grade_frame(path).select(CSV_COLUMNS)


def test_second_run_reads_every_outcome_and_grades_the_same(folder, cohort):
    first = Grader(engine="python")
    expected = _graded(first, cohort)
    files = list(folder.glob("outcomes-*.json"))
    assert len(files) == 1
    stored = load(files[0])
    assert len(stored.table) > 50 and len(stored.items) == 2 * len(stored.table)

    second = Grader(engine="python")
    second.evaluation.evaluator = _Refuses()
    assert _graded(second, cohort).equals(expected)
    uncached = Grader(engine="python", cache=False)
    assert _graded(uncached, cohort).equals(expected)


def test_the_file_grows_with_new_combinations_and_keeps_the_old(folder, cohort):
    Grader(engine="python").grade(EXAMPLE)
    (path,) = folder.glob("outcomes-*.json")
    before = load(path)
    Grader(engine="python").grade(cohort)
    after = load(path)
    assert set(before.table) < set(after.table)
    # each old combination keeps its outcomes (numbered as the later run met them)
    assert all([after.outcome(n) for n in after.table[key]] == [before.outcome(n) for n in numbers]
               for key, numbers in before.table.items())


def test_a_run_decodes_only_the_outcomes_it_meets(folder, cohort):
    grader = Grader(engine="python")
    grader.grade(cohort)
    grader.grade(EXAMPLE)
    (path,) = folder.glob("outcomes-*.json")
    held = len(load(path).items)
    small = Grader(engine="python")
    small.evaluation.evaluator = _Refuses()
    small.grade(EXAMPLE)
    assert 0 < len(small.evaluation.outcomes.items) < held / 10
    assert len(load(path).items) == held  # nothing new, so the file is as it was


def test_other_rules_settings_or_evaluator_use_another_file(folder):
    Grader(engine="python").grade(EXAMPLE)
    Grader(engine="python", settings={"vasopressin_alone_counts": False}).grade(EXAMPLE)
    Grader(engine="python", system="lee2014").grade(EXAMPLE)
    assert len(list(folder.glob("outcomes-*.json"))) == 3
    names = {cache_file(folder, "digest", {}, engine).name for engine in ("python", "durable-rules")}
    assert len(names) == 2


def test_a_damaged_or_hostile_file_is_ignored_and_replaced(folder, cohort):
    expected = _graded(Grader(engine="python", cache=False), cohort)
    grader = Grader(engine="python")
    path = grader.evaluation.store
    assert path is not None
    for content in (b"{not json", pickle.dumps({"outcomes": []}), b'{"outcomes": [[0, [9], [0], [0], [null], [1]]],'
                    b' "texts": [""], "width": 1, "keys": [1], "pairs": [0, 5]}'):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        assert not load(path).table and not load(path).items
        assert _graded(Grader(engine="python"), cohort).equals(expected)
        assert load(path).table  # written anew


def test_the_folder_keeps_the_files_used_last(folder, monkeypatch):
    from crsgrade import compiled

    monkeypatch.setattr(compiled, "KEPT", 3)
    Grader(engine="python").grade(EXAMPLE)
    (used,) = folder.glob("outcomes-*.json")
    old = [folder / f"outcomes-old{n}.json" for n in range(4)]
    for age, path in enumerate(old, start=1):  # older versions of crsgrade, rules or settings
        path.write_bytes(used.read_bytes())
        os.utime(path, (time.time() - 3600 * age, time.time() - 3600 * age))
    os.utime(used, (time.time() - 86400, time.time() - 86400))
    Grader(engine="python")  # reading a file marks it as used
    Grader(engine="python", system="lee2014").grade(EXAMPLE)  # a new file: the folder is pruned
    kept = set(folder.glob("outcomes-*.json"))
    assert len(kept) == 3 and used in kept and old[0] in kept and not kept & set(old[1:])


def test_a_folder_that_cannot_be_written_costs_nothing_but_speed(tmp_path, monkeypatch, cohort):
    blocked = tmp_path / "a file"
    blocked.write_text("not a folder")
    monkeypatch.delenv("CRSGRADE_NO_CACHE", raising=False)
    monkeypatch.setenv("CRSGRADE_CACHE_DIR", str(blocked / "cache"))
    expected = _graded(Grader(engine="python", cache=False), cohort)
    assert _graded(Grader(engine="python"), cohort).equals(expected)


def test_turned_off_it_writes_nothing(folder, monkeypatch):
    monkeypatch.setenv("CRSGRADE_NO_CACHE", "1")
    assert cache_dir() is None
    result = CliRunner().invoke(app, ["grade", str(EXAMPLE), "--format", "csv", "--engine", "python"])
    assert result.exit_code == 0
    assert not folder.exists()


def test_the_command_line_uses_it(folder):
    runs = [CliRunner().invoke(app, ["grade", str(EXAMPLE), "--format", "csv", "--engine", "python"])
            for _ in range(2)]
    assert [r.exit_code for r in runs] == [0, 0]
    assert runs[0].stdout == runs[1].stdout
    assert len(list(folder.glob("outcomes-*.json"))) == 1


def test_default_folder(monkeypatch, tmp_path):
    monkeypatch.delenv("CRSGRADE_NO_CACHE", raising=False)
    monkeypatch.delenv("CRSGRADE_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cache_dir() == tmp_path / "crsgrade"
    monkeypatch.setenv("CRSGRADE_NO_CACHE", "0")
    assert cache_dir() == tmp_path / "crsgrade"
