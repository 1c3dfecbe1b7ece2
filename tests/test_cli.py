"""The command line, driven through typer's CliRunner."""

from __future__ import annotations

import csv
import io
import json

from typer.testing import CliRunner

from crsgrade import __version__, shipped_systems
from crsgrade.cli import app

from .conftest import EXAMPLE

runner = CliRunner()


def run(*args: str):
    # wide enough that rich does not wrap the lines the tests look for
    return runner.invoke(app, list(args), env={"COLUMNS": "240"})


def test_version_names_the_engine():
    result = run("--version")
    assert result.exit_code == 0
    assert f"crsgrade {__version__}" in result.output and "engine:" in result.output


def test_help_lists_commands():
    result = run("--help")
    assert result.exit_code == 0
    assert "grade" in result.output and "settings" in result.output


def test_grade_table_shows_the_timeline():
    result = run("grade", str(EXAMPLE))
    assert result.exit_code == 0, result.output
    assert "Patient case1" in result.output
    assert "peak CRS 3 on day 3; peak ICANS 4 on day 7" in result.output


def test_grade_csv():
    result = run("grade", str(EXAMPLE), "--format", "csv")
    assert result.exit_code == 0
    rows = {int(row["day"]): row for row in csv.DictReader(io.StringIO(result.stdout))}
    assert list(rows) == [-5, *range(14)]  # the baseline draw, then infusion to day 13
    assert rows[0]["crs_grade"] == "2" and rows[3]["crs_grade"] == "3" and rows[7]["icans_grade"] == "4"
    assert rows[0]["crs_reason"] == "fever 38.1 °C with hypotension not needing vasopressors"
    assert rows[-5]["crs_grade"] == "" and rows[-5]["crs_reason"] == "not gradable: temp_c not recorded"


def test_grade_json_carries_reasons_and_rule_ids():
    result = run("grade", str(EXAMPLE), "-f", "json")
    data = json.loads(result.stdout)
    day7 = next(day for day in data["patients"][0]["days"] if day["day"] == 7)
    assert day7["grades"]["icans"]["grade"] == 4
    assert {r["id"] for r in day7["grades"]["icans"]["rules"]} >= {"ASTCT-ICANS-4-UNAROUSABLE"}
    assert data["ruleset"] == "astct2019" and data["settings"]["antipyretic_waives_fever"] is True


def test_output_file(tmp_path):
    out = tmp_path / "grades.csv"
    result = run("grade", str(EXAMPLE), "-f", "csv", "-o", str(out))
    assert result.exit_code == 0 and result.stdout == ""
    assert out.read_text(encoding="utf-8").startswith("patient_id,day,crs_grade,icans_grade")


def test_table_to_file(tmp_path):
    out = tmp_path / "timeline.txt"
    assert run("grade", str(EXAMPLE), "-o", str(out)).exit_code == 0
    assert "Patient case1" in out.read_text(encoding="utf-8")


def test_set_changes_a_setting(tmp_path):
    obs = tmp_path / "obs.csv"
    obs.write_text("day,temp_c,antipyretic,hypotension,vasopressors\n0,38.5,yes,,\n1,37.0,,yes,1\n")
    default = run("grade", str(obs), "-f", "csv")
    changed = run("grade", str(obs), "-f", "csv", "--set", "antipyretic_waives_fever=false")
    assert list(csv.DictReader(io.StringIO(default.stdout)))[1]["crs_grade"] == "3"
    assert list(csv.DictReader(io.StringIO(changed.stdout)))[1]["crs_grade"] == "0"


def test_bad_setting_is_one_red_line_and_exit_1():
    result = run("grade", str(EXAMPLE), "--set", "waiver_ends=sometimes")
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "error: setting waiver_ends: 'sometimes' is not allowed; choose one of episode_resolved, never"
    )
    assert "Traceback" not in result.output


def test_malformed_set():
    result = run("grade", str(EXAMPLE), "--set", "waiver_ends")
    assert result.exit_code == 1 and "expected NAME=VALUE" in result.stderr


def test_bad_observations_list_every_problem_and_exit_1(tmp_path):
    obs = tmp_path / "bad.csv"
    obs.write_text("day,ice_score,seizure\n0,12,yes\n1,3,none\n")
    result = run("grade", str(obs))
    assert result.exit_code == 1
    assert f"{obs}:2:ice_score: value '12'" in result.stderr
    assert f"{obs}:2:seizure: value 'yes' — allowed: none, resolved, prolonged" in result.stderr
    assert result.stdout == ""


def test_missing_file():
    result = run("grade", "no-such-file.csv")
    assert result.exit_code == 1
    assert "no-such-file.csv: cannot read file" in result.stderr


def test_unknown_column_warns_on_stderr(tmp_path):
    obs = tmp_path / "obs.csv"
    obs.write_text("day,temp_c,notes\n0,38.2,feels warm\n")
    result = run("grade", str(obs), "-f", "csv")
    assert result.exit_code == 0
    assert "warning:" in result.stderr and "notes: unknown column" in result.stderr
    assert result.stdout.splitlines()[1].startswith("1,0,1,")


def test_usage_error_exit_2():
    assert run("grade", str(EXAMPLE), "--format", "xml").exit_code == 2


def test_engines_agree_on_the_example():
    outputs = {run("grade", str(EXAMPLE), "-f", "csv", "--engine", e).stdout
               for e in ("python",) + (("durable",) if _durable() else ())}
    assert len(outputs) == 1


def test_settings_command_lists_defaults():
    result = run("settings")
    assert result.exit_code == 0
    assert "antipyretic_waives_fever" in result.output and "episode_resolved" in result.output


def test_broken_rules_directory(tmp_path):
    result = run("grade", str(EXAMPLE), "--rules", str(tmp_path))
    assert result.exit_code == 1 and "not a rule set directory" in result.stderr


def _durable() -> bool:
    from crsgrade.evaluators import durable_available

    return durable_available()


def test_summary_line_on_stderr():
    result = run("grade", str(EXAMPLE), "-f", "csv")
    assert result.stderr.strip().endswith("15 rows read: 15 patient-days graded, 0 rows combined into them, 0 rejected")


def test_quiet():
    assert run("grade", str(EXAMPLE), "-f", "csv", "--quiet").stderr == ""


def test_check_valid_file():
    result = run("check", str(EXAMPLE))
    assert result.exit_code == 0
    assert "15 rows read" in result.stderr and "no problems found" in result.stderr
    assert result.stdout == ""


def test_check_reports_every_problem_and_exits_1(tmp_path):
    obs = tmp_path / "bad.csv"
    obs.write_text("day;ICE;o2\n0;12;nc\n1;5;maybe\n2;x;room air\n")
    result = run("check", str(obs))
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert lines[0] == "error: 3 problems in the observations:"
    assert lines[1] == f"error: {obs}:2:ice_score: value '12' — expected a whole number from 0 to 10"
    assert lines[2].startswith(f"error: {obs}:3:o2_device: value 'maybe' — allowed:")
    assert lines[3] == f"error: {obs}:4:ice_score: value 'x' — expected a whole number from 0 to 10"


def test_grading_never_runs_on_a_file_with_errors(tmp_path):
    obs = tmp_path / "bad.csv"
    obs.write_text("day,ice_score\n0,5\n1,12\n")
    result = run("grade", str(obs), "-f", "csv")
    assert result.exit_code == 1 and result.stdout == ""


def test_skip_invalid_grades_the_rest_and_names_the_rows(tmp_path):
    obs = tmp_path / "bad.csv"
    obs.write_text("day,ice_score\n0,5\n1,12\n2,9\n")
    result = run("grade", str(obs), "-f", "csv", "--skip-invalid")
    assert result.exit_code == 0
    assert [row["day"] for row in csv.DictReader(io.StringIO(result.stdout))] == ["0", "2"]
    assert f"skipped: {obs}:3:ice_score: value '12'" in result.stderr
    assert "3 rows read: 2 patient-days graded, 0 rows combined into them, 1 rejected" in result.stderr


def test_stdin():
    result = runner.invoke(app, ["grade", "-", "-f", "csv"], input="day;temp_c\n0;38,2\n")
    assert result.exit_code == 0
    assert result.stdout.splitlines()[1].startswith("1,0,1,")


def test_infusion_date_option(tmp_path):
    obs = tmp_path / "dated.csv"
    obs.write_text("date,temp_c\n2024-03-14,38.2\n2024-03-16,37.0\n")
    result = run("grade", str(obs), "-f", "csv", "--infusion-date", "2024-03-14")
    assert [row["day"] for row in csv.DictReader(io.StringIO(result.stdout))] == ["0", "2"]


def test_bad_infusion_date_is_a_usage_error(tmp_path):
    assert run("grade", str(EXAMPLE), "--infusion-date", "14/03/2024").exit_code == 2


def test_json_input(tmp_path):
    obs = tmp_path / "obs.json"
    obs.write_text(json.dumps([{"day": 0, "temp_c": 38.4, "hypotension": True}]))
    result = run("grade", str(obs), "-f", "json")
    assert json.loads(result.stdout)["patients"][0]["days"][0]["grades"]["crs"]["grade"] == 2


COHORT = EXAMPLE.parent / "cohort.csv"


def test_explain_one_day():
    result = run("explain", str(EXAMPLE), "--day", "7", "-q")
    assert result.exit_code == 0
    out = result.stdout
    assert "Patient case1 · day 7" in out and "ICANS grade 4" in out
    assert "ASTCT-ICANS-4-UNAROUSABLE" in out
    # the table view speaks in clinical words; the JSON keeps the fact names
    assert ("grade 4 not met — ASTCT-CRS-4-POSITIVE-PRESSURE: hypoxia attributed to another cause (grade 4 needs"
            " hypoxia not attributed to another cause)") in " ".join(out.split()).replace("│ ", "")


def test_explain_json():
    data = json.loads(run("explain", str(COHORT), "--patient", "P02", "--day", "2", "-f", "json", "-q").stdout)
    assert data["schema_version"] == "2"
    (day,) = data["days"]
    crs = day["grades"]["crs"]
    assert crs["grade"] == 3 and crs["explanation"]["fired"][0]["id"] == "ASTCT-CRS-3-ONE-VASOPRESSOR"


def test_explain_json_is_laid_out_as_one_indented_document(tmp_path):
    """Each day's parts are written once and put together, yet the file reads as the whole
    result written with an indent of two: every syndrome, explanation and setting at its depth."""
    died = tmp_path / "died.csv"
    died.write_text("patient_id,day,age_years,temp_c,antipyretic,o2_device,o2_flow_lpm,ice_score,death_cause\n"
                    "D1,0,8,38.4,yes,face_mask,4,7,\nD1,1,8,39.0,,nasal_cannula,2,,\n"
                    "D1,2,8,,,,,,crs\nD1,3,8,38.0,,,,,\n")
    for source in (EXAMPLE, COHORT, died):
        result = run("explain", str(source), "-f", "json", "-q", "--set", "face_mask_at_low_flow=low_flow")
        assert result.exit_code == 0, result.output
        assert result.stdout == json.dumps(json.loads(result.stdout), indent=2, ensure_ascii=False) + "\n"


def test_explain_a_whole_patient():
    result = run("explain", str(COHORT), "--patient", "P03", "-q")
    assert result.stdout.count("Patient P03 · day") == 5


def test_explain_unknown_patient_or_day():
    result = run("explain", str(COHORT), "--patient", "P9")
    assert result.exit_code == 1 and "no patient 'P9' in the file; patients: P01, P02, P03, P04" in result.stderr
    result = run("explain", str(EXAMPLE), "--day", "40")
    assert result.exit_code == 1 and "no day 40 recorded" in result.stderr


def test_summary_table():
    result = run("summary", str(COHORT), "-q")
    assert result.exit_code == 0
    assert "P02" in result.stdout and "3 (75 %)" in result.stdout
    assert "CRS differs from the reported grade on P02 day 4: 2 vs 1, P03 day 2: 0 vs 1" in result.stdout


def test_summary_csv():
    rows = list(csv.DictReader(io.StringIO(run("summary", str(COHORT), "-f", "csv", "-q").stdout)))
    assert [r["patient_id"] for r in rows] == ["P01", "P02", "P03", "P04"]
    assert rows[1]["crs_highest_grade"] == "3" and rows[1]["crs_tocilizumab"] == "true"
    assert rows[3]["crs_occurred"] == "false"


def test_summary_json_of_the_example():
    data = json.loads(run("summary", str(EXAMPLE), "-f", "json", "-q").stdout)
    assert data["schema_version"] == "2"
    icans = data["patients"][0]["syndromes"]["icans"]
    assert (icans["highest_grade"], icans["onset_day"], icans["resolution_day"]) == (4, 5, 13)


def test_rules_table_is_built_from_the_rule_files():
    from crsgrade import load_ruleset

    result = run("rules")
    assert result.exit_code == 0
    for rule in load_ruleset().rules:
        assert rule.id in result.stdout
    assert "Lee et al. 2019" in result.stdout and "[verify]" in result.stdout


def test_rules_one_syndrome():
    out = run("rules", "--syndrome", "icans").stdout
    assert "ASTCT-ICANS-4-UNAROUSABLE" in out and "ASTCT-CRS-1-FEVER" not in out


def test_rules_unknown_system():
    result = run("rules", "--system", "lee2015")
    assert result.exit_code == 1
    assert f"no grading system 'lee2015'; shipped: {', '.join(shipped_systems())}" in result.stderr


def test_demo_runs_with_no_arguments():
    result = run("demo")
    assert result.exit_code == 0
    out = result.stdout
    assert "Day 0" in out and "Day 13" in out
    assert "CRS 2  fever 38.1 °C with hypotension not needing vasopressors" in out
    assert "ICANS 4" in out
    assert "ICANS: onset day 5, peak grade 4 on day 7, last day 12 (8 days), resolved on day 13." in out


def test_schema_command_prints_json_schema():
    for which in ("grade", "summary"):
        schema = json.loads(run("schema", which).stdout)
        assert schema["type"] == "object" and "schema_version" in schema["properties"]


def test_committed_schemas_match_the_models():
    for which in ("grade", "summary"):
        committed = json.loads((EXAMPLE.parents[1] / "schemas" / f"{which}.v2.json").read_text())
        assert json.loads(run("schema", which).stdout) == committed, f"regenerate schemas/{which}.v2.json"


def test_progress_bar_only_on_a_terminal(monkeypatch):
    from rich.console import Console

    import crsgrade.cli as cli

    screen = io.StringIO()
    monkeypatch.setattr(cli, "_err", Console(file=screen, force_terminal=True, width=100))
    monkeypatch.setattr(cli, "_PROGRESS_BYTES", 0)
    assert runner.invoke(app, ["grade", str(EXAMPLE), "--engine", "python"]).exit_code == 0
    assert "grading" in screen.getvalue()
    screen.truncate(0)
    assert runner.invoke(app, ["grade", str(EXAMPLE), "--engine", "python", "--quiet"]).exit_code == 0
    assert screen.getvalue().strip("\x00") == ""


def test_every_engine_writes_the_same_csv():
    outputs = {run("grade", str(COHORT), "-f", "csv", "-q", "--engine", e).stdout
               for e in ("python", "auto") + (("durable",) if _durable() else ())}
    assert len(outputs) == 1 and outputs != {""}


def test_grade_under_another_system():
    result = run("grade", str(EXAMPLE), "--system", "lee2014")
    assert result.exit_code == 0, result.output
    assert "Lee 2014 criterion" not in result.stdout  # columns are named by syndrome
    assert "CRS criterion" in result.stdout and "ICANS" not in result.stdout
    assert "Graded by lee2014 rules" in result.stdout
    csv_out = run("grade", str(EXAMPLE), "--system", "cartox", "-f", "csv").stdout
    assert "CARTOX-CRS-2-HYPOTENSION" in csv_out and "not gradable: cartox_score not recorded" in csv_out


def test_grade_under_cartox_names_its_neurotoxicity_cres():
    result = run("grade", str(EXAMPLE), "--system", "cartox")
    assert result.exit_code == 0 and "CRES criterion" in result.stdout


def test_the_vector_engine_is_gone():
    result = run("grade", str(EXAMPLE), "-f", "csv", "--engine", "vector")
    assert result.exit_code == 2  # one pipeline: durable-rules or python evaluate the distinct combinations


def test_rules_of_every_system():
    for system in shipped_systems():
        result = run("rules", "--system", system)
        assert result.exit_code == 0, system
    out = run("rules", "--system", "lee2014").stdout
    assert "LEE2014-CRS-3-FIO2-40" in out and "High-dose vasopressors, each for at least 3 h" in out
    assert "FiO2 when not recorded, estimated" in out and "[verify]" in out
    assert "CARTOX-CRES-4-PAPILLEDEMA-3-5" in run("rules", "--system", "cartox").stdout


def test_systems_lists_every_system():
    out = run("systems").stdout
    for name in (*shipped_systems(), "CRES", "vasopressor dose table"):
        assert name in out, name


def test_the_corrections_of_the_older_systems_are_listed():
    out = " ".join(run("settings", "--system", "ctcae5").stdout.split())
    assert "multiple_vasopressors_are_grade_4 = true (bool)" in out
    rules = CliRunner().invoke(app, ["rules", "--system", "cartox", "--syndrome", "icans"], env={"COLUMNS": "400"})
    for words in ("unable to perform the CARTOX-10 assessment",
                  "CSF opening pressure below 20 mmHg, with papilledema stage 1 or 2 or a recorded suspicion"):
        assert words in rules.stdout, words


def test_a_centre_adds_waiving_therapies_on_the_command_line(tmp_path):
    path = tmp_path / "obs.csv"
    path.write_text("day,temp_c,hypotension,vasopressors,other_treatment\n0,38.5,,,itacitinib\n1,37.0,yes,1,\n")
    plain = run("grade", str(path), "-f", "csv", "-q").stdout.splitlines()
    assert plain[2].split(",")[2] == "0"
    added = run("grade", str(path), "-f", "csv", "-q", "--set", "more_fever_waiving_therapies=Itacitinib").stdout
    assert added.splitlines()[2].split(",")[2] == "3" and "fever waived after itacitinib on day 0" in added


def test_settings_of_a_system_without_settings():
    result = run("settings", "--system", "penn")
    assert result.exit_code == 0 and "Penn has no settings" in result.stdout
    assert "noninvasive_ventilation_class" in run("settings", "--system", "lee2014").stdout


def test_set_a_setting_of_another_system():
    path = EXAMPLE.parent / "cohort.csv"
    result = run("grade", str(path), "--system", "lee2014", "--set", "antipyretic_waives_fever=false")
    assert result.exit_code == 1 and "unknown setting antipyretic_waives_fever" in result.stderr


def test_summary_of_a_crs_only_system_shows_crs_only():
    result = run("summary", str(EXAMPLE.parent / "regrading.csv"), "--system", "penn", "-q")
    assert result.exit_code == 0 and "Therapies during CRS" in result.stdout and "ICANS" not in result.stdout
    data = json.loads(run("summary", str(EXAMPLE.parent / "regrading.csv"), "--system", "penn", "-f", "json").stdout)
    assert data["labels"] == {"crs": "CRS"} and list(data["cohort"]) == ["crs"]
