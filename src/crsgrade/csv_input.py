"""Reading the observation CSV: every problem of a file reported at once, nothing dropped.

Problems are reported as `FILE:ROW:COLUMN: value 'x' — what is allowed`, where ROW is the line
number in the file (the header is line 1).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, Mapping, get_args

from pydantic import ValidationError

from .errors import ObservationError
from .observations import ENUM_ALIASES, Observation
from .suggestions import did_you_mean

COLUMNS = tuple(Observation.model_fields)
_BOOL_TEXT = "true/false, yes/no or 1/0"


@dataclass
class ReadResult:
    observations: list[Observation]
    warnings: list[str] = field(default_factory=list)


def _enum_of(name: str) -> type[Enum] | None:
    annotation = Observation.model_fields[name].annotation
    return next((a for a in get_args(annotation) if isinstance(a, type) and issubclass(a, Enum)), None)


def _allowed(name: str, value: Any) -> str:
    """What a column allows, in words, with the closest allowed value when there is one."""
    enum = _enum_of(name)
    if enum is not None:
        options = [m.value for m in enum] + list(ENUM_ALIASES.get(name, {}))
        return f"allowed: {', '.join(options)}{did_you_mean(str(value), options)}"
    annotation = Observation.model_fields[name].annotation
    kinds = get_args(annotation) or (annotation,)
    if bool in kinds:
        return f"expected {_BOOL_TEXT}"
    low = high = None
    for meta in Observation.model_fields[name].metadata:
        low = getattr(meta, "ge", None) if getattr(meta, "ge", None) is not None else low
        low = getattr(meta, "gt", None) if getattr(meta, "gt", None) is not None else low
        high = getattr(meta, "le", None) if getattr(meta, "le", None) is not None else high
        high = getattr(meta, "lt", None) if getattr(meta, "lt", None) is not None else high
    number = "a whole number" if int in kinds else "a number" if float in kinds else "text"
    span = f" from {low} to {high}" if low is not None and high is not None else ""
    hint = ""
    if name == "temp_c" and _as_float(value) is not None and 90 <= _as_float(value) <= 113:
        hint = "; this looks like °F: put it in temp_f"
    return f"expected {number}{span}{hint}"


def _as_float(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def describe_validation_error(exc: ValidationError, record: Mapping[str, Any]) -> list[str]:
    """One line per problem: `COLUMN: value 'x' — what is allowed`."""
    lines = []
    for error in exc.errors():
        loc = error["loc"]
        if not loc:  # a check across columns (e.g. the ICE items)
            lines.append(f"ice_score: {error['msg'].removeprefix('Value error, ')}")
            continue
        name = str(loc[0])
        if error["type"] == "extra_forbidden":
            lines.append(f"{name}: unknown column; known columns: {', '.join(COLUMNS)}")
        elif error["type"] == "missing":
            lines.append(f"{name}: required, but empty")
        else:
            lines.append(f"{name}: value '{record.get(name)}' — {_allowed(name, record.get(name))}")
    return lines


def _decode(raw: bytes, source: str) -> str:
    if b"\x00" in raw:
        raise ObservationError([f"{source}: not a text file (it contains NUL bytes)"])
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ObservationError(
            [f"{source}: not UTF-8 text (byte {exc.start} cannot be decoded); save it as UTF-8 CSV"]
        ) from None


def read_observations(path: str | Path) -> ReadResult:
    """Reads and validates an observation CSV; raises ObservationError listing every problem."""
    source = str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise ObservationError([f"{source}: cannot read file: {exc.strerror or exc}"]) from None
    return parse_csv(_decode(raw, source), source)


def parse_csv(text: str, source: str = "<csv>") -> ReadResult:
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise ObservationError([f"{source}: empty file; expected a header row with at least 'day'"]) from None
    names = [cell.strip().lower() for cell in header]
    problems, warnings = [], []
    for position, name in enumerate(names):
        if names.index(name) != position:
            problems.append(f"{source}:1:{name}: column appears more than once")
    if "day" not in names:
        problems.append(f"{source}:1: no 'day' column; it is required (day relative to infusion)")
    unknown = [n for n in dict.fromkeys(names) if n not in COLUMNS]
    for name in unknown:
        warnings.append(f"{source}:1:{name}: unknown column, ignored{did_you_mean(name, COLUMNS)}")
    if problems:
        raise ObservationError(problems)

    observations, seen = [], {}
    rows = 0
    for row in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        rows += 1
        if len(row) != len(names):
            problems.append(f"{source}:{line}: {len(row)} cells, but the header has {len(names)}")
            continue
        record = {
            name: cell.strip()
            for name, cell in zip(names, row)
            if name in COLUMNS and cell.strip() != ""
        }
        try:
            obs = Observation.model_validate(record)
        except ValidationError as exc:
            problems.extend(f"{source}:{line}:{p}" for p in describe_validation_error(exc, record))
            continue
        key = (obs.patient_id, obs.day)
        if key in seen:
            problems.append(
                f"{source}:{line}:day: patient {obs.patient_id} day {obs.day} already has a row"
                f" (line {seen[key]}); give one row per patient-day"
            )
            continue
        seen[key] = line
        observations.append(obs)
    if problems:
        raise ObservationError(problems)
    if rows == 0:
        raise ObservationError([f"{source}: header only; no observation rows"])
    return ReadResult(observations=observations, warnings=warnings)
