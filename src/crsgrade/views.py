"""Rich views for people: explanations, cohort summaries, the rule table and the demo."""

from __future__ import annotations

import csv
import io
from typing import Any, Iterable

from rich.console import Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from .episodes import CohortSummary, SyndromeSummary
from .results import GradedDay, SyndromeGrade
from .ruleset import RuleSet

NAMES = {"crs": "CRS", "icans": "ICANS"}


def _grade_text(grade: int | None) -> str:
    return "–" if grade is None else str(grade)


def _values(values: dict[str, Any]) -> str:
    return ", ".join(f"{name} {_word(value)}" for name, value in values.items())


def _word(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return f"{value:g}" if isinstance(value, float) else str(value)


def _syndrome_section(name: str, grade: SyndromeGrade) -> Group:
    lines: list[Any] = [Text.assemble((f"{NAMES[name]} grade {_grade_text(grade.grade)}", "bold"),
                                      f" — {grade.reason}")]
    explanation = grade.explanation
    if explanation is None:
        return Group(*lines)
    for rule in explanation.fired:
        if rule.grade != grade.grade:
            continue
        flag = " [verify]" if rule.evidence == "verify" else ""
        lines.append(Text(f"  ✓ {rule.id} (grade {rule.grade}){flag}: {rule.statement}"))
        lines.append(Text(f"      met with {_values(rule.values)}", style="dim"))
        lines.append(Text(f"      {rule.citation}", style="dim italic"))
    if grade.not_recorded:
        lines.append(Text(f"  could be higher: {', '.join(grade.not_recorded)} not recorded", style="yellow"))
    for rule in explanation.not_met:
        reasons = "; ".join(u.text() for u in rule.unmet)
        lines.append(Text(f"  ✗ grade {rule.grade} not met — {rule.id}: {reasons}", style="dim"))
    for setting in explanation.settings:
        lines.append(Text(f"  setting {setting.name} = {_word(setting.value)}: {setting.effect}",
                          style="magenta"))
    return Group(*lines)


def explanation_panel(day: GradedDay) -> Panel:
    parts: list[Any] = []
    if day.note:
        parts.append(Text(day.note, style="italic"))
    parts += [_syndrome_section("crs", day.crs), Text(""), _syndrome_section("icans", day.icans)]
    extra = []
    if day.fever_waived:
        extra.append("fever waived today")
    if day.therapies:
        extra.append("given: " + ", ".join(day.therapies))
    if day.readings > 1:
        extra.append(f"{day.readings} readings combined")
    extra += list(day.notes)
    if extra:
        parts += [Text(""), Text("; ".join(extra), style="dim")]
    return Panel(Group(*parts), title=Text(f"Patient {day.patient_id} · day {day.day}"), title_align="left")


def _syndrome_cell(s: SyndromeSummary) -> str:
    if s.occurred is None:
        return "– (not gradable)"
    if not s.occurred:
        return "0"
    ended = "not resolved" if s.resolution_day is None else f"resolved day {s.resolution_day}"
    episodes = f", {len(s.episodes)} episodes" if len(s.episodes) > 1 else ""
    return (f"grade {s.highest_grade} on day {s.highest_grade_day}\n"
            f"onset day {s.onset_day}, {ended}, {s.duration_days} days{episodes}")


def summary_tables(summary: CohortSummary) -> Group:
    patients = Table(title="Patients", title_justify="left", show_lines=True)
    for column in ("Patient", "CRS", "ICANS", "Therapies during CRS or ICANS"):
        patients.add_column(column)
    for p in summary.patients:
        given = [name for name in ("tocilizumab", "steroids") if getattr(p.crs, name) or getattr(p.icans, name)]
        given += sorted(set(p.crs.other_therapies) | set(p.icans.other_therapies))
        patients.add_row(Text(p.patient_id), _syndrome_cell(p.crs), _syndrome_cell(p.icans), ", ".join(given))
    cohort = Table(title="Cohort", title_justify="left")
    for column in ("", "patients", "any grade", "grade ≥ 3", "median onset (day)", "median duration (days)",
                   "not gradable"):
        cohort.add_column(column)
    for name, f in summary.cohort.items():
        cohort.add_row(
            NAMES[name], str(f.patients), f"{f.any_grade} ({f.any_grade_percent:g} %)",
            f"{f.grade_3_or_more} ({f.grade_3_or_more_percent:g} %)",
            "" if f.median_onset_day is None else f"{f.median_onset_day:g}",
            "" if f.median_duration_days is None else f"{f.median_duration_days:g}",
            str(f.not_gradable),
        )
    parts: list[Any] = [patients, cohort]
    for name, c in summary.concordance.items():
        grades = sorted({g for row in c.table.values() for g in row} | set(c.table), key=lambda g: (g == "–", g))
        table = Table(title=f"{NAMES[name]} grade: computed (rows) × reported (columns), days",
                      title_justify="left",
                      caption=f"{c.days_agreeing} of {c.days_compared} days agree ({c.percent_agreeing:g} %)",
                      caption_justify="left")
        table.add_column("computed")
        reported = sorted({g for row in c.table.values() for g in row})
        for g in reported:
            table.add_column(g, justify="right")
        for computed in grades:
            if computed in c.table:
                table.add_row(computed, *(str(c.table[computed].get(g, "")) for g in reported))
        parts.append(table)
        if c.discrepancies:
            shown = ", ".join(f"{d.patient_id} day {d.day}: {_grade_text(d.computed)} vs {d.reported}"
                              for d in c.discrepancies)
            parts.append(Text(f"{NAMES[name]} differs from the reported grade on {shown}", style="yellow"))
    return Group(*parts)


SUMMARY_CSV_COLUMNS = (
    "patient_id", "first_day", "last_day",
    *(f"{s}_{f}" for s in ("crs", "icans") for f in (
        "occurred", "highest_grade", "highest_grade_day", "onset_day", "resolution_day",
        "duration_days", "episodes", "tocilizumab", "steroids", "other_therapies")),
)


def summary_csv(summary: CohortSummary) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(SUMMARY_CSV_COLUMNS)

    def cells(s: SyndromeSummary) -> list[Any]:
        def show(v):
            return "" if v is None else str(v).lower() if isinstance(v, bool) else v
        return [show(s.occurred), show(s.highest_grade), show(s.highest_grade_day), show(s.onset_day),
                show(s.resolution_day), s.duration_days, len(s.episodes), show(s.tocilizumab),
                show(s.steroids), " ".join(s.other_therapies)]

    for p in summary.patients:
        writer.writerow([p.patient_id, p.first_day, p.last_day, *cells(p.crs), *cells(p.icans)])
    return buffer.getvalue()


def rules_tables(ruleset: RuleSet, syndromes: Iterable[str]) -> Group:
    """The grading table of each syndrome, built from the rule files themselves."""
    parts: list[Any] = [Text(f"{ruleset.manifest.title} (rules v{ruleset.manifest.version})", style="bold")]
    for syndrome in syndromes:
        table = Table(title=NAMES[syndrome], title_justify="left", show_lines=True)
        table.add_column("Grade", justify="center")
        table.add_column("Criterion")
        table.add_column("Rule", overflow="fold")
        table.add_column("Source")
        for rule in sorted((r for r in ruleset.rules if r.syndrome == syndrome), key=lambda r: (r.grade, r.id)):
            notes = []
            if rule.evidence == "verify":
                notes.append("[verify] reading not yet checked against the paper")
            if rule.settings_used:
                notes.append("depends on setting " + ", ".join(sorted(rule.settings_used)))
            criterion = rule.statement + "".join(f"\n({n})" for n in notes)
            table.add_row(str(rule.grade), Text(criterion), rule.id, Text(ruleset.cite(rule.citation)))
        parts.append(table)
    references = "\n".join(f"{r.short}: {r.citation}" + (f" doi:{r.doi}" if r.doi else "")
                           for r in ruleset.manifest.references.values())
    parts.append(Text(references, style="dim"))
    return Group(*parts)
