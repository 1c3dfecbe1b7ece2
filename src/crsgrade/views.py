"""Rich views for people: explanations, cohort summaries, the rule table and the demo."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from rich.console import Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from .comparison import Comparison
from .episodes import CohortSummary, PatientSummary, SyndromeSummary
from .explain import in_words, values_in_words
from .facts import ATTRIBUTION_FLAGS, dose_unit, fact_vocabulary, format_value
from .hematotoxicity import Hematotoxicity, HematotoxSummary
from .observations import COLUMNS
from .output import GRADE_STYLE, labelled, safe_cell
from .results import GradedDay, SyndromeGrade
from .ruleset import RuleSet
from .syndromes import ACROSS_SYSTEMS, NAMES, SYNDROMES, Syndrome

_FACTS = fact_vocabulary(())  # the clinical words of every fact


def setting_text(value: Any) -> str:
    """A setting's value as --set takes it: true, 12, high_flow, "a; b"."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, tuple | list):
        return "; ".join(value) or "none"
    return f"{value:g}" if isinstance(value, float) else str(value)


def _grade_text(grade: int | None) -> str:
    return "–" if grade is None else str(grade)


def _word(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, tuple | list):
        return "; ".join(value) or "none"
    return f"{value:g}" if isinstance(value, float) else str(value)


def _syndrome_section(label: str, grade: SyndromeGrade) -> Group:
    lines: list[Any] = [Text.assemble((f"{label} grade {_grade_text(grade.grade)}", "bold"),
                                      f" — {grade.reason}")]
    explanation = grade.explanation
    if explanation is None:
        return Group(*lines)
    for rule in explanation.fired:
        if rule.grade != grade.grade:
            continue
        flag = " [verify]" if rule.evidence == "verify" else ""
        lines.append(Text(f"  ✓ {rule.id} (grade {rule.grade}){flag}: {rule.statement}"))
        lines.append(Text(f"      met with {values_in_words(rule.values, _FACTS)}", style="dim"))
        lines.append(Text(f"      {rule.citation}", style="dim italic"))
    if explanation.domains:
        shown = " · ".join(f"{d.label} {d.grade}" if d.grade is not None else f"{d.label}: {d.state}"
                           for d in explanation.domains)
        lines.append(Text(f"  by domain: {shown}", style="cyan"))
    if grade.not_recorded:
        lines.append(Text(f"  could be higher: {', '.join(grade.not_recorded)} not recorded", style="yellow"))
    for condition in explanation.conditions_not_met:
        lines.append(Text(f"  {condition.text}", style="dim"))
    for missed in explanation.not_met:
        reasons = "; ".join(in_words(u, missed.grade, _FACTS) for u in missed.unmet) or "everything else met"
        lines.append(Text(f"  ✗ grade {missed.grade} not met — {missed.id}: {reasons}", style="dim"))
    for setting in explanation.settings:
        lines.append(Text(f"  {setting.effect} (setting {setting.name} = {setting_text(setting.value)})",
                          style="magenta"))
    return Group(*lines)


def explanation_panel(day: GradedDay, labels: dict[str, str] | None = None) -> Panel:
    """One day's grades and why; `labels` are the graded syndromes and their names (CRS, ICANS,
    CRES), so a system that grades CRS only shows CRS only."""
    labels = labels or NAMES
    parts: list[Any] = []
    if day.note:
        parts.append(Text(day.note, style="italic"))
    for number, (syndrome, label) in enumerate(labelled(labels)):
        if number:
            parts.append(Text(""))
        parts.append(_syndrome_section(label, day.syndrome(syndrome)))
    extra = []
    if day.fever_waived:
        extra.append("fever waived today")
    if day.therapies:
        extra.append("given: " + ", ".join(day.therapies))
    if day.readings > 1:
        extra.append(f"{day.readings} readings combined")
    if day.blood:
        extra.append(blood_text(day.blood))
    extra += list(day.notes)
    if extra:
        parts += [Text(""), Text("; ".join(extra), style="dim")]
    for reading in day.set_aside:
        parts.append(Text(f"set aside: {reading}", style="dim"))
    return Panel(Group(*parts), title=Text(f"Patient {day.patient_id} · day {day.day}"), title_align="left")


def blood_text(blood: Mapping[str, Any]) -> str:
    """A day's blood values in words: "baseline draw: CRP 19.5 mg/L, ferritin 2598 ng/mL"."""
    values = [f"{COLUMNS[name].label} {format_value(value)} {COLUMNS[name].unit}".strip()
              for name, value in blood.items() if not isinstance(value, bool)]
    flags = [COLUMNS[name].label for name, value in blood.items() if value is True and name != "baseline"]
    words = ", ".join(values + [f"{flag} given" for flag in flags])
    return f"baseline draw: {words}" if blood.get("baseline") else f"blood: {words}"


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
    """The summary's tables, for the syndromes the grading system grades."""
    labels = summary.labels
    patients = Table(title="Patients", title_justify="left", show_lines=True)
    for column in ("Patient", *labels.values(), f"Therapies during {' or '.join(labels.values())}"):
        patients.add_column(column)
    for p in summary.patients:
        graded = [p.syndromes[syndrome] for syndrome in _syndromes_of(labels)]
        given = [name for name in ("tocilizumab", "steroids") if any(getattr(s, name) for s in graded)]
        given += sorted(set().union(*(s.other_therapies for s in graded)))
        patients.add_row(Text(p.patient_id), *(_syndrome_cell(s) for s in graded), Text(", ".join(given)))
    cohort = Table(title="Cohort", title_justify="left")
    for column in ("", "patients", "any grade", "grade ≥ 3", "median onset (day)", "median duration (days)",
                   "not gradable"):
        cohort.add_column(column)
    for name, f in summary.cohort.items():
        cohort.add_row(labels[name], *f.cells())
    parts: list[Any] = [patients, cohort]
    if any(p.hematotoxicity.recorded() for p in summary.patients):
        parts.append(_hematotoxicity_table((p.patient_id, p.hematotoxicity) for p in summary.patients))
    for name, c in summary.concordance.items():
        grades = sorted({g for row in c.table.values() for g in row} | set(c.table), key=lambda g: (g == "–", g))
        table = Table(title=f"{labels[name]} grade: computed (rows) × reported (columns), days",
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
            parts.append(Text(f"{labels[name]} differs from the reported grade on {shown}", style="yellow"))
    return Group(*parts)


def _syndromes_of(labels: Iterable[str]) -> list[Syndrome]:
    return [s for s in SYNDROMES if s in labels]


def _hematotoxicity_table(patients: Iterable[tuple[str, HematotoxSummary]], title: str = "Hematotoxicity") -> Table:
    table = Table(title=title, title_justify="left", show_lines=True)
    for column in ("Patient", "CAR-\nHEMATOTOX", "not recorded", "early ICAHT", "late ICAHT", "G-CSF days",
                   "baseline EASIX"):
        table.add_column(column, no_wrap=column.startswith("CAR-"))
    for patient_id, h in patients:
        table.add_row(Text(patient_id), Text(h.score_text()), Text(", ".join(h.car_hematotox_missing)),
                      h.early_text(),
                      _grade_text(h.icaht_late_grade), str(h.gcsf_days),
                      "–" if h.easix_baseline is None else f"{h.easix_baseline:g}")
    return table


def show(value: Any) -> Any:
    """A CSV cell: empty for None, true/false for a bool."""
    return "" if value is None else str(value).lower() if isinstance(value, bool) else value


# The hematotoxicity fields of `crsgrade summary --format csv`.
HEMATOTOX_CSV = ("car_hematotox_score", "car_hematotox_max", "car_hematotox_risk", "car_hematotox_missing",
                 "icaht_early_grade", "icaht_late_grade", "gcsf_days", "easix_baseline", "m_easix_baseline")


SUMMARY_CSV_COLUMNS = (
    "patient_id", "first_day", "last_day",
    *(f"{s}_{f}" for s in SYNDROMES for f in (
        "occurred", "highest_grade", "highest_grade_day", "onset_day", "resolution_day",
        "duration_days", "episodes", "tocilizumab", "steroids", "other_therapies")),
    *HEMATOTOX_CSV,
)


# The type of each field of `crsgrade summary --format csv` (a row of `summary_rows`).
SUMMARY_TYPES: dict[str, type] = {
    "patient_id": str, "first_day": int, "last_day": int,
    **{f"{s}_{f}": kind for s in SYNDROMES for f, kind in (
        ("occurred", bool), ("highest_grade", int), ("highest_grade_day", int), ("onset_day", int),
        ("resolution_day", int), ("duration_days", int), ("episodes", int), ("tocilizumab", bool),
        ("steroids", bool), ("other_therapies", str))},
    "car_hematotox_score": int, "car_hematotox_max": int, "car_hematotox_risk": str, "car_hematotox_missing": str,
    "icaht_early_grade": int, "icaht_late_grade": int, "gcsf_days": int, "easix_baseline": float,
    "m_easix_baseline": float,
}


def summary_rows(patients: Iterable[PatientSummary]) -> Iterator[tuple[Any, ...]]:
    """Each patient's registry fields, typed (None where there is no value; a list of names as
    one space-separated text), in the order of SUMMARY_CSV_COLUMNS."""

    def cells(s: SyndromeSummary) -> list[Any]:
        return [s.occurred, s.highest_grade, s.highest_grade_day, s.onset_day, s.resolution_day, s.duration_days,
                len(s.episodes), s.tocilizumab, s.steroids, " ".join(s.other_therapies)]

    for p in patients:
        h = p.hematotoxicity.model_dump()
        yield (p.patient_id, p.first_day, p.last_day, *(c for s in SYNDROMES for c in cells(p.syndromes[s])),
               *(" ".join(h[name]) if isinstance(h[name], tuple) else h[name] for name in HEMATOTOX_CSV))


def summary_csv(patients: Iterable[PatientSummary], raw: bool = False, header: bool = True) -> str:
    """Patients' rows of `crsgrade summary --format csv` (after its header, when asked)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    if header:
        writer.writerow(SUMMARY_CSV_COLUMNS)
    for row in summary_rows(patients):
        writer.writerow([safe_cell(show(value), raw) for value in row])
    return buffer.getvalue()


def rules_tables(ruleset: RuleSet, syndromes: Iterable[str]) -> Group:
    """The grading table of each syndrome the system grades, built from the rule files
    themselves, then the definition tables the rules rely on."""
    parts: list[Any] = [Text(f"{ruleset.manifest.title} (rules v{ruleset.manifest.version})", style="bold")]
    for syndrome in (s for s in syndromes if s in ruleset.syndromes):
        table = Table(title=ruleset.label(syndrome), title_justify="left", show_lines=True)
        table.add_column("Grade", justify="center")
        table.add_column("Criterion")
        table.add_column("Rule", overflow="fold")
        table.add_column("Source")
        for rule in sorted((r for r in ruleset.rules if r.syndrome == syndrome), key=lambda r: (r.grade, r.id)):
            notes = []
            if rule.evidence == "verify":
                notes.append(_VERIFY)
            if rule.settings_used:
                notes.append("depends on setting " + ", ".join(sorted(rule.settings_used)))
            criterion = rule.statement + "".join(f"\n({n})" for n in notes)
            table.add_row(str(rule.grade), Text(criterion), rule.id, Text(ruleset.cite(rule.citation)))
        parts.append(table)
    parts += _definition_notes(ruleset)
    references = "\n".join(f"{r.short}: {r.citation}" + (f" doi:{r.doi}" if r.doi else "")
                           for r in ruleset.manifest.references.values())
    parts.append(Text(references, style="dim"))
    return Group(*parts)


_VERIFY = "[verify] reading not yet checked against the paper"


def score_tables(scores: Hematotoxicity, which: str) -> Group:
    """CAR-HEMATOTOX's points or ICAHT's grades, from the rule files, with the settings they
    rest on and the references."""
    manifest = scores.manifest
    cite = {name: ref.short for name, ref in manifest.references.items()}
    if which == "car_hematotox":
        title, heading, criteria = scores.hematotox.title, "Points", scores.items
    else:
        title, heading, criteria = scores.icaht.title, "Grade", scores.grades
    table = Table(title=title, title_justify="left", show_lines=True)
    table.add_column(heading, justify="center")
    table.add_column("Criterion")
    table.add_column("Rule", no_wrap=True)
    table.add_column("Source")
    for c in sorted(criteria, key=lambda c: (c.phase, -c.value, c.id)):
        where = f"{c.phase}: " if c.phase else ""
        verify = f"\n({_VERIFY})" if c.evidence == "verify" else ""
        table.add_row(str(c.value), Text(where + c.statement + verify), c.id,
                      Text(f"{cite[c.citation.ref]}, {c.citation.where}"))
    parts: list[Any] = [Text(f"{manifest.title} (rules v{manifest.version})", style="bold"), table]
    if which == "car_hematotox":
        parts.append(Text("Risk: " + "; ".join(" ".join(r.statement.split()) for r in scores.hematotox.risk)))
    for name, spec in manifest.settings.items():
        parts.append(Text(f"Setting {name} (default {setting_text(spec.default)}): {' '.join(spec.statement.split())}",
                          style="dim"))
    parts.append(Text("\n".join(f"{r.short}: {' '.join(r.citation.split())}" + (f" doi:{r.doi}" if r.doi else "")
                                for r in manifest.references.values()), style="dim"))
    return Group(*parts)


def _definition_notes(ruleset: RuleSet) -> list[Text]:
    """The high-dose vasopressor and FiO2 estimate tables, in words, with their evidence."""
    defs, notes = ruleset.definitions, []
    dose = defs.vasopressor_dose
    if dose is not None:
        agents = ", ".join(f"{name} ≥ {spec.monotherapy_high_dose:g} {dose_unit(spec.column)}"
                           for name, spec in dose.agents.items())
        factors = " + ".join(f"{name}" + ("" if spec.ne_factor == 1 else f" × {spec.ne_factor:g}")
                             for name, spec in dose.agents.items())
        notes.append(Text(
            f"High-dose vasopressors, each for at least {dose.min_hours:g} h: as monotherapy {agents}; with"
            f" vasopressin a norepinephrine equivalent of the other agents ≥ {dose.with_vasopressin_ne:g} µg/min;"
            " other combinations"
            f" ≥ {dose.combination_ne:g} µg/min (equivalent = {factors}). {ruleset.cite(dose.citation)}."
            + (f" ({_VERIFY})" if dose.evidence == "verify" else "")))
    estimate = defs.fio2_estimate
    if estimate is not None:
        devices = "; ".join(
            f"{name.replace('_', ' ')} {spec.percent:g} %" if spec.percent is not None else
            f"{name.replace('_', ' ')} {spec.base:g} % + {spec.per_lpm:g} % per L/min, at most {spec.max:g} %"
            for name, spec in estimate.devices.items())
        notes.append(Text(
            f"FiO2 when not recorded, estimated (and marked so): {devices}."
            + (" ([verify] not from the grading paper)" if estimate.evidence == "verify" else "")))
    return notes


def systems_table(rulesets: list[RuleSet]) -> Table:
    """One row per grading system: what it grades, the facts its rules test, and how much of it
    rests on an unverified reading."""
    from .conditions import fields_of

    table = Table(title="Grading systems", title_justify="left", show_lines=True)
    for column in ("System", "Grades", "Source", "Tests (besides attribution flags)", "Unverified (\\[verify])"):
        table.add_column(column)
    for ruleset in rulesets:
        manifest = ruleset.manifest
        resolved = ruleset.resolved(ruleset.settings()).values()
        tested = sorted(set().union(*(fields_of(node) for node in resolved)) - set(ATTRIBUTION_FLAGS))
        unverified = [r for r in ruleset.rules if r.evidence == "verify"]
        parts = [f"{len(unverified)} of {len(ruleset.rules)} rules"] if unverified else []
        parts += [f"{name.replace('_', ' ')} table" for name in ruleset.unverified_tables]
        first = next(iter(manifest.references.values()))
        cells = (f"{manifest.system}\n({manifest.name})", ", ".join(manifest.syndromes.values()),
                 first.short, ", ".join(tested), "; ".join(parts) or "none")
        table.add_row(*(Text(cell) for cell in cells))
    return table


def _system_header(comparison: Comparison, system: str, syndrome: str) -> str:
    return f"{comparison.names[system]}\n{comparison.labels[system][syndrome]}"


def comparison_tables(comparison: Comparison) -> Group:
    """Per patient, each day's grades side by side and why they differ; then each patient's
    highest grades; then the agreement of every pair of systems."""
    parts: list[Any] = []
    by_patient: dict[str, list] = {}
    for day in comparison.days:
        by_patient.setdefault(day.patient_id, []).append(day)
    for patient_id, days in by_patient.items():
        table = Table(title=Text(f"Patient {patient_id}"), title_justify="left")
        table.add_column("Day", justify="right")
        columns = [(syndrome, system) for syndrome in SYNDROMES for system in comparison.graders_of(syndrome)]
        for syndrome, system in columns:
            table.add_column(_system_header(comparison, system, syndrome), justify="center")
        rows: dict[int, dict] = {}
        for day in days:
            rows.setdefault(day.day, {})[day.syndrome] = day
        differences = []
        for number, of_day in rows.items():
            table.add_row(str(number), *(_compared_cell(of_day[syndrome].grades[system], of_day[syndrome].differ)
                                         for syndrome, system in columns))
            for syndrome, day in of_day.items():
                if day.differ:
                    why = "; ".join(f"{comparison.names[s]} {g.text()}: {g.reason}" for s, g in day.grades.items())
                    differences.append(f"day {number} {ACROSS_SYSTEMS[syndrome]}: {why}")
        parts.append(table)
        if differences:
            parts.append(Text("Where they differ:\n" + "\n".join(f"  {line}" for line in differences), style="yellow"))
    parts.append(_highest_table(comparison))
    if comparison.hematotoxicity:
        parts.append(_hematotoxicity_table(comparison.hematotoxicity.items(),
                                           "Hematotoxicity (the same under every system)"))
    parts += _agreement_tables(comparison)
    parts.append(Text('"2+": could be higher, as values a higher grade needs were not recorded (see'
                      " `crsgrade grade --system ...`); \"–\": not gradable.", style="dim"))
    return Group(*parts)


def _compared_cell(grade, differ: bool) -> Text:
    style = GRADE_STYLE.get(grade.grade, "dim") if grade.grade is not None else "dim"
    return Text(grade.text(), style=f"{style} underline" if differ else style)


def _highest_table(comparison: Comparison) -> Table:
    table = Table(title="Highest grade per patient", title_justify="left")
    table.add_column("Patient")
    columns = [(syndrome, system) for syndrome in SYNDROMES for system in comparison.graders_of(syndrome)]
    for syndrome, system in columns:
        table.add_column(_system_header(comparison, system, syndrome), justify="center")
    rows: dict[str, dict] = {}
    for patient in comparison.patients:
        rows.setdefault(patient.patient_id, {})[patient.syndrome] = patient
    for patient_id, of_patient in rows.items():
        table.add_row(Text(patient_id), *(
            _compared_cell(of_patient[syndrome].highest[system], of_patient[syndrome].differ)
            for syndrome, system in columns))
    return table


def _agreement_tables(comparison: Comparison) -> list[Any]:
    summary = Table(title="Agreement on the highest grade, per pair of systems", title_justify="left")
    for column in ("Syndrome", "Systems", "Patients", "Presence agrees", "Same grade", "Weighted kappa"):
        summary.add_column(column, justify="left" if column in ("Syndrome", "Systems") else "right")
    crosstabs: list[Any] = []
    for pair in comparison.agreement:
        a, b = (comparison.names[s] for s in pair.systems)
        summary.add_row(
            ACROSS_SYSTEMS[pair.syndrome], f"{a} × {b}", str(pair.patients),
            "–" if pair.presence_percent is None else f"{pair.presence_agreeing} ({pair.presence_percent:g} %)",
            "–" if pair.identical_percent is None else f"{pair.identical} ({pair.identical_percent:g} %)",
            "–" if pair.weighted_kappa is None else f"{pair.weighted_kappa:.2f}",
        )
        if pair.patients:
            title = f"{ACROSS_SYSTEMS[pair.syndrome]}, patients by highest grade: {a} (rows) × {b} (columns)"
            table = Table(title=title, title_justify="left", min_width=72)
            table.add_column(a)
            for grade in range(6):
                table.add_column(str(grade), justify="right")
            for grade in range(6):
                row = pair.crosstab.get(grade, {})
                table.add_row(str(grade), *(str(row.get(g, "")) for g in range(6)))
            crosstabs.append(table)
    return [summary, Text("Kappa: Cohen's, linear weights over grades 0-5, on each patient's highest grade.",
                          style="dim"), *crosstabs]
