"""The observation CSV contract: names, types, 'not recorded', and every problem at once."""

from __future__ import annotations

import pytest

from crsgrade import ObservationError
from crsgrade.csv_input import parse_csv, read_observations


def problems(text: str) -> list[str]:
    with pytest.raises(ObservationError) as info:
        parse_csv(text, "obs.csv")
    return info.value.problems


def test_headers_are_case_insensitive_and_trimmed():
    read = parse_csv("Patient_ID, DAY ,Temp_C\nA,0,38.2\n")
    obs = read.observations[0]
    assert (obs.patient_id, obs.day, obs.temp_c) == ("A", 0, 38.2)


@pytest.mark.parametrize("text, value", [
    ("true", True), ("false", False), ("yes", True), ("no", False), ("1", True), ("0", False),
    ("YES", True), ("No", False),
])
def test_booleans(text, value):
    assert parse_csv(f"day,hypotension\n0,{text}\n").observations[0].hypotension is value


def test_empty_cell_is_not_recorded():
    obs = parse_csv("day,temp_c,hypotension,o2_device\n0,,,\n").observations[0]
    assert obs.temp_c is None and obs.hypotension is None and obs.o2_device is None


def test_patient_id_absent_means_one_patient():
    read = parse_csv("day,temp_c\n0,38\n1,37\n")
    assert {o.patient_id for o in read.observations} == {"1"}


def test_negative_days_before_infusion():
    assert parse_csv("day\n-3\n").observations[0].day == -3


def test_enum_values_are_normalised():
    obs = parse_csv("day,o2_device,consciousness\n0,Nasal Cannula,Awakens-To-Voice\n").observations[0]
    assert obs.o2_device.value == "nasal_cannula" and obs.consciousness.value == "awakens_to_voice"


def test_none_is_room_air():
    assert parse_csv("day,o2_device\n0,none\n").observations[0].o2_device.value == "room_air"


def test_every_problem_is_reported_at_once_with_file_row_and_column():
    found = problems(
        "day,ice_score,o2_device,hypotension,temp_c\n"
        "0,11,nasal,maybe,38\n"
        "x,5,room_air,no,101.2\n"
    )
    assert "obs.csv:2:ice_score: value '11' — expected a whole number from 0 to 10" in found
    assert any(p.startswith("obs.csv:2:o2_device: value 'nasal' — allowed: room_air") for p in found)
    assert any("did you mean 'nasal_cannula'" in p for p in found)
    assert "obs.csv:2:hypotension: value 'maybe' — expected true/false, yes/no or 1/0" in found
    assert any(p.startswith("obs.csv:3:day: value 'x'") for p in found)
    assert any(p.startswith("obs.csv:3:temp_c: value '101.2'") and "looks like °F" in p for p in found)
    assert len(found) == 5


def test_day_is_required():
    assert problems("temp_c\n38\n") == [
        "obs.csv:1: no 'day' column; it is required (day relative to infusion)"
    ]


def test_empty_day_cell():
    assert problems("day,temp_c\n,38\n") == ["obs.csv:2:day: required, but empty"]


def test_duplicate_patient_day_is_an_error_not_a_silent_drop():
    found = problems("patient_id,day,temp_c\nA,0,38\nA,0,39\n")
    assert found == ["obs.csv:3:day: patient A day 0 already has a row (line 2); give one row per patient-day"]


def test_ice_items_must_agree_with_the_score():
    found = problems("day,ice_score,ice_orientation,ice_naming,ice_commands,ice_writing,ice_attention\n"
                     "0,9,4,3,1,1,1\n")
    assert found == ["obs.csv:2:ice_score: ice_score 9 disagrees with the sum of its items (10)"]


def test_incomplete_ice_items():
    found = problems("day,ice_orientation\n0,4\n")
    assert "ice_naming" in found[0] and found[0].startswith("obs.csv:2:ice_score:")


def test_ragged_row():
    assert problems("day,temp_c\n0,38,1\n") == ["obs.csv:2: 3 cells, but the header has 2"]


def test_unknown_column_is_a_warning():
    read = parse_csv("day,temp_c,tempc\n0,38,1\n")
    assert read.warnings == ["<csv>:1:tempc: unknown column, ignored (did you mean 'temp_c'?)"]


def test_duplicate_column():
    assert problems("day,temp_c,TEMP_C\n0,38,38\n") == ["obs.csv:1:temp_c: column appears more than once"]


def test_empty_file_and_header_only():
    assert problems("") == ["obs.csv: empty file; expected a header row with at least 'day'"]
    assert problems("day,temp_c\n") == ["obs.csv: header only; no observation rows"]


def test_binary_garbage(tmp_path):
    path = tmp_path / "garbage.csv"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00")
    with pytest.raises(ObservationError) as info:
        read_observations(path)
    assert "not a text file" in str(info.value)


def test_not_utf8(tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes("day,temp_c\n0,38\n# \xe9\n".encode("latin-1"))
    with pytest.raises(ObservationError) as info:
        read_observations(path)
    assert "not UTF-8 text" in str(info.value)


def test_utf8_bom_and_windows_line_ends(tmp_path):
    path = tmp_path / "excel.csv"
    path.write_bytes(b"\xef\xbb\xbfday,temp_c\r\n0,38.4\r\n")
    assert read_observations(path).observations[0].temp_c == 38.4


def test_blank_lines_are_skipped():
    assert len(parse_csv("day\n0\n\n1\n").observations) == 2
