"""The one pipeline: batches of whole patients, every input form, distinct fact combinations."""

from __future__ import annotations

import json

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import crsgrade
from crsgrade import conditions as cond
from crsgrade import sources
from crsgrade.evaluation import _Part
from crsgrade.output import to_csv
from crsgrade.synthetic import write_cohort

from .conftest import EXAMPLE, always_in_batches, grader_for


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    path = tmp_path_factory.mktemp("pipeline") / "cohort.csv"
    write_cohort(path, 1200, seed=5, older_systems=True)
    return path


def graded_csv(path, system="astct2019", **options) -> str:
    return to_csv(grader_for("python", system).grade(path, **options))


@pytest.mark.parametrize("system", ["astct2019", "lee2014", "cartox"])
def test_batches_grade_like_one_batch(cohort, monkeypatch, system):
    whole = graded_csv(cohort, system)
    monkeypatch.setattr(sources, "BATCH_BYTES", 3000)  # dozens of batches, patients cut across them
    monkeypatch.setattr(sources, "open_path", always_in_batches(sources.open_path))
    assert graded_csv(cohort, system) == whole


def test_explain_json_streams_batches_like_one_batch(cohort, tmp_path, monkeypatch):
    """explain --format json writes each batch as it is graded, keeping only so many written
    parts, grades and explanations for reuse: the same bytes as from one batch with every one
    kept; a --patient the file does not have leaves no file."""
    from typer.testing import CliRunner

    from crsgrade import rendering
    from crsgrade.cli import app

    def explained(name: str, *options: str):
        out = tmp_path / name
        result = CliRunner().invoke(app, ["explain", str(cohort), "-f", "json", "-o", str(out), "-q", *options])
        return result, out

    result, whole = explained("whole.json")
    assert result.exit_code == 0, result.output
    monkeypatch.setattr(sources, "BATCH_BYTES", 3000)
    monkeypatch.setattr(sources, "open_path", always_in_batches(sources.open_path))
    monkeypatch.setattr(rendering, "_KEPT_PARTS", 5)
    monkeypatch.setattr(rendering, "_KEPT_GRADES", 5)
    result, batched = explained("batched.json")
    assert result.exit_code == 0, result.output
    assert batched.read_bytes() == whole.read_bytes()
    result, missing = explained("missing.json", "--patient", "nobody")
    assert result.exit_code == 1 and "no patient 'nobody' in the file" in result.output
    assert not missing.exists()


def test_grade_json_streams_batches_as_the_whole_result(cohort, tmp_path, monkeypatch):
    """grade --format json writes each batch's patients as they are graded, and the counts and
    warnings last: the same bytes as the whole GradingResult's JSON, from one batch or dozens,
    with every grade kept for reuse or only a few."""
    from typer.testing import CliRunner

    from crsgrade import rendering
    from crsgrade.cli import app

    def graded(name: str) -> bytes:
        out = tmp_path / name
        result = CliRunner().invoke(app, ["grade", str(cohort), "-f", "json", "-o", str(out), "-q",
                                          "--engine", "python", "--skip-invalid"])
        assert result.exit_code == 0, result.output
        return out.read_bytes()

    result = grader_for("python", "astct2019").grade(cohort, skip_invalid=True)
    expected = result.model_dump_json(indent=2) + "\n"
    assert graded("whole.json").decode() == expected
    monkeypatch.setattr(sources, "BATCH_BYTES", 3000)
    monkeypatch.setattr(sources, "open_path", always_in_batches(sources.open_path))
    assert graded("batched.json").decode() == expected
    monkeypatch.setattr(rendering, "_KEPT_GRADES", 5)
    assert graded("forgetful.json").decode() == expected


EDGES = ("patient_id,day,age_years,temp_c,tocilizumab,o2_device,o2_flow_lpm,ice_score,anc,platelets,death_cause,note\n"
         '"Zoë ""x""",0,8,38.4,,face_mask,4,7,0,-0.0,,\n'
         '"Zoë ""x""",1,8,39.0,yes,nasal_cannula,2,,-0,1,,"a, note"\n'
         '"Zoë ""x""",2,8,38.0,,,,3,-0.0,0,crs,\n'
         '"Zoë ""x""",3,8,37.0,,,,,1.5,,,\n'
         "P2,0,40,39.5,,high_flow_nasal_cannula,30,10,,,,\n")


@pytest.mark.parametrize("name", ["cohort", "dasatinib_case", "hematotoxicity", "regrading", "edges"])
@pytest.mark.parametrize("system", ["astct2019", "penn"])
def test_grade_json_is_the_results_json(name, system, tmp_path):
    """grade --format json puts each day together from pieces written once; it must be the
    bytes of the typed result's JSON: after a death, with -0.0 and 0.0 blood values, quotes and
    accents in a patient id, a note, a waiver."""
    from typer.testing import CliRunner

    from crsgrade.cli import app

    path = EXAMPLE.with_name(f"{name}.csv")
    if name == "edges":
        path = tmp_path / "edges.csv"
        path.write_text(EDGES, encoding="utf-8")
    out = tmp_path / "out.json"
    result = CliRunner().invoke(app, ["grade", str(path), "--system", system, "-f", "json", "-o", str(out), "-q",
                                      "--engine", "python"])
    assert result.exit_code == 0, result.output
    expected = grader_for("python", system).grade(path).model_dump_json(indent=2) + "\n"
    assert out.read_text(encoding="utf-8") == expected


def test_summary_of_batches_is_the_summary_of_the_whole(cohort, tmp_path, monkeypatch):
    """summary writes each batch's patients as they come, keeping only the figures' few numbers
    a patient and the days with an investigator's grade: from dozens of batches, the same JSON
    and CSV as the summary of the typed result."""
    import polars as pl
    from typer.testing import CliRunner

    from crsgrade.cli import app
    from crsgrade.episodes import summarise
    from crsgrade.views import summary_csv

    reported = tmp_path / "reported.csv"
    frame = pl.read_csv(cohort, infer_schema=False)
    frame.with_columns((pl.int_range(pl.len()) % 4).cast(pl.String).alias("reported_crs_grade")).write_csv(reported)
    expected = summarise(grader_for("python", "astct2019").grade(reported)).model_dump_json(indent=2) + "\n"
    assert '"days_compared"' in expected
    monkeypatch.setattr(sources, "BATCH_BYTES", 3000)
    monkeypatch.setattr(sources, "open_path", always_in_batches(sources.open_path))
    out = tmp_path / "summary.json"
    options = ["-f", "json", "-o", str(out), "-q", "--engine", "python"]
    result = CliRunner().invoke(app, ["summary", str(reported), *options])
    assert result.exit_code == 0, result.output
    assert out.read_text() == expected
    rows = tmp_path / "summary.csv"
    options = ["-f", "csv", "-o", str(rows), "-q", "--engine", "python"]
    result = CliRunner().invoke(app, ["summary", str(reported), *options])
    assert result.exit_code == 0, result.output
    assert rows.read_text() == summary_csv(summarise(grader_for("python", "astct2019").grade(reported)).patients)


def test_compare_json_of_batches_is_the_comparison_of_the_whole(cohort, tmp_path, monkeypatch):
    """compare writes each batch's days as they come, keeping a patient's highest grades: from
    dozens of batches, the same JSON as the whole comparison, with the input's counts and
    warnings (known only at the end) before the days."""
    from typer.testing import CliRunner

    from crsgrade import rendering
    from crsgrade.cli import app

    path = tmp_path / "cohort.csv"
    text = cohort.read_text()
    bad = {"patient_id": "zz", "day": "3", "temp_c": "hot"}  # the last row: skipped, known only at the end
    path.write_text(text + ",".join(bad.get(c, "") for c in text.partition("\n")[0].split(",")) + "\n")
    expected = crsgrade.compare(path, ["astct2019", "penn", "lee2014"], engine="python",
                                skip_invalid=True).model_dump_json(indent=2) + "\n"
    assert '"rows_rejected": 1' in expected
    monkeypatch.setattr(sources, "BATCH_BYTES", 3000)
    monkeypatch.setattr(sources, "open_path", always_in_batches(sources.open_path))
    monkeypatch.setattr(rendering, "_KEPT_GRADES", 5)
    out = tmp_path / "compared.json"
    result = CliRunner().invoke(app, ["compare", str(path), "--systems", "astct2019,penn,lee2014", "-f", "json",
                                      "-o", str(out), "-q", "--engine", "python", "--skip-invalid"])
    assert result.exit_code == 0, result.output
    assert out.read_text() == expected


def test_quoted_cells_across_batches(tmp_path, monkeypatch):
    rows = ["patient_id,day,temp_c,note"]
    for patient in range(30):
        for day in range(6):
            rows.append(f'p{patient},{day},{37 + (day % 3) * 0.8:.1f},"first line, with a comma\nsecond ""line"""')
    path = tmp_path / "quoted.csv"
    path.write_text("\n".join(rows) + "\n")
    whole = graded_csv(path)
    monkeypatch.setattr(sources, "BATCH_BYTES", 500)
    monkeypatch.setattr(sources, "open_path", always_in_batches(sources.open_path))
    assert graded_csv(path) == whole
    result = grader_for("python").grade(path)
    assert result.input.rows_read == 180 and result.days()[1].note == 'first line, with a comma\nsecond "line"'


def test_patients_not_together_are_read_whole_with_a_warning(tmp_path, monkeypatch):
    rows = ["patient_id,day,temp_c,hypotension,tocilizumab"]
    for day in range(40):
        for patient in ("a", "b"):
            rows.append(f"{patient},{day},{38.5 if day < 5 else 37.0},{'yes' if day < 8 else 'no'},"
                        f"{'yes' if day == 1 else ''}")
    path = tmp_path / "interleaved.csv"
    path.write_text("\n".join(rows) + "\n")
    whole = graded_csv(path)
    monkeypatch.setattr(sources, "BATCH_BYTES", 400)
    monkeypatch.setattr(sources, "open_path", always_in_batches(sources.open_path))
    result = grader_for("python").grade(path)
    assert to_csv(result) == whole
    assert any("the rows of some patients are not together" in w for w in result.warnings)
    assert result.input.rows_read == 80


def test_every_problem_of_every_batch_is_reported(tmp_path, monkeypatch):
    rows = ["patient_id,day,ice_score"] + [f"p{n},{d},{10 if (n, d) not in ((1, 2), (40, 3)) else 11}"
                                          for n in range(60) for d in range(5)]
    path = tmp_path / "bad.csv"
    path.write_text("\n".join(rows) + "\n")
    monkeypatch.setattr(sources, "BATCH_BYTES", 300)
    monkeypatch.setattr(sources, "open_path", always_in_batches(sources.open_path))
    with pytest.raises(crsgrade.ObservationError) as info:
        grader_for("python").grade(path)
    assert [p.split(":")[1] for p in info.value.problems] == ["9", "205"]


def test_every_input_form_grades_alike(cohort, tmp_path):
    frame = pl.read_csv(cohort, infer_schema=False)
    expected = graded_csv(cohort)
    dated = frame.with_columns(
        (pl.date(2024, 3, 14) + pl.duration(days=pl.col("day").cast(pl.Int64))).cast(pl.String).alias("date"),
        pl.lit("2024-03-14").alias("infusion_date")).drop("day")
    dated_path = tmp_path / "dated.csv"
    dated.write_csv(dated_path)
    records = [{k: v for k, v in row.items() if v not in (None, "")} for row in frame.to_dicts()]
    lines = tmp_path / "cohort.jsonl"
    lines.write_text("".join(json.dumps(r) + "\n" for r in records))
    array = tmp_path / "cohort.json"
    array.write_text(json.dumps(records))
    semicolons = tmp_path / "european.csv"
    semicolons.write_text(cohort.read_text().replace(",", ";").replace(".", ","))
    for source in (dated_path, lines, array, semicolons, records, frame, frame.to_arrow(), frame.to_pandas()):
        assert to_csv(grader_for("python").grade(source)) == expected, type(source)


def test_a_day_grades_alone_as_it_does_in_its_course(cohort):
    result = grader_for("python").grade(cohort)
    rows = pl.read_csv(cohort, infer_schema=False).to_dicts()
    checked = 0
    for day in result.days()[::37]:
        if day.fever_waived or day.readings > 1:
            continue  # a waived day depends on the days before it
        mine = [{k: v for k, v in r.items() if v not in (None, "")} for r in rows
                if r["patient_id"] == day.patient_id and int(r["day"]) == day.day]
        patient_age = next(r["age_years"] for r in rows if r["patient_id"] == day.patient_id and r["age_years"])
        alone = grader_for("python").grade([{**mine[0], "age_years": patient_age}]).days()[0]
        assert (alone.crs, alone.icans) == (day.crs, day.icans), (day.patient_id, day.day)
        checked += 1
    assert checked > 10


def test_grade_table_takes_a_polars_frame_with_typed_columns():
    frame = pl.DataFrame({"patient_id": ["a", "a", "b"], "day": [0, 1, 0], "temp_c": [38.4, 37.0, 39.1],
                          "hypotension": [True, True, None], "vasopressors": [0, 1, None],
                          "tocilizumab": [True, None, None]})
    graded = crsgrade.grade_table(frame)
    assert graded.select("patient_id", "day", "crs_grade").rows() == [("a", 0, 2), ("a", 1, 3), ("b", 0, 1)]
    assert graded["fever_waived"].to_list() == [False, True, False]


def test_a_typed_table_is_judged_like_cells():
    with pytest.raises(crsgrade.ObservationError) as info:
        crsgrade.grade_table(pl.DataFrame({"day": [True, False], "temp_c": [38.0, float("inf")]}))
    assert info.value.problems == ["table:1:day: value 'true' — expected a whole number from -365 to 3650",
                                   "table:2:day: value 'false' — expected a whole number from -365 to 3650",
                                   "table:2:temp_c: value 'inf' — expected a number from 25 to 45"]


# --- distinct fact combinations ------------------------------------------------------------------

@settings(max_examples=300, deadline=None)
@given(thresholds=st.lists(st.integers(-5, 40), min_size=1, max_size=6, unique=True),
       value=st.one_of(st.none(), st.integers(-10, 50), st.floats(-10, 50).map(lambda x: round(x, 2))))
def test_a_number_tests_as_its_representative_does(thresholds, value):
    part = _Part("ice_total", "number", tuple(sorted(thresholds)))
    code = pl.DataFrame({"f.ice_total": [value]}, schema={"f.ice_total": pl.Float64}).select(part.code()).item()
    representative = part.value(code)
    for threshold in thresholds:
        for op in ("eq", "ne", "lt", "lte", "gt", "gte"):
            test = cond.Test("ice_total", op, threshold)
            assert cond.evaluate(test, {"ice_total": representative}) == cond.evaluate(test, {"ice_total": value})


def test_a_cohort_has_few_distinct_combinations(cohort):
    grader = crsgrade.Grader(engine="python")
    frame = grader.grade_frame(cohort)
    assert len(grader.evaluation.outcomes.items) < frame.height / 4
