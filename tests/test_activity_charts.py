"""Inline SVG charts: geometry follows the figures, text is escaped."""

from __future__ import annotations

import itertools
import re
import xml.etree.ElementTree as ET

import pytest

from django_stripe_portal.admin import charts

SVG = "{http://www.w3.org/2000/svg}"


@pytest.mark.parametrize(
    ("maximum", "ticks"),
    [
        (0, [0, 1]),
        (3, [0, 1, 2, 3]),
        (7, [0, 2, 4, 6, 8]),
        (95, [0, 50, 100]),
        (1234, [0, 500, 1000, 1500]),
    ],
)
def test_nice_ticks(maximum: int, ticks: list[int]) -> None:
    assert charts.nice_ticks(maximum) == ticks


def test_line_chart_plots_each_value() -> None:
    svg = charts.line_chart(
        ["Nov 01", "Nov 02", "Nov 03"],
        [charts.Series("visits", [0, 4, 2]), charts.Series("customers", [0, 2, 1])],
        title="Visits",
        width=300,
        height=200,
    )
    root = ET.fromstring(svg)  # noqa: S314  (our own output)

    lines = root.findall(f"{SVG}polyline")
    assert [line.get("data-series") for line in lines] == ["visits", "customers"]
    points = [tuple(map(float, p.split(","))) for p in lines[0].get("points", "").split()]
    # Plot area: x 44..288, y 28..166; ticks go to 4, so 4 is the top and 0 the bottom.
    assert points == [(44.0, 166.0), (166.0, 28.0), (288.0, 97.0)]
    assert root.find(f"{SVG}title").text == "Visits"  # type: ignore[union-attr]


def test_line_chart_with_one_day_and_no_visits() -> None:
    svg = charts.line_chart(["Nov 01"], [charts.Series("visits", [0])], title="t", width=300)

    assert 'points="166.0,226.0"' in svg
    ET.fromstring(svg)  # noqa: S314  (well-formed)


def test_bar_chart_bars_are_proportional() -> None:
    svg = charts.bar_chart([("plan changed", 10), ("no change", 5), ("paused", 0)], title="t")

    widths = [float(w) for w in re.findall(r'class="bar" x="\d+" y="\d+" width="([\d.]+)"', svg)]
    assert widths == [460.0, 230.0, 0.0]


def test_text_is_escaped() -> None:
    hostile = "<script>alert('x')</script>"

    bar = charts.bar_chart([(hostile, 1)], title=hostile)
    line = charts.line_chart([hostile], [charts.Series(hostile, [1])], title=hostile)

    for svg in (bar, line):
        assert "<script>" not in svg
        ET.fromstring(svg)  # noqa: S314  (still well-formed)


@pytest.mark.parametrize(
    ("count", "step", "indexes"),
    [
        (0, 100.0, []),
        (1, 100.0, [0]),
        (7, 120.0, [0, 1, 2, 3, 4, 5, 6]),
        # 30 days on the page's chart: ISO dates ~72 px wide, 27 px apart.
        (30, 27.0, [0, 5, 9, 13, 17, 21, 29]),
        # 27 weeks: the last label never lands on its neighbour.
        (27, 30.4, [0, 4, 7, 10, 13, 16, 19, 22, 26]),
        (2, 50.0, [1]),
    ],
)
def test_x_labels_are_spaced_and_the_last_is_labelled(
    count: int, step: float, indexes: list[int]
) -> None:
    assert charts._labelled(count, step, 72.0) == indexes


@pytest.mark.parametrize("count", [2, 5, 14, 27, 30, 31, 53, 60])
def test_x_labels_never_overlap(count: int) -> None:
    """Every written label's box, end labels hanging inwards, apart from the next."""
    labels = [f"2026-01-{day:02d}" for day in range(count)]
    svg = charts.line_chart(labels, [charts.Series("v", [1] * count)], title="t", width=840)
    boxes = []
    for x, anchor, text in re.findall(
        r'<text x="([\d.]+)" y="\d+" text-anchor="(\w+)"[^>]*>(2026-[^<]+)<', svg
    ):
        width = len(text) * charts._CHAR_PX
        left = {"start": 0.0, "middle": width / 2, "end": width}[anchor]
        boxes.append((float(x) - left, float(x) - left + width))
    assert boxes
    assert all(a[1] + charts._LABEL_GAP_PX <= b[0] + 0.01 for a, b in itertools.pairwise(boxes))


def test_end_labels_hang_inwards() -> None:
    svg = charts.line_chart(["first", "mid", "last"], [charts.Series("v", [1, 2, 3])], title="t")

    assert re.findall(r'text-anchor="(\w+)"[^>]*>(first|mid|last)<', svg) == [
        ("start", "first"),
        ("middle", "mid"),
        ("end", "last"),
    ]
