"""The vectorized path and the reference paths write the same grades (differential tests)."""

from __future__ import annotations

import polars as pl
import pytest

import crsgrade
from crsgrade.output import to_csv
from crsgrade.synthetic import write_cohort
from crsgrade.vectorized import Unsupported, VectorGrader, write_csv

from .conftest import ENGINES, EXAMPLE, ROOT, grader_for

SETTINGS = [
    {},
    {"antipyretic_waives_fever": False},
    {"waiver_ends": "never"},
    {"vasopressin_alone_counts": False},
    {"hfnc_at_low_flow": "low_flow", "face_mask_at_low_flow": "low_flow"},
    {"capd_below_age": 13},
]


@pytest.fixture(scope="module")
def cohorts(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cohorts")
    paths = []
    for seed in (1, 2, 3):
        path = folder / f"cohort{seed}.csv"
        write_cohort(path, 1500, seed=seed)
        paths.append(path)
    return paths


@pytest.mark.parametrize("settings", SETTINGS, ids=lambda s: ",".join(f"{k}={v}" for k, v in s.items()) or "defaults")
def test_synthetic_cohorts_grade_the_same(cohorts, settings):
    reference = grader_for("python", **settings)
    vector = VectorGrader(reference)
    for path in cohorts:
        graded, _, rows = vector.grade_csv(path)
        assert write_csv(graded) == to_csv(reference.grade(path)), path
        assert rows >= graded.height


@pytest.mark.parametrize("engine", ENGINES)
def test_every_engine_on_a_cohort(cohorts, engine):
    graded, _, _ = VectorGrader(grader_for("python")).grade_csv(cohorts[0])
    assert write_csv(graded) == to_csv(grader_for(engine).grade(cohorts[0]))


@pytest.mark.parametrize("path", [EXAMPLE, ROOT / "examples" / "cohort.csv"], ids=lambda p: p.name)
def test_examples_grade_the_same(path):
    graded, _, _ = VectorGrader(grader_for("python")).grade_csv(path)
    assert write_csv(graded) == to_csv(grader_for("python").grade(path))


def test_a_file_with_errors_goes_to_the_reference_path(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("day,ice_score\n0,11\n")
    with pytest.raises(Unsupported):
        VectorGrader(grader_for("python")).grade_csv(path)


def test_grade_table_takes_a_polars_frame_with_typed_columns():
    frame = pl.DataFrame({"patient_id": ["a", "a", "b"], "day": [0, 1, 0], "temp_c": [38.4, 37.0, 39.1],
                          "hypotension": [True, True, None], "vasopressors": [0, 1, None],
                          "tocilizumab": [True, None, None]})
    graded = crsgrade.grade_table(frame)
    assert graded.select("patient_id", "day", "crs_grade").rows() == [("a", 0, 2), ("a", 1, 3), ("b", 0, 1)]
    assert graded["fever_waived"].to_list() == [False, True, False]


def test_grade_table_falls_back_for_what_the_vector_path_does_not_take():
    by_day = pl.DataFrame({"day": [0, 1], "temp_c": [38.4, 37.0], "tocilizumab": [True, None],
                           "hypotension": [None, True], "vasopressors": [None, 1]})
    by_date = by_day.drop("day").with_columns(date=pl.Series(["2024-03-14", "2024-03-15"]),
                                              infusion_date=pl.Series(["2024-03-14", None]))
    with pytest.raises(Unsupported):
        VectorGrader(grader_for("python")).grade_table(by_date)
    assert crsgrade.grade_table(by_date).rows() == crsgrade.grade_table(by_day).rows()
    assert crsgrade.grade_table(by_day)["crs_grade"].to_list() == [1, 3]


@pytest.mark.parametrize("name, text", [
    ("long decimals", "day,temp_c\n0,39.00000000001\n1,38.123456789012\n"),
    ("old Mac line ends", "day,temp_c\r0,38.2\r1,37.0\r"),
    ("a short row", "day,temp_c\n1,38\n2\n"),
    ("a row with a value only in an unknown column", "day,temp_c,site\n1,38,x\n,,y\n"),
    ("a tiny flow", "day,temp_c,o2_device,o2_flow_lpm\n1,39,nasal_cannula,0.00001\n"),
    ("an attributed reading with the only ICE score",
     "patient_id,day,ice_score,consciousness,neuro_other_cause\np,0,10,alert,yes\np,0,,alert,\n"),
])
def test_edge_cases_found_by_fuzzing(tmp_path, name, text):
    path = tmp_path / "case.csv"
    path.write_bytes(text.encode())
    try:
        reference = to_csv(grader_for("python").grade(path))
    except crsgrade.ObservationError:
        with pytest.raises(Unsupported):  # a file with errors is the reference path's to report
            VectorGrader(grader_for("python")).grade_csv(path)
        return
    try:
        graded, _, _ = VectorGrader(grader_for("python")).grade_csv(path)
    except Unsupported:
        return
    assert write_csv(graded) == reference


@pytest.mark.parametrize("system", ["lee2014", "ctcae5", "penn", "mskcc", "cartox"])
def test_the_older_systems_take_the_reference_path_with_the_same_result(system, tmp_path):
    with pytest.raises(Unsupported):
        VectorGrader(grader_for("python", system))
    path = tmp_path / "cohort.csv"
    write_cohort(path, 300, seed=11, older_systems=True)
    table = crsgrade.grade_table(pl.read_csv(path, infer_schema=False), system=system)
    assert write_csv(table) == to_csv(grader_for("python", system).grade(path))


def test_a_file_with_the_older_systems_columns_grades_alike_on_both_paths(tmp_path):
    path = tmp_path / "cohort.csv"
    write_cohort(path, 300, seed=11, older_systems=True)
    graded, warnings, _ = VectorGrader(grader_for("python")).grade_csv(path)
    assert warnings == []
    assert write_csv(graded) == to_csv(grader_for("python").grade(path))
    base = tmp_path / "base.csv"
    write_cohort(base, 300, seed=11)
    assert write_csv(graded) == to_csv(grader_for("python").grade(base))  # ASTCT ignores the extra inputs


def test_more_dosed_agents_than_vasopressors_takes_the_reference_path():
    with pytest.raises(Unsupported):
        VectorGrader(grader_for("python")).grade_table(pl.DataFrame({
            "day": ["0"], "hypotension": ["yes"], "vasopressors": ["1"], "norepinephrine_ug_min": ["5"],
            "epinephrine_ug_min": ["2"]}))
