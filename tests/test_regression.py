"""Every grade stays what it was: the outputs of every shipped example and seeded synthetic
cohort, under every system and the settings that change grades, compared with the outputs
recorded in tests/regression (rewritten, by `python -m tests.regression.record`, only for a
documented fix)."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from .regression.record import HERE, commands, run, write_cohorts

NAMES = sorted(commands(Path("cohorts")))


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    path = tmp_path_factory.mktemp("regression")
    write_cohorts(path)
    return path


def test_every_recorded_output_is_there():
    assert sorted(p.name.removesuffix(".gz") for p in HERE.glob("*.gz")) == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_output_is_as_recorded(folder, monkeypatch, name):
    monkeypatch.chdir(HERE.parents[1])
    recorded = gzip.decompress((HERE / f"{name}.gz").read_bytes()).decode()
    assert run(commands(folder)[name]) == recorded
