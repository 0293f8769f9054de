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
    # The rules as one path's data, "M0,y H160 ..." (a dozen charts print them once
    # each rather than a line element per band), and its title: "mild from 5, ...".
    rules_path: str
    rules_title: str


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
    bottom, scale = height - pad, (height - 2 * pad) / top

    markers = [
        (f"{left + i * step:.1f}", f"{bottom - value * scale:.1f}")
        for i, (_when, value) in enumerate(points)
    ]
    rules = [
        (f"{bottom - band.min * scale:.1f}", f"{band.label} from {band.min}")
        for band in bands
        if 0 < band.min <= top
    ]
    pairs = [f"{x},{y}" for x, y in markers]
    return TrendShape(
        width,
        height,
        line=" ".join(pairs) if n > 1 else "",
        markers=markers,
        rules=rules,
        dots="M" + "h0M".join(pairs) + "h0" if pairs else "",
        rules_path="".join(f"M0,{y}H{width}" for y, _title in rules),
        rules_title=", ".join(title for _y, title in rules),
    )
