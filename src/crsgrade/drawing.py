"""Drawing the figures of figures.py with matplotlib, for PNG and PDF (imported only here, when
such a figure is drawn). SVG, for the report and `plot -o *.svg`, is written straight from the
same model by svgfigures.py, with the same panels, tiles, labels and colours.
"""

from __future__ import annotations

import contextlib
import warnings
from typing import BinaryIO

import matplotlib

matplotlib.use("Agg")  # no display: files only

import matplotlib.pyplot as plt
from matplotlib.patches import Patch, Rectangle
from matplotlib.ticker import FuncFormatter

from .figures import (
    MARKER_COLOURS,
    CohortFigure,
    CourseFigure,
    GradeStrip,
    Panel,
    grade_legend,
    legend_label,
)

_RC = {
    "font.size": 8,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "text.parse_math": False,  # a $ in a patient id or a treatment is a dollar sign, not TeX
}


@contextlib.contextmanager
def _style():
    """matplotlib with the house style; its warnings (a glyph missing from the font, say) are
    not the user's to act on and stay off stderr."""
    with plt.rc_context(_RC), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        yield


_HEIGHTS = {"temperature": 1.6, "blood_pressure": 1.3, "oxygen": 0.9, "vasopressors": 0.8, "labs": 1.6, "counts": 1.6}


def _strip_height(panel: Panel) -> float:
    return 0.35 * len(panel.strips) + 0.35


def _draw_strips(ax, strips: tuple[GradeStrip, ...]) -> None:
    for row, strip in enumerate(reversed(strips)):
        for t in strip.tiles:
            ax.add_patch(Rectangle(
                (t.day - 0.5, row + 0.05), 1, 0.9, facecolor=t.colour, edgecolor="#ffffff",
                linewidth=0.8, hatch="////" if t.hatched else None))
            ax.text(t.day, row + 0.5, t.label, ha="center", va="center", color=t.text_colour,
                    fontsize=7, fontweight="bold")
    ax.set_ylim(0, len(strips))
    ax.set_yticks([i + 0.5 for i in range(len(strips))], [s.name for s in reversed(strips)])
    ax.tick_params(axis="y", length=0)


def _draw_panel(ax, panel: Panel) -> None:
    ax.set_ylabel(panel.y_label)
    if panel.log:
        ax.set_yscale("log")
        # plain numbers, as the SVG writes them: with maths text off, matplotlib's default log
        # labels would print their TeX source
        ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:,.0f}" if value >= 1 else f"{value:g}"))
    for s in panel.series:
        ax.plot(s.days, s.values, marker="o", markersize=3, color=s.colour, linestyle="--" if s.dashed else "-",
                label=s.name)
    for y, label in panel.reference_lines:
        ax.axhline(y, color="#555555", linestyle=":", linewidth=1)
        ax.annotate(label, (1, y), xycoords=("axes fraction", "data"), ha="right", va="bottom", fontsize=7,
                    color="#555555")
    if panel.step_lane is not None:
        lane = panel.step_lane
        for run in lane.runs():
            days = [d for d, _ in run] + [run[-1][0] + 1]
            values = [v for _, v in run] + [run[-1][1]]
            ax.step([d - 0.5 for d in days], values, where="post", color=lane.colour, linewidth=2)
        ax.set_ylim(-0.4, len(lane.levels) - 0.6)
        ax.set_yticks(range(len(lane.levels)), lane.levels)
    for row, event in enumerate(reversed(panel.event_lanes)):
        ax.scatter(event.days, [row] * len(event.days), marker="v", s=30, color=event.colour)
    if panel.event_lanes:
        ax.set_ylim(-0.6, len(panel.event_lanes) - 0.4)
        ax.set_yticks(range(len(panel.event_lanes)), [lane.name for lane in reversed(panel.event_lanes)])
    if panel.strips:
        _draw_strips(ax, panel.strips)
    if len(panel.series) > 1:
        ax.legend(loc="upper right", fontsize=7, frameon=False)


def _legend_handles() -> list[Patch]:
    return [Patch(facecolor=t.colour, edgecolor="#999999", hatch="////" if t.hatched else None, label=legend_label(t))
            for t in grade_legend()]


def draw_course(figure: CourseFigure):
    """The matplotlib Figure of a patient's course."""
    heights = [_HEIGHTS.get(p.key, 0.3 * len(p.event_lanes) + 0.4) if not p.strips else _strip_height(p)
               for p in figure.panels]
    with _style():
        fig, axes = plt.subplots(len(heights), 1, sharex=True, figsize=(9, sum(heights) + 1.2),
                                 gridspec_kw={"height_ratios": heights}, squeeze=False)
        for ax, panel in zip(axes[:, 0], figure.panels, strict=True):
            _draw_panel(ax, panel)
            ax.axvline(0, color="#000000", linewidth=0.8, linestyle="--")
        top, bottom = axes[0, 0], axes[-1, 0]
        top.set_xlim(*figure.x_range)
        top.annotate("day 0 (infusion)", (0, 1), xycoords=("data", "axes fraction"), ha="left", va="bottom",
                     fontsize=7)
        bottom.set_xlabel("days after infusion")
        bottom.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        fig.suptitle(figure.title, fontsize=9, x=0.01, ha="left")
        fig.legend(handles=_legend_handles(), loc="lower center", ncol=7, fontsize=7, frameon=False)
        fig.tight_layout(rect=(0, 0.04, 1, 0.97))
    return fig


def draw_cohort(figure: CohortFigure):
    """The matplotlib Figure of a cohort: swimmer rows (or a heat map per syndrome, side by side),
    the highest-grade distribution and the cumulative incidence."""
    rows = len(figure.rows)
    per_row = len(figure.rows[0].strips) if figure.rows else 1  # strips per patient: CRS, ICANS
    swim_height = 9.0 if figure.heatmap else min(9.0, max(2.0, rows * 0.3 * per_row))
    with _style():
        fig = plt.figure(figsize=(10, swim_height + 3.2))
        grid = fig.add_gridspec(2, 2, height_ratios=[swim_height, 2.6], hspace=0.9 / (swim_height + 3.2) * 3,
                                wspace=0.25)
        if figure.heatmap:
            _heatmaps(fig, grid[0, :], figure)
        else:
            _swimmer(fig.add_subplot(grid[0, :]), figure)
        _distribution(fig.add_subplot(grid[1, 0]), figure)
        _incidence(fig.add_subplot(grid[1, 1]), figure)
        fig.subplots_adjust(left=0.15 if figure.heatmap else 0.1, right=0.85, top=0.95, bottom=0.07)
    return fig


def _swimmer(swim, figure: CohortFigure) -> None:
    rows = len(figure.rows)
    per_row = len(figure.rows[0].strips) if figure.rows else 1
    for index, row in enumerate(reversed(figure.rows)):
        base = index * per_row
        for offset, strip in enumerate(reversed(row.strips)):
            for t in strip.tiles:
                swim.add_patch(Rectangle((t.day - 0.5, base + offset + 0.05), 1, 0.9, facecolor=t.colour,
                                         edgecolor="#ffffff", linewidth=0.5, hatch="////" if t.hatched else None))
                if not t.hatched:
                    swim.text(t.day, base + offset + 0.5, t.label, ha="center", va="center", color=t.text_colour,
                              fontsize=6)
        swim.axhline(base, color="#ffffff", linewidth=3)  # a gap between patients
        for day, therapy in row.markers:
            swim.plot(day + 0.3, base + per_row - 0.25, marker="v" if therapy == "tocilizumab" else "s",
                      markersize=3.5, color=MARKER_COLOURS[therapy])
    swim.set_xlim(*figure.x_range)
    swim.set_ylim(0, rows * per_row)
    swim.set_yticks([i * per_row + per_row / 2 for i in range(rows)], [r.patient_id for r in reversed(figure.rows)])
    strip_names = " / ".join(s.name for s in figure.rows[0].strips) if figure.rows else ""
    swim.set_ylabel(f"patient ({strip_names}, top to bottom)")
    swim.axvline(0, color="#000000", linewidth=0.8, linestyle="--")
    swim.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    swim.set_xlabel("days after infusion")
    swim.set_title(figure.title, fontsize=9, loc="left")
    handles = [*_legend_handles(),
               plt.Line2D([], [], marker="v", linestyle="", color=MARKER_COLOURS["tocilizumab"], label="tocilizumab"),
               plt.Line2D([], [], marker="s", linestyle="", color=MARKER_COLOURS["steroids"], label="steroids")]
    swim.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=7, frameon=False)


def _heatmaps(fig, cell, figure: CohortFigure) -> None:
    """A heat map per syndrome, one image each (a row per patient, a column per day), in the
    patients' order: highest CRS grade first."""
    from matplotlib.colors import to_rgb

    strips = len(figure.rows[0].strips)
    grid = cell.subgridspec(1, strips, wspace=0.08)
    for number in range(strips):
        ax = fig.add_subplot(grid[0, number])
        pixels = [[to_rgb(t.colour) for t in row.strips[number].tiles] for row in figure.rows]
        ax.imshow(pixels, aspect="auto", interpolation="nearest",
                  extent=(figure.x_range[0], figure.x_range[1], len(figure.rows), 0))
        ax.axvline(0, color="#000000", linewidth=0.8, linestyle="--")
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        ax.set_xlabel("days after infusion")
        ax.set_title(figure.rows[0].strips[number].name, fontsize=8, fontweight="bold")
        ax.set_yticks([])
        if number == 0:  # where each highest grade begins, and how many patients have it
            groups = figure.peak_groups()
            ax.set_yticks([start + count / 2 for _, start, count in groups],
                          [f"{'not gradable' if peak is None else f'grade {peak}'} ({count})"
                           if count >= len(figure.rows) / 60 else "" for peak, start, count in groups])
            ax.set_ylabel(f"{len(figure.rows)} patients, highest {figure.rows[0].strips[0].name} grade first")
            ax.text(0, 1.04, figure.title, transform=ax.transAxes, fontsize=9, va="bottom")
    ax.legend(handles=_legend_handles(), loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=7, frameon=False)


def _distribution(dist, figure: CohortFigure) -> None:
    groups = figure.distributions
    width = 0.8 / max(1, len(groups))
    labels = [str(g) if g is not None else "–" for g, _ in groups[0].counts] if groups else []
    for i, group in enumerate(groups):
        xs = [x + i * width - 0.4 + width / 2 for x in range(len(group.counts))]
        bars = dist.bar(xs, [n for _, n in group.counts], width=width, label=f"{group.system} {group.syndrome}",
                        color=group.colour, hatch=group.hatch or None)
        dist.bar_label(bars, fontsize=6)
    dist.set_xticks(range(len(labels)), labels)
    dist.yaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    dist.set_xlabel("highest grade (– not gradable)")
    dist.set_ylabel("patients")
    dist.legend(fontsize=6, frameon=False)


def _incidence(inc, figure: CohortFigure) -> None:
    for number, s in enumerate(figure.incidence):
        # later curves thinner, so that one drawn over another stays visible
        inc.step(s.days, s.values, where="post", color=s.colour, linestyle="--" if s.dashed else "-",
                 linewidth=2.6 - 0.4 * number, label=s.name)
    inc.set_ylim(0, 100)
    inc.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    inc.set_xlabel("days after infusion")
    inc.set_ylabel("% of patients with a first episode")
    inc.legend(fontsize=6, frameon=False)


def save(fig, handle: BinaryIO, kind: str) -> None:
    """Writes a figure as PNG or PDF."""
    try:
        with _style():
            # no creation date in a PDF, so the same input draws the same file
            fig.savefig(handle, format=kind, dpi=150, metadata={"CreationDate": None} if kind == "pdf" else {})
    finally:
        plt.close(fig)
