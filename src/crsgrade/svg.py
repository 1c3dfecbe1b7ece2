"""Writing SVG as text: escaping, ids, numbers, scales and axes.

The figures of the report and of `plot -o *.svg` are written as SVG text straight from the
figure model (svgfigures.py), not drawn and saved through a plotting library: a course figure
takes about a millisecond this way, where matplotlib's layout and SVG writer took about a
quarter of a second, which made a 1,000-patient report take minutes. Everything here is plain
string work, so the same figure always gives the same bytes.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from functools import lru_cache

FONT = "DejaVu Sans, Verdana, Arial, Helvetica, sans-serif"
# characters XML 1.0 does not allow at all (the readers refuse control characters, but a figure
# model can be built from anything)
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_NOT_ID = re.compile(r"[^A-Za-z0-9_-]+")


@lru_cache(maxsize=4096)
def escaped(text: str) -> str:
    """esc, remembered: for the texts that repeat from tile to tile (a day's reason)."""
    return esc(text)


def esc(value: object) -> str:
    """Text or an attribute value, escaped for XML and HTML alike."""
    text = _NOT_XML.sub("\ufffd", str(value))
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;").replace(
        "'", "&#x27;")


def num(x: float) -> str:
    """A coordinate, to a tenth of a unit: short and always the same text for the same value."""
    text = f"{x:.1f}"
    if text[-1] == "0":
        text = text[:-2]
        return "0" if text == "-0" else text
    return text


def text_width(text: str, size: float) -> float:
    """The width of a line of text, estimated (no font is measured, so the layout is the same
    on every machine): DejaVu Sans averages about 0.6 em a character."""
    return 0.6 * size * len(text)


def clipped(text: str, most: int) -> str:
    """Text cut to `most` characters with an ellipsis (the full text goes in a <title>)."""
    return text if len(text) <= most else text[:most - 1] + "…"


class Ids:
    """Element ids for one figure: `prefix` and the text with anything but letters, digits, `-`
    and `_` made `-`; numbered where two would come out alike, so every id is valid in HTML
    and unique in the page (each figure of a report has its own prefix)."""

    def __init__(self, prefix: str = ""):
        self.prefix = prefix
        self._taken: set[str] = set()

    def __call__(self, text: str) -> str:
        return self.exact(self.clean(text))

    def clean(self, text: str) -> str:
        """The text as the tail of an id (no prefix, not yet taken)."""
        return _NOT_ID.sub("-", text)

    def exact(self, clean: str) -> str:
        """An id of text already made clean (for speed: a tile's id is a clean stem and a day)."""
        base = self.prefix + clean
        made, number = base, 1
        while made in self._taken:
            number += 1
            made = f"{base}-{number}"
        self._taken.add(made)
        return made


class Scale:
    """A linear (or log10) map from data to page coordinates."""

    def __init__(self, lo: float, hi: float, start: float, end: float, log: bool = False):
        self.log = log
        self.lo, self.hi = (math.log10(lo), math.log10(hi)) if log else (lo, hi)
        self.start, self.end = start, end
        self.factor = (end - start) / (self.hi - self.lo)
        self._said: dict[tuple[float, float], str] = {}

    def __call__(self, value: float) -> float:
        return self.start + ((math.log10(value) if self.log else value) - self.lo) * self.factor

    def at(self, value: float, shift: float = 0.0) -> str:
        """num(self(value) + shift), remembered: the same days recur in every lane and strip."""
        said = self._said.get((value, shift))
        if said is None:
            said = self._said[value, shift] = num(self(value) + shift)
        return said


def nice_step(span: float, most: int) -> float:
    """The step of at most `most` ticks over `span`: 1, 2 or 5 times a power of ten."""
    raw = span / max(1, most)
    power = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1
    return next(m * power for m in (1, 2, 5, 10) if m * power >= raw)


def ticks(lo: float, hi: float, most: int = 6, integer: bool = False) -> list[float]:
    """Round values from lo to hi, at most about `most` of them."""
    step = max(1.0, nice_step(hi - lo, most)) if integer else nice_step(hi - lo, most)
    first = math.ceil(lo / step - 1e-9)
    return [round(i * step, 10) for i in range(first, math.floor(hi / step + 1e-9) + 1)]


def tick_label(value: float) -> str:
    return f"{value:,.10g}"


def padded(values: Iterable[float], pad: float = 0.08) -> tuple[float, float]:
    """The range of values with a margin; one value or none get a range of their own."""
    values = list(values)
    if not values:
        return 0.0, 1.0
    lo, hi = min(values), max(values)
    if lo == hi:
        return lo - 1, hi + 1
    margin = (hi - lo) * pad
    return lo - margin, hi + margin


def decades(values: Iterable[float]) -> tuple[float, float]:
    """A log axis's range: whole powers of ten around the positive values."""
    positive = [v for v in values if v > 0]
    if not positive:
        return 1.0, 10.0
    lo, hi = math.floor(math.log10(min(positive))), math.ceil(math.log10(max(positive)))
    return 10.0 ** lo, 10.0 ** (hi if hi > lo else lo + 1)


def text(x: float, y: float, content: str, *attributes: str) -> str:
    extra = "".join(f" {a}" for a in attributes)
    return f'<text x="{num(x)}" y="{num(y)}"{extra}>{esc(content)}</text>'


def y_axis(scale: Scale, values: Sequence[float], labels: Sequence[str], left: float, title: str,
           title_x: float) -> str:
    """A left axis: its line and ticks (one path), tick labels and its title (turned to read
    upwards)."""
    top, bottom = min(scale.start, scale.end), max(scale.start, scale.end)
    marks = "".join(f"M{num(left - 4)} {scale.at(value)}h4" for value in values)
    parts = [f'<path d="M{num(left)} {num(top)}V{num(bottom)}{marks}" stroke="#000" fill="none"/>']
    if labels:
        parts.append('<g text-anchor="end" dominant-baseline="central">')
        at = num(left - 6)
        parts.extend(f'<text x="{at}" y="{scale.at(value)}">{esc(label)}</text>'
                     for value, label in zip(values, labels, strict=True))
        parts.append("</g>")
    middle = (top + bottom) / 2
    parts.append(text(title_x, middle, title, 'text-anchor="middle"',
                      f'transform="rotate(-90 {num(title_x)} {num(middle)})"'))
    return "".join(parts)


def x_axis(scale: Scale, values: Sequence[float], y: float, labelled: bool, title: str = "") -> str:
    """A bottom axis: its line and ticks (one path), with tick labels and a title when `labelled`."""
    at = num(y)
    marks = "".join(f"M{scale.at(value)} {at}v4" for value in values)
    parts = [f'<path d="M{num(scale.start)} {at}H{num(scale.end)}{marks}" stroke="#000" fill="none"/>']
    if labelled:
        parts.append('<g text-anchor="middle">')
        at = num(y + 15)
        parts.extend(f'<text x="{scale.at(value)}" y="{at}">{tick_label(value)}</text>' for value in values)
        if title:
            parts.append(text((scale.start + scale.end) / 2, y + 31, title))
        parts.append("</g>")
    return "".join(parts)


def hatch_pattern(pattern_id: str, kind: str = "//", colour: str = "#8c8c8c") -> str:
    """A fill pattern of lines (`//`, `xx`) or dots (`..`), laid over a colour."""
    if kind == "..":
        marks = f'<circle cx="2" cy="2" r="0.9" fill="{colour}"/>'
        return f'<pattern id="{pattern_id}" width="5" height="5" patternUnits="userSpaceOnUse">{marks}</pattern>'
    marks = f'<path d="M0 0V6" stroke="{colour}" stroke-width="1.2"/>'
    if kind == "xx":
        marks += f'<path d="M0 3H6" stroke="{colour}" stroke-width="1.2"/>'
    return (f'<pattern id="{pattern_id}" width="6" height="6" patternUnits="userSpaceOnUse"'
            f' patternTransform="rotate(45)">{marks}</pattern>')


def document(svg: str) -> str:
    """A figure as a file of its own: the XML declaration, then the <svg> element."""
    return '<?xml version="1.0" encoding="utf-8"?>\n' + svg + "\n"


def root(width: float, height: float, title: str, ids: Ids, body: str) -> str:
    """The <svg> element: its size, its title (what a screen reader announces), the body."""
    title_id = ids("title")
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{num(width)}" height="{num(height)}"'
            f' viewBox="0 0 {num(width)} {num(height)}" role="img" aria-labelledby="{title_id}"'
            f' font-family="{FONT}" font-size="11"><title id="{title_id}">{esc(title)}</title>'
            f'<rect width="100%" height="100%" fill="#fff"/>{body}</svg>')
