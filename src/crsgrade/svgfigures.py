"""The figures of figures.py written as SVG: for the HTML report and `plot -o *.svg`.

The same panels, lanes, grade tiles, legend, labels and colours as the model says, laid out
like the PNG and PDF that drawing.py draws with matplotlib. Text stays text; every grade tile
has a <title> (patient, day, grade, and the criterion that set it) so that it can be read by
pointing at it or with a screen reader; there is no script and nothing outside the file.

Every element that stands for data has a stable id, given the figure's prefix (so that the
figures of one report never share an id): `panel-<key>` for each panel, `<strip>-day<d>` for
each grade tile of a course (e.g. `crs-day3`, its printed grade `crs-day3-label`),
`lane-<name>` and `series-<name>` for lanes and lines, and in a cohort `<patient>-<strip>-day<d>`
for each tile (or `<patient>-<strip>` for a heat map row, drawn as runs of equal grade),
`bars-<system>-<syndrome>-<grade>` and `incidence-<name>`.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import groupby

from .figures import (
    MARKER_COLOURS,
    CohortFigure,
    CourseFigure,
    GradeStrip,
    Panel,
    Tile,
    grade_legend,
    legend_label,
)
from .svg import (
    Ids,
    Scale,
    clipped,
    decades,
    esc,
    escaped,
    hatch_pattern,
    num,
    padded,
    root,
    text,
    text_width,
    tick_label,
    ticks,
    x_axis,
    y_axis,
)

WIDTH = 900
_HEIGHTS = {"temperature": 150, "blood_pressure": 120, "oxygen": 80, "vasopressors": 70, "labs": 150, "counts": 150}
_GAP = 18  # between panels
_LABEL_CHARACTERS = 28  # a longer lane or patient name is cut (in full in its <title>)


def _panel_height(panel: Panel) -> float:
    if panel.strips:
        return 30 * len(panel.strips) + 6
    if panel.event_lanes:
        return 22 * len(panel.event_lanes) + 14
    return _HEIGHTS.get(panel.key, 100)


def _tick_labels(panel: Panel) -> list[str]:
    if panel.strips:
        return [s.name for s in panel.strips]
    if panel.event_lanes:
        return [clipped(lane.name, _LABEL_CHARACTERS) for lane in panel.event_lanes]
    if panel.step_lane is not None:
        return list(panel.step_lane.levels)
    return ["10,000"]


def _tiles(tiles: Sequence[Tile], x: Scale, y: float, height: float, ids: Ids, id_before: str, patient: str,
           strip: str, hatch: str, labels: str = "all") -> str:
    """A row of grade tiles, each a group with its id (`id_before` and the day), its <title>
    (patient, day, grade and the criterion), its fill (hatched grey when not assessed) and its
    grade printed ("all"), or only on graded days ("graded"). Written for speed: a report has
    60 tiles a patient, so the strings that repeat are made once."""
    before, after = f"Patient {esc(patient)}, day ", f": {esc(strip)}"
    stem = ids.clean(id_before)
    unit = x(1) - x(0)
    width, text_y = num(max(unit - 1, 0.2)), num(y + height / 2)
    top, tall = num(y), num(height)
    parts = []
    for t in tiles:
        tile_id = ids.exact(f"{stem}{t.day}")
        grade = "not assessed" if t.grade is None else f"grade {t.label}"
        criterion = f" — {escaped(t.criterion)}" if t.criterion else ""
        box = f'x="{x.at(t.day - 0.5, 0.5)}" y="{top}" width="{width}" height="{tall}"'
        parts.append(f'<g id="{tile_id}"><title>{before}{t.day}{after} {grade}{criterion}</title>'
                     f'<rect {box} fill="{t.colour}"/>')
        if t.hatched:
            parts.append(f'<rect {box} fill="url(#{hatch})"/>')
        if labels == "all" or (labels == "graded" and not t.hatched):
            colour = "" if t.text_colour == "#000000" else f' fill="{t.text_colour}"'
            parts.append(f'<text id="{tile_id}-label" x="{x.at(t.day)}" y="{text_y}"{colour}>'
                         f"{esc(t.label)}</text>")
        parts.append("</g>")
    return "".join(parts)


def _grade_legend(ids: Ids, x: float, y: float, hatch: str, markers: bool = False, across: bool = True) -> str:
    """The grade legend, in a row (or a column), with the treatment markers when asked."""
    parts = [f'<g id="{ids("legend")}">']
    for t in grade_legend():
        label = legend_label(t)
        parts.append(f'<rect x="{num(x)}" y="{num(y - 5)}" width="16" height="10" fill="{t.colour}" stroke="#999"/>')
        if t.hatched:
            parts.append(f'<rect x="{num(x)}" y="{num(y - 5)}" width="16" height="10" fill="url(#{hatch})"/>')
        parts.append(text(x + 21, y, label, 'dominant-baseline="central"'))
        if across:
            x += 21 + text_width(label, 11) + 16
        else:
            y += 16
    if markers:
        for therapy, colour in MARKER_COLOURS.items():
            parts.append(_marker(therapy, x + 8, y, colour))
            parts.append(text(x + 21, y, therapy, 'dominant-baseline="central"'))
            y += 16
    parts.append("</g>")
    return "".join(parts)


def _marker(therapy: str, x: float, y: float, colour: str, size: float = 4.0) -> str:
    """Tocilizumab a triangle pointing down, steroids a square."""
    if therapy == "tocilizumab":
        return (f'<path d="M{num(x - size)} {num(y - size)}h{num(2 * size)}l{num(-size)} {num(1.7 * size)}z"'
                f' fill="{colour}"/>')
    side = num(1.6 * size)
    return f'<rect x="{num(x - size * 0.8)}" y="{num(y - size * 0.8)}" width="{side}" height="{side}" fill="{colour}"/>'


# --- a patient's course ----------------------------------------------------------------------------

def course_svg(figure: CourseFigure, prefix: str = "") -> str:
    """A patient's course as an <svg> element."""
    ids = Ids(prefix)
    hatch = ids("hatch")
    labels = [label for panel in figure.panels for label in _tick_labels(panel)]
    left = 40 + max(text_width(label, 11) for label in labels)
    right = WIDTH - 20
    x = Scale(*figure.x_range, left, right)
    day_ticks = ticks(figure.x_range[0], figure.x_range[1], most=12, integer=True)
    unit = x(1) - x(0)
    top: float = 46
    parts = [f"<defs>{hatch_pattern(hatch)}</defs>",
             text(10, 20, figure.title, 'font-size="13"'),
             text(x(0) + 3, top - 6, "day 0 (infusion)", 'font-size="10"')]
    for number, panel in enumerate(figure.panels):
        height = _panel_height(panel)
        last = number == len(figure.panels) - 1
        parts.append(f'<g id="{ids("panel-" + panel.key)}">')
        parts.append(_course_panel(panel, figure.patient_id, x, top, top + height, ids, hatch, unit))
        parts.append(x_axis(x, day_ticks, top + height, labelled=last, title="days after infusion" if last else ""))
        parts.append(f'<path id="{ids("day-zero-" + panel.key)}" d="M{num(x(0))} {num(top)}V{num(top + height)}"'
                     ' stroke="#000" stroke-width="0.8" stroke-dasharray="4 3"/>')
        parts.append("</g>")
        top += height + _GAP
    top += 40
    parts.append(_grade_legend(ids, left, top, hatch))
    return root(WIDTH, top + 20, figure.title, ids, "".join(parts))


def _course_panel(panel: Panel, patient_id: str, x: Scale, top: float, bottom: float, ids: Ids, hatch: str,
                  unit: float) -> str:
    left = x.start
    if panel.strips:
        return _strips(panel.strips, patient_id, x, top, bottom, ids, hatch, unit, panel.y_label)
    if panel.event_lanes:
        lanes = panel.event_lanes
        y = Scale(-0.6, len(lanes) - 0.4, bottom, top)
        rows = list(range(len(lanes)))
        parts = [y_axis(y, rows, [clipped(lane.name, _LABEL_CHARACTERS) for lane in reversed(lanes)], left,
                        panel.y_label, 12)]
        for row, lane in zip(reversed(rows), lanes, strict=True):
            parts.append(f'<g id="{ids("lane-" + lane.name)}" fill="{lane.colour}"><title>{esc(lane.name)}</title>')
            for day in lane.days:
                parts.append(f'<path d="M{x.at(day, -4.5)} {num(y(row) - 4)}h9l-4.5 8z">'
                             f"<title>{esc(lane.name)}, day {day}</title></path>")
            parts.append("</g>")
        return "".join(parts)
    if panel.step_lane is not None:
        step = panel.step_lane
        y = Scale(-0.4, len(step.levels) - 0.6, bottom, top)
        parts = [y_axis(y, range(len(step.levels)), step.levels, left, panel.y_label, 12)]
        path = []
        for run in step.runs():
            (first, level), end = run[0], run[-1][0] + 0.5
            path.append(f"M{num(x(first - 0.5))} {num(y(level))}")
            for day, value in run[1:]:
                if value != level:
                    path.append(f"H{num(x(day - 0.5))}V{num(y(value))}")
                    level = value
            path.append(f"H{num(x(end))}")
        parts.append(f'<path id="{ids("lane-" + step.name)}" d="{"".join(path)}" fill="none" stroke="{step.colour}"'
                     f' stroke-width="2.2"><title>{esc(step.name)}</title></path>')
        return "".join(parts)
    values = [v for s in panel.series for v in s.values] + [value for value, _ in panel.reference_lines]
    if panel.log:
        lo, hi = decades(values)
        y = Scale(lo, hi, bottom, top, log=True)
        power, marks = lo, []
        while power <= hi * 1.0001:
            marks.append(power)
            power *= 10
    else:
        lo, hi = padded(values)
        y = Scale(lo, hi, bottom, top)
        marks = ticks(lo, hi, most=6)
    parts = [y_axis(y, marks, [tick_label(m) for m in marks], left, panel.y_label, 12)]
    for at, label in panel.reference_lines:
        parts.append(f'<path d="M{num(left)} {num(y(at))}H{num(x.end)}" stroke="#555" stroke-dasharray="1.5 3"/>')
        parts.append(text(x.end, y(at) - 4, label, 'text-anchor="end"', 'font-size="10"', 'fill="#555"'))
    for number, series in enumerate(panel.series):
        points = [(day, value, x.at(day), num(y(value))) for day, value in zip(series.days, series.values, strict=True)
                  if value > 0 or not panel.log]
        dash = ' stroke-dasharray="5 3"' if series.dashed else ""
        line = " ".join(f"{cx},{cy}" for _, _, cx, cy in points)
        parts.append(f'<g id="{ids("series-" + series.name)}" fill="{series.colour}"><title>{esc(series.name)}</title>'
                     f'<polyline points="{line}" fill="none" stroke="{series.colour}" stroke-width="1.6"{dash}/>')
        parts.extend(f'<circle cx="{cx}" cy="{cy}" r="2.6"><title>day {day}: {value:g}</title></circle>'
                     for day, value, cx, cy in points)
        parts.append("</g>")
        if len(panel.series) > 1:  # a legend, top right
            ly = top + 8 + 14 * number
            parts.append(f'<path d="M{num(x.end - 28)} {num(ly)}h22" stroke="{series.colour}"'
                         f' stroke-width="1.6"{dash}/>')
            parts.append(text(x.end - 32, ly, series.name, 'text-anchor="end"', 'dominant-baseline="central"',
                              'font-size="10"'))
    return "".join(parts)


def _strips(strips: Sequence[GradeStrip], patient_id: str, x: Scale, top: float, bottom: float, ids: Ids,
            hatch: str, unit: float, title: str) -> str:
    y = Scale(len(strips), 0, top, bottom)
    parts = [y_axis(y, [len(strips) - i - 0.5 for i in range(len(strips))], [s.name for s in strips], x.start,
                    title, 12)]
    size = min(10.0, max(3.0, unit * 0.6))
    row_height = (bottom - top) / len(strips)
    for row, strip in enumerate(strips):
        name = strip.name.lower()
        parts.append(f'<g id="{ids("strip-" + name)}" font-size="{num(size)}" font-weight="bold"'
                     ' text-anchor="middle" dominant-baseline="central">')
        parts.append(_tiles(strip.tiles, x, top + row * row_height + 1.5, row_height - 3, ids, f"{name}-day",
                            patient_id, strip.name, hatch))
        parts.append("</g>")
    return "".join(parts)


# --- a cohort -------------------------------------------------------------------------------------------

COHORT_WIDTH = 1000
_ROW = 14  # a swimmer row of one syndrome
_HEATMAP_HEIGHT = 1000  # a heat map's rows share this height, each at least half a unit


def cohort_svg(figure: CohortFigure, prefix: str = "") -> str:
    """A cohort as an <svg> element: swimmer rows (or a heat map per syndrome), the distribution
    of highest grades and the cumulative incidence."""
    ids = Ids(prefix)
    hatch = ids("hatch")
    defs = [hatch_pattern(hatch)]
    names = [clipped(r.patient_id, _LABEL_CHARACTERS) for r in figure.rows] if not figure.heatmap else []
    left = 40 + max([text_width(n, 11) for n in names] + [90])
    right = COHORT_WIDTH - 170
    top: float = 58 if figure.heatmap else 40
    parts = [text(10, 20, figure.title, 'font-size="13"')]
    if figure.heatmap:
        body, bottom = _heatmap(figure, ids, left, right, top)
    else:
        body, bottom = _swimmer(figure, ids, hatch, left, right, top)
    parts.append(body)
    parts.append(_grade_legend(ids, right + 24, top + 6, hatch, markers=not figure.heatmap, across=False))
    top = bottom + 70
    height = 220
    middle = COHORT_WIDTH / 2
    distribution, bar_defs = _distribution(figure, ids, 60, middle - 40, top, top + height)
    defs += bar_defs
    parts.append(distribution)
    parts.append(_incidence(figure, ids, middle + 50, COHORT_WIDTH - 30, top, top + height))
    body = f"<defs>{''.join(defs)}</defs>" + "".join(parts)
    return root(COHORT_WIDTH, top + height + 50 + 14 * ((len(figure.incidence) + 1) // 2), figure.title, ids, body)


def _swimmer(figure: CohortFigure, ids: Ids, hatch: str, left: float, right: float, top: float) -> tuple[str, float]:
    per_row = len(figure.rows[0].strips) if figure.rows else 1
    band = per_row * _ROW + 4
    bottom = top + band * len(figure.rows)
    x = Scale(*figure.x_range, left, right)
    names = " / ".join(s.name for s in figure.rows[0].strips) if figure.rows else ""
    parts = [f'<g id="{ids("panel-swimmer")}">',
             y_axis(Scale(0, 1, bottom, top), [], [], left, f"patient ({names}, top to bottom)", 12)]
    for index, row in enumerate(figure.rows):
        base = top + index * band + 2
        parts.append(text(left - 6, base + per_row * _ROW / 2, clipped(row.patient_id, _LABEL_CHARACTERS),
                          'text-anchor="end"', 'dominant-baseline="central"'))
        parts.append('<g font-size="8" text-anchor="middle" dominant-baseline="central">')
        for offset, strip in enumerate(row.strips):
            name = strip.name.lower()
            parts.append(_tiles(strip.tiles, x, base + offset * _ROW + 0.5, _ROW - 1, ids,
                                f"{row.patient_id}-{name}-day", row.patient_id, strip.name, hatch, labels="graded"))
        parts.append("</g>")
        for day, therapy in row.markers:
            parts.append(f'<g id="{ids(f"{row.patient_id}-{therapy}-day{day}")}"><title>Patient '
                         f'{esc(row.patient_id)}, day {day}: {therapy}</title>'
                         f'{_marker(therapy, x(day + 0.3), base + 3.5, MARKER_COLOURS[therapy], 3)}</g>')
    parts.append(f'<path d="M{num(x(0))} {num(top)}V{num(bottom)}" stroke="#000" stroke-width="0.8"'
                 ' stroke-dasharray="4 3"/>')
    parts.append(x_axis(x, ticks(*figure.x_range, most=12, integer=True), bottom, True, "days after infusion"))
    parts.append("</g>")
    return "".join(parts), bottom


def _heatmap(figure: CohortFigure, ids: Ids, left: float, right: float, top: float) -> tuple[str, float]:
    """One heat map per syndrome, side by side, a row per patient in the same order (highest CRS
    grade first); a row is drawn as runs of days of equal grade, each with its <title>."""
    rows = figure.rows
    strips = len(rows[0].strips)
    row_height = min(8.0, max(0.5, _HEATMAP_HEIGHT / len(rows)))
    bottom = top + row_height * len(rows)
    gap = 30
    width = (right - left - gap * (strips - 1)) / strips
    parts = [f'<g id="{ids("panel-heatmap")}">']
    parts.append(y_axis(Scale(0, 1, bottom, top), [], [], left,
                        f"{len(rows)} patients, highest {rows[0].strips[0].name} grade first", 12))
    for peak, start, count in figure.peak_groups():  # where each highest grade begins
        y0, y1 = top + start * row_height, top + (start + count) * row_height
        parts.append(f'<path d="M{num(left - 4)} {num(y0)}h4" stroke="#000"/>')
        if y1 - y0 >= 11:
            label = f"{'not gradable' if peak is None else f'grade {peak}'} ({count})"
            parts.append(text(left - 6, (y0 + y1) / 2, label, 'text-anchor="end"', 'dominant-baseline="central"',
                              'font-size="10"'))
    for number in range(strips):
        x0 = left + number * (width + gap)
        x = Scale(*figure.x_range, x0, x0 + width)
        name = rows[0].strips[number].name
        parts.append(text(x0 + width / 2, top - 6, name, 'text-anchor="middle"', 'font-weight="bold"'))
        parts.append(f'<g id="{ids("heatmap-" + name.lower())}">')
        for index, row in enumerate(rows):
            strip = row.strips[number]
            y = top + index * row_height
            parts.append(f'<g id="{ids(f"{row.patient_id}-{name.lower()}")}">')
            for grade, equal in groupby(strip.tiles, key=lambda t: t.grade):
                run = list(equal)
                first, last = run[0].day, run[-1].day
                days = f"day {first}" if first == last else f"days {first}–{last}"
                said = f"grade {grade}" if grade is not None else "not assessed"
                x_start, x_end = x(first - 0.5), x(last + 0.5)
                parts.append(f'<rect x="{num(x_start)}" y="{num(y)}" width="{num(x_end - x_start)}"'
                             f' height="{num(row_height + 0.4)}" fill="{run[0].colour}"><title>Patient'
                             f" {esc(row.patient_id)}, {days}: {name} {said}</title></rect>")
            parts.append("</g>")
        parts.append("</g>")
        parts.append(f'<path d="M{num(x(0))} {num(top)}V{num(bottom)}" stroke="#000" stroke-width="0.8"'
                     ' stroke-dasharray="4 3"/>')
        parts.append(x_axis(x, ticks(*figure.x_range, most=6, integer=True), bottom, True, "days after infusion"))
    parts.append("</g>")
    return "".join(parts), bottom


def _distribution(figure: CohortFigure, ids: Ids, left: float, right: float, top: float,
                  bottom: float) -> tuple[str, list[str]]:
    groups = figure.distributions
    categories = [("–" if g is None else str(g)) for g, _ in groups[0].counts] if groups else []
    highest = max([n for group in groups for _, n in group.counts] + [1])
    marks = ticks(0, highest, most=5, integer=True)
    y = Scale(0, max(highest * 1.1, marks[-1]), bottom, top)
    x = Scale(-0.5, len(categories) - 0.5, left, right)
    width = (x(1) - x(0)) * 0.8 / max(1, len(groups))
    defs, parts = [], [f'<g id="{ids("panel-distribution")}">',
                       y_axis(y, marks, [tick_label(m) for m in marks], left, "patients", left - 45)]
    for number, group in enumerate(groups):
        pattern = ids(f"bar-hatch-{number}") if group.hatch else ""
        if pattern:
            defs.append(hatch_pattern(pattern, group.hatch, "#333"))
        what = f"{group.system} {group.syndrome}"
        for index, (grade, count) in enumerate(group.counts):
            bx = x(index) - 0.4 * (x(1) - x(0)) + number * width
            height = y(0) - y(count)
            shown = "not gradable" if grade is None else f"highest grade {grade}"
            key = "na" if grade is None else grade
            parts.append(f'<g id="{ids(f"bars-{what}-{key}")}">'
                         f"<title>{esc(what)}, {shown}: {count} patients</title>"
                         f'<rect x="{num(bx)}" y="{num(y(count))}" width="{num(width)}" height="{num(height)}"'
                         f' fill="{group.colour}"/>')
            if pattern:
                parts.append(f'<rect x="{num(bx)}" y="{num(y(count))}" width="{num(width)}" height="{num(height)}"'
                             f' fill="url(#{pattern})"/>')
            parts.append(text(bx + width / 2, y(count) - 3, str(count), 'text-anchor="middle"', 'font-size="8"'))
            parts.append("</g>")
        ly = top + 4 + 14 * number
        parts.append(f'<rect x="{num(right - 26)}" y="{num(ly - 5)}" width="16" height="10" fill="{group.colour}"/>')
        if pattern:
            parts.append(f'<rect x="{num(right - 26)}" y="{num(ly - 5)}" width="16" height="10"'
                         f' fill="url(#{pattern})"/>')
        parts.append(text(right - 30, ly, what, 'text-anchor="end"', 'dominant-baseline="central"', 'font-size="10"'))
    parts.append(x_axis(x, [], bottom, False))
    for index, category in enumerate(categories):
        parts.append(text(x(index), bottom + 15, category, 'text-anchor="middle"'))
    parts.append(text((left + right) / 2, bottom + 31, "highest grade (– not gradable)", 'text-anchor="middle"'))
    parts.append("</g>")
    return "".join(parts), defs


def _incidence(figure: CohortFigure, ids: Ids, left: float, right: float, top: float, bottom: float) -> str:
    x = Scale(*figure.x_range, left, right)
    y = Scale(0, 100, bottom, top)
    marks = [0, 20, 40, 60, 80, 100]
    parts = [f'<g id="{ids("panel-incidence")}">',
             y_axis(y, marks, [str(m) for m in marks], left, "% of patients with a first episode", left - 40),
             x_axis(x, ticks(*figure.x_range, most=8, integer=True), bottom, True, "days after infusion")]
    for number, series in enumerate(figure.incidence):
        # later curves thinner, so that one drawn over another stays visible
        path = [f"M{num(x(series.days[0]))} {num(y(series.values[0]))}"] if series.days else []
        for day, value, following in zip(series.days, series.values, (*series.days[1:], None), strict=True):
            path.append(f"V{num(y(value))}H{num(x(following if following is not None else day + 0.5))}")
        dash = ' stroke-dasharray="6 3"' if series.dashed else ""
        parts.append(f'<path id="{ids("incidence-" + series.name)}" d="{"".join(path)}" fill="none"'
                     f' stroke="{series.colour}" stroke-width="{num(2.6 - 0.4 * number)}"{dash}>'
                     f"<title>{esc(series.name)}: {series.values[-1]:g} % by day {series.days[-1]}</title></path>"
                     if series.days else "")
        lx, ly = left + (number % 2) * (right - left) / 2, bottom + 48 + 14 * (number // 2)
        parts.append(f'<path d="M{num(lx)} {num(ly)}h20" stroke="{series.colour}"'
                     f' stroke-width="{num(2.6 - 0.4 * number)}"{dash}/>')
        parts.append(text(lx + 25, ly, series.name, 'dominant-baseline="central"', 'font-size="10"'))
    parts.append("</g>")
    return "".join(parts)
