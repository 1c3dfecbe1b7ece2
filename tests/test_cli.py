"""The command line, driven through typer's CliRunner."""

from __future__ import annotations

import csv
import io
import json

from typer.testing import CliRunner

from crsgrade import __version__
from crsgrade.cli import app

from .conftest import EXAMPLE

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, list(args))


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
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert len(rows) == 14
    assert rows[0]["crs_grade"] == "2" and rows[3]["crs_grade"] == "3" and rows[7]["icans_grade"] == "4"
    assert rows[0]["crs_reason"] == "fever 38.1 °C with hypotension not needing vasopressors"


def test_grade_json_carries_reasons_and_rule_ids():
    result = run("grade", str(EXAMPLE), "-f", "json")
    data = json.loads(result.stdout)
    day7 = data["patients"][0]["days"][7]
    assert day7["icans"]["grade"] == 4
    assert {r["id"] for r in day7["icans"]["rules"]} >= {"ASTCT-ICANS-4-UNAROUSABLE"}
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
    assert result.stderr.strip().endswith("14 rows read: 14 patient-days graded, 0 rows combined into them, 0 rejected")


def test_quiet():
    assert run("grade", str(EXAMPLE), "-f", "csv", "--quiet").stderr == ""


def test_check_valid_file():
    result = run("check", str(EXAMPLE))
    assert result.exit_code == 0
    assert "14 rows read" in result.stderr and "no problems found" in result.stderr
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
    assert json.loads(result.stdout)["patients"][0]["days"][0]["crs"]["grade"] == 2
