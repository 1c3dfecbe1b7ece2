"""One self-contained HTML file that a trial monitor or registry can open, read, print and archive.

Everything is inside the file — styles, and the figures as inline SVG — so it opens with no
network at all and never asks for anything outside itself. A browser lays out a patient only
when it comes into view (`content-visibility: auto`; printed, every patient is laid out), so a
report of thousands of patients opens in seconds. It records what produced it (crsgrade
version, rule set and its hash, every setting beside its default, the input's hash and the time),
where every input row went, the cohort, and each patient's course with the daily grades and
the reasons for them.
"""

from __future__ import annotations

import datetime
import hashlib
import html
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, cast

from . import __version__
from .episodes import CohortSummary, SyndromeSummary, episodes, summarise
from .figures import CohortFigure, CourseFigure
from .hematotoxicity import HematotoxSummary, load_hematotoxicity
from .results import GradedDay, GradingResult, SyndromeGrade
from .ruleset import RuleSet
from .svgfigures import cohort_svg, course_svg
from .syndromes import Syndrome

_CSS = """
body { font: 14px/1.45 system-ui, sans-serif; color: #111; max-width: 1100px; margin: 1.5em auto; padding: 0 1em; }
h1 { font-size: 1.5em; margin-bottom: 0.2em; }
h2 { font-size: 1.25em; border-bottom: 1px solid #999; margin-top: 1.6em; }
h3 { font-size: 1.05em; margin-bottom: 0.3em; }
table { border-collapse: collapse; margin: 0.4em 0 1em; font-size: 0.92em; }
th, td { border: 1px solid #bbb; padding: 0.2em 0.45em; text-align: left; vertical-align: top; }
th { background: #f0f0f0; }
td.grade { text-align: center; font-weight: bold; min-width: 2.2em; }
td.na { background: repeating-linear-gradient(45deg, #e6e6e6, #e6e6e6 3px, #fff 3px, #fff 6px); }
.muted { color: #555; }
.changed { font-weight: bold; }
figure { margin: 0.5em 0 1em; }
figure svg { max-width: 100%; height: auto; }
nav ol { columns: 4; font-size: 0.9em; }
.patient { content-visibility: auto; contain-intrinsic-size: auto 1800px; }
@media print {
  body { font-size: 10pt; max-width: none; margin: 0; }
  nav { display: none; }
  .patient { break-before: page; content-visibility: visible; }
  tr, figure { break-inside: avoid; }
  a { color: inherit; text-decoration: none; }
}
"""


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _table(headers: Sequence[str], rows: Iterable[Sequence[Any]], raw: bool = False) -> str:
    """A table; with no header text, a table of name-value rows (the first cell a header)."""
    keyed = not any(headers)

    def cell(i: int, c: Any) -> str:
        tag = "th" if keyed and i == 0 else "td"
        return f"<{tag}>{c if raw else _e(c)}</{tag}>"

    def cells(row: Sequence[Any]) -> str:
        return "".join(cell(i, c) for i, c in enumerate(row))

    body = "".join(f"<tr>{cells(row)}</tr>" for row in rows)
    if keyed:
        return f"<table><tbody>{body}</tbody></table>"
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _grade_cell(grade: SyndromeGrade) -> str:
    if grade.grade is None:
        return '<td class="grade na" title="not assessed">–</td>'
    shown = f"{grade.grade}+" if grade.not_recorded else str(grade.grade)
    return f'<td class="grade">{shown}</td>'


def _reason(grade: SyndromeGrade) -> str:
    text = _e(grade.reason)
    rule_ids = grade.rule_ids
    if rule_ids:
        text += f'<br><span class="muted">{_e(" ".join(rule_ids))}</span>'
    if grade.not_recorded:
        text += f'<br><span class="muted">could be higher: {_e(", ".join(grade.not_recorded))} not recorded</span>'
    return text


def _header(result: GradingResult, ruleset: RuleSet, source: str, digest: str | None, generated: str) -> str:
    manifest = ruleset.manifest
    rows = [
        ("crsgrade", __version__),
        ("grading system", f"{manifest.title} ({manifest.system}), rules v{manifest.version}"),
        ("rule set hash (SHA-256 of its files)", ruleset.digest),
        ("engine", result.engine),
        ("input", source),
        ("input hash (SHA-256)", digest or "not hashed (standard input)"),
        ("generated", generated),
    ]
    settings = [
        (f'<span class="{"changed" if result.settings[name] != spec.default else ""}">{_e(name)}</span>',
         _e(spec.text(result.settings[name])), _e(spec.text(spec.default)), _e(spec.statement))
        for name, spec in manifest.settings.items()
    ]
    parts = [f'<header id="header"><h1>{_e(manifest.name)} grading report</h1>',
             _table(("", ""), rows)]
    if settings:
        headers = ("setting", "value", "default", "what it decides")
        parts.append("<h3>Settings</h3>" + _table(headers, settings, raw=True))
    else:
        parts.append(f'<p class="muted">{_e(manifest.name)} has no settings.</p>')
    return "".join(parts) + "</header>"


def _inputs(result: GradingResult) -> str:
    i = result.input
    rows = [("rows read", i.rows_read), ("patient-days graded", i.patient_days),
            ("rows combined into them (several readings of a day)", i.rows_combined),
            ("rows rejected", i.rows_rejected)]
    parts = ['<section id="inputs"><h2>Inputs</h2>', _table(("", ""), rows)]
    if i.skipped:
        parts.append("<h3>Rejected rows</h3><ul>" + "".join(f"<li>{_e(p)}</li>" for p in i.skipped) + "</ul>")
    else:
        parts.append('<p class="muted">No row was rejected.</p>')
    if result.warnings:
        parts.append("<h3>Warnings</h3><ul>" + "".join(f"<li>{_e(w)}</li>" for w in result.warnings) + "</ul>")
    return "".join(parts) + "</section>"


def _registry_cells(s: SyndromeSummary) -> list[Any]:
    if s.occurred is None:
        return ["not gradable", "", "", "", "", ""]
    if not s.occurred:
        return ["0", "", "", "", "", ""]
    ended = "not resolved" if s.resolution_day is None else s.resolution_day
    therapies = [t for t in ("tocilizumab", "steroids") if getattr(s, t)] + list(s.other_therapies)
    return [s.highest_grade, s.highest_grade_day, s.onset_day, ended, s.duration_days, ", ".join(therapies)]


_REGISTRY = ("highest grade", "on day", "onset day", "resolution day", "days", "therapies")


def _cohort(result: GradingResult, summary: CohortSummary, figure_svg: str) -> str:
    labels = result.labels
    cohort_rows = [(label, *summary.cohort[syndrome].cells()) for syndrome, label in labels.items()]
    registry = [[p.patient_id] + [c for syndrome, _ in _graded(labels) for c in _registry_cells(p.syndromes[syndrome])]
                for p in summary.patients]
    headers = ["patient"] + [f"{label} {h}" for label in labels.values() for h in _REGISTRY]
    return "".join([
        '<section id="cohort"><h2>Cohort</h2>',
        _table(("", "patients", "any grade", "grade ≥ 3", "median onset (day)", "median duration (days)",
                "not gradable"), cohort_rows),
        f'<figure id="cohort-figure">{figure_svg}</figure>',
        '<h3 id="registry">Registry fields</h3>', _table(headers, registry),
        "</section>",
    ])


def _discrepancies(result: GradingResult, summary: CohortSummary) -> str:
    parts = ['<section id="discrepancies"><h2>Against investigator-reported grades</h2>']
    if not summary.concordance:
        parts.append('<p class="muted">The input has no investigator-reported grades.</p>')
    for syndrome, c in summary.concordance.items():
        label = result.labels.get(syndrome, syndrome.upper())
        parts.append(f"<h3>{_e(label)}</h3><p>{c.days_agreeing} of {c.days_compared} days agree "
                     f"({c.percent_agreeing:g} %).</p>")
        if c.discrepancies:
            parts.append(_table(("patient", "day", "computed", "reported"),
                                [(d.patient_id, d.day, "–" if d.computed is None else d.computed, d.reported)
                                 for d in c.discrepancies]))
    return "".join(parts) + "</section>"


def _graded(labels: Mapping[str, str]) -> list[tuple[Syndrome, str]]:
    """The syndromes a system grades (its rule set declares them among SYNDROMES), with its
    names for them, in its order."""
    return [(cast("Syndrome", syndrome), label) for syndrome, label in labels.items()]


def _day_row(day: GradedDay, labels: Mapping[str, str]) -> str:
    cells = [f"<td>{day.day}</td>"]
    for syndrome, _ in _graded(labels):
        grade = day.syndrome(syndrome)
        cells += [_grade_cell(grade), f"<td>{_reason(grade)}</td>"]
    extra = (list(day.therapies) + list(day.notes) + ([day.note] if day.note else [])
             + [f"set aside: {reading}" for reading in day.set_aside])
    cells.append(f"<td>{_e('; '.join(extra))}</td>")
    return "<tr>" + "".join(cells) + "</tr>"


def _anchors(patient_ids: Sequence[str]) -> dict[str, str]:
    """An HTML id for each patient: `patient-` and the id with anything but letters, digits,
    `-` and `_` made `-`, numbered where two would come out alike."""
    anchors: dict[str, str] = {}
    taken: set[str] = set()
    for number, pid in enumerate(patient_ids):
        anchor = base = "patient-" + re.sub(r"[^A-Za-z0-9_-]", "-", pid)
        while anchor in taken:
            anchor, number = f"{base}-{number}", number + 1
        anchors[pid] = anchor
        taken.add(anchor)
    return anchors


def _hematotoxicity(h: HematotoxSummary) -> str:
    """A patient's CAR-HEMATOTOX, ICAHT, G-CSF days and EASIX, when the record held any."""
    if not h.recorded():
        return ""

    def with_rules(text: str, rules: tuple[str, ...]) -> str:
        return f"{text} ({' '.join(rules)})" if rules else text

    late = "–" if h.icaht_late_grade is None else str(h.icaht_late_grade)
    row = (h.score_text(), ", ".join(h.car_hematotox_missing), " ".join(h.car_hematotox_rules),
           with_rules(h.early_text(), h.icaht_early_rules), with_rules(late, h.icaht_late_rules),
           h.gcsf_days, "–" if h.easix_baseline is None else f"{h.easix_baseline:g}")
    return "<h3>Hematotoxicity</h3>" + _table(
        ("CAR-HEMATOTOX", "not recorded", "its items", "early ICAHT", "late ICAHT", "G-CSF days", "baseline EASIX"),
        [row])


def _patient(result: GradingResult, patient, summary, course_svg: str, anchor: str) -> str:
    labels = result.labels
    head = "".join(f"<th>{_e(label)}</th><th>{_e(label)}: why</th>" for label in labels.values())
    days = "".join(_day_row(d, labels) for d in patient.days)
    episode_rows = [
        (label, e.onset_day, e.peak_grade, e.peak_day, e.last_day,
         "not resolved" if e.resolution_day is None else e.resolution_day, e.duration_days)
        for syndrome, label in _graded(labels) for e in episodes(patient.days, syndrome)
    ]
    registry = [[label, *_registry_cells(summary.syndromes[syndrome])] for syndrome, label in _graded(labels)]
    return "".join([
        f'<article class="patient" id="{anchor}"><h2>Patient {_e(patient.patient_id)}</h2>',
        f"<figure>{course_svg}</figure>",
        "<h3>Daily grades</h3>",
        f'<table class="days"><thead><tr><th>day</th>{head}<th>given and notes</th></tr></thead>'
        f"<tbody>{days}</tbody></table>",
        "<h3>Episodes</h3>",
        _table(("syndrome", "onset day", "peak grade", "peak day", "last day", "resolution day", "days"), episode_rows)
        if episode_rows else '<p class="muted">No episode.</p>',
        "<h3>Registry fields</h3>", _table(["syndrome", *_REGISTRY], registry),
        _hematotoxicity(summary.hematotoxicity),
        "</article>",
    ])


def render(result: GradingResult, ruleset: RuleSet, cohort: CohortFigure, courses: dict[str, CourseFigure],
           source: str, digest: str | None, generated: datetime.datetime | None = None,
           progress: Callable[[int, int], None] | None = None,
           score_settings: Mapping[str, Any] | None = None) -> str:
    """The report as one HTML document; `progress` is told (patients written, patients) as the
    patients are written; `score_settings` are the hematotoxicity scores' settings."""
    when = (generated or datetime.datetime.now(datetime.UTC)).isoformat(timespec="seconds")
    summary = summarise(result, score_settings)
    by_id = {p.patient_id: p for p in summary.patients}
    anchors = _anchors([p.patient_id for p in result.patients])
    nav = "".join(f'<li><a href="#{anchors[p.patient_id]}">{_e(p.patient_id)}</a></li>' for p in result.patients)
    written = []
    for n, p in enumerate(result.patients):
        written.append(_patient(result, p, by_id[p.patient_id], course_svg(courses[p.patient_id], f"p{n}-"),
                                anchors[p.patient_id]))
        if progress is not None and (n % 50 == 49 or n == len(result.patients) - 1):
            progress(n + 1, len(result.patients))
    patients = "".join(written)
    cited = list(ruleset.manifest.references.values())
    if any(p.hematotoxicity.recorded() for p in summary.patients):
        cited += load_hematotoxicity().manifest.references.values()
    references = "".join(f"<li>{_e(r.citation)}{' doi:' + _e(r.doi) if r.doi else ''}</li>" for r in cited)
    title = f"{ruleset.manifest.name} grading report — {source}"
    return "".join([
        '<!doctype html><html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>",
        _header(result, ruleset, source, digest, when),
        '<nav><h2>Contents</h2><ol><li><a href="#inputs">Inputs</a></li><li><a href="#cohort">Cohort</a></li>'
        '<li><a href="#discrepancies">Against reported grades</a></li></ol>'
        f'<h3>Patients</h3><ol id="patient-index">{nav}</ol></nav>',
        _inputs(result),
        _cohort(result, summary, cohort_svg(cohort, "cohort-")),
        _discrepancies(result, summary),
        f'<section id="patients"><h2>Patients</h2>{patients}</section>',
        f'<footer id="references"><h2>References</h2><ul>{references}</ul>'
        f'<p class="muted">Made by crsgrade {_e(__version__)}. Grades marked "+" could be higher: values a '
        "higher grade needs were not recorded; \"–\" is a day not assessed.</p></footer>",
        "</body></html>\n",
    ])
