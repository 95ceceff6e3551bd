"""Small charts rendered on the server as inline SVG: no JavaScript, no CDN.

Every text that reaches the SVG is escaped here; numbers are formatted by us.
Each chart carries a ``<title>`` for screen readers and a ``<title>`` per point
or bar (the browser shows it as a tooltip); pages show the same figures in a
table beside the chart.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

#: Colours readable on the admin's light and dark themes.
SERIES_COLOURS = ("#2f7fb8", "#e08a00", "#3d9a4d", "#b4456b")

_FONT = 'font-family="system-ui, sans-serif" font-size="12"'


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[int]


def nice_ticks(maximum: float, count: int = 4) -> list[int]:
    """Round axis ticks from 0 up to at least ``maximum`` (steps of 1, 2 or 5 times 10**n)."""
    if maximum <= 0:
        return [0, 1]
    raw_step = maximum / count
    magnitude = 10 ** math.floor(math.log10(raw_step))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw_step)
    step = max(1, int(step))
    top = step * math.ceil(maximum / step)
    return list(range(0, top + 1, step))


def line_chart(
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    title: str,
    width: int = 720,
    height: int = 260,
) -> SafeString:
    """One line per series over ``labels`` (the x axis, e.g. days)."""
    left, right, top, bottom = 44, 12, 28, 34
    plot_w, plot_h = width - left - right, height - top - bottom
    maximum = max((value for s in series for value in s.values), default=0)
    ticks = nice_ticks(maximum)
    y_top = ticks[-1]

    def x_at(index: int) -> float:
        if len(labels) <= 1:
            return left + plot_w / 2
        return left + plot_w * index / (len(labels) - 1)

    def y_at(value: float) -> float:
        return top + plot_h - plot_h * value / y_top

    parts = [_open_svg(width, height, title)]
    parts += _y_axis(ticks, y_at, left, width - right)
    step = plot_w / (len(labels) - 1) if len(labels) > 1 else plot_w
    widest = max((len(label) for label in labels), default=0) * _CHAR_PX
    for index in _labelled(len(labels), step, widest):
        # The end labels hang inwards so that they are not cut at the edges.
        anchor = "start" if index == 0 else "end" if index == len(labels) - 1 else "middle"
        parts.append(
            f'<text x="{x_at(index):.1f}" y="{height - 12}" text-anchor="{anchor}" '
            f'fill="currentColor" {_FONT}>{escape(labels[index])}</text>'
        )
    for number, one in enumerate(series):
        colour = SERIES_COLOURS[number % len(SERIES_COLOURS)]
        points = " ".join(f"{x_at(i):.1f},{y_at(value):.1f}" for i, value in enumerate(one.values))
        parts.append(
            f'<polyline class="series" data-series="{escape(one.name)}" points="{points}" '
            f'fill="none" stroke="{colour}" stroke-width="2"/>'
        )
        for i, value in enumerate(one.values):
            label = labels[i] if i < len(labels) else ""
            parts.append(
                f'<circle cx="{x_at(i):.1f}" cy="{y_at(value):.1f}" r="2.5" fill="{colour}">'
                f"<title>{escape(label)}: {value} {escape(one.name)}</title></circle>"
            )
        legend_x = left + number * 170
        parts.append(
            f'<rect x="{legend_x}" y="8" width="12" height="12" fill="{colour}"/>'
            f'<text x="{legend_x + 18}" y="18" fill="currentColor" {_FONT}>'
            f"{escape(one.name)}</text>"
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308  (every text part is escaped above)


def bar_chart(
    bars: Sequence[tuple[str, int]],
    *,
    title: str,
    width: int = 720,
    bar_height: int = 20,
) -> SafeString:
    """Horizontal bars, one per ``(label, value)``, with the value written at the end."""
    label_w, value_w, gap, top = 200, 60, 6, 6
    plot_w = width - label_w - value_w
    height = top * 2 + len(bars) * (bar_height + gap)
    maximum = max((value for _, value in bars), default=0) or 1
    parts = [_open_svg(width, height, title)]
    for index, (label, value) in enumerate(bars):
        y = top + index * (bar_height + gap)
        length = plot_w * value / maximum
        middle = y + bar_height / 2 + 4
        parts.append(
            f'<text x="{label_w - 8}" y="{middle:.1f}" text-anchor="end" fill="currentColor" '
            f"{_FONT}>{escape(label)}</text>"
            f'<rect class="bar" x="{label_w}" y="{y}" width="{length:.1f}" '
            f'height="{bar_height}" fill="{SERIES_COLOURS[0]}">'
            f"<title>{escape(label)}: {value}</title></rect>"
            f'<text x="{label_w + length + 6:.1f}" y="{middle:.1f}" fill="currentColor" '
            f"{_FONT}>{value}</text>"
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308  (every text part is escaped above)


#: Roughly the width of one character of the charts' 12 px labels, and the least room
#: kept between two labels.
_CHAR_PX = 7.2
_LABEL_GAP_PX = 12.0


def _labelled(count: int, step_px: float, label_px: float) -> list[int]:
    """Indexes of the x labels to write, ``step_px`` apart per index, each about
    ``label_px`` wide: evenly spaced, the first and the last always, none overlapping.

    The end labels hang inwards (anchored at their point), so their neighbours need
    one and a half label widths of room instead of one."""
    if count <= 1:
        return list(range(count))
    last = count - 1
    if step_px * last < 2 * label_px + _LABEL_GAP_PX:
        return [last]
    every = max(1, math.ceil((label_px + _LABEL_GAP_PX) / step_px))
    beside_end = 1.5 * label_px + _LABEL_GAP_PX
    first_inner = max(every, math.ceil(beside_end / step_px))
    inner = [index for index in range(first_inner, last, every)]
    while inner and (last - inner[-1]) * step_px < beside_end:
        inner.pop()
    return [0, *inner, last]


def _open_svg(width: int, height: int, title: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" style="max-width:100%;height:auto">'
        f"<title>{escape(title)}</title>"
    )


def _y_axis(
    ticks: Sequence[int], y_at: Callable[[float], float], x_from: float, x_to: float
) -> list[str]:
    parts = []
    for tick in ticks:
        y = y_at(tick)
        parts.append(
            f'<line x1="{x_from}" y1="{y:.1f}" x2="{x_to}" y2="{y:.1f}" '
            f'stroke="currentColor" stroke-opacity="0.15"/>'
            f'<text x="{x_from - 6}" y="{y + 4:.1f}" text-anchor="end" fill="currentColor" '
            f"{_FONT}>{tick}</text>"
        )
    return parts
