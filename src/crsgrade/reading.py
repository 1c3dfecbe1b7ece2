"""Reading observation files: every bad value reported at once, and no row lost.

Accepted: CSV with `,`, `;` or tab between cells and `.` or `,` as decimal mark, UTF-8 with or
without a byte-order mark (Windows-1252 is read with a warning), any line ends; JSON (an array of
records, or `{"observations": [...]}`); JSON Lines; `-` for standard input. Headers may use the
spellings in columns.py. Problems read `FILE:ROW:COLUMN: value 'x' — what is allowed`, where ROW
is the line number for CSV and JSON Lines (the header is line 1) and the record number for a JSON
array.
"""

from __future__ import annotations

import csv
import datetime
import io
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

from pydantic import ValidationError

from .columns import CONTRACT_COLUMNS, KNOWN_COLUMNS, column_for
from .errors import ObservationError
from .observations import (
    DEFAULT_PATIENT_ID,
    ENUM_ALIASES,
    PLAUSIBLE_MAX_FLOW,
    VASOPRESSOR_DOSES,
    WEIGHT_BASED_DOSES,
    Observation,
    bounds,
    enum_of,
    field_kinds,
)
from .suggestions import did_you_mean

_BOOL_TEXT = "true/false, yes/no or 1/0"
_DECIMAL_COMMA = re.compile(r"^[+-]?\d+,\d+$")
# A temperature in temp_c this far from a body temperature in °C is one in °F.
_FAHRENHEIT = (77.0, 113.0)


@dataclass
class ReadResult:
    """What a file yielded: one observation per accepted row, with where each came from."""

    observations: list[Observation]
    locations: list[str]
    warnings: list[str] = field(default_factory=list)
    rows_read: int = 0
    skipped: list[str] = field(default_factory=list)  # problems of rows left out (--skip-invalid)
    rows_skipped: int = 0
    # readings of a combined day whose findings were set aside, by (patient, day)
    set_aside: dict[tuple[str, int], tuple[str, ...]] = field(default_factory=dict)


@dataclass
class _Row:
    location: str  # "FILE:ROW"
    values: dict[str, Any]  # contract or extra column -> raw value
    problems: list[str] = field(default_factory=list)  # found while splitting the row


_NUMERIC = tuple(n for n in CONTRACT_COLUMNS if {int, float} & set(field_kinds(n))) + ("temperature",)


def _as_float(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _allowed(name: str, value: Any) -> str:
    """What a column allows, in words, with the closest allowed value when there is one."""
    enum = enum_of(name)
    if enum is not None:
        options = [m.value for m in enum]
        aliases = list(ENUM_ALIASES.get(name, {}))
        return f"allowed: {', '.join(options)}{did_you_mean(str(value), options + aliases)}"
    kinds = field_kinds(name)
    if bool in kinds:
        return f"expected {_BOOL_TEXT}"
    if datetime.time in kinds:
        return "expected a time such as 08:30"
    if name == "fio2":
        return "expected a fraction from 0.21 to 1.0 or a percent from 21 to 100"
    low, high = bounds(name)
    number = "a whole number" if int in kinds else "a number" if float in kinds else "text"
    span = f" from {low:g} to {high:g}" if low is not None and high is not None else ""
    hint = ""
    number_value = _as_float(value)
    if name == "temp_c" and number_value is not None and _FAHRENHEIT[0] <= number_value <= _FAHRENHEIT[1]:
        hint = "; this looks like °F: put it in temp_f"
    return f"expected {number}{span}{hint}"


def describe_validation_error(exc: ValidationError, record: Mapping[str, Any]) -> list[str]:
    """One line per problem: `COLUMN: value 'x' — what is allowed`."""
    lines = []
    for error in exc.errors():
        loc = error["loc"]
        if not loc:  # a check across columns: a score and its items
            message = error["msg"].removeprefix("Value error, ")
            column = "cartox_score" if "CARTOX" in message or message.startswith("cartox") else "ice_score"
            lines.append(f"{column}: {message}")
            continue
        name = str(loc[0])
        if error["type"] == "extra_forbidden":
            lines.append(f"{name}: unknown column; known columns: {', '.join(CONTRACT_COLUMNS)}")
        elif error["type"] == "missing":
            lines.append(f"{name}: required, but empty")
        else:
            lines.append(f"{name}: value '{record.get(name)}' — {_allowed(name, record.get(name))}")
    return lines


# --- from bytes to rows -----------------------------------------------------------------------

def _decode(raw: bytes, source: str, warnings: list[str]) -> str:
    if b"\x00" in raw:
        raise ObservationError([f"{source}: not a text file (it contains NUL bytes)"])
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        try:
            text = raw.decode("cp1252")
        except UnicodeDecodeError:
            raise ObservationError([
                f"{source}: not UTF-8 text (byte {exc.start} cannot be decoded); save it as UTF-8"
            ]) from None
        warnings.append(f"{source}: not UTF-8; read as Windows-1252 (save as CSV UTF-8 to be sure)")
        return text


def _map_headers(headers: Iterable[str], source: str, problems: list[str],
                 warnings: list[str]) -> list[str | None]:
    mapped, seen = [], {}
    for header in headers:
        column = column_for(header)
        if column is None:
            if header.strip():
                hint = did_you_mean(header.strip().lower(), KNOWN_COLUMNS)
                warnings.append(f"{source}:1:{header.strip()}: unknown column, ignored{hint}")
        elif column in seen:
            problems.append(
                f"{source}:1:{column}: column appears more than once"
                f" (as '{seen[column]}' and '{header.strip()}')"
            )
        else:
            seen[column] = header.strip()
        mapped.append(column)
    return mapped


def _sniff_delimiter(header_line: str) -> str:
    counts = {d: header_line.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=counts.get)
    return best if counts[best] else ","


def _csv_rows(text: str, source: str, problems: list[str], warnings: list[str]) -> list[_Row]:
    first_line = text.lstrip("\r\n").split("\n", 1)[0]
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_sniff_delimiter(first_line))
    header = next(reader, None)
    while header is not None and not any(cell.strip() for cell in header):
        header = next(reader, None)
    if header is None:
        raise ObservationError([f"{source}: empty file; expected a header row with at least 'day'"])
    columns = _map_headers(header, source, problems, warnings)
    _require_day_column({c for c in columns if c}, source, problems)
    if problems:  # without the columns straight, every row would only repeat the problem
        raise ObservationError(problems)
    rows = []
    try:
        for cells in reader:
            if not any(cell.strip() for cell in cells):
                continue
            location = f"{source}:{reader.line_num}"
            if len(cells) != len(columns):
                rows.append(_Row(location, {}, [f"{location}: {len(cells)} cells, but the header has {len(columns)}"]))
                continue
            rows.append(_Row(location, {c: v for c, v in zip(columns, cells) if c is not None}))
    except csv.Error as exc:
        problems.append(f"{source}:{reader.line_num}: not readable as CSV: {exc}")
    return rows


def _require_day_column(columns: set[str], source: str, problems: list[str]) -> None:
    if "day" not in columns and "date" not in columns:
        raise ObservationError(problems + [
            f"{source}:1: no 'day' column; give the day relative to infusion, or 'date' with"
            " 'infusion_date' (a column or --infusion-date)"
        ])


def _json_rows(text: str, source: str, problems: list[str], warnings: list[str]) -> list[_Row]:
    stripped = text.strip()
    records: list[tuple[str, Any]] = []
    try:
        data = json.loads(stripped)
    except json.JSONDecodeError as exc:
        if stripped.startswith("["):
            raise ObservationError([f"{source}:{exc.lineno}: not valid JSON: {exc.msg}"]) from None
        data = None
        for number, line in enumerate(text.splitlines(), start=1):  # JSON Lines
            if not line.strip():
                continue
            try:
                records.append((f"{source}:{number}", json.loads(line)))
            except json.JSONDecodeError as line_exc:
                problems.append(f"{source}:{number}: not valid JSON: {line_exc.msg}")
    if data is not None:
        if isinstance(data, dict) and isinstance(data.get("observations"), list):
            data = data["observations"]
        if isinstance(data, dict):
            data = [data]
        if not isinstance(data, list):
            raise ObservationError([f"{source}: expected JSON records (an array of objects)"])
        records = [(f"{source}:{n}", record) for n, record in enumerate(data, start=1)]
    return _record_rows(records, problems, warnings, source)


def _record_rows(records: list[tuple[str, Any]], problems: list[str], warnings: list[str],
                 source: str) -> list[_Row]:
    rows, unknown, columns = [], {}, set()
    for location, record in records:
        row = _Row(location, {})
        rows.append(row)
        if not isinstance(record, Mapping):
            row.problems.append(f"{location}: expected a record (an object of column: value)")
            continue
        for key, value in record.items():
            column = column_for(str(key))
            if column is None:
                unknown.setdefault(str(key), location)
            elif column in row.values:
                row.problems.append(f"{location}:{column}: given more than once (as '{key}' too)")
            elif isinstance(value, dict | list):
                row.problems.append(f"{location}:{column}: expected a single value, not a list or object")
            else:
                row.values[column] = value
                columns.add(column)
    for key, location in unknown.items():
        warnings.append(f"{location}:{key}: unknown column, ignored{did_you_mean(key.lower(), KNOWN_COLUMNS)}")
    if rows:
        _require_day_column(columns, source, problems)
    return rows


# --- from rows to observations --------------------------------------------------------------

def _parse_date(value: Any) -> datetime.date | None:
    if isinstance(value, datetime.date):
        return value
    try:
        return datetime.date.fromisoformat(str(value).strip()[:10])
    except ValueError:
        return None


def _clean(values: dict[str, Any]) -> dict[str, Any]:
    """Cell text to values: empty means not recorded; a decimal comma becomes a point."""
    out = {}
    for column, value in values.items():
        if isinstance(value, str):
            value = value.strip()
            if value == "":
                continue
            if column in _NUMERIC and _DECIMAL_COMMA.match(value):
                value = value.replace(",", ".")
        if value is None:
            continue
        out[column] = value
    return out


def _resolve_temperature(values: dict[str, Any], where: str, problems: list[str], warnings: list[str]) -> None:
    """A temperature of unstated unit (column 'temperature', 'temp', ...) is read as °C when it
    is a body temperature in °C and as °F, with a warning, when it is one in °F."""
    if "temperature" not in values:
        return
    raw = values.pop("temperature")
    number = _as_float(raw)
    low_c, high_c = bounds("temp_c")
    if number is not None and low_c < number < high_c:
        values.setdefault("temp_c", number)
    elif number is not None and _FAHRENHEIT[0] < number < _FAHRENHEIT[1]:
        values.setdefault("temp_f", number)
        warnings.append(f"{where}:temperature: value '{raw}' read as °F ({(number - 32) * 5 / 9:.1f} °C)")
    else:
        problems.append(
            f"{where}:temperature: value '{raw}' — expected a temperature in °C ({low_c:g}-{high_c:g})"
            f" or °F ({_FAHRENHEIT[0]:g}-{_FAHRENHEIT[1]:g})"
        )


def _resolve_day(values: dict[str, Any], where: str, infusion: datetime.date | None,
                 problems: list[str]) -> None:
    date_text = values.pop("date", None)
    values.pop("infusion_date", None)
    if date_text is None:
        return
    date = _parse_date(date_text)
    if date is None:
        problems.append(f"{where}:date: value '{date_text}' — expected an ISO date such as 2024-03-18")
        return
    if infusion is None:
        problems.append(f"{where}:date: no infusion date for this patient (column infusion_date or --infusion-date)")
        return
    day = (date - infusion).days
    given = values.get("day")
    if given is not None and str(given).strip() != str(day):
        problems.append(f"{where}:day: value '{given}' disagrees with date {date} (day {day} after infusion on {infusion})")
        return
    values["day"] = day


def _infusion_dates(rows: list[_Row], default: datetime.date | None,
                    problems: list[str]) -> dict[str, datetime.date | None]:
    """Each patient's infusion date, from any of their rows, or the default."""
    found: dict[str, tuple[datetime.date, str]] = {}
    for row in rows:
        text = row.values.get("infusion_date")
        if text is None or (isinstance(text, str) and not text.strip()):
            continue
        patient = str(row.values.get("patient_id") or DEFAULT_PATIENT_ID).strip() or DEFAULT_PATIENT_ID
        date = _parse_date(text)
        if date is None:
            problems.append(f"{row.location}:infusion_date: value '{text}' — expected an ISO date such as 2024-03-14")
        elif patient in found and found[patient][0] != date:
            problems.append(
                f"{row.location}:infusion_date: {date} differs from {found[patient][0]} given at {found[patient][1]}"
            )
        else:
            found.setdefault(patient, (date, row.location))
    return {patient: date for patient, (date, _) in found.items()} | {"": default}


def _patient_weights(rows: list[_Row]) -> dict[str, float]:
    """Each patient's weight (kg), from the first of their rows that records one."""
    weights: dict[str, float] = {}
    for row in rows:
        weight = _as_float(str(row.values.get("weight_kg", "")).strip().replace(",", "."))
        if weight is not None:
            patient = str(row.values.get("patient_id") or DEFAULT_PATIENT_ID).strip() or DEFAULT_PATIENT_ID
            weights.setdefault(patient, weight)
    return weights


def _per_minute(obs: Observation, values: dict[str, Any], patient_weight: float | None, where: str,
                problems: list[str]) -> Observation:
    """Weight-based doses (µg/kg/min) as µg/min, with the row's weight or the patient's; a dose
    given both ways must agree."""
    update = {}
    for per_kg_column, column in WEIGHT_BASED_DOSES.items():
        per_kg = getattr(obs, per_kg_column)
        if per_kg is None:
            continue
        weight = obs.weight_kg if obs.weight_kg is not None else patient_weight
        if weight is None:
            problems.append(
                f"{where}:{per_kg_column}: value '{values.get(per_kg_column)}' — a dose per kg needs the"
                f" patient's weight: give weight_kg on this or another row of patient {obs.patient_id}")
            continue
        converted = round(per_kg * weight, 6)
        given = getattr(obs, column)
        if given is not None and abs(given - converted) > 0.02 * max(given, converted):
            problems.append(
                f"{where}:{column}: value '{values.get(column)}' disagrees with {per_kg_column} {per_kg:g}"
                f" × weight_kg {weight:g} = {converted:g} µg/min")
        elif given is None:
            update[column] = converted
    return obs.model_copy(update=update) if update else obs


def _contradictions(obs: Observation, where: str, warnings: list[str], problems: list[str]) -> None:
    if obs.o2_flow_lpm is not None and obs.o2_flow_lpm > 0 and obs.o2_device is None:
        warnings.append(
            f"{where}:o2_flow_lpm: value '{obs.o2_flow_lpm:g}' with no o2_device; oxygen is graded by"
            " device, so this flow is not graded"
        )
    if obs.o2_device is not None and obs.o2_flow_lpm is not None:
        limit = PLAUSIBLE_MAX_FLOW[obs.o2_device.value]
        if obs.o2_flow_lpm > limit:
            warnings.append(
                f"{where}:o2_flow_lpm: value '{obs.o2_flow_lpm:g}' is implausible for"
                f" {obs.o2_device.value} (at most {limit} L/min); graded as recorded"
            )
    if obs.o2_device is not None and obs.o2_device.value != "room_air" and obs.o2_flow_lpm == 0:
        warnings.append(
            f"{where}:o2_flow_lpm: value '0' with {obs.o2_device.value}; graded by the device as recorded"
        )
    if obs.hypotension is False and (obs.vasopressors or obs.vasopressin):
        warnings.append(
            f"{where}:hypotension: value 'no' while vasopressors or vasopressin are recorded;"
            " graded by the vasopressors"
        )
    dosed = [name for name in VASOPRESSOR_DOSES if getattr(obs, name)]
    if obs.vasopressors is not None and len(dosed) > obs.vasopressors:
        warnings.append(
            f"{where}:vasopressors: value '{obs.vasopressors}' but doses of {len(dosed)} vasopressors are"
            f" recorded ({', '.join(dosed)}); graded as {len(dosed)}"
        )
    if obs.temp_c is not None and obs.temp_f is not None:
        converted = (obs.temp_f - 32) * 5 / 9
        if abs(converted - obs.temp_c) > 0.3:
            problems.append(
                f"{where}:temp_f: value '{obs.temp_f:g}' ({converted:.1f} °C) disagrees with"
                f" temp_c {obs.temp_c:g}"
            )


def _observations(rows: list[_Row], source: str, problems: list[str], warnings: list[str],
                  infusion_date: datetime.date | None, skip_invalid: bool,
                  empty: str | None = None) -> ReadResult:
    infusion = _infusion_dates(rows, infusion_date, problems)
    weights = _patient_weights(rows)
    result = ReadResult(observations=[], locations=[], warnings=warnings, rows_read=len(rows))
    for row in rows:
        row_problems = list(row.problems)
        if row.values or not row_problems:  # a ragged row has no values to check
            values = _clean(row.values)
            patient = str(values.get("patient_id", DEFAULT_PATIENT_ID)).strip()
            _resolve_temperature(values, row.location, row_problems, warnings)
            before = len(row_problems)
            _resolve_day(values, row.location, infusion.get(patient, infusion[""]), row_problems)
            date_failed = len(row_problems) > before
            try:
                obs = Observation.model_validate(values)
            except ValidationError as exc:
                row_problems.extend(
                    f"{row.location}:{p}" for p in describe_validation_error(exc, values)
                    if not (date_failed and p.startswith("day:"))  # already said why
                )
            else:
                obs = _per_minute(obs, values, weights.get(obs.patient_id), row.location, row_problems)
                _contradictions(obs, row.location, warnings, row_problems)
                if not row_problems:
                    result.observations.append(obs)
                    result.locations.append(row.location)
        if row_problems:
            if skip_invalid:
                result.skipped.extend(row_problems)
                result.rows_skipped += 1
            else:
                problems.extend(row_problems)
    if problems:
        raise ObservationError(problems)
    if not rows:
        raise ObservationError([empty or f"{source}: header only; no observation rows"])
    return result


def parse_text(text: str, source: str = "<text>", *, infusion_date: datetime.date | None = None,
               skip_invalid: bool = False, warnings: list[str] | None = None) -> ReadResult:
    """Reads observations from text in any accepted format."""
    warnings = [] if warnings is None else warnings
    problems: list[str] = []
    if not text.strip():
        raise ObservationError([f"{source}: empty file; expected a header row with at least 'day'"])
    if text.lstrip()[:1] in ("[", "{"):
        rows = _json_rows(text, source, problems, warnings)
        empty = f"{source}: no observation records"
    else:
        empty = None
        rows = _csv_rows(text, source, problems, warnings)
    if problems and not rows:
        raise ObservationError(problems)
    return _observations(rows, source, problems, warnings, infusion_date, skip_invalid, empty)


def read_observations(path: str | Path, *, infusion_date: datetime.date | None = None,
                      skip_invalid: bool = False) -> ReadResult:
    """Reads and validates an observation file (`-` is standard input); raises
    ObservationError listing every problem unless `skip_invalid` leaves bad rows out."""
    warnings: list[str] = []
    if str(path) == "-":
        source, raw = "<stdin>", sys.stdin.buffer.read()
    else:
        source = str(path)
        try:
            raw = Path(path).read_bytes()
        except OSError as exc:
            raise ObservationError([f"{source}: cannot read file: {exc.strerror or exc}"]) from None
    text = _decode(raw, source, warnings)
    return parse_text(text, source, infusion_date=infusion_date, skip_invalid=skip_invalid,
                      warnings=warnings)


def read_records(records: Iterable[Observation | Mapping[str, Any]], *,
                 infusion_date: datetime.date | None = None,
                 skip_invalid: bool = False) -> ReadResult:
    """Validates records given by a program (Observation models or dicts of column: value);
    locations read `records:N`, N counting from 1."""
    problems: list[str] = []
    warnings: list[str] = []
    located = []
    for number, record in enumerate(records, start=1):
        if isinstance(record, Observation):
            record = record.model_dump(exclude_none=True)
        located.append((f"records:{number}", record))
    rows = _record_rows(located, problems, warnings, "records")
    return _observations(rows, "records", problems, warnings, infusion_date, skip_invalid,
                         empty="records: no observation records")
