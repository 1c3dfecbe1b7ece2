"""`crsgrade demo`: the published dasatinib case, day by day, as a lesson in ASTCT grading."""

from __future__ import annotations

from typing import Any

from rich.console import Console, Group
from rich.panel import Panel
from rich.rule import Rule as Divider
from rich.text import Text

from .episodes import summarise
from .facts import format_value
from .grading import Grader
from .observations import THERAPIES, Observation
from .results import GradedDay, SyndromeGrade
from .ruleset import shipped
from .explain import in_words
from .views import _FACTS, NAMES, summary_tables

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


def describe(obs: Observation) -> str:
    """The day's observations in words."""
    parts = []
    if obs.temperature_c is not None:
        parts.append(f"{format_value(obs.temperature_c)} °C")
    if obs.hypotension is not None:
        parts.append("hypotension" if obs.hypotension else "no hypotension")
    if obs.vasopressors:
        parts.append(f"{obs.vasopressors} vasopressor{'s' if obs.vasopressors > 1 else ''}")
    if obs.o2_device is not None:
        device = format_value(obs.o2_device.value)
        flow = f" {format_value(obs.o2_flow_lpm)} L/min" if obs.o2_flow_lpm is not None else ""
        parts.append(device + flow + (" (for airway protection)" if obs.hypoxia_other_cause else ""))
    given = [t for t in THERAPIES if getattr(obs, t)]
    if given:
        parts.append("given " + ", ".join(given))
    if obs.ice_total is not None:
        parts.append(f"ICE {obs.ice_total}")
    if obs.consciousness is not None:
        parts.append(format_value(obs.consciousness.value))
    for name in ("seizure", "motor_weakness", "cerebral_edema"):
        value = getattr(obs, name)
        if value is not None and value.value != "none":
            parts.append(f"{format_value(name)} {format_value(value.value)}")
    return "; ".join(parts)


def _why(name: str, grade: SyndromeGrade) -> list[Any]:
    lines: list[Any] = [Text.assemble((f"{NAMES[name]} {('–' if grade.grade is None else grade.grade)}", "bold"),
                                      f"  {grade.reason}")]
    explanation = grade.explanation
    top = [rule for rule in explanation.fired if rule.grade == grade.grade]
    for rule in top:
        lines.append(Text(f"    because: {rule.statement} ({rule.citation})", style="dim"))
    above = [rule for rule in explanation.not_met if grade.grade is not None and rule.grade == grade.grade + 1]
    shared = {c.name: c.text for c in explanation.conditions_not_met}
    for rule in above:
        reasons = [shared[name] for name in rule.because] + [in_words(u, rule.grade, _FACTS) for u in rule.unmet]
        lines.append(Text(f"    not grade {rule.grade}: {'; '.join(dict.fromkeys(reasons))}", style="dim"))
    for setting in explanation.settings:
        lines.append(Text(f"    {setting.effect} (setting {setting.name})", style="magenta"))
    return lines


def _day_panel(day: GradedDay, obs: Observation) -> Panel:
    body: list[Any] = []
    if day.note:
        body.append(Text(day.note, style="italic"))
    body.append(Text(f"Observed: {describe(obs)}"))
    if day.fever_waived:
        body.append(Text("Fever requirement waived: the patient has had CRS therapy in this episode.", style="cyan"))
    body += _why("crs", day.crs) + _why("icans", day.icans)
    return Panel(Group(*body), title=f"Day {day.day}", title_align="left")


def run(console: Console) -> None:
    grader = Grader(engine="auto")
    path = example_path()
    _, days = grader.read(path)
    observations = {(obs.patient_id, obs.day): obs for obs, _ in days}
    result = grader.grade(path, explain=True)
    console.print(Divider("crsgrade demo: grade 3 CRS and grade 4 ICANS after tisagenlecleucel"))
    console.print(Panel(INTRODUCTION, title="The case", title_align="left"))
    for day in result.days():
        console.print(_day_panel(day, observations[(day.patient_id, day.day)]))
    console.print(Divider("Episodes"))
    summary = summarise(result)
    for patient in summary.patients:
        for name in ("crs", "icans"):
            s = getattr(patient, name)
            for episode in s.episodes:
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
