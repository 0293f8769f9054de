"""Geometry for the small charts the templates draw as SVG (templates/_charts.html).

The numbers are worked out here rather than in Jinja: a page with a dozen
trends of thirty answers each spent half its rendering time on the
template's arithmetic. The macro only writes the elements.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

WIDTH, HEIGHT, PAD = 160, 56, 5


@dataclass(frozen=True)
class TrendShape:
    width: int
    height: int
    line: str  # the polyline's points, "x,y x,y ..."; empty for fewer than two values
    markers: list[tuple[str, str]]  # (cx, cy) of every value, oldest first
    rules: list[tuple[str, str]]  # (y, title) where each band after the first begins
    # Every marker as one path's data, a zero-length stroke at each point: with round
    # caps (the stylesheet's ``.trend-dot``) each draws a dot, so a chart of thirty
    # answers is one element rather than thirty circles.
    dots: str


def trend_shape(
    points: Sequence[tuple[object, float]],
    max_value: float,
    bands: Iterable = (),
    width: int = WIDTH,
    height: int = HEIGHT,
    pad: int = PAD,
) -> TrendShape:
    """Place ``points`` ((when, value) pairs, oldest first) evenly from left to right,
    0 at the bottom and ``max_value`` at the top. ``bands`` are anything with ``min``
    and ``label`` (a measure's severity bands)."""
    top = max_value or 1
    n = len(points)
    step = (width - 2 * pad) / (n - 1) if n > 1 else 0
    left = pad if n > 1 else width / 2
    scale = (height - 2 * pad) / top

    def y(value: float) -> str:
        return f"{height - pad - value * scale:.1f}"

    markers = [(f"{left + i * step:.1f}", y(value)) for i, (_when, value) in enumerate(points)]
    rules = [
        (y(band.min), f"{band.label} from {band.min}") for band in bands if 0 < band.min <= top
    ]
    pairs = [f"{x},{yy}" for x, yy in markers]
    line = " ".join(pairs) if n > 1 else ""
    dots = "M" + "h0M".join(pairs) + "h0" if pairs else ""
    return TrendShape(width, height, line, markers, rules, dots)
