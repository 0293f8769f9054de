"""Geometry for the small charts the templates draw as SVG (templates/_charts.html).

The numbers are worked out here rather than in Jinja: a page with a dozen
trends of thirty answers each spent half its rendering time on the
template's arithmetic. The macro only writes the elements.
"""

from __future__ import annotations

import functools
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
    bottom, scale = height - pad, (height - 2 * pad) / top
    ys = _heights(top, height, pad)
    markers = list(
        zip(
            _lefts(len(points), width, pad),
            [ys.get(value) or f"{bottom - value * scale:.1f}" for _when, value in points],
            strict=True,
        )
    )
    rules = [
        (f"{bottom - band.min * scale:.1f}", f"{band.label} from {band.min}")
        for band in bands
        if 0 < band.min <= top
    ]
    pairs = list(map(",".join, markers))
    return TrendShape(
        width,
        height,
        line=" ".join(pairs) if len(pairs) > 1 else "",
        markers=markers,
        rules=rules,
        dots="M" + "h0M".join(pairs) + "h0" if pairs else "",
        rules_path="".join(f"M0,{y}H{width}" for y, _title in rules),
        rules_title=", ".join(title for _y, title in rules),
    )


# A page draws a dozen charts of the same few dozen points on the same scale: the
# coordinates' text is worked out once per scale. Both depend on nothing but their
# arguments, so remembering them cannot go stale.


@functools.lru_cache(maxsize=256)
def _lefts(n: int, width: int, pad: int) -> tuple[str, ...]:
    """The x of each of ``n`` points spread evenly (one point: the middle)."""
    if n < 2:
        return (f"{width / 2:.1f}",) * n
    step = (width - 2 * pad) / (n - 1)
    return tuple(f"{pad + i * step:.1f}" for i in range(n))


@functools.lru_cache(maxsize=64)
def _heights(top: float, height: int, pad: int) -> dict[float, str]:
    """The y of every whole value from 0 to ``top`` (other values are worked out as drawn)."""
    scale = (height - 2 * pad) / top
    return {value: f"{height - pad - value * scale:.1f}" for value in range(int(top) + 1)}
