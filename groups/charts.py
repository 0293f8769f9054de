"""The small trend charts the pages show: their geometry, and the SVG element itself.

The numbers are worked out here rather than in Jinja: a page with a dozen
trends of thirty answers each spent half its rendering time on the
template's arithmetic. The ``<svg>`` element is written here too, in one
string per chart (as a chart library such as pygal would): a template macro
took three times as long to print its dozen values one by one. The figure
around it, with its table of scores, is the template's (templates/_charts.html).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH, HEIGHT, PAD = 160, 56, 5


@dataclass(frozen=True)
class Scale:
    """The y axis of every chart of one measure: 0 at the bottom, ``top`` at the top.

    A page draws a dozen charts of the same measure, so this (the text of every whole
    value's y, and the band rules) is worked out once per measure and kept: it depends
    on nothing but its arguments, so it cannot go stale.
    """

    top: float
    height: int
    pad: int
    ys: dict[float, str]  # the y of every whole value from 0 to ``top``
    rules: tuple[tuple[str, str], ...]  # (y, title) where each band after the first begins
    # The rules as one path's data, "M0,y H160 ..." (a dozen charts print them once each
    # rather than a line element per band), and its title: "Mild from 5, ...".
    rules_path: str
    rules_title: str

    def y(self, value: float) -> str:
        """The y of ``value`` as text (a whole value's is read from ``ys``)."""
        if value in self.ys:
            return self.ys[value]
        return _y_text(value, self.top, self.height, self.pad)


def _y_text(value: float, top: float, height: int, pad: int) -> str:
    """Where ``value`` sits: 0 at the bottom edge less the padding, ``top`` at the top."""
    return f"{height - pad - value * ((height - 2 * pad) / top):.1f}"


@functools.lru_cache(maxsize=64)
def _scale(top: float, bands: tuple, width: int, height: int, pad: int) -> Scale:
    rules = tuple(
        (_y_text(band.min, top, height, pad), f"{band.label} from {band.min}")
        for band in bands
        if 0 < band.min <= top
    )
    return Scale(
        top,
        height,
        pad,
        ys={value: _y_text(value, top, height, pad) for value in range(int(top) + 1)},
        rules=rules,
        rules_path="".join(f"M0,{y}H{width}" for y, _title in rules),
        rules_title=", ".join(title for _y, title in rules),
    )


@functools.lru_cache(maxsize=256)
def _lefts(n: int, width: int, pad: int) -> tuple[str, ...]:
    """The x of each of ``n`` points spread evenly (one point: the middle), as text:
    the same few dozen for every chart on a page, so kept like ``_scale``."""
    if n < 2:
        return (f"{width / 2:.1f}",) * n
    step = (width - 2 * pad) / (n - 1)
    return tuple(f"{pad + i * step:.1f}" for i in range(n))


@dataclass(frozen=True)
class TrendShape:
    width: int
    height: int
    scale: Scale
    pairs: list[str]  # "x,y" of every value, oldest first

    @functools.cached_property
    def line(self) -> str:
        """The polyline's points, "x,y x,y ..."; empty for fewer than two values."""
        return " ".join(self.pairs) if len(self.pairs) > 1 else ""

    @functools.cached_property
    def dots(self) -> str:
        """Every marker as one path's data, a zero-length stroke at each point: with
        round caps (the stylesheet's ``.trend-dot``) each draws a dot, so a chart of
        thirty answers is one element rather than thirty circles."""
        return "M" + "h0M".join(self.pairs) + "h0" if self.pairs else ""


def trend_shape(
    values: Sequence[float],
    max_value: float,
    bands: Iterable = (),
    width: int = WIDTH,
    height: int = HEIGHT,
    pad: int = PAD,
) -> TrendShape:
    """Place ``values`` (oldest first) evenly from left to right, 0 at the bottom and
    ``max_value`` at the top. ``bands`` are anything with ``min`` and ``label`` (a
    measure's severity bands)."""
    scale = _scale(max_value or 1, tuple(bands), width, height, pad)
    ys, y = scale.ys, scale.y
    lefts = _lefts(len(values), width, pad)
    # Totals are whole numbers: their y is read from ``ys`` without a call.
    pairs = [f"{x},{ys[v] if v in ys else y(v)}" for x, v in zip(lefts, values, strict=True)]
    return TrendShape(width, height, scale, pairs)


def trend_svg(shape: TrendShape, label: str) -> Markup:
    """The chart as an ``<svg>`` element: plain SVG with no script and no style attribute
    (the Content Security Policy allows neither inline), colors from the stylesheet's
    classes. An image labeled ``label``; its text alternative in full is the table the
    template puts beside it.

    The y axis runs from 0 to the measure's highest total; dashed rules (one path) mark
    where each band after the first begins; the frame is the element's own border. Every
    value carries a marker (a ring: two round-capped paths of dots, one element each
    however many values), so one score alone still shows and the line reads without
    color. Only ``label`` and the rules' title are text; the rest is numbers from here.
    """
    scale = shape.scale
    rules = (
        f'<path class="trend-band" d="{scale.rules_path}"><title>{escape(scale.rules_title)}'
        "</title></path>"
        if scale.rules
        else ""
    )
    line = f'<polyline class="trend-line" points="{shape.line}"/>' if shape.line else ""
    w, h, dots = shape.width, shape.height, shape.dots
    return Markup(
        f'<svg class="trend" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" '
        f'aria-label="{escape(label)}" focusable="false">{rules}{line}'
        f'<path class="trend-dot" d="{dots}"/><path class="trend-dot-core" d="{dots}"/></svg>'
    )
