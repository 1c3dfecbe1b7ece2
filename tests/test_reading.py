"""Reading observation files: formats, spellings, and every class of bad input."""

from __future__ import annotations

import datetime
import json

import pytest

from crsgrade import ObservationError
from crsgrade.reading import parse_text, read_observations


def problems(text: str, **options) -> list[str]:
    with pytest.raises(ObservationError) as info:
        parse_text(text, "obs.csv", **options)
    return info.value.problems


def first(text: str, **options):
    return parse_text(text, "obs.csv", **options).observations[0]


# --- the contract -----------------------------------------------------------------------------

def test_headers_are_case_insensitive_and_trimmed():
    obs = first("Patient_ID, DAY ,Temp_C\nA,0,38.2\n")
    assert (obs.patient_id, obs.day, obs.temp_c) == ("A", 0, 38.2)


@pytest.mark.parametrize("text, value", [
    ("true", True), ("false", False), ("yes", True), ("no", False), ("1", True), ("0", False),
    ("YES", True), ("No", False),
])
def test_booleans(text, value):
    assert first(f"day,hypotension\n0,{text}\n").hypotension is value


def test_empty_cell_is_not_recorded():
    obs = first("day,temp_c,hypotension,o2_device\n0,,,\n")
    assert obs.temp_c is None and obs.hypotension is None and obs.o2_device is None


def test_patient_id_absent_means_one_patient():
    read = parse_text("day,temp_c\n0,38\n1,37\n")
    assert {o.patient_id for o in read.observations} == {"1"}


def test_negative_days_before_infusion():
    assert first("day\n-3\n").day == -3


def test_enum_values_are_normalised():
    obs = first("day,o2_device,consciousness\n0,Nasal Cannula,Awakens-To-Voice\n")
    assert obs.o2_device.value == "nasal_cannula" and obs.consciousness.value == "awakens_to_voice"


@pytest.mark.parametrize("written, device", [
    ("none", "room_air"), ("RA", "room_air"), ("NC", "nasal_cannula"), ("HFNC", "high_flow_nasal_cannula"),
    ("NRB", "non_rebreather"), ("ventilator", "mechanical_ventilation"), ("BPAP", "bipap"),
])
def test_device_spellings(written, device):
    assert first(f"day,o2_device\n0,{written}\n").o2_device.value == device


# --- formats ----------------------------------------------------------------------------------

def test_semicolon_and_decimal_comma():
    obs = first("patient_id;day;temp_c;o2_flow_lpm\nA;0;38,5;2,5\n")
    assert (obs.temp_c, obs.o2_flow_lpm) == (38.5, 2.5)


def test_tab_separated():
    assert first("day\ttemp_c\n0\t38.4\n").temp_c == 38.4


def test_quoted_decimal_comma_in_comma_separated_file():
    assert first('day,temp_c\n0,"38,6"\n').temp_c == 38.6


def test_utf8_bom_and_windows_line_ends(tmp_path):
    path = tmp_path / "excel.csv"
    path.write_bytes(b"\xef\xbb\xbfday;temp_c\r\n0;38,4\r\n")
    assert read_observations(path).observations[0].temp_c == 38.4


def test_windows_1252_is_read_with_a_warning(tmp_path):
    path = tmp_path / "ansi.csv"
    path.write_bytes("day;Temp (°C)\r\n0;38,4\r\n".encode("cp1252"))
    read = read_observations(path)
    assert read.observations[0].temp_c == 38.4
    assert any("read as Windows-1252" in w for w in read.warnings)


def test_json_array():
    text = json.dumps([{"patient_id": "A", "day": 0, "temp_c": 38.1, "hypotension": True},
                       {"patient_id": "A", "day": 1, "ice_score": 6}])
    read = parse_text(text, "obs.json")
    assert [o.day for o in read.observations] == [0, 1]
    assert read.observations[0].hypotension is True


def test_json_object_with_observations():
    read = parse_text(json.dumps({"observations": [{"day": 0, "temp_c": 38.0}]}), "obs.json")
    assert read.observations[0].temp_c == 38.0


def test_json_lines():
    read = parse_text('{"day": 0, "temp_c": 38.1}\n\n{"day": 1, "ICE": 7}\n', "obs.jsonl")
    assert [o.ice_score for o in read.observations] == [None, 7]


def test_json_lines_records_read_as_they_are_or_key_by_key_agree():
    """A record whose keys are column names and whose values are text is taken as it is; one
    with an alias, a number, a duplicate or a nested value is read key by key. Mixed in one
    file, they read as the text records would."""
    text = [{"patient_id": "A", "day": "0", "temp_c": "38.1", "o2_device": None},
            {"patient_id": "A", "day": "1", "ice_score": "7"},
            {"patient_id": "A", "day": "2", "temp_c": "37.0", "hypotension": "true"}]
    mixed = [text[0], {"patient_id": "A", "day": 1, "ICE": 7},
             {"patient_id": "A", "Day": "2", "temp_c": 37.0, "hypotension": True}]
    as_text = parse_text("\n".join(map(json.dumps, text)), "obs.jsonl").observations
    assert parse_text("\n".join(map(json.dumps, mixed)), "obs.jsonl").observations == as_text
    assert [(o.day, o.temp_c, o.ice_score, o.hypotension) for o in as_text] == [
        (0, 38.1, None, None), (1, None, 7, None), (2, 37.0, None, True)]
    assert problems('{"day": "0", "ice_score": "7", "ICE": "8"}\n{"day": "1", "temp_c": ["38"]}\n') == [
        "obs.csv:1:ice_score: given more than once (as 'ICE' too)",
        "obs.csv:2:temp_c: expected a single value, not a list or object"]


def test_json_lines_bad_line_is_named():
    assert problems('{"day": 0}\n{"day": 1,\n') == [
        "obs.csv:2: not valid JSON: Expecting property name enclosed in double quotes"]


def test_json_nested_value():
    assert problems('[{"day": 0, "temp_c": [38, 39]}]') == [
        "obs.csv:1:temp_c: expected a single value, not a list or object"
    ]


def test_stdin(monkeypatch):
    import io
    import sys

    class Stdin:
        buffer = io.BytesIO(b"day,temp_c\n0,38.9\n")

    monkeypatch.setattr(sys, "stdin", Stdin)
    read = read_observations("-")
    assert read.observations[0].temp_c == 38.9 and read.locations == ["<stdin>:2"]


# --- spellings and units ------------------------------------------------------------------------

@pytest.mark.parametrize("header, column", [
    ("Temp (°C)", "temp_c"), ("Temperature (F)", "temp_f"), ("ICE", "ice_score"), ("CAPD", "capd_score"),
    ("Patient", "patient_id"), ("O2 flow (L/min)", "o2_flow_lpm"), ("Oxygen device", "o2_device"),
    ("Age", "age_years"), ("Pressors", "vasopressors"), ("Corticosteroids", "steroids"),
    ("LOC", "consciousness"), ("Study day", "day"),
])
def test_header_aliases(header, column):
    value = {"temp_c": "38.2", "temp_f": "100.9", "ice_score": "7", "capd_score": "3", "patient_id": "Z",
             "o2_flow_lpm": "2", "o2_device": "nasal_cannula", "age_years": "40", "vasopressors": "1",
             "steroids": "yes", "consciousness": "alert", "day": "4"}[column]
    header_day = "" if column == "day" else "day,"
    row_day = "" if column == "day" else "0,"
    obs = first(f"{header_day}{header}\n{row_day}{value}\n")
    assert getattr(obs, column) is not None


def test_temperature_of_unstated_unit_in_celsius():
    read = parse_text("day,temperature\n0,38.4\n")
    assert read.observations[0].temp_c == 38.4 and read.warnings == []


def test_temperature_of_unstated_unit_in_fahrenheit_is_warned():
    read = parse_text("day,temp\n0,101.3\n", "obs.csv")
    assert read.observations[0].temp_f == 101.3
    assert read.warnings == ["obs.csv:2:temperature: value '101.3' read as °F (38.5 °C)"]


def test_fahrenheit_in_temp_c_is_an_error_that_says_so():
    (problem,) = problems("day,temp_c\n0,101.2\n")
    assert problem == ("obs.csv:2:temp_c: value '101.2' — expected a number from 25 to 45;"
                       " this looks like °F: put it in temp_f")


# --- dates instead of days ---------------------------------------------------------------------

def test_date_and_infusion_date_columns():
    read = parse_text("patient_id,date,infusion_date,temp_c\nA,2024-03-14,2024-03-14,38.1\n"
                      "A,2024-03-17,,39.0\nB,2024-05-02,2024-05-01,37.0\n")
    assert [(o.patient_id, o.day) for o in read.observations] == [("A", 0), ("A", 3), ("B", 1)]


def test_infusion_date_option():
    read = parse_text("date,temp_c\n2024-03-12,38.1\n", infusion_date=datetime.date(2024, 3, 14))
    assert read.observations[0].day == -2


def test_date_without_infusion_date():
    (problem,) = problems("date,temp_c\n2024-03-12,38.1\n")
    assert problem.startswith("obs.csv:2:date: no infusion date for this patient")


def test_bad_date():
    (problem,) = problems("date,infusion_date\n12/03/2024,2024-03-01\n")
    assert problem == "obs.csv:2:date: value '12/03/2024' — expected an ISO date such as 2024-03-18"


def test_day_and_date_must_agree():
    (problem,) = problems("day,date,infusion_date\n2,2024-03-12,2024-03-11\n")
    assert "disagrees with date 2024-03-12 (day 1 after infusion on 2024-03-11)" in problem


def test_conflicting_infusion_dates():
    found = problems("patient_id,date,infusion_date\nA,2024-03-12,2024-03-11\nA,2024-03-13,2024-03-10\n")
    assert any("infusion_date: 2024-03-10 differs from 2024-03-11" in p for p in found)


def test_time_column():
    obs = first("day,time,temp_c\n0,08:30,38.0\n")
    assert obs.time == datetime.time(8, 30)


# --- bad input, one test per class ------------------------------------------------------------

BAD = [
    ("wrong type", "day,hypotension\n0,maybe\n",
     "obs.csv:2:hypotension: value 'maybe' — expected true/false, yes/no or 1/0"),
    ("ICE out of range", "day,ice_score\n0,11\n",
     "obs.csv:2:ice_score: value '11' — expected a whole number from 0 to 10"),
    ("negative flow", "day,o2_device,o2_flow_lpm\n0,nasal_cannula,-2\n",
     "obs.csv:2:o2_flow_lpm: value '-2' — expected a number from 0 to 80"),
    ("too hot", "day,temp_c\n0,45\n", "obs.csv:2:temp_c: value '45' — expected a number from 25 to 45"),
    ("too cold", "day,temp_c\n0,25\n", "obs.csv:2:temp_c: value '25' — expected a number from 25 to 45"),
    ("CAPD out of range", "day,capd_score\n0,40\n",
     "obs.csv:2:capd_score: value '40' — expected a whole number from 0 to 32"),
    ("unknown enum", "day,seizure\n0,status\n",
     "obs.csv:2:seizure: value 'status' — allowed: none, resolved, prolonged"),
    ("enum with suggestion", "day,o2_device\n0,nasal\n",
     "obs.csv:2:o2_device: value 'nasal' — allowed: room_air, blow_by, nasal_cannula, high_flow_nasal_cannula,"
     " face_mask, non_rebreather, venturi, cpap, bipap, mechanical_ventilation (did you mean 'nasal_cannula'?)"),
    ("day not an integer", "day,temp_c\n1.5,38\n",
     "obs.csv:2:day: value '1.5' — expected a whole number from -365 to 3650"),
    ("day empty", "day,temp_c\n,38\n", "obs.csv:2:day: required, but empty"),
    ("no day column", "temp_c\n38\n",
     "obs.csv:1: no 'day' column; give the day relative to infusion, or 'date' with 'infusion_date'"
     " (a column or --infusion-date)"),
    ("ICE disagrees with items",
     "day,ice_score,ice_orientation,ice_naming,ice_commands,ice_writing,ice_attention\n0,9,4,3,1,1,1\n",
     "obs.csv:2:ice_score: ice_score 9 disagrees with the sum of its items (10)"),
    ("ICE items incomplete", "day,ice_orientation\n0,4\n",
     "obs.csv:2:ice_score: ICE items are incomplete: ice_naming, ice_commands, ice_writing, ice_attention"
     " not recorded"),
    ("ragged row", "day,temp_c\n0,38,1\n", "obs.csv:2: 3 cells, but the header has 2"),
    ("duplicate column", "day,temp_c,TEMP (°C)\n0,38,38\n",
     "obs.csv:1:temp_c: column appears more than once (as 'temp_c' and 'TEMP (°C)')"),
    ("empty file", "", "obs.csv: empty file; expected a header row with at least 'day'"),
    ("blank lines only", "\n\n  \n", "obs.csv: empty file; expected a header row with at least 'day'"),
    ("header only", "day,temp_c\n", "obs.csv: header only; no observation rows"),
    ("temperature of no unit", "day,temperature\n0,60\n",
     "obs.csv:2:temperature: value '60' — expected a temperature in °C (25-45) or °F (77-113)"),
    ("temp_c and temp_f disagree", "day,temp_c,temp_f\n0,37,101.5\n",
     "obs.csv:2:temp_f: value '101.5' (38.6 °C) disagrees with temp_c 37"),
]


@pytest.mark.parametrize("text, message", [pytest.param(t, m, id=i) for i, t, m in BAD])
def test_bad_input(text, message):
    assert problems(text) == [message]


def test_every_problem_of_a_file_is_reported_at_once():
    found = problems("day,ice_score,o2_device,hypotension,temp_c\n0,11,nasal,maybe,38\nx,5,room_air,no,101.2\n")
    assert len(found) == 5
    assert {p.split(":")[1] for p in found} == {"2", "3"}


def test_binary_garbage(tmp_path):
    path = tmp_path / "garbage.csv"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00")
    with pytest.raises(ObservationError, match="not a text file"):
        read_observations(path)


def test_undecodable_bytes(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_bytes(b"day,temp_c\n0,38\n\x81\x8d\x8f\x90\x9d\n")
    with pytest.raises(ObservationError, match="not UTF-8 text"):
        read_observations(path)


def test_a_character_cut_where_a_large_file_is_read_in_pieces_is_read_whole(tmp_path, monkeypatch):
    """A large file is read in pieces of a set size (its first 4096 bytes, then batches), and a
    piece can end inside a character of two or more bytes: the character is read with the next
    piece, never reported as "not UTF-8". Here byte 4096 falls inside a character (0b10xxxxxx
    is a byte within one), and the notes are dense with characters where the batches end."""
    import crsgrade
    from crsgrade import sources

    from .conftest import always_in_batches

    rows = [f"Zoë-{n // 4},{n % 4},3{7 + n % 3}.5,°é “ü” {'–' * (n % 7)}" for n in range(400)]

    def cohort(pad: int) -> str:  # the first note padded, to move the rest of the file
        return "patient_id,day,temp_c,note\n" + "\n".join([rows[0] + " " * pad, *rows[1:]]) + "\n"

    text = next(cohort(pad) for pad in range(64) if cohort(pad).encode()[4096] & 0xC0 == 0x80)
    path = tmp_path / "accents.csv"
    path.write_text(text, encoding="utf-8")
    whole = crsgrade.grade(text.encode())  # from bytes: read whole
    monkeypatch.setattr(sources, "BATCH_BYTES", 301)
    monkeypatch.setattr(sources, "open_path", always_in_batches(sources.open_path))
    assert crsgrade.grade(path).model_dump_json() == whole.model_dump_json()


# --- warnings: contradictions that still grade --------------------------------------------------

@pytest.mark.parametrize("row, warning", [
    ("0,,5", "o2_flow_lpm: value '5' with no o2_device; oxygen is graded by device, so this flow is not graded"),
    ("0,nasal_cannula,40",
     "o2_flow_lpm: value '40' is implausible for nasal_cannula (at most 15 L/min); graded as recorded"),
    ("0,room_air,2", "o2_flow_lpm: value '2' is implausible for room_air (at most 0 L/min); graded as recorded"),
])
def test_oxygen_contradictions_are_warnings(row, warning):
    read = parse_text(f"day,o2_device,o2_flow_lpm\n{row}\n", "obs.csv")
    assert read.warnings == [f"obs.csv:2:{warning}"]


def test_unknown_column_is_a_warning():
    read = parse_text("day,temp_c,tempc\n0,38,1\n", "obs.csv")
    assert read.warnings == ["obs.csv:1:tempc: unknown column, ignored (did you mean 'temp_c'?)"]


def test_blank_lines_are_skipped():
    assert len(parse_text("day\n0\n\n1\n").observations) == 2


# --- nothing lost -------------------------------------------------------------------------------

def test_skip_invalid_keeps_the_valid_rows_and_lists_the_others():
    read = parse_text("day,ice_score\n0,5\n1,12\n2,x\n3,10\n", "obs.csv", skip_invalid=True)
    assert [o.day for o in read.observations] == [0, 3]
    assert read.rows_read == 4 and read.rows_skipped == 2
    assert read.skipped[0].startswith("obs.csv:3:ice_score")
    assert read.skipped[1].startswith("obs.csv:4:")


def test_vasopressors_with_hypotension_no_is_warned():
    read = parse_text("day,hypotension,vasopressors\n0,no,1\n", "obs.csv")
    assert read.warnings == ["obs.csv:2:hypotension: value 'no' while vasopressors or vasopressin are recorded;"
                             " graded by the vasopressors"]


def test_device_with_no_flow_is_warned():
    read = parse_text("day,o2_device,o2_flow_lpm\n0,nasal_cannula,0\n", "obs.csv")
    assert read.warnings == ["obs.csv:2:o2_flow_lpm: value '0' with nasal_cannula; graded by the device as recorded"]


def test_a_row_with_a_bad_date_still_reports_its_other_problems():
    found = problems("date,infusion_date,ice_score\n2024-13-01,2024-03-01,11\n")
    assert found == [
        "obs.csv:2:date: value '2024-13-01' — expected an ISO date such as 2024-03-18",
        "obs.csv:2:ice_score: value '11' — expected a whole number from 0 to 10",
    ]


def test_json_record_with_a_column_twice():
    assert problems('[{"day": 0, "temp": 38, "temperature": 39}]') == [
        "obs.csv:1:temperature: given more than once (as 'temperature' too)"
    ]


def test_json_record_that_is_not_an_object():
    assert problems('[{"day": 0}, 5]') == ["obs.csv:2: expected a record (an object of column: value)"]


# --- the older grading systems' columns ------------------------------------------------------------

@pytest.mark.parametrize("text, percent", [("0.4", 40.0), ("0.21", 21.0), ("1", 100.0), ("40", 40.0),
                                           ("100", 100.0), ("35,5", 35.5)])
def test_fio2_as_fraction_or_percent(text, percent):
    assert first(f"day;fio2\n0;{text}\n").fio2 == percent


@pytest.mark.parametrize("text", ["0.2", "5", "101", "-1"])
def test_fio2_out_of_range(text):
    assert problems(f"day,fio2\n0,{text}\n") == [
        f"obs.csv:2:fio2: value '{text}' — expected a fraction from 0.21 to 1.0 or a percent from 21 to 100"]


def test_cartox_items_must_be_complete_and_agree():
    assert problems("day,cartox_orientation\n0,4\n") == [
        "obs.csv:2:cartox_score: CARTOX-10 items are incomplete: cartox_naming, cartox_writing, cartox_counting"
        " not recorded"]
    assert problems("day,cartox_score,cartox_orientation,cartox_naming,cartox_writing,cartox_counting\n"
                    "0,9,5,3,1,1\n") == [
        "obs.csv:2:cartox_score: cartox_score 9 disagrees with the sum of its items (10)"]
    assert first("day,cartox_orientation,cartox_naming,cartox_writing,cartox_counting\n0,5,2,1,0\n").cartox_total == 8


@pytest.mark.parametrize("written, kind", [("Partial", "focal"), ("EEG", "eeg_only"), ("tonic-clonic", "generalized"),
                                           ("status", "status_epilepticus"), ("no", "none")])
def test_seizure_kind_spellings(written, kind):
    assert first(f"day,seizure_kind\n0,{written}\n").seizure_kind.value == kind


@pytest.mark.parametrize("header, column", [
    ("Noradrenaline", "norepinephrine_ug_min"), ("FiO2 (%)", "fio2"), ("CARTOX-10", "cartox_score"),
    ("CSF opening pressure (mmHg)", "csf_opening_pressure_mmhg"), ("Hours on vasopressors", "vasopressor_hours"),
])
def test_older_system_header_aliases(header, column):
    read = parse_text(f"day,{header}\n0,1\n", "obs.csv")
    assert read.warnings == [] and getattr(read.observations[0], column) is not None


def test_a_csf_pressure_without_its_unit_is_not_read():
    read = parse_text("day,CSF opening pressure\n0,25\n", "obs.csv")
    assert read.warnings[0].startswith("obs.csv:1:CSF opening pressure: unknown column, ignored")


def test_more_dosed_vasopressors_than_the_count_is_warned():
    read = parse_text("day,hypotension,vasopressors,norepinephrine_ug_min,epinephrine_ug_min\n0,yes,1,5,2\n", "obs.csv")
    assert read.warnings == ["obs.csv:2:vasopressors: value '1' but doses of 2 vasopressors are recorded"
                             " (norepinephrine_ug_min, epinephrine_ug_min); graded as 2"]


def test_readings_of_the_older_systems_columns_are_combined():
    from crsgrade import Grader

    text = ("day,time,fio2,norepinephrine_ug_min,vasopressors,hypotension,organ_toxicity_grade,cartox_score,"
            "seizure_kind,hospitalized\n"
            "0,08:00,0.3,5,1,yes,1,9,focal,no\n0,16:00,45,12,1,yes,3,6,,yes\n")
    (day,) = Grader(system="lee2014").grade_frame(parse_text(text, "obs.csv").observations).iter_rows(named=True)
    assert day["readings"] == 2
    shown = (day["fio2"], day["norepinephrine_ug_min"], day["organ_toxicity_grade"], day["cartox_score"])
    assert shown == (45, 12, 3, 6)
    assert day["seizure_kind"] == "focal" and day["hospitalized"] is True


# --- weight-based vasopressor doses ------------------------------------------------------------

def test_a_weight_based_dose_is_converted_with_the_patients_weight():
    rows = parse_text("patient_id,day,weight_kg,norepinephrine_ug_kg_min,epinephrine_ug_kg_min\n"
                      "p,0,80,,\np,1,,0.25,\np,2,70,,0.1\n", "obs.csv").observations
    assert rows[1].norepinephrine_ug_min == 20  # the weight of another row of the patient
    assert rows[2].epinephrine_ug_min == 7  # the row's own weight


def test_a_weight_based_dose_without_a_weight_is_an_error():
    assert problems("patient_id,day,norepinephrine_ug_kg_min\np,0,0.1\n") == [
        "obs.csv:2:norepinephrine_ug_kg_min: value '0.1' — a dose per kg needs the patient's weight: give"
        " weight_kg on this or another row of patient p"]


def test_a_dose_given_both_ways_must_agree():
    both = first("day,weight_kg,norepinephrine_ug_kg_min,norepinephrine_ug_min\n0,70,0.3,21\n")
    assert both.norepinephrine_ug_min == 21
    assert problems("day,weight_kg,norepinephrine_ug_kg_min,norepinephrine_ug_min\n0,70,0.3,30\n") == [
        "obs.csv:2:norepinephrine_ug_min: value '30' disagrees with norepinephrine_ug_kg_min 0.3 × weight_kg 70"
        " = 21 µg/min"]
