"""Reading and validating without grading: observations as typed records.

For programs that want the validated observations themselves (and for `crsgrade check`): the
read and validate stages of the pipeline (sources.py, validation.py), with each accepted row as
an `Observation`.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .observations import Observation
from .sources import REC, Input, open_bytes, open_path, open_records


@dataclass
class ReadResult:
    """What an input yielded: one observation per accepted row, with where each came from."""

    observations: list[Observation]
    locations: list[str]
    warnings: list[str] = field(default_factory=list)
    rows_read: int = 0
    skipped: list[str] = field(default_factory=list)  # problems of rows left out (skip_invalid)
    rows_skipped: int = 0


def read(source: Input, *, infusion_date: datetime.date | None = None, skip_invalid: bool = False) -> ReadResult:
    """Reads and validates an opened input; raises ObservationError listing every problem
    unless `skip_invalid` leaves bad rows out."""
    from .grading import Accounting, readings

    accounting = Accounting(warnings=list(source.warnings))
    observations, locations = [], []
    for batch in readings(source, infusion_date, skip_invalid, accounting, days=False):
        for row in batch.iter_rows(named=True):
            locations.append(source.locate(row.pop(REC)))
            observations.append(Observation.model_validate({k: v for k, v in row.items() if v is not None}))
    return ReadResult(observations=observations, locations=locations, warnings=accounting.warnings,
                      rows_read=accounting.rows_read, skipped=accounting.skipped,
                      rows_skipped=accounting.rows_rejected)


def parse_text(text: str, source: str = "<text>", *, infusion_date: datetime.date | None = None,
               skip_invalid: bool = False) -> ReadResult:
    """Reads observations from text in any accepted format."""
    return read(open_bytes(text.encode("utf-8"), source), infusion_date=infusion_date, skip_invalid=skip_invalid)


def read_observations(path: str | Path, *, infusion_date: datetime.date | None = None,
                      skip_invalid: bool = False) -> ReadResult:
    """Reads and validates an observation file (`-` is standard input)."""
    return read(open_path(path), infusion_date=infusion_date, skip_invalid=skip_invalid)


def read_records(records: Iterable[Any], *, infusion_date: datetime.date | None = None,
                 skip_invalid: bool = False) -> ReadResult:
    """Validates records given by a program (Observation models or dicts of column: value);
    locations read `records:N`, N counting from 1."""
    return read(open_records(records), infusion_date=infusion_date, skip_invalid=skip_invalid)
