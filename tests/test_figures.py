"""The figures: what they show, checked on the figure model and in the SVG they draw."""

from __future__ import annotations

import re
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from crsgrade import Grader
from crsgrade.figures import (
    GRADE_COLOURS,
    HEATMAP_ABOVE,
    NOT_ASSESSED_COLOUR,
    Graded,
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


def graded(source, system: str = "astct2019") -> Graded:
    """A cohort graded as the commands grade it: the frames of Grader.frames."""
    grader = Grader(engine="python", system=system)
    return Graded.of(grader, grader.frames(source))


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


def test_each_tile_carries_the_criterion_that_set_its_grade(seed):
    result, figure = seed
    strips = {s.name: s for s in figure.panel("grades").strips}
    tiles = {tile.day: tile for tile in strips["CRS"].tiles}
    for day in result.patients[0].days:
        rules = " ".join(day.crs.rule_ids)
        assert tiles[day.day].criterion == (f"{day.crs.reason} ({rules})" if rules else day.crs.reason)
    assert tiles[-5].criterion == "not gradable: temp_c not recorded" and tiles[-4].criterion == "not recorded"
    assert tiles[3].criterion.startswith("fever 39.4 °C with hypotension needing one vasopressor")
    missing = course_of(rows({"day": 0, "temp_c": 37.0}, {"day": 2, "temp_c": 37.2})).panel("grades").strips[0].tiles[1]
    assert (missing.grade, missing.criterion) == (None, "not recorded")


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
    figure = cohort_figure(graded(ROOT / "examples" / "cohort.csv"))
    assert [r.patient_id for r in figure.rows] == ["P02", "P03", "P01", "P04"]
    assert not figure.heatmap
    p02 = figure.rows[0]
    assert [s.name for s in p02.strips] == ["CRS", "ICANS"]
    assert (1, "tocilizumab") in p02.markers
    crs = next(d for d in figure.distributions if d.syndrome == "CRS")
    assert dict(crs.counts) == {0: 1, 1: 0, 2: 2, 3: 1, 4: 0, 5: 0, None: 0}


def test_cumulative_incidence_rises_to_the_share_of_patients_with_an_episode():
    curves = {s.name: s for s in cohort_figure(graded(ROOT / "examples" / "cohort.csv")).incidence}
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
    figure = cohort_figure(graded(path), [graded(path, "lee2014")])
    assert len(figure.rows) > HEATMAP_ABOVE and figure.heatmap
    assert [(d.system, d.syndrome) for d in figure.distributions] == [
        ("ASTCT 2019", "CRS"), ("ASTCT 2019", "ICANS"), ("Lee 2014", "CRS")]
    assert all(sum(n for _, n in d.counts) == len(result.patients) for d in figure.distributions)
    peaks = {p.patient_id: p.peak("crs") for p in result.patients}
    crs = dict(figure.distributions[0].counts)
    assert all(crs[g] == sum(1 for peak in peaks.values() if peak is not None and peak.grade == g) for g in range(6))
    assert len({(d.colour, d.hatch) for d in figure.distributions}) == 3  # each bar group looks different
    groups = figure.peak_groups()  # where each highest CRS grade begins, for the heat map's axis
    assert [g for g, _, _ in groups] == sorted((g for g, _, _ in groups), reverse=True)
    assert [(first, count) for _, first, count in groups] == [
        (sum(n for _, _, n in groups[:i]), crs[g]) for i, (g, _, _) in enumerate(groups)]


# --- drawn as SVG: the same panels, tiles, labels and colours as the model -----------------------------

def elements(root: ET.Element) -> dict[str, ET.Element]:
    found = {}
    for element in root.iter():
        if element.get("id"):
            assert element.get("id") not in found, f"id {element.get('id')} twice"
            found[element.get("id")] = element
    return found


def texts(root: ET.Element) -> list[str]:
    return ["".join(e.itertext()).strip() for e in root.iter(f"{SVG}text")]


def check_tiles(found: dict[str, ET.Element], strip, tile_id: str, patient: str, labelled: bool = True) -> None:
    """Each tile of a strip: its fill, its hatch, its printed grade and its <title>."""
    for t in strip.tiles:
        group = found[tile_id.format(day=t.day)]
        rects = group.findall(f"{SVG}rect")
        assert rects[0].get("fill") == t.colour
        assert len(rects) == (2 if t.hatched else 1) and (not t.hatched or rects[1].get("fill").startswith("url(#"))
        grade = f"grade {t.label}" if t.grade is not None else "not assessed"
        criterion = f" — {t.criterion}" if t.criterion else ""
        assert group.find(f"{SVG}title").text == f"Patient {patient}, day {t.day}: {strip.name} {grade}{criterion}"
        label = found.get(tile_id.format(day=t.day) + "-label")
        if labelled or not t.hatched:
            assert label.text == t.label and label.get("fill", "#000000") == t.text_colour
        else:
            assert label is None


def test_course_svg_shows_what_the_model_says(tmp_path, seed):
    _, figure = seed
    out = tmp_path / "course.svg"
    assert run("plot", str(EXAMPLE), "-o", str(out), "-q").exit_code == 0
    root = ET.parse(out).getroot()
    found = elements(root)
    assert root.find(f"{SVG}title").text == figure.title
    assert [key.removeprefix("panel-") for key in found if key.startswith("panel-")] == list(figure.keys)
    for strip in figure.panel("grades").strips:
        check_tiles(found, strip, strip.name.lower() + "-day{day}", "case1")
    for lane in figure.panel("treatments").event_lanes:
        drawn = found[f"lane-{lane.name}"]
        assert drawn.get("fill") == lane.colour and len(drawn.findall(f"{SVG}path")) == len(lane.days)
    [temperature] = figure.panel("temperature").series
    line = found["series-daily-maximum-temperature"]
    assert line.find(f"{SVG}polyline").get("stroke") == temperature.colour
    assert [c.find(f"{SVG}title").text for c in line.findall(f"{SVG}circle")] == [
        f"day {d}: {v:g}" for d, v in zip(temperature.days, temperature.values, strict=True)]
    assert found["lane-oxygen-support"].get("stroke") == figure.panel("oxygen").step_lane.colour
    shown = texts(root)
    assert {"days after infusion", "38 °C", "day 0 (infusion)", "max temp (°C)", "positive pressure",
            "dasatinib"} <= set(shown)
    assert [t for t in shown if t.startswith("grade ") or t.startswith("not assessed")] == [
        "grade 0", "grade 1", "grade 2", "grade 3", "grade 4", "grade 5", "not assessed (–)"]
    assert found["icans-day7-label"].text == "4"


def test_a_day_not_assessed_is_hatched_and_says_why():
    from crsgrade.svgfigures import course_svg

    figure = course_of(rows({"day": 0, "temp_c": 37.0}, {"day": 3, "temp_c": 37.2},
                            {"day": 4, "o2_device": "nasal_cannula", "o2_flow_lpm": 2}))
    found = elements(ET.fromstring(course_svg(figure, "p7-")))
    for strip in figure.panel("grades").strips:
        check_tiles(found, strip, "p7-" + strip.name.lower() + "-day{day}", "p")
    assert "not recorded" in found["p7-crs-day1"].find(f"{SVG}title").text
    assert all(key.startswith("p7-") for key in found)  # inlined in a report, a figure's ids are its own


def test_same_figure_same_bytes(tmp_path):
    first, second = tmp_path / "a.svg", tmp_path / "b.svg"
    for out in (first, second):
        assert run("plot", str(ROOT / "examples" / "cohort.csv"), "--cohort", "-o", str(out), "-q").exit_code == 0
    assert first.read_bytes() == second.read_bytes()


@pytest.mark.parametrize("suffix, magic", [(".png", b"\x89PNG"), (".pdf", b"%PDF"), (".svg", b"<?xml")])
def test_plot_writes_each_format(tmp_path, suffix, magic):
    out = tmp_path / f"course{suffix}"
    result = run("plot", str(EXAMPLE), "-o", str(out), "-q")
    assert result.exit_code == 0, result.output
    assert out.read_bytes().startswith(magic)


def test_plot_cohort_svg(tmp_path):
    out = tmp_path / "cohort.svg"
    source = ROOT / "examples" / "regrading.csv"
    result = run("plot", str(source), "--cohort", "--systems", "lee2014,penn", "-o", str(out), "-q")
    assert result.exit_code == 0, result.output
    root = ET.parse(out).getroot()
    found = elements(root)
    assert {"panel-swimmer", "panel-distribution", "panel-incidence", "R01-crs-day0", "R04-icans-day3"} <= set(found)
    # ids are valid HTML ids: a system's name "ASTCT 2019" is written ASTCT-2019
    assert {"bars-ASTCT-2019-CRS-0", "bars-Lee-2014-CRS-3", "bars-Penn-CRS-na"} <= set(found)
    figure = cohort_figure(graded(source), [graded(source, "lee2014"), graded(source, "penn")])
    for row in figure.rows:
        for strip in row.strips:  # the grade printed only on graded days, as before
            check_tiles(found, strip, f"{row.patient_id}-{strip.name.lower()}-day{{day}}", row.patient_id, False)
        for day, therapy in row.markers:
            assert f"{row.patient_id}-{therapy}-day{day}" in found
    for group in figure.distributions:
        for grade, count in group.counts:
            bar = found[f"bars-{group.system.replace(' ', '-')}-{group.syndrome}-{'na' if grade is None else grade}"]
            assert bar.find(f"{SVG}rect").get("fill") == group.colour
            assert bar.find(f"{SVG}text").text == str(count) and f": {count} patients" in bar.find(f"{SVG}title").text
    for curve in figure.incidence:
        assert found["incidence-" + re.sub(r"[^A-Za-z0-9_-]+", "-", curve.name)].get("stroke") == curve.colour
    assert {"% of patients with a first episode", "highest grade (– not gradable)", "tocilizumab", "steroids",
            "not assessed (–)"} <= set(texts(root))


@pytest.mark.parametrize("setting, lee_peak", [(None, 3), ("noninvasive_ventilation_class=ventilator", 4)])
def test_plot_cohort_gives_each_system_the_settings_it_declares(tmp_path, setting, lee_peak):
    """A --set reaches every system of the figure that declares it (as with `compare`): CPAP at
    FiO2 50 % is Lee 2014 grade 3 as supplemental oxygen, grade 4 as ventilator support. ASTCT
    2019 has no such setting, and grades positive pressure 4 either way."""
    source = tmp_path / "cpap.csv"
    source.write_text("patient_id,day,temp_c,o2_device,fio2\nP1,0,39.0,cpap,50\n")
    out = tmp_path / "cohort.svg"
    extra = ["--set", setting] if setting else []
    result = run("plot", str(source), "--cohort", "--systems", "lee2014", *extra, "-o", str(out), "-q")
    assert result.exit_code == 0, result.output
    found = elements(ET.parse(out).getroot())
    patients = {key: found[key].find(f"{SVG}text").text for key in
                ("bars-ASTCT-2019-CRS-3", "bars-ASTCT-2019-CRS-4", "bars-Lee-2014-CRS-3", "bars-Lee-2014-CRS-4")}
    assert patients == {"bars-ASTCT-2019-CRS-3": "0", "bars-ASTCT-2019-CRS-4": "1",
                        "bars-Lee-2014-CRS-3": str(int(lee_peak == 3)), "bars-Lee-2014-CRS-4": str(int(lee_peak == 4))}


def test_a_large_cohort_is_a_heat_map_per_syndrome_drawn_as_runs(tmp_path):
    """Every patient a row of each heat map, in the figure's order; each run of equal grade one
    rectangle whose fill and <title> (patient, days, grade) match the model's tiles."""
    from crsgrade.synthetic import write_cohort

    path = tmp_path / "cohort.csv"
    write_cohort(path, 1500, seed=5)
    out = tmp_path / "heat.svg"
    assert run("plot", str(path), "--cohort", "-o", str(out), "-q").exit_code == 0
    found = elements(ET.parse(out).getroot())
    figure = cohort_figure(graded(path))
    assert figure.heatmap and "panel-heatmap" in found
    for number, name in enumerate(["CRS", "ICANS"]):
        heatmap = found[f"heatmap-{name.lower()}"]
        assert [g.get("id") for g in heatmap.findall(f"{SVG}g")] == [
            f"{r.patient_id}-{name.lower()}" for r in figure.rows]
        for row in figure.rows:
            drawn = []
            for rect in found[f"{row.patient_id}-{name.lower()}"].findall(f"{SVG}rect"):
                said = re.fullmatch(rf"Patient {row.patient_id}, days? (-?\d+)(?:–(-?\d+))?: {name} (.+)",
                                    rect.find(f"{SVG}title").text)
                first, last = int(said[1]), int(said[2] or said[1])
                drawn += [(day, said[3], rect.get("fill")) for day in range(first, last + 1)]
            tiles = row.strips[number].tiles
            assert drawn == [(t.day, f"grade {t.grade}" if t.grade is not None else "not assessed", t.colour)
                             for t in tiles]
    assert len(found) < 10 * len(figure.rows)  # runs, not a tile per day
    groups = {f"grade {g} ({n})" for g, _, n in figure.peak_groups()}
    assert groups & set(texts(ET.parse(out).getroot())) == groups


def test_a_large_cohort_draws_as_png_too(tmp_path):
    from crsgrade.synthetic import write_cohort

    path = tmp_path / "cohort.csv"
    write_cohort(path, 1500, seed=5)
    out = tmp_path / "heat.png"
    assert run("plot", str(path), "--cohort", "-o", str(out), "-q").exit_code == 0
    assert out.read_bytes().startswith(b"\x89PNG")


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


def test_blood_counts_lane_with_the_icaht_thresholds():
    figure = course_of(rows({"day": -5, "anc": 900, "platelets": 60, "baseline": True},
                            {"day": 2, "anc": 80, "platelets": 30}, {"day": 3, "platelets": 25}))
    counts = figure.panel("counts")
    assert counts.log and counts.reference_lines == ((500.0, "ANC 500"), (100.0, "ANC 100"))
    by_name = {s.name: dict(zip(s.days, s.values, strict=True)) for s in counts.series}
    assert by_name == {"ANC (/µL)": {-5: 900, 2: 80}, "platelets (×10⁹/L)": {-5: 60, 2: 30, 3: 25}}
    assert "counts" not in course_of(rows({"day": 0, "temp_c": 38.5})).keys
