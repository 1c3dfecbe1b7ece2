"""Writing a GradingResult as a rich timeline, CSV or JSON."""

from __future__ import annotations

import csv
import io
import json

from rich.console import Group
from rich.table import Table
from rich.text import Text

from .results import GradedPatient, GradingResult, SyndromeGrade

CSV_COLUMNS = (
    "patient_id", "day", "crs_grade", "icans_grade", "crs_rules", "icans_rules",
    "crs_reason", "icans_reason", "crs_not_recorded", "icans_not_recorded", "fever_waived",
)
GRADE_STYLE = {0: "green", 1: "yellow", 2: "dark_orange", 3: "red", 4: "bold red", 5: "bold white on red"}


def to_csv(result: GradingResult) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for day in result.days():
        writer.writerow([
            day.patient_id, day.day,
            "" if day.crs.grade is None else day.crs.grade,
            "" if day.icans.grade is None else day.icans.grade,
            " ".join(day.crs.rule_ids), " ".join(day.icans.rule_ids),
            day.crs.reason, day.icans.reason,
            " ".join(day.crs.not_recorded), " ".join(day.icans.not_recorded),
            str(day.fever_waived).lower(),
        ])
    return buffer.getvalue()


def to_json(result: GradingResult) -> str:
    return json.dumps(result.model_dump(mode="json"), indent=2, ensure_ascii=False) + "\n"


def _grade_cell(grade: SyndromeGrade) -> Text:
    if grade.grade is None:
        return Text("–", style="dim")
    return Text(str(grade.grade), style=GRADE_STYLE.get(grade.grade, ""))


def _reason_cell(grade: SyndromeGrade) -> Text:
    if grade.grade is None:
        return Text(grade.reason, style="dim")
    text = Text(grade.reason)
    if grade.not_recorded:
        text.append(f" (could be higher: {', '.join(grade.not_recorded)} not recorded)", style="dim")
    return text


def patient_table(patient: GradedPatient, labels: dict[str, str] | None = None) -> Table:
    """One patient's days; `labels` are the graded syndromes and their names (CRS, ICANS, CRES)."""
    labels = labels or {"crs": "CRS", "icans": "ICANS"}
    table = Table(title=Text(f"Patient {patient.patient_id}"), title_justify="left", expand=False)
    table.add_column("Day", justify="right")
    for label in labels.values():
        table.add_column(label, justify="center")
        table.add_column(f"{label} criterion")
    for day in patient.days:
        cells: list = [str(day.day)]
        for syndrome in labels:
            cells += [_grade_cell(day.syndrome(syndrome)), _reason_cell(day.syndrome(syndrome))]
        table.add_row(*cells)
    peaks = []
    for syndrome, label in labels.items():
        peak = patient.peak(syndrome)
        peaks.append(f"peak {label} {peak.grade} on day {peak.day}" if peak else f"no {label} grade")
    table.caption = "; ".join(peaks)
    table.caption_justify = "left"
    return table


def timeline(result: GradingResult) -> Group:
    """One table per patient, then the rule set, engine and any setting changed from default."""
    parts = [patient_table(patient, result.labels) for patient in result.patients]
    parts.append(Text(
        f"Graded by {result.ruleset} rules v{result.ruleset_version} with {result.engine}.",
        style="dim",
    ))
    return Group(*parts)
