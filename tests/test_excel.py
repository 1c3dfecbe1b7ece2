"""Excel (.xlsx) input: a workbook's sheet reads as its CSV would, and every problem names the
file, the sheet, the row (as the spreadsheet numbers it) and the column."""

from __future__ import annotations

import csv
import datetime
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

openpyxl = pytest.importorskip("openpyxl")

import crsgrade  # noqa: E402
from crsgrade import ObservationError  # noqa: E402
from crsgrade.cli import app  # noqa: E402
from crsgrade.sources import Workbook, open_excel, open_path  # noqa: E402

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "dasatinib_case.csv"
runner = CliRunner()


def _typed(text: str) -> Any:
    """A CSV cell as a spreadsheet holds it: a number as a number, empty as no value."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text or None


def _text_cell(sheet: Any, coordinate: str, value: str) -> None:
    """A text cell, even one that starts with '=' (openpyxl would make that a formula)."""
    cell = sheet[coordinate]
    cell.value = value
    cell.data_type = "s"


def _write(path: Path, sheets: dict[str, list[list[Any]]]) -> Path:
    book = openpyxl.Workbook()
    book.remove(book.active)
    for title, rows in sheets.items():
        sheet = book.create_sheet(title)
        for row in rows:
            sheet.append(row)
    book.save(path)
    return path


def _example_rows() -> list[list[Any]]:
    with EXAMPLE.open(newline="", encoding="utf-8") as handle:
        header, *rows = csv.reader(handle)
    return [header, *[[_typed(cell) for cell in row] for row in rows]]


def _rewrite_sheet(path: Path, part: str, old: str, new: str) -> None:
    """Edit a sheet's XML (what openpyxl cannot write: a formula with a saved value)."""
    with zipfile.ZipFile(path) as archive:
        parts = {info.filename: archive.read(info) for info in archive.infolist()}
    text = parts[part].decode("utf-8")
    assert old in text
    parts[part] = text.replace(old, new).encode("utf-8")
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in parts.items():
            archive.writestr(name, data)


def _problems(observations: Any) -> list[str]:
    with pytest.raises(ObservationError) as caught:
        crsgrade.grade(observations)
    return caught.value.problems


# --- the shipped example --------------------------------------------------------------------


def test_example_grades_as_its_csv(tmp_path: Path) -> None:
    path = _write(tmp_path / "case.xlsx", {"Sheet1": _example_rows()})
    assert crsgrade.grade(path) == crsgrade.grade(EXAMPLE)


def test_example_cli_csv_output_is_the_same(tmp_path: Path) -> None:
    path = _write(tmp_path / "case.xlsx", {"Sheet1": _example_rows()})
    from_csv = runner.invoke(app, ["grade", str(EXAMPLE), "--format", "csv", "--quiet"])
    from_excel = runner.invoke(app, ["grade", str(path), "--format", "csv", "--quiet"])
    assert from_csv.exit_code == 0, from_csv.output
    assert from_excel.exit_code == 0, from_excel.output
    assert from_excel.stdout == from_csv.stdout
    assert from_csv.stdout.count("\n") > 10


def test_recognised_by_content_not_name(tmp_path: Path) -> None:
    path = _write(tmp_path / "case.xlsx", {"Sheet1": _example_rows()})
    renamed = tmp_path / "case.data"
    renamed.write_bytes(path.read_bytes())
    assert crsgrade.grade(renamed) == crsgrade.grade(EXAMPLE)
    assert crsgrade.grade(path.read_bytes()) == crsgrade.grade(EXAMPLE)


def test_reading_csv_does_not_import_openpyxl() -> None:
    code = ("import sys, crsgrade; crsgrade.grade(sys.argv[1]); "
            "print('openpyxl' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code, str(EXAMPLE)], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


# --- sheets -------------------------------------------------------------------------------------


def test_first_sheet_by_default_another_by_name(tmp_path: Path) -> None:
    path = _write(tmp_path / "obs.xlsx", {
        "First": [["patient_id", "day", "temp_c"], ["a", 0, 37.0]],
        "Other": [["patient_id", "day", "temp_c"], ["b", 0, 39.5], ["b", 1, 38.2]],
    })
    first = crsgrade.grade(path)
    assert [p.patient_id for p in first.patients] == ["a"]
    other = crsgrade.grade(Workbook(path, "Other"))
    assert [p.patient_id for p in other.patients] == ["b"]
    assert [(d.day, d.crs.grade) for d in other.patients[0].days] == [(0, 1), (1, 1)]
    assert [p.patient_id for p in crsgrade.grade(Workbook(path)).patients] == ["a"]


def test_unknown_sheet_lists_the_sheets(tmp_path: Path) -> None:
    path = _write(tmp_path / "obs.xlsx", {"First": [["day"], [0]], "Other": [["day"], [0]]})
    assert _problems(Workbook(path, "Missing")) == [f"{path}: no sheet named 'Missing'; its sheets: 'First', 'Other'"]


def test_sheet_name_in_any_letter_case(tmp_path: Path) -> None:
    path = _write(tmp_path / "obs.xlsx", {"First": [["day"], [0]], "Other": [["patient_id", "day"], ["b", 0]]})
    assert [p.patient_id for p in crsgrade.grade(Workbook(path, "other")).patients] == ["b"]


def test_cli_sheet_option(tmp_path: Path) -> None:
    path = _write(tmp_path / "obs.xlsx", {"First": [["day"], [0]], "Other": [["patient_id", "day"], ["b", 0]]})
    result = runner.invoke(app, ["grade", str(path), "--sheet", "Other", "--format", "csv", "--quiet"])
    if result.exit_code == 2 and "--sheet" in result.output:
        pytest.skip("the CLI has no --sheet option yet")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[1].startswith("b,0,")


def test_a_sheet_of_a_csv_is_an_error() -> None:
    problems = _problems(Workbook(EXAMPLE, "Sheet1"))
    assert problems == [f"{EXAMPLE}: not an Excel workbook (.xlsx is a ZIP archive; this file is not one)"]


# --- problems name file, sheet, row and column ----------------------------------------------------


def test_bad_value_names_sheet_row_and_column(tmp_path: Path) -> None:
    rows = [["patient_id", "day", "temp_c"], ["p1", 0, 38.0], ["p1", 1, "hot"]]
    path = _write(tmp_path / "obs.xlsx", {"Obs": rows})
    csv_path = tmp_path / "obs.csv"
    csv_path.write_text("patient_id,day,temp_c\np1,0,38.0\np1,1,hot\n", encoding="utf-8")
    [from_csv] = _problems(csv_path)
    [from_excel] = _problems(path)
    assert from_csv.startswith(f"{csv_path}:3:temp_c: value 'hot' — ")
    assert from_excel == from_csv.replace(f"{csv_path}:3:", f"{path}:Obs:3:")


def test_row_is_the_spreadsheets_row(tmp_path: Path) -> None:
    """Empty rows above the header and between the records count, as Excel numbers its rows."""
    rows = [[], [], ["patient_id", "day", "ice_score"], ["p1", 0, 10], [], [None], ["p1", 1, 11]]
    path = _write(tmp_path / "obs.xlsx", {"Ward": rows})
    [problem] = _problems(path)
    assert problem.startswith(f"{path}:Ward:7:ice_score: value '11' — ")


def test_header_problems_name_the_header_row(tmp_path: Path) -> None:
    path = _write(tmp_path / "obs.xlsx", {"S": [[], ["patient_id", "temp_c"], ["p1", 38.0]]})
    [problem] = _problems(path)
    assert problem.startswith(f"{path}:S:2: no 'day' column")
    path = _write(tmp_path / "twice.xlsx", {"S": [["day", "temp_c", "Temp (°C)"], [0, 38.0, 38.0]]})
    assert _problems(path) == [f"{path}:S:1:temp_c: column appears more than once (as 'temp_c' and 'Temp (°C)')"]


def test_unknown_column_warned_with_its_sheet(tmp_path: Path) -> None:
    path = _write(tmp_path / "obs.xlsx", {"S": [["day", "temp_c", "colour"], [0, 38.0, "blue"]]})
    assert f"{path}:S:1:colour: unknown column, ignored" in crsgrade.grade(path).warnings


def test_skip_invalid_names_the_row(tmp_path: Path) -> None:
    path = _write(tmp_path / "obs.xlsx", {"S": [["day", "temp_c"], [0, 38.0], [1, "hot"]]})
    result = crsgrade.grade(path, skip_invalid=True)
    assert result.input.rows_read == 2
    assert result.input.rows_rejected == 1
    assert result.input.skipped[0].startswith(f"{path}:S:3:temp_c: value 'hot'")


# --- cells --------------------------------------------------------------------------------------


def test_dates_in_date_cells(tmp_path: Path) -> None:
    rows = [
        ["patient_id", "date", "infusion_date", "temp_c", "time"],
        ["p1", datetime.date(2024, 3, 1), datetime.date(2024, 3, 1), 37.0, datetime.time(8, 30)],
        ["p1", datetime.datetime(2024, 3, 3, 14, 45), None, 39.1, None],
        ["p1", "2024-03-05", None, 38.4, "09:00"],  # dates typed as text are read too
    ]
    path = _write(tmp_path / "obs.xlsx", {"S": rows})
    [patient] = crsgrade.grade(path).patients
    assert [(d.day, d.crs.grade) for d in patient.days] == [(0, 0), (2, 1), (4, 1)]


def test_a_date_where_a_day_belongs_is_quoted_as_a_date(tmp_path: Path) -> None:
    path = _write(tmp_path / "obs.xlsx", {"S": [["day", "temp_c"], [datetime.date(2024, 3, 2), 38.0]]})
    [problem] = _problems(path)
    assert problem.startswith(f"{path}:S:2:day: value '2024-03-02' — ")


def test_numbers_booleans_and_text(tmp_path: Path) -> None:
    rows = [
        ["patient_id", "day", "temp_c", "hypotension", "vasopressors", "o2_device", "o2_flow_lpm", "note"],
        [101, 0, 38.6, True, 1, "nasal_cannula", 2.5, None],
        [101.0, 1.0, 39, False, 0, "room_air", None, None],
    ]
    path = _write(tmp_path / "obs.xlsx", {"S": rows})
    book = openpyxl.load_workbook(path)
    _text_cell(book["S"], "H2", "=HYPERLINK(\"http://example.com\")")
    _text_cell(book["S"], "H3", "@SUM(A1:A2) + - ")
    book.save(path)
    [patient] = crsgrade.grade(path).patients
    assert patient.patient_id == "101"  # a number as itself: 101, not 101.0
    assert [(d.day, d.crs.grade) for d in patient.days] == [(0, 3), (1, 1)]  # a vasopressor: grade 3
    sources = next(open_path(path).batches()).frame
    assert sources["note"].to_list() == ["=HYPERLINK(\"http://example.com\")", "@SUM(A1:A2) + - "]
    assert sources["temp_c"].to_list() == ["38.6", "39"]
    assert sources["hypotension"].to_list() == ["true", "false"]


def test_formula_reads_its_saved_value(tmp_path: Path) -> None:
    path = _write(tmp_path / "obs.xlsx", {"S": [["day", "temp_c", "note"], [0, "=37+1.5", "=\"a\"&\"\""]]})
    _rewrite_sheet(path, "xl/worksheets/sheet1.xml", "<f>37+1.5</f><v /></c>", "<f>37+1.5</f><v>38.5</v></c>")
    # a formula whose saved value is empty text: an empty cell
    _rewrite_sheet(path, "xl/worksheets/sheet1.xml", '<c r="C2"><f>', '<c r="C2" t="str"><f>')
    frame = next(open_path(path).batches()).frame
    assert frame["temp_c"].to_list() == ["38.5"]
    assert frame["note"].to_list() == [None]
    assert [d.crs.grade for d in crsgrade.grade(path).patients[0].days] == [1]


def test_formula_without_saved_value_names_the_cell(tmp_path: Path) -> None:
    path = _write(tmp_path / "obs.xlsx", {"S": [["day", "temp_c"], [0, 38.0], [1, "=C2+1"]]})
    [problem] = _problems(path)
    assert problem.startswith(f"{path}:S:3:temp_c: cell B3 has a formula but no saved value")


def test_error_cell_named(tmp_path: Path) -> None:
    path = _write(tmp_path / "obs.xlsx", {"S": [["day", "temp_c"], [0, 38.0]]})
    _rewrite_sheet(path, "xl/worksheets/sheet1.xml", '<c r="B2" t="n"><v>38</v></c>',
                   '<c r="B2" t="e"><f>1/0</f><v>#DIV/0!</v></c>')
    assert _problems(path) == [f"{path}:S:2:temp_c: cell B2 holds the error #DIV/0!"]


def test_cells_outside_the_header_warned(tmp_path: Path) -> None:
    path = _write(tmp_path / "obs.xlsx", {"S": [["day", "temp_c"], [0, 38.0, None, "a remark"]]})
    result = crsgrade.grade(path)
    assert f"{path}:S: cells in columns with no header are ignored (the first: D2)" in result.warnings


# --- files that are not what they say -------------------------------------------------------------


def test_empty_sheet_and_header_only(tmp_path: Path) -> None:
    path = _write(tmp_path / "obs.xlsx", {"Empty": [], "Head": [["patient_id", "day"]]})
    assert _problems(path) == [f"{path}:Empty: empty sheet; expected a header row with at least 'day'"]
    assert _problems(Workbook(path, "Head")) == [f"{path}:Head: header only; no observation rows"]


@pytest.mark.parametrize("content", [
    b"patient_id,day\np1,0\n",  # a CSV named .xlsx
    b"PK\x03\x04 not really a zip",
    b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100,  # .xls, or a workbook with a password
])
def test_corrupt_workbook_is_one_clear_line(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.xlsx"
    path.write_bytes(content)
    result = runner.invoke(app, ["grade", str(path)])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 2, lines  # the count of problems, then the problem
    assert lines[1].startswith(f"error: {path}: ")


def test_damaged_workbook_parts(tmp_path: Path) -> None:
    path = _write(tmp_path / "obs.xlsx", {"S": [["day", "temp_c"], [0, 38.0]]})
    _rewrite_sheet(path, "xl/worksheets/sheet1.xml", "</sheetData>", "<row><c r=")
    [problem] = _problems(path)
    assert problem.startswith(f"{path}:S: not a readable sheet (")
    zip_only = tmp_path / "other.xlsx"
    with zipfile.ZipFile(zip_only, "w") as archive:
        archive.writestr("hello.txt", "hello")
    assert _problems(zip_only) == [f"{zip_only}: a ZIP archive, but not an Excel workbook (.xlsx)"]


def test_unreadable_file() -> None:
    with pytest.raises(ObservationError, match="cannot read file"):
        open_excel("/nonexistent/obs.xlsx")
