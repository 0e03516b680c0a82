"""Charts drawn on the server as inline SVG: no script, no library, nothing for the CSP to allow.

Pure: values and labels in, markup out. Colours come from the page's stylesheet (classes), so the
chart follows the page's theme and no inline style is needed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from markupsafe import Markup, escape

WIDTH = 720
HEIGHT = 200
PLOT_TOP = 10
PLOT_BOTTOM = 170
"""Bars stand on this line; the hour labels sit below it."""
AXIS_LEFT = 40
"""Room for the scale's numbers."""


def nice_ceiling(value: int) -> int:
    """The scale's top: `value` rounded up to 1, 2 or 5 times a power of ten (at least 1)."""
    if value <= 1:
        return 1
    power = 1
    while True:
        for step in (1, 2, 5):
            if step * power >= value:
                return step * power
        power *= 10


def bar_chart(
    counts: Sequence[int], labels: Sequence[str], *, title: str, bar_titles: Sequence[str], format_number: Callable[[int], str] = str
) -> Markup:
    """A bar chart of `counts` (one bar each, labelled below by `labels`, every third shown);
    `title` names it for screen readers, each bar's `bar_titles` entry says its value on hover;
    the scale's numbers are written by `format_number` (the page's locale)."""
    if not (len(counts) == len(labels) == len(bar_titles)):
        raise ValueError("counts, labels and bar_titles must have one entry per bar")
    top = nice_ceiling(max(counts, default=0))
    slot = (WIDTH - AXIS_LEFT) / max(len(counts), 1)
    height = PLOT_BOTTOM - PLOT_TOP
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
        f'<line class="axis" x1="{AXIS_LEFT}" y1="{PLOT_BOTTOM}" x2="{WIDTH}" y2="{PLOT_BOTTOM}"/>',
        f'<text class="scale" x="{AXIS_LEFT - 6}" y="{PLOT_TOP + 10}" text-anchor="end">{escape(format_number(top))}</text>',
        f'<text class="scale" x="{AXIS_LEFT - 6}" y="{PLOT_BOTTOM}" text-anchor="end">{escape(format_number(0))}</text>',
    ]
    for i, (count, label, bar_title) in enumerate(zip(counts, labels, bar_titles, strict=True)):
        bar = round(height * count / top, 1)
        x = round(AXIS_LEFT + i * slot + slot * 0.15, 1)
        parts.append(
            f'<rect class="bar" x="{x}" y="{round(PLOT_BOTTOM - bar, 1)}" width="{round(slot * 0.7, 1)}" height="{bar}">'
            f"<title>{escape(bar_title)}</title></rect>"
        )
        if i % 3 == 0:
            middle = round(x + slot * 0.35, 1)
            parts.append(f'<text class="label" x="{middle}" y="{PLOT_BOTTOM + 18}" text-anchor="middle">{escape(label)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
