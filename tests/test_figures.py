"""The figures: what they show, checked on the figure model and in the SVG they draw."""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from crsgrade import Grader
from crsgrade.figures import (
    GRADE_COLOURS,
    HEATMAP_ABOVE,
    NOT_ASSESSED_COLOUR,
    cohort_figure,
    courses,
    grade_legend,
)

from .conftest import EXAMPLE, ROOT
from .test_cli import run

SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture(scope="module")
def seed():
    result, figures = courses(Grader(engine="python"), EXAMPLE)
    return result, figures["case1"]


def rows(*days: dict) -> list[dict]:
    return [{"patient_id": "p", **day} for day in days]


def course_of(records: list[dict], system: str = "astct2019"):
    _, figures = courses(Grader(engine="python", system=system), records)
    return next(iter(figures.values()))


# --- the course figure, as a model ---------------------------------------------------------------

def test_seed_case_lanes_and_range(seed):
    _, figure = seed
    assert figure.keys == ("temperature", "oxygen", "vasopressors", "treatments", "labs", "grades")
    assert figure.x_range == (-5.5, 13.5)  # from the baseline draw on day -5
    temperature = figure.panel("temperature")
    assert temperature.reference_lines == ((38.0, "38 °C"),)
    assert temperature.series[0].values[:2] == (38.1, 38.9)
    oxygen = figure.panel("oxygen").step_lane
    assert oxygen.levels == ("none", "low flow", "high flow", "positive pressure")
    by_day = dict(zip(oxygen.days, oxygen.values, strict=True))
    assert by_day[-5] is None and by_day[0] == 0 and by_day[7] == 3  # room air, then intubation on day 7
    vasopressors = figure.panel("vasopressors").step_lane
    assert dict(zip(vasopressors.days, vasopressors.values, strict=True))[3] == 1
    labs = {series.name: dict(zip(series.days, series.values, strict=True)) for series in figure.panel("labs").series}
    assert labs["ferritin (ng/mL)"] == {-5: 2598.0, 5: 77945.0} and labs["CRP (mg/L)"] == {-5: 19.5}


def test_treatment_lanes_include_other_named_therapies(seed):
    _, figure = seed
    lanes = {lane.name: lane.days for lane in figure.panel("treatments").event_lanes}
    assert lanes["tocilizumab"] == (0, 3, 4)
    assert lanes["siltuximab"] == (6,)
    assert lanes["dasatinib"] == tuple(range(7, 14))
    assert list(lanes)[-1] == "dasatinib"  # the contract's therapies first, then others by name


def test_grade_strips_print_every_grade(seed):
    result, figure = seed
    strips = {s.name: s for s in figure.panel("grades").strips}
    assert list(strips) == ["CRS", "ICANS"]
    days = [d for d in result.patients[0].days if d.day >= 0]
    for name, syndrome in (("CRS", "crs"), ("ICANS", "icans")):
        tiles = strips[name].tiles
        assert [t.day for t in tiles] == list(range(-5, 14))
        before, after = tiles[:5], tiles[5:]  # days -5 to -1: no grade (the baseline draw, then no record)
        assert all(t.label == "–" and t.hatched for t in before)
        assert [t.label for t in after] == [str(d.syndrome(syndrome).grade) for d in days]
        assert all(t.colour == GRADE_COLOURS[t.grade] and not t.hatched for t in after)
    icans_day7 = strips["ICANS"].tiles[12]
    assert (icans_day7.label, icans_day7.text_colour) == ("4", "#ffffff")


def test_not_assessed_is_not_grade_0():
    figure = course_of(rows({"day": 0, "temp_c": 37.0}, {"day": 3, "temp_c": 37.2},
                            {"day": 4, "o2_device": "nasal_cannula", "o2_flow_lpm": 2}))
    crs = figure.panel("grades").strips[0].tiles
    assert [t.day for t in crs] == [0, 1, 2, 3, 4]
    assert crs[0].label == "0" and crs[0].colour == GRADE_COLOURS[0] and not crs[0].hatched
    for missing in (crs[1], crs[2], crs[4]):  # days 1-2 not recorded; day 4 not gradable (no temperature)
        assert missing.grade is None and missing.label == "–" and missing.hatched
        assert missing.colour == NOT_ASSESSED_COLOUR != GRADE_COLOURS[0]


def test_negative_days_and_day_zero_always_in_range():
    assert course_of(rows({"day": -3, "temp_c": 37.0}, {"day": 2, "temp_c": 38.2})).x_range == (-3.5, 2.5)
    assert course_of(rows({"day": 4, "temp_c": 37.0}, {"day": 6, "temp_c": 38.2})).x_range == (-0.5, 6.5)


def test_blood_pressure_and_laboratory_panels_appear_when_recorded():
    figure = course_of(rows(
        {"day": 0, "temp_c": 38.5, "sbp_min": 95, "dbp_min": 55, "ferritin": 1200, "il6": 85},
        {"day": 1, "temp_c": 39.0, "sbp_min": 82, "ferritin": 5400, "car_t_per_ul": 140},
    ))
    assert figure.keys == ("temperature", "blood_pressure", "oxygen", "vasopressors", "labs", "grades")
    bp = {s.name: s for s in figure.panel("blood_pressure").series}
    assert bp["systolic (lowest)"].values == (95.0, 82.0) and bp["diastolic (lowest)"].days == (0,)
    labs = figure.panel("labs")
    assert labs.log
    assert [s.name for s in labs.series] == ["ferritin (ng/mL)", "IL-6 (pg/mL)", "CAR T cells (cells/µL)"]


def test_a_crs_only_system_draws_one_strip():
    figure = course_of(rows({"day": 0, "temp_c": 38.5}), system="lee2014")
    assert [s.name for s in figure.panel("grades").strips] == ["CRS"]
    assert figure.panel("oxygen").step_lane.levels == ("none", "supplemental", "ventilator")


def test_grade_colours_are_ordered_by_lightness():
    """Ordered from light to dark, so the scale reads in grey and for colour-blind readers."""
    def luminance(colour: str) -> float:
        r, g, b = (int(colour[i:i + 2], 16) / 255 for i in (1, 3, 5))
        return 0.2126 * r + 0.7152 * g + 0.0722 * b

    values = [luminance(GRADE_COLOURS[g]) for g in range(6)]
    assert values == sorted(values, reverse=True)
    assert [t.label for t in grade_legend()] == ["0", "1", "2", "3", "4", "5", "–"]


# --- the cohort figure -------------------------------------------------------------------------------

def test_cohort_rows_sorted_by_highest_grade_then_onset():
    result = Grader(engine="python").grade(ROOT / "examples" / "cohort.csv")
    figure = cohort_figure(result)
    assert [r.patient_id for r in figure.rows] == ["P02", "P03", "P01", "P04"]
    assert not figure.heatmap
    p02 = figure.rows[0]
    assert [s.name for s in p02.strips] == ["CRS", "ICANS"]
    assert (1, "tocilizumab") in p02.markers
    crs = next(d for d in figure.distributions if d.syndrome == "CRS")
    assert dict(crs.counts) == {0: 1, 1: 0, 2: 2, 3: 1, 4: 0, 5: 0, None: 0}


def test_cumulative_incidence_rises_to_the_share_of_patients_with_an_episode():
    result = Grader(engine="python").grade(ROOT / "examples" / "cohort.csv")
    curves = {s.name: s for s in cohort_figure(result).incidence}
    assert set(curves) == {"CRS any grade", "CRS grade ≥ 3", "ICANS any grade", "ICANS grade ≥ 3"}
    for curve in curves.values():
        assert list(curve.values) == sorted(curve.values)
    assert curves["CRS any grade"].values[-1] == 75.0
    assert curves["CRS grade ≥ 3"].values[-1] == 25.0
    assert curves["ICANS any grade"].days[0] == 0 and curves["ICANS any grade"].values[0] == 0.0


def test_distribution_under_several_systems_and_a_heat_map_for_large_cohorts(tmp_path):
    from crsgrade.synthetic import write_cohort

    path = tmp_path / "cohort.csv"
    write_cohort(path, 1500, seed=5)
    result = Grader(engine="python").grade(path)
    lee = Grader(engine="python", system="lee2014").grade(path)
    figure = cohort_figure(result, [lee])
    assert len(figure.rows) > HEATMAP_ABOVE and figure.heatmap
    assert [(d.system, d.syndrome) for d in figure.distributions] == [
        ("ASTCT 2019", "CRS"), ("ASTCT 2019", "ICANS"), ("Lee 2014", "CRS")]
    assert all(sum(n for _, n in d.counts) == len(result.patients) for d in figure.distributions)


# --- drawn --------------------------------------------------------------------------------------------

def test_course_svg_structure(tmp_path):
    out = tmp_path / "course.svg"
    assert run("plot", str(EXAMPLE), "-o", str(out)).exit_code == 0
    root = ET.parse(out).getroot()
    ids = {e.get("id") for e in root.iter() if e.get("id")}
    for key in ("temperature", "oxygen", "vasopressors", "treatments", "grades"):
        assert f"panel-{key}" in ids
    assert {f"crs-day{d}" for d in range(14)} <= ids and {f"icans-day{d}" for d in range(14)} <= ids
    assert "lane-dasatinib" in ids
    texts = ["".join(e.itertext()).strip() for e in root.iter(f"{SVG}text")]
    assert "days after infusion" in texts and "38 °C" in texts and "day 0 (infusion)" in texts
    label = next(e for e in root.iter() if e.get("id") == "icans-day7-label")
    assert "".join(label.itertext()).strip() == "4"
    assert "not assessed (–)" in texts


@pytest.mark.parametrize("suffix, magic", [(".png", b"\x89PNG"), (".pdf", b"%PDF"), (".svg", b"<?xml")])
def test_plot_writes_each_format(tmp_path, suffix, magic):
    out = tmp_path / f"course{suffix}"
    result = run("plot", str(EXAMPLE), "-o", str(out), "-q")
    assert result.exit_code == 0, result.output
    assert out.read_bytes().startswith(magic)


def test_plot_cohort_svg(tmp_path):
    out = tmp_path / "cohort.svg"
    result = run("plot", str(ROOT / "examples" / "regrading.csv"), "--cohort", "--systems", "lee2014,penn",
                 "-o", str(out), "-q")
    assert result.exit_code == 0, result.output
    ids = {e.get("id") for e in ET.parse(out).getroot().iter() if e.get("id")}
    assert {"panel-swimmer", "panel-distribution", "panel-incidence", "R01-crs-day0", "R04-icans-day3"} <= ids
    assert {"bars-ASTCT 2019-CRS-0", "bars-Lee 2014-CRS-3", "bars-Penn-CRS-na"} <= ids


@pytest.mark.parametrize("args, message", [
    ((str(ROOT / "examples" / "cohort.csv"), "-o", "x.png"),
     "cohort.csv has 4 patients; choose one with --patient (P01, P02, P03, P04) or draw them all with --cohort"),
    ((str(ROOT / "examples" / "cohort.csv"), "-p", "P09", "-o", "x.png"),
     "no patient 'P09' in the file; patients: P01, P02, P03, P04"),
    ((str(EXAMPLE), "-o", "x.gif"), "x.gif: cannot tell the format; use a name ending in .png, .svg or .pdf"),
])
def test_plot_errors_are_one_red_line(args, message):
    result = run("plot", *args)
    assert result.exit_code == 1 and message in result.stderr


def test_grade_does_not_import_the_plotting_library():
    code = ("import sys; from crsgrade.cli import app\n"
            "app(['grade', sys.argv[1], '-q'], standalone_mode=False)\n"
            "print('matplotlib' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code, str(EXAMPLE)], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "False"


def test_plot_a_patient_of_the_synthetic_cohort(tmp_path):
    out = tmp_path / "p.svg"
    result = run("plot", str(ROOT / "examples" / "synthetic_cohort.csv"), "-p", "P000013", "-o", str(out), "-q")
    assert result.exit_code == 0, result.output
    ids = {e.get("id") for e in ET.parse(out).getroot().iter() if e.get("id")}
    assert {"panel-grades", "lane-tocilizumab", "crs-day-2"} <= ids
