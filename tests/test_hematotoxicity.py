"""Hematotoxicity: every item and grade rule against its examples, the boundaries of each
criterion, how days of neutropenia are counted, and the example's CAR-HEMATOTOX as published."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import crsgrade
from crsgrade.cli import app
from crsgrade.episodes import summarise
from crsgrade.errors import RuleFileError
from crsgrade.hematotoxicity import HEMATOTOX_FILE, ICAHT_FILE, MANIFEST, load_hematotoxicity

EXAMPLE = Path(__file__).parents[1] / "examples" / "dasatinib_case.csv"
SCORES = load_hematotoxicity()
DEFAULTS = SCORES.settings()
CRITERIA = [*SCORES.items, *SCORES.grades]


@dataclass
class Day:
    day: int
    blood: dict[str, Any] = field(default_factory=dict)


def baseline(**values: Any) -> list[Day]:
    return [Day(-5, {"baseline": True, **values})]


def anc(values: dict[int, float]) -> list[Day]:
    return [Day(day, {"anc": value}) for day, value in sorted(values.items())]


def summary(days: list[Day], **settings: Any):
    return SCORES.summary(days, SCORES.settings(settings))


@pytest.mark.parametrize("criterion", CRITERIA, ids=lambda c: c.id)
def test_every_criterion_meets_its_examples(criterion):
    from crsgrade import conditions as cond

    resolved = cond.resolve(criterion.condition, {}, DEFAULTS)
    for example in criterion.examples.matches:
        assert cond.evaluate(resolved, example) is True, example
    for example in criterion.examples.does_not_match:
        assert cond.evaluate(resolved, example) is not True, example


def test_catalogue_every_criterion_cites_a_reference_and_has_examples():
    for criterion in CRITERIA:
        assert criterion.citation.ref in SCORES.manifest.references and criterion.citation.where
        assert criterion.examples.matches and criterion.examples.does_not_match
    assert {g.value for g in SCORES.grades if g.phase == "early"} == {1, 2, 3, 4}
    assert {g.value for g in SCORES.grades if g.phase == "late"} == {1, 2, 3, 4}


# -- CAR-HEMATOTOX ------------------------------------------------------------------------------

@pytest.mark.parametrize(("values", "points"), [
    ({"platelets": 176}, 0), ({"platelets": 175}, 1), ({"platelets": 75}, 1), ({"platelets": 74.9}, 2),
    ({"anc": 1201}, 0), ({"anc": 1200}, 1), ({"anc": 1199}, 1),
    ({"hemoglobin": 9.1}, 0), ({"hemoglobin": 9.0}, 1), ({"hemoglobin": 8.9}, 1),
    ({"crp": 29.9}, 0), ({"crp": 30}, 1), ({"crp": 30.1}, 1),
    ({"ferritin": 649}, 0), ({"ferritin": 650}, 1), ({"ferritin": 2000}, 1), ({"ferritin": 2001}, 2),
])
def test_car_hematotox_boundaries(values, points):
    assert summary(baseline(**values)).car_hematotox_score == points


@pytest.mark.parametrize(("values", "points"), [({"anc": 1200}, 0), ({"hemoglobin": 9.0}, 0), ({"crp": 30}, 0),
                                                ({"anc": 1199}, 1), ({"platelets": 175}, 1)])
def test_a_value_at_a_single_cutoff_by_the_setting(values, points):
    assert summary(baseline(**values), car_hematotox_cutoff_scores=False).car_hematotox_score == points


def test_score_and_risk_with_every_value():
    low = summary(baseline(anc=3000, hemoglobin=12, platelets=200, crp=5, ferritin=300))
    assert (low.car_hematotox_score, low.car_hematotox_max, low.car_hematotox_risk) == (0, 0, "low")
    high = summary(baseline(anc=800, hemoglobin=8, platelets=50, crp=80, ferritin=2500))
    assert (high.car_hematotox_score, high.car_hematotox_risk) == (7, "high")
    assert high.car_hematotox_missing == ()


def test_missing_values_make_the_score_a_lower_bound_and_the_risk_unknown_when_they_could_change_it():
    partial = summary(baseline(anc=3000, hemoglobin=12, platelets=200))
    assert (partial.car_hematotox_score, partial.car_hematotox_max) == (0, 3)
    assert partial.car_hematotox_risk is None and partial.car_hematotox_missing == ("crp", "ferritin")
    nothing = summary([Day(0, {"anc": 3000})])
    assert nothing.car_hematotox_score is None and nothing.car_hematotox_risk is None


def test_the_latest_baseline_draw_counts_and_only_rows_marked_baseline():
    days = [Day(-10, {"baseline": True, "platelets": 50}), Day(-5, {"baseline": True, "platelets": 200}),
            Day(-3, {"platelets": 10})]
    assert summary(days).car_hematotox_rules == ()


def test_the_example_scores_the_published_2_as_a_lower_bound():
    result = summarise(crsgrade.grade(EXAMPLE)).patients[0].hematotoxicity
    assert result.car_hematotox_score == 2 and result.car_hematotox_risk == "high"
    assert result.car_hematotox_rules == ("HEMATOTOX-FERRITIN-2",)  # CRP 19.5 mg/L scores none
    assert result.car_hematotox_missing == ("anc", "hemoglobin", "platelets")


# -- ICAHT ---------------------------------------------------------------------------------------

def days_low(first: int, last: int, value: float = 300, until: int = 40, high: float = 2000) -> dict[int, float]:
    return {day: value if first <= day <= last else high for day in range(0, until)}


@pytest.mark.parametrize(("low_days", "grade"), [(0, 0), (1, 1), (6, 1), (7, 2), (13, 2), (14, 3), (20, 3)])
def test_early_icaht_by_days_at_or_below_500(low_days, grade):
    values = days_low(2, 1 + low_days) if low_days else days_low(99, 99)
    assert summary(anc(values)).icaht_early_grade == grade


@pytest.mark.parametrize(("low_days", "grade"), [(6, 1), (7, 3), (13, 3), (14, 4)])
def test_early_icaht_by_days_at_or_below_100(low_days, grade):
    assert summary(anc(days_low(2, 1 + low_days, value=100))).icaht_early_grade == grade


def test_thresholds_include_their_value():
    assert summary(anc(days_low(2, 3, value=500))).icaht_early_grade == 1
    assert summary(anc(days_low(2, 3, value=501))).icaht_early_grade == 0


def test_never_recovered_through_days_0_to_30_is_grade_4():
    result = summary(anc(days_low(0, 39)))
    assert result.icaht_early_grade == 4 and "ICAHT-EARLY-4-NOT-RECOVERED" in result.icaht_early_rules


@pytest.mark.parametrize("first_low", [-2, -5])
def test_neutropenia_begun_before_day_0_counts_from_day_0(first_low):
    values = {day: 300 for day in range(first_low, 46)}
    assert summary(anc(values)).icaht_early_rules == ("ICAHT-EARLY-4-NOT-RECOVERED",)
    days = [Day(-5, {"baseline": True, "anc": 400}), *anc({day: 300 for day in range(0, 40)})]
    assert summary(days).icaht_early_grade == 4
    assert summary(anc({-2: 300, 6: 300, 7: 2000, 8: 2000, 9: 2000})).icaht_early_grade == 2  # days 0-6


def test_a_late_onset_still_low_on_day_30_is_graded_by_its_days():
    assert summary(anc(days_low(20, 39))).icaht_early_grade == 2  # days 20-30: 11 days
    assert summary(anc(days_low(30, 30))).icaht_early_grade == 1
    assert summary(anc(days_low(29, 35))).icaht_early_grade == 1  # days 29-30 in the window


def test_a_record_stopping_inside_an_episode_before_day_30_says_how_far_it_went():
    result = summary(anc({day: 300 for day in range(5, 12)}))
    assert result.icaht_early_grade == 2 and result.icaht_early_last_day == 11  # 7 days; could be higher
    stopped = summary(anc({day: 300 for day in range(0, 12)}))
    assert stopped.icaht_early_grade == 2 and stopped.icaht_early_last_day == 11  # recovery not known


def test_days_after_a_recorded_death_are_not_read():
    rows = [{"patient_id": "p", "day": day, "anc": 300} for day in range(0, 11)]
    rows[-1]["death_cause"] = "other"
    rows += [{"patient_id": "p", "day": day, "anc": 50} for day in range(11, 45)]
    result = summarise(crsgrade.grade(rows)).patients[0].hematotoxicity
    assert (result.icaht_early_grade, result.icaht_late_grade) == (2, None)  # days 0-10: 11 days


def test_a_recovery_shorter_than_three_values_stays_inside_the_episode():
    values = days_low(2, 10) | {5: 900, 6: 900}  # two days above 500: still one episode of 9 days
    assert summary(anc(values)).icaht_early_grade == 2
    values = {day: (300 if 2 <= day <= 4 or 8 <= day <= 11 else 2000) for day in range(0, 40)}
    assert summary(anc(values)).icaht_early_grade == 2  # 3 + 4 = 7 days cumulative
    assert summary(anc(values), icaht_early_duration="longest_episode").icaht_early_grade == 1


def test_days_are_calendar_days_gaps_included():
    assert summary(anc({2: 300, 9: 300, 10: 2000, 11: 2000, 12: 2000, 35: 2000})).icaht_early_grade == 2


def test_no_anc_in_the_window_is_no_grade():
    assert summary([Day(0, {"platelets": 50})]).icaht_early_grade is None


@pytest.mark.parametrize(("second_lowest", "grade"), [(1501, 0), (1500, 1), (1000, 2), (501, 2), (500, 3),
                                                       (100, 4)])
def test_late_icaht_by_the_second_lowest_value_after_day_30(second_lowest, grade):
    values = {0: 3000, 40: 50, 50: second_lowest, 60: 5000}
    assert summary(anc(values)).icaht_late_grade == grade


def test_one_low_late_value_is_transient():
    assert summary(anc({0: 3000, 40: 50, 50: 3000})).icaht_late_grade == 0
    assert summary(anc({0: 3000, 40: 50})).icaht_late_grade is None  # one value: not gradable


# -- EASIX, G-CSF ------------------------------------------------------------------------------

def test_easix_and_m_easix_are_values():
    result = summary([Day(-5, {"baseline": True, "ldh": 300, "creatinine": 1.2, "platelets": 150, "crp": 50}),
                      Day(3, {"ldh": 600, "creatinine": 2.0, "platelets": 60}), Day(4, {"gcsf": True}),
                      Day(5, {"gcsf": True})])
    assert result.easix_baseline == 2.4 and result.m_easix_baseline == 10.0  # 300 × 5.0 mg/dL / 150
    assert result.easix_by_day == {3: 20.0} and result.gcsf_days == 2


# -- the command line -------------------------------------------------------------------------

def test_summary_csv_carries_the_hematotoxicity_fields():
    out = CliRunner().invoke(app, ["summary", str(EXAMPLE), "-f", "csv", "-q"]).stdout
    (row,) = csv.DictReader(io.StringIO(out))
    assert (row["car_hematotox_score"], row["car_hematotox_risk"], row["icaht_early_grade"],
            row["easix_baseline"]) == ("2", "high", "", "")
    assert row["car_hematotox_missing"] == "anc hemoglobin platelets"


def test_summary_takes_the_scores_settings():
    runner = CliRunner()
    out = runner.invoke(app, ["summary", str(EXAMPLE), "-f", "json", "-q",
                              "--set", "icaht_early_duration=longest_episode"]).stdout
    assert json.loads(out)["settings"]["icaht_early_duration"] == "longest_episode"
    bad = runner.invoke(app, ["summary", str(EXAMPLE), "--set", "icaht_early_duration=median"])
    assert bad.exit_code == 1 and "choose one of cumulative, longest_episode" in bad.stderr


def test_rules_prints_the_tables_from_the_rule_files():
    runner = CliRunner()
    icaht = runner.invoke(app, ["rules", "--syndrome", "icaht"]).stdout
    assert "ICAHT-EARLY-4-NOT-RECOVERED" in icaht and "Rejeski et al. 2023" in icaht
    score = runner.invoke(app, ["rules", "--syndrome", "car_hematotox"]).stdout
    assert "HEMATOTOX-FERRITIN-2" in score and "car_hematotox_cutoff_scores" in score


def test_a_baseline_after_infusion_is_refused(tmp_path):
    path = tmp_path / "obs.csv"
    path.write_text("patient_id,day,platelets,baseline\np,2,50,yes\n")
    result = CliRunner().invoke(app, ["summary", str(path)])
    assert result.exit_code == 1
    assert "obs.csv:2:baseline: value 'yes' on day 2; the baseline draw is before lymphodepletion" in result.stderr


# -- the rule files are data, checked when loaded -------------------------------------------

def copy_rules(tmp_path: Path) -> Path:
    for name in (MANIFEST, HEMATOTOX_FILE, ICAHT_FILE):
        (tmp_path / name).write_bytes((SCORES.directory / name).read_bytes())
    return tmp_path


def test_an_unknown_fact_in_a_score_file_is_refused(tmp_path):
    folder = copy_rules(tmp_path)
    path = folder / HEMATOTOX_FILE
    path.write_text(path.read_text().replace("when: {platelets: {lt: 75}}", "when: {platelet: {lt: 75}}"))
    with pytest.raises(RuleFileError, match="unknown fact 'platelet'"):
        load_hematotoxicity(folder)


def test_an_unknown_reference_is_refused(tmp_path):
    folder = copy_rules(tmp_path)
    path = folder / ICAHT_FILE
    path.write_text(path.read_text().replace("ref: rejeski2023, where: \"Table 2, early ICAHT grade 1\"",
                                             "ref: nobody2020, where: \"x\""))
    with pytest.raises(RuleFileError, match="unknown reference 'nobody2020'"):
        load_hematotoxicity(folder)


def test_the_report_and_explain_show_hematotoxicity(tmp_path):
    runner = CliRunner()
    example = EXAMPLE.parent / "hematotoxicity.csv"
    report = tmp_path / "report.html"
    assert runner.invoke(app, ["report", str(example), "-o", str(report), "-q"]).exit_code == 0
    page = report.read_text(encoding="utf-8")
    assert page.count("<h3>Hematotoxicity</h3>") == 2 and "ICAHT-EARLY-3-ANC-500-14-DAYS" in page
    assert "Rejeski K, Subklewe M" in page  # the scores' references join the system's
    shown = runner.invoke(app, ["explain", str(example), "--patient", "H01", "--day", "12", "-q"]).stdout
    assert "blood: ANC 320.0 /µL, platelets 48.0 ×10⁹/L, G-CSF given" in " ".join(shown.split()).replace("│ ", "")


@pytest.mark.parametrize(("header", "cell", "column", "value"), [
    ("ANC (G/L)", "1.1", "anc", 1100.0), ("Hemoglobin (g/L)", "85", "hemoglobin", 8.5),
    ("CRP (mg/dL)", "4.5", "crp", 45.0), ("Creatinine (µmol/L)", "88.42", "creatinine", 1.0),
    ("Bilirubin (µmol/L)", "34.2", "bilirubin", 2.0), ("Fibrinogen (g/L)", "1.5", "fibrinogen", 150.0),
])
def test_values_in_another_unit_are_converted(tmp_path, header, cell, column, value):
    path = tmp_path / "obs.csv"
    path.write_text(f"patient_id,day,{header}\np,-5,{cell}\n", encoding="utf-8")
    day = crsgrade.grade(path).patient("p").day(-5)
    assert day.blood.get(column, value) == pytest.approx(value)
    from crsgrade.grading import Grader

    frame = Grader(engine="python").grade_frame(path)
    assert frame[column].item() == pytest.approx(value)


def test_a_value_given_in_both_units_must_agree(tmp_path):
    path = tmp_path / "obs.csv"
    path.write_text("patient_id,day,hemoglobin,hemoglobin_g_l\np,-5,9.0,120\np,-4,9.0,90\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["check", str(path)])
    assert result.exit_code == 1
    assert "obs.csv:2:hemoglobin: value '9.0' disagrees with hemoglobin_g_l 120 (12 g/dL)" in result.stderr
    assert "obs.csv:3" not in result.stderr


def test_compare_shows_hematotoxicity_once_for_every_system():
    example = EXAMPLE.parent / "hematotoxicity.csv"
    comparison = crsgrade.compare(example, systems=["astct2019", "penn"])
    assert set(comparison.hematotoxicity) == {"H01", "H02"}
    assert comparison.hematotoxicity["H01"].icaht_early_grade == 3
    shown = CliRunner().invoke(app, ["compare", str(example), "--systems", "astct2019,penn", "-q"]).stdout
    assert "Hematotoxicity (the same under every system)" in shown
    assert crsgrade.compare(EXAMPLE.parent / "cohort.csv").hematotoxicity == {}


def test_settings_lists_the_scores_settings():
    out = CliRunner().invoke(app, ["settings"]).stdout
    assert "Settings of the hematotoxicity scores" in out
    assert "car_hematotox_cutoff_scores = true" in out and "icaht_early_duration = cumulative" in out


def test_an_early_grade_from_a_record_ending_before_day_30_could_be_higher():
    short = summary(anc({day: 300 for day in range(5, 12)}))
    assert short.icaht_early_could_be_higher and short.early_text() == "2+ (ANC to day 11)"
    full = summary(anc(days_low(5, 11)))
    assert not full.icaht_early_could_be_higher and full.early_text() == "2"


def test_compare_takes_the_scores_settings():
    example = EXAMPLE.parent / "hematotoxicity.csv"
    values = {day: (300 if 2 <= day <= 4 or 8 <= day <= 11 else 2000) for day in range(0, 40)}
    rows = [{"patient_id": "p", "day": day, "anc": value} for day, value in values.items()]
    assert crsgrade.compare(rows, systems=["astct2019"]).hematotoxicity["p"].icaht_early_grade == 2
    longest = crsgrade.compare(rows, systems=["astct2019"], settings={"icaht_early_duration": "longest_episode"})
    assert longest.hematotoxicity["p"].icaht_early_grade == 1
    result = CliRunner().invoke(app, ["compare", str(example), "-q", "--set", "icaht_early_duration=longest_episode"])
    assert result.exit_code == 0, result.output


def test_anc_that_looks_like_g_per_l_is_warned_about(tmp_path):
    path = tmp_path / "obs.csv"
    path.write_text("patient_id,day,Neutrophils\np,0,1.1\np,1,0.9\nq,0,800\nr,0,12\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["check", str(path)])
    assert result.exit_code == 0
    assert ("obs.csv:2:anc: patient p has ANC values of at most 1.1, which look like ×10⁹/L: give them as"
            " anc_10_9_l") in result.stderr
    assert "patient q" not in result.stderr and "patient r" not in result.stderr  # whole numbers: /µL
