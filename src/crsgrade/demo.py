"""`crsgrade demo`: the published dasatinib case, day by day, as a lesson in ASTCT grading."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.console import Console, Group
from rich.panel import Panel
from rich.rule import Rule as Divider
from rich.text import Text

from .episodes import summarise
from .explain import in_words
from .facts import format_value
from .grading import Accounting, Grader, day_rows
from .observations import THERAPIES
from .results import GradedDay, SyndromeGrade
from .ruleset import shipped
from .syndromes import NAMES, SYNDROMES
from .views import _FACTS, summary_tables

INTRODUCTION = (
    "A patient in their late 60s with relapsed diffuse large B-cell lymphoma receives "
    "tisagenlecleucel (day 0). CRS begins on the day of infusion and reaches grade 3; ICANS "
    "follows and reaches grade 4 with a generalized seizure on day 7. Tocilizumab, "
    "dexamethasone and siltuximab are given, then dasatinib from day 7. The report gives the "
    "course in prose; examples/dasatinib_case.csv rebuilds it day by day (examples/README.md "
    "says which values are read from the report and which are assumed). Here is how the ASTCT "
    "2019 criteria grade each day, and why."
)


def example_path():
    return shipped("examples", "dasatinib_case.csv")


def describe(day: Mapping[str, Any]) -> str:
    """A day's observations in words (a row of the graded frame)."""
    parts = []
    if day["f.temp_c"] is not None:
        parts.append(f"{format_value(day['f.temp_c'])} °C")
    if day["hypotension"] is not None:
        parts.append("hypotension" if day["hypotension"] else "no hypotension")
    if day["vasopressors"]:
        parts.append(f"{day['vasopressors']} vasopressor{'s' if day['vasopressors'] > 1 else ''}")
    if day["o2_device"] is not None:
        flow = f" {format_value(day['o2_flow_lpm'])} L/min" if day["o2_flow_lpm"] is not None else ""
        parts.append(format_value(day["o2_device"]) + flow
                     + (" (for airway protection)" if day["hypoxia_other_cause"] else ""))
    given = [t for t in THERAPIES if day[t]]
    if given:
        parts.append("given " + ", ".join(given))
    ice = day["f.ice_total"] if day["f.ice_total"] is not None else None
    if ice is not None:
        parts.append(f"ICE {ice}")
    if day["consciousness"] is not None:
        parts.append(format_value(day["consciousness"]))
    for name in ("seizure", "motor_weakness", "cerebral_edema"):
        if day[name] is not None and day[name] != "none":
            parts.append(f"{format_value(name)} {format_value(day[name])}")
    return "; ".join(parts)


def _why(name: str, grade: SyndromeGrade) -> list[Any]:
    lines: list[Any] = [Text.assemble((f"{NAMES[name]} {('–' if grade.grade is None else grade.grade)}", "bold"),
                                      f"  {grade.reason}")]
    explanation = grade.explanation
    if explanation is None:
        return lines
    top = [rule for rule in explanation.fired if rule.grade == grade.grade]
    for rule in top:
        lines.append(Text(f"    because: {rule.statement} ({rule.citation})", style="dim"))
    above = [missed for missed in explanation.not_met if grade.grade is not None and missed.grade == grade.grade + 1]
    shared = {c.name: c.text for c in explanation.conditions_not_met}
    for missed in above:
        reasons = [shared[name] for name in missed.because] + [in_words(u, missed.grade, _FACTS) for u in missed.unmet]
        lines.append(Text(f"    not grade {missed.grade}: {'; '.join(dict.fromkeys(reasons))}", style="dim"))
    for setting in explanation.settings:
        lines.append(Text(f"    {setting.effect} (setting {setting.name})", style="magenta"))
    return lines


def _day_panel(day: GradedDay, observed: Mapping[str, Any]) -> Panel:
    body: list[Any] = []
    if day.note:
        body.append(Text(day.note, style="italic"))
    body.append(Text(f"Observed: {describe(observed)}"))
    if day.fever_waived:
        body.append(Text("Fever requirement waived: the patient has had CRS therapy in this episode.", style="cyan"))
    for name in SYNDROMES:
        body += _why(name, day.grades[name])
    return Panel(Group(*body), title=f"Day {day.day}", title_align="left")


def run(console: Console) -> None:
    grader = Grader(engine="auto")
    accounting = Accounting()
    frames = list(grader.frames(example_path(), accounting=accounting))
    observations = {(row["patient_id"], row["day"]): row for frame in frames for row in day_rows(frame)}
    result = grader.result(frames, accounting, explain=True)
    console.print(Divider("crsgrade demo: grade 3 CRS and grade 4 ICANS after tisagenlecleucel"))
    console.print(Panel(INTRODUCTION, title="The case", title_align="left"))
    for day in result.days():
        console.print(_day_panel(day, observations[(day.patient_id, day.day)]))
    console.print(Divider("Episodes"))
    summary = summarise(result)
    for patient in summary.patients:
        for name in SYNDROMES:
            for episode in patient.syndromes[name].episodes:
                ended = (f"resolved on day {episode.resolution_day}" if episode.resolution_day is not None
                         else "still going on the last recorded day")
                console.print(
                    f"{NAMES[name]}: onset day {episode.onset_day}, peak grade {episode.peak_grade} on day "
                    f"{episode.peak_day}, last day {episode.last_day} ({episode.duration_days} days), {ended}."
                )
    console.print(summary_tables(summary))
    console.print(Text(
        f"Graded by {result.ruleset} rules v{result.ruleset_version} with {result.engine}. "
        "Try: crsgrade explain examples/dasatinib_case.csv --day 7", style="dim"))
