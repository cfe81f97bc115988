"""Charts as inline SVG strings: line, horizontal bar, heatmap and histogram, with no dependencies.

Each function returns one `<svg>` element that is well-formed XML and needs nothing else to
draw: no script, no external font or stylesheet, no namespace declaration (HTML5 gives inline
SVG its namespace; `standalone` adds one for a separate .svg file). Every chart has a title,
axes with ticks and labels, a legend when it has more than one series, and a `<title>` plus
`aria-label` for screen readers. Colours come from the Okabe-Ito palette, which stays
distinguishable under the common colour-vision deficiencies; series also differ by dash and
marker shape, so nothing depends on colour alone.

Data is taken as it comes: None, NaN, infinities and values beyond +-1e100 are skipped (the
chart says how many), an empty input draws an explicit "No data" picture, and a constant
series gets a padded axis instead of a division by zero. Long series are downsampled to
`max_points` per chart so that a report stays small.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from typing import Literal

# Okabe-Ito, ordered so the first colours contrast best on white; yellow comes last.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#000000", "#F0E442")
PASS_COLOR = "#0072B2"
FAIL_COLOR = "#D55E00"
NEUTRAL_COLOR = "#6b6b6b"
_DASHES = ("", "7 4", "2 3", "9 3 2 3", "4 4", "1 2")
_MARKERS = ("circle", "square", "triangle", "diamond", "triangle-down", "cross")
_INK = "#222222"
# Reference lines differ by dash and shade, so two of them never look alike.
_REF_STYLES = (("#222222", "7 3"), ("#6b6b6b", "2 3"), ("#222222", "10 3 2 3"), ("#6b6b6b", "7 3"))
_GRID = "#e3e3e3"
_MUTED = "#555555"
# Font sizes in chart units; charts shrink to fit small screens, so these err on the large side.
_TICK = 13
_LABEL = 14
_TITLE = 16
_NOTE = 12
_FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif"
# Beyond this a value is treated as unplottable: spans of such numbers overflow a float.
_LIMIT = 1e100
_SVG_NS = "http://www.w3.org/2000/svg"

SeriesKind = Literal["line", "step", "markers", "line+markers"]


@dataclass(frozen=True)
class Series:
    """One named series of (x, y) points for `line_chart`; None/NaN points are skipped.

    `kind` is "line", "step" (a step after each point: a running best), "markers" or
    "line+markers". `color` and `dash` default to the series' place in the palette.
    """

    name: str
    points: Sequence[tuple[object, object]]
    kind: SeriesKind = "line"
    color: str | None = None
    dash: str | None = None


@dataclass(frozen=True)
class Bar:
    """One bar of `bar_chart`: a label, a value, an optional error (+-) and a status.

    `status` "pass" or "fail" adds a word and an icon beside the value (not colour alone);
    `note` is extra text shown after the value.
    """

    label: str
    value: object
    error: object = None
    status: Literal["pass", "fail"] | None = None
    note: str = ""


@dataclass(frozen=True)
class Reference:
    """A reference line across a chart (a threshold, zero, an overall rate), with its label."""

    value: float
    label: str


# --------------------------------------------------------------------------- numbers and ticks


def finite(value: object) -> float | None:
    """The value as a plottable float, or None when it is missing, not a number or out of range."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        number = float(value)
    except (OverflowError, ValueError):
        return None
    if math.isnan(number) or abs(number) > _LIMIT:
        return None
    return number


def _nice_step(raw: float) -> float:
    exponent = math.floor(math.log10(raw))
    fraction = raw / 10.0**exponent
    for nice in (1.0, 2.0, 2.5, 5.0):
        if fraction <= nice * 1.0000001:
            return nice * 10.0**exponent
    return 10.0 ** (exponent + 1)


def _pad_constant(value: float) -> tuple[float, float]:
    pad = abs(value) * 0.1 if abs(value) > 1e-200 else 1.0
    return value - pad, value + pad


def nice_ticks(lo: float, hi: float, count: int = 6) -> tuple[float, float, list[float]]:
    """A padded domain and about `count` round tick values covering [lo, hi].

    Handles reversed bounds, a zero-width range (padded by 10 % or by 1 around zero) and
    tiny or huge magnitudes; returns (domain_lo, domain_hi, ticks).
    """
    lo, hi = min(lo, hi), max(lo, hi)
    if hi - lo <= max(abs(lo), abs(hi)) * 1e-12 or hi - lo < 1e-200:
        lo, hi = _pad_constant((lo + hi) / 2)
    step = _nice_step((hi - lo) / max(1, count - 1))
    first, last = math.floor(lo / step + 1e-9), math.ceil(hi / step - 1e-9)
    if last - first > 60:  # float trouble: fall back to the bounds themselves
        return lo, hi, [lo, hi]
    decimals = _decimals(step)
    ticks = [
        _clean(round(k * step, decimals) if decimals < 300 else k * step)
        for k in range(first, last + 1)
    ]
    return ticks[0], ticks[-1], ticks


def _decimals(step: float) -> int:
    decimals = max(0, -math.floor(math.log10(step) + 1e-9))
    # 2.5 x 10^e needs one more place than 1, 2 or 5 x 10^e.
    mantissa = step / 10.0 ** math.floor(math.log10(step) + 1e-9)
    if abs(mantissa - 2.5) < 1e-6:
        decimals += 1
    return decimals


def _clean(value: float) -> float:
    return 0.0 if value == 0 else value


def tick_labels(ticks: Sequence[float]) -> list[str]:
    """Labels for evenly spaced ticks: fixed decimals when readable, else scientific notation."""
    if not ticks:
        return []
    if len(ticks) < 2:
        return [format_number(ticks[0])]
    step = abs(ticks[1] - ticks[0]) or 1.0
    biggest = max(abs(t) for t in ticks)
    decimals = _decimals(step)
    if biggest >= 1e7 or decimals > 6:
        labels = [_sci(t, step) for t in ticks]
    else:
        labels = [f"{t:,.{decimals}f}" if biggest >= 1e4 else f"{t:.{decimals}f}" for t in ticks]
    return ["0" if _is_zero_label(label) else label for label in labels]


def _sci(value: float, step: float) -> str:
    if value == 0:
        return "0"
    digits = max(1, min(6, math.floor(math.log10(abs(value))) - math.floor(math.log10(step)) + 1))
    return f"{value:.{digits - 1}e}"


def _is_zero_label(label: str) -> bool:
    return label.lstrip("-").replace("0", "").replace(".", "").replace(",", "") == ""


def format_number(value: object) -> str:
    """A short, readable rendering of one number (4 significant digits, thousands separated)."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if not isinstance(value, float):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "∞" if value > 0 else "-∞"
    size = abs(value)
    if size == 0:
        return "0"
    if size >= 1e7 or size < 1e-3:
        return f"{value:.3g}"
    if size >= 1000:
        text = f"{value:,.1f}"
        return text[:-2] if text.endswith(".0") else text
    return f"{value:.4g}"


# --------------------------------------------------------------------------- svg primitives


def _count(value: float) -> str:
    return format_number(int(value) if value == int(value) else value)


# Characters XML 1.0 forbids even when escaped; user text may carry them.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _esc(text: object) -> str:
    return escape(_NOT_XML.sub("\ufffd", str(text)), quote=True)


def _n(value: float) -> str:
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def _line(x1: float, y1: float, x2: float, y2: float, stroke: str, extra: str = "") -> str:
    coords = f'x1="{_n(x1)}" y1="{_n(y1)}" x2="{_n(x2)}" y2="{_n(y2)}"'
    return f'<line {coords} stroke="{stroke}"{extra}/>'


def _rect(x: float, y: float, w: float, h: float, extra: str) -> str:
    return f'<rect x="{_n(x)}" y="{_n(y)}" width="{_n(w)}" height="{_n(h)}" {extra}/>'


def _text_width(text: str, size: float) -> float:
    return len(text) * size * 0.56


def _truncate(text: str, size: float, room: float) -> str:
    if _text_width(text, size) <= room:
        return text
    keep = max(1, int(room / (size * 0.56)) - 1)
    return text[:keep] + "…"


def _text(
    x: float,
    y: float,
    content: str,
    *,
    size: float = _TICK,
    anchor: str = "start",
    weight: str | None = None,
    fill: str = _INK,
    rotate: float | None = None,
    full: str | None = None,
    halo: bool = False,
) -> str:
    attrs = f'x="{_n(x)}" y="{_n(y)}" font-size="{_n(size)}" fill="{fill}"'
    if anchor != "start":
        attrs += f' text-anchor="{anchor}"'
    if weight:
        attrs += f' font-weight="{weight}"'
    if rotate is not None:
        attrs += f' transform="rotate({_n(rotate)} {_n(x)} {_n(y)})"'
    if halo:  # a white outline under the glyphs keeps text legible across lines
        attrs += ' stroke="#ffffff" stroke-width="3" paint-order="stroke"'
    tip = f"<title>{_esc(full)}</title>" if full and full != content else ""
    return f"<text {attrs}>{tip}{_esc(content)}</text>"


def _open(title: str, description: str, width: float, height: float) -> list[str]:
    label = f"{title}. {description}" if description else title
    kind = "chart wide" if width > 600 else "chart"
    return [
        f'<svg class="{kind}" role="img" aria-label="{_esc(label)}" '
        f'viewBox="0 0 {_n(width)} {_n(height)}" width="{_n(width)}" height="{_n(height)}" '
        f'preserveAspectRatio="xMidYMid meet" font-family="{_esc(_FONT)}">',
        f"<title>{_esc(title)}</title>",
        f"<desc>{_esc(description or title)}</desc>",
        _rect(0, 0, width, height, 'fill="#ffffff"'),
        _text(12, 22, _truncate(title, _TITLE, width - 24), size=_TITLE, weight="600", full=title),
    ]


def no_data(
    title: str, message: str = "No data", *, width: float = 480, height: float = 200
) -> str:
    """An explicit empty picture: the title, a dashed frame and the message."""
    parts = _open(title, message, width, height)
    frame = 'fill="#fafafa" stroke="#bbbbbb" stroke-dasharray="6 4"'
    parts.append(_rect(12, 36, width - 24, height - 48, frame))
    parts.append(
        _text(width / 2, 36 + (height - 48) / 2 + 5, message, size=14, anchor="middle", fill=_MUTED)
    )
    parts.append("</svg>")
    return "".join(parts)


def standalone(svg: str) -> str:
    """The chart as a separate SVG document (adds the namespace that inline SVG does without)."""
    return svg.replace("<svg ", f'<svg xmlns="{_SVG_NS}" ', 1)


@dataclass(frozen=True)
class _Scale:
    lo: float
    hi: float
    start: float
    end: float

    def __call__(self, value: float) -> float:
        span = self.hi - self.lo
        return self.start + (value - self.lo) / span * (self.end - self.start)


def _marker(shape: str, x: float, y: float, color: str, size: float = 3.6) -> str:
    if shape == "circle":
        return f'<circle cx="{_n(x)}" cy="{_n(y)}" r="{_n(size)}" fill="{color}"/>'
    if shape == "square":
        s = size * 0.9
        return _rect(x - s, y - s, 2 * s, 2 * s, f'fill="{color}"')
    if shape in ("triangle", "triangle-down"):
        d = 1 if shape == "triangle" else -1
        s = size * 1.2
        return (
            f'<path d="M{_n(x)} {_n(y - d * s)}L{_n(x + s)} {_n(y + d * s * 0.8)}'
            f'L{_n(x - s)} {_n(y + d * s * 0.8)}Z" fill="{color}"/>'
        )
    if shape == "diamond":
        s = size * 1.25
        return (
            f'<path d="M{_n(x)} {_n(y - s)}L{_n(x + s)} {_n(y)}L{_n(x)} {_n(y + s)}'
            f'L{_n(x - s)} {_n(y)}Z" fill="{color}"/>'
        )
    s = size
    return (
        f'<path d="M{_n(x - s)} {_n(y - s)}L{_n(x + s)} {_n(y + s)}M{_n(x - s)} {_n(y + s)}'
        f'L{_n(x + s)} {_n(y - s)}" stroke="{color}" stroke-width="2"/>'
    )


def _legend(
    items: Sequence[tuple[str, str, str, str | None, bool]], left: float, top: float, room: float
) -> tuple[list[str], float]:
    """Legend items (name, color, dash, marker, line) flowed into rows; returns parts and height."""
    parts: list[str] = []
    x, y, row_height = left, top, 18.0
    for name, color, dash, marker, line in items:
        label = _truncate(name, _TICK, room - 30)
        item_width = 30 + _text_width(label, _TICK) + 14
        if x > left and x + item_width > left + room:
            x, y = left, y + row_height
        if line:
            dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
            parts.append(_line(x, y - 4, x + 22, y - 4, color, f' stroke-width="2.2"{dash_attr}'))
        if marker:
            parts.append(_marker(marker, x + 11, y - 4, color))
        parts.append(_text(x + 28, y, label, size=_TICK, full=name))
        x += item_width
    return parts, (y - top + row_height) if items else 0.0


def _legend_height(items: Sequence[tuple[str, str, str, str | None, bool]], room: float) -> float:
    return _legend(items, 0, 0, room)[1]


def _ref_style(index: int) -> tuple[str, str]:
    return _REF_STYLES[index % len(_REF_STYLES)]


def _ref_items(references: Sequence[Reference]) -> list[tuple[str, str, str, str | None, bool]]:
    return [(r.label, *_ref_style(i), None, True) for i, r in enumerate(references)]


def _ref_line(index: int, x1: float, y1: float, x2: float, y2: float) -> str:
    color, dash = _ref_style(index)
    return _line(x1, y1, x2, y2, color, f' stroke-width="1.6" stroke-dasharray="{dash}"')


def _skipped_note(skipped: int) -> str:
    return f"{skipped} point{'s' if skipped != 1 else ''} skipped (missing or not finite)"


# --------------------------------------------------------------------------- line chart


def downsample(points: Sequence[tuple[float, float]], max_points: int) -> list[tuple[float, float]]:
    """At most `max_points` of the points, evenly spaced by index, keeping the first and last."""
    count = len(points)
    if count <= max_points or max_points < 2:
        return list(points)
    step = (count - 1) / (max_points - 1)
    return [points[round(i * step)] for i in range(max_points)]


def _segments(
    points: Sequence[tuple[object, object]],
) -> tuple[list[list[tuple[float, float]]], int]:
    """The runs of valid points between invalid ones, and how many points were invalid."""
    segments: list[list[tuple[float, float]]] = [[]]
    skipped = 0
    for point in points:
        try:
            raw_x, raw_y = point
        except (TypeError, ValueError):
            skipped += 1
            continue
        x, y = finite(raw_x), finite(raw_y)
        if x is None or y is None:
            skipped += 1
            if segments[-1]:
                segments.append([])
            continue
        segments[-1].append((x, y))
    return [s for s in segments if s], skipped


def line_chart(
    series: Sequence[Series],
    *,
    title: str,
    x_label: str,
    y_label: str,
    x_range: tuple[float, float] | None = None,
    y_range: tuple[float, float] | None = None,
    diagonal: str | None = None,
    references: Sequence[Reference] = (),
    description: str = "",
    width: float = 480,
    height: float = 380,
    max_points: int = 400,
) -> str:
    """A chart of one or more series sharing x and y axes, with a legend when there are several.

    `x_range`/`y_range` fix the axes (widened if data falls outside); `diagonal` draws the
    line y = x with that legend label (chance on ROC, perfect calibration); `references`
    draws horizontal lines.
    """
    prepared: list[tuple[int, Series, list[list[tuple[float, float]]]]] = []
    skipped = 0
    total = 0
    for index, one in enumerate(series):
        segs, bad = _segments(one.points)
        skipped += bad
        total += sum(len(s) for s in segs)
        prepared.append((index, one, segs))
    if total == 0:
        message = "No data" + (f": {_skipped_note(skipped)}" if skipped else "")
        return no_data(title, message, width=width)
    budget = max(2, max_points)
    if total > budget:
        prepared = [
            (i, s, [downsample(seg, max(2, round(budget * len(seg) / total))) for seg in segs])
            for i, s, segs in prepared
        ]
    xs = [x for _, _, segs in prepared for seg in segs for x, _ in seg]
    ys = [y for _, _, segs in prepared for seg in segs for _, y in seg]
    ref_values = [v for v in (finite(r.value) for r in references) if v is not None]
    x_lo, x_hi = min(xs), max(xs)
    y_lo, y_hi = min([*ys, *ref_values]), max([*ys, *ref_values])
    if x_range:
        x_lo, x_hi = min(x_lo, x_range[0]), max(x_hi, x_range[1])
    if y_range:
        y_lo, y_hi = min(y_lo, y_range[0]), max(y_hi, y_range[1])
    x_lo, x_hi, x_ticks = nice_ticks(x_lo, x_hi) if not x_range else _fixed_ticks(x_lo, x_hi)
    y_lo, y_hi, y_ticks = nice_ticks(y_lo, y_hi) if not y_range else _fixed_ticks(y_lo, y_hi)
    x_text, y_text = tick_labels(x_ticks), tick_labels(y_ticks)

    items: list[tuple[str, str, str, str | None, bool]] = []
    for index, one, _ in prepared:
        color, dash, marker, line = _style(index, one)
        items.append((one.name, color, dash, marker, line))
    if diagonal:
        items.append((diagonal, "#8a8a8a", "5 4", None, True))
    references = [r for r in references if finite(r.value) is not None]
    items += _ref_items(references)
    show_legend = len(items) > 1 or bool(diagonal)
    left = 20 + max(_text_width(t, _TICK) for t in y_text) + 14
    room = width - left - _right_pad(x_text)
    legend_h = _legend_height(items, room) if show_legend else 0.0
    note_h = 16.0 if skipped else 0.0
    top = 38.0
    bottom = height - 50 - legend_h - note_h
    if bottom - top < 80:  # a big legend grows the picture instead of squashing the plot
        height += 80 - (bottom - top)
        bottom = top + 80
    sx = _Scale(x_lo, x_hi, left, width - _right_pad(x_text))
    sy = _Scale(y_lo, y_hi, bottom, top)

    parts = _open(title, description or _describe(series, x_label, y_label), width, height)
    parts += _axes(sx, sy, x_ticks, x_text, y_ticks, y_text, x_label, y_label)
    if diagonal:
        d_lo, d_hi = max(x_lo, y_lo), min(x_hi, y_hi)
        if d_hi > d_lo:
            style = ' stroke-width="1.4" stroke-dasharray="5 4"'
            parts.append(_line(sx(d_lo), sy(d_lo), sx(d_hi), sy(d_hi), "#8a8a8a", style))
    for index, ref in enumerate(references):
        parts.append(_ref_line(index, sx.start, sy(ref.value), sx.end, sy(ref.value)))
    for index, one, segs in prepared:
        color, dash, marker, line = _style(index, one)
        parts.append(f'<g class="series"><title>{_esc(one.name)}</title>')
        if line:
            dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
            for seg in segs:
                d = _path(seg, sx, sy, one.kind == "step")
                parts.append(
                    f'<path d="{d}" fill="none" stroke="{color}" stroke-width="2.2" '
                    f'stroke-linejoin="round"{dash_attr}/>'
                )
        if marker:
            count = sum(len(seg) for seg in segs)
            # A dense cloud gets small, translucent markers so that its density shows.
            size = 3.6 if count <= 150 else 2.4
            if count > 150:
                parts.append('<g fill-opacity="0.55" stroke-opacity="0.55">')
            parts.extend(_marker(marker, sx(x), sy(y), color, size) for seg in segs for x, y in seg)
            if count > 150:
                parts.append("</g>")
        parts.append("</g>")
    y_next = bottom + 46
    if show_legend:
        legend, _ = _legend(items, left, y_next + 14, room)
        parts += legend
        y_next += legend_h
    if skipped:
        parts.append(_text(left, y_next + 14, _skipped_note(skipped), size=_NOTE, fill=_MUTED))
    parts.append("</svg>")
    return "".join(parts)


def _right_pad(x_text: Sequence[str]) -> float:
    # The last x tick label is centred on the plot's right edge: leave room for its half.
    return max(16.0, _text_width(x_text[-1], _TICK) / 2 + 6) if x_text else 16.0


def _fixed_ticks(lo: float, hi: float) -> tuple[float, float, list[float]]:
    # A fixed range such as [0, 1] keeps its bounds exactly, with round ticks inside.
    _, _, ticks = nice_ticks(lo, hi)
    inside = [t for t in ticks if lo - 1e-12 <= t <= hi + 1e-12]
    if hi <= lo:
        return nice_ticks(lo, hi)
    return lo, hi, inside or [lo, hi]


def _style(index: int, one: Series) -> tuple[str, str, str | None, bool]:
    color = one.color or PALETTE[index % len(PALETTE)]
    dash = one.dash if one.dash is not None else _DASHES[index % len(_DASHES)]
    marker = _MARKERS[index % len(_MARKERS)] if one.kind in ("markers", "line+markers") else None
    return color, dash, marker, one.kind != "markers"


def _path(points: Sequence[tuple[float, float]], sx: _Scale, sy: _Scale, step: bool) -> str:
    out = [f"M{_n(sx(points[0][0]))} {_n(sy(points[0][1]))}"]
    for x, y in points[1:]:
        if step:
            out.append(f"H{_n(sx(x))}V{_n(sy(y))}")
        else:
            out.append(f"L{_n(sx(x))} {_n(sy(y))}")
    return "".join(out)


def _describe(series: Sequence[Series], x_label: str, y_label: str) -> str:
    names = ", ".join(s.name for s in series[:6])
    return f"{y_label} against {x_label}" + (f" for {names}" if names else "")


def _axes(
    sx: _Scale,
    sy: _Scale,
    x_ticks: Sequence[float],
    x_text: Sequence[str],
    y_ticks: Sequence[float],
    y_text: Sequence[str],
    x_label: str,
    y_label: str,
) -> list[str]:
    parts = ['<g class="axes">']
    for tick, label in zip(y_ticks, y_text, strict=False):
        y = sy(tick)
        parts.append(_line(sx.start, y, sx.end, y, _GRID))
        parts.append(_text(sx.start - 6, y + 4, label, size=_TICK, anchor="end", fill=_MUTED))
    for tick, label in zip(x_ticks, x_text, strict=False):
        x = sx(tick)
        parts.append(_line(x, sy.start, x, sy.end, _GRID))
        parts.append(_line(x, sy.start, x, sy.start + 5, _INK))
        parts.append(_text(x, sy.start + 19, label, size=_TICK, anchor="middle", fill=_MUTED))
    frame = f"M{_n(sx.start)} {_n(sy.end)}V{_n(sy.start)}H{_n(sx.end)}"
    parts.append(f'<path d="{frame}" fill="none" stroke="{_INK}"/>')
    parts.append(
        _text((sx.start + sx.end) / 2, sy.start + 40, x_label, size=_LABEL, anchor="middle")
    )
    parts.append(
        _text(14, (sy.start + sy.end) / 2, y_label, size=_LABEL, anchor="middle", rotate=-90)
    )
    parts.append("</g>")
    return parts


# --------------------------------------------------------------------------- bar chart


def bar_chart(
    bars: Sequence[Bar],
    *,
    title: str,
    x_label: str,
    references: Sequence[Reference] = (),
    x_range: tuple[float, float] | None = None,
    description: str = "",
    width: float = 480,
    max_bars: int = 25,
) -> str:
    """Horizontal bars, one per label, in the order given (the first at the top).

    Error bars show +-`error`; a bar's `status` writes ✓ PASS / ✗ FAIL beside its value;
    `references` draw vertical dashed lines (a threshold, an overall rate) with a legend.
    Beyond `max_bars` the rest are left out and the chart says how many.
    """
    usable = [(b, finite(b.value)) for b in bars]
    skipped = sum(1 for _, v in usable if v is None)
    valid = [(b, v) for b, v in usable if v is not None]
    if not valid:
        message = "No data" + (
            f": {skipped} bar{'s' if skipped != 1 else ''} without a value" if skipped else ""
        )
        return no_data(title, message, width=width)
    dropped = max(0, len(valid) - max_bars)
    valid = valid[:max_bars]
    values = [v for _, v in valid]
    extents = [*values, 0.0]
    for b, v in valid:
        err = finite(b.error)
        if err is not None:
            extents += [v - abs(err), v + abs(err)]
    ref_values = [(r, v) for r, v in ((r, finite(r.value)) for r in references) if v is not None]
    extents += [v for _, v in ref_values]
    lo, hi = min(extents), max(extents)
    if x_range:
        lo, hi = min(lo, x_range[0]), max(hi, x_range[1])
        lo, hi, ticks = _fixed_ticks(lo, hi)
    else:
        lo, hi, ticks = nice_ticks(lo, hi, count=5)
    labels = tick_labels(ticks)

    label_room = min(max(_text_width(b.label, _TICK) for b, _ in valid) + 8, width * 0.34)
    value_texts = [_bar_value_text(b, v) for b, v in valid]
    value_room = min(max(_text_width(t, _TICK) for t in value_texts) + 10, width * 0.3)
    left = 12 + label_room
    right = width - 12 - value_room
    bar_h, gap = 20.0, 8.0
    top = 40.0 + (18 if ref_values else 0)
    plot_h = len(valid) * (bar_h + gap) + gap
    items = _ref_items([r for r, _ in ref_values])
    legend_h = _legend_height(items, width - left - 12) if items else 0.0
    notes = ([_skipped_bars(skipped)] if skipped else []) + (
        [f"{dropped} more not shown"] if dropped else []
    )
    height = top + plot_h + 50 + legend_h + 16 * len(notes)
    sx = _Scale(lo, hi, left, right)
    zero = sx(min(max(0.0, lo), hi))

    parts = _open(title, description or f"{x_label} per {len(valid)} bars", width, height)
    parts.append('<g class="axes">')
    for tick, label in zip(ticks, labels, strict=False):
        x = sx(tick)
        parts.append(_line(x, top, x, top + plot_h, _GRID))
        parts.append(_text(x, top + plot_h + 19, label, size=_TICK, anchor="middle", fill=_MUTED))
    parts.append(_line(left, top + plot_h, right, top + plot_h, _INK))
    parts.append(
        _text((left + right) / 2, top + plot_h + 40, x_label, size=_LABEL, anchor="middle")
    )
    parts.append("</g>")
    for row, ((b, v), value_text) in enumerate(zip(valid, value_texts, strict=True)):
        y = top + gap + row * (bar_h + gap)
        x0, x1 = sorted((zero, sx(v)))
        color = FAIL_COLOR if b.status == "fail" else PALETTE[0]
        parts.append(f'<g class="bar"><title>{_esc(b.label)}: {_esc(value_text)}</title>')
        parts.append(_rect(x0, y, max(x1 - x0, 1), bar_h, f'fill="{color}"'))
        if b.status == "fail":  # a dashed inner edge, so a failing bar differs by more than colour
            hatch = 'fill="none" stroke="#ffffff" stroke-width="1.5" stroke-dasharray="3 3"'
            parts.append(_rect(x0 + 2, y + 2, max(x1 - x0 - 4, 1), bar_h - 4, hatch))
        err = finite(b.error)
        if err is not None and err != 0:
            e0, e1 = sx(v - abs(err)), sx(v + abs(err))
            mid = y + bar_h / 2
            whisker = (
                f"M{_n(e0)} {_n(mid)}H{_n(e1)}M{_n(e0)} {_n(mid - 5)}V{_n(mid + 5)}"
                f"M{_n(e1)} {_n(mid - 5)}V{_n(mid + 5)}"
            )
            parts.append(f'<path d="{whisker}" stroke="{_INK}" stroke-width="1.3" fill="none"/>')
        parts.append(
            _text(
                left - 6,
                y + bar_h / 2 + 4,
                _truncate(b.label, _TICK, label_room - 8),
                anchor="end",
                full=b.label,
            )
        )
        text_x = max(x1, sx(v + abs(err)) if err is not None else x1) + 6
        parts.append(
            _text(
                text_x,
                y + bar_h / 2 + 4,
                _truncate(value_text, _TICK, width - text_x - 4),
                full=value_text,
                halo=True,
            )
        )
        parts.append("</g>")
    parts.append(_line(zero, top, zero, top + plot_h, _INK))
    for index, (_, value) in enumerate(ref_values):
        parts.append(_ref_line(index, sx(value), top - 6, sx(value), top + plot_h))
    y_next = top + plot_h + 50
    if items:
        legend, _ = _legend(items, left, y_next + 10, width - left - 12)
        parts += legend
        y_next += legend_h
    for note in notes:
        parts.append(_text(left, y_next + 12, note, size=_NOTE, fill=_MUTED))
        y_next += 16
    parts.append("</svg>")
    return "".join(parts)


def _bar_value_text(bar: Bar, value: float) -> str:
    text = format_number(value)
    err = finite(bar.error)
    if err is not None and err != 0:
        text += f" ± {format_number(abs(err))}"
    if bar.status == "pass":
        text += " ✓ PASS"
    elif bar.status == "fail":
        text += " ✗ FAIL"
    if bar.note:
        text += f" {bar.note}"
    return text


def _skipped_bars(skipped: int) -> str:
    return f"{skipped} bar{'s' if skipped != 1 else ''} without a value not shown"


# --------------------------------------------------------------------------- heatmap

_BLUES = ((247, 251, 255), (198, 219, 239), (107, 174, 214), (33, 113, 181), (8, 48, 107))


def _blue(share: float) -> tuple[str, bool]:
    """A sequential blue for a share in [0, 1], and whether text on it should be white."""
    share = min(1.0, max(0.0, share))
    position = share * (len(_BLUES) - 1)
    low = min(int(position), len(_BLUES) - 2)
    t = position - low
    rgb = [round(a + (b - a) * t) for a, b in zip(_BLUES[low], _BLUES[low + 1], strict=True)]
    luminance = 0.2126 * rgb[0] + 0.7152 * rgb[1] + 0.0722 * rgb[2]
    return "#{:02x}{:02x}{:02x}".format(*rgb), luminance < 140


def heatmap(
    matrix: Sequence[Sequence[object]],
    *,
    row_labels: Sequence[object],
    col_labels: Sequence[object],
    title: str,
    x_label: str = "Predicted",
    y_label: str = "Actual",
    description: str = "",
    width: float = 560,
) -> str:
    """A grid of counts (a confusion matrix), shaded by each cell's share of its row.

    Every cell prints its count, and its row share when there is room; missing or
    non-numeric cells print a dash and stay white.
    """
    rows = [list(r) for r in matrix] if isinstance(matrix, Sequence) else []
    n_rows = len(rows)
    n_cols = max((len(r) for r in rows), default=0)
    if n_rows == 0 or n_cols == 0:
        return no_data(title, "No data", width=width)
    row_names = [
        str(row_labels[i]) if i < len(row_labels) else f"row {i + 1}" for i in range(n_rows)
    ]
    col_names = [
        str(col_labels[j]) if j < len(col_labels) else f"column {j + 1}" for j in range(n_cols)
    ]
    label_room = min(max(_text_width(r, _TICK) for r in row_names) + 10, width * 0.3)
    left = 34 + label_room
    cell_w = min(130.0, (width - left - 16) / n_cols)
    cell_h = min(72.0, max(26.0, cell_w * 0.55))
    rotate = any(_text_width(c, _TICK) > cell_w - 6 for c in col_names) and n_cols > 2
    # Labels rotated by 40 degrees drop by about 0.65 of their length.
    widest = max(_text_width(c, _TICK) for c in col_names)
    col_room = min(widest * 0.65 + 12, 90.0) if rotate else 14.0
    top = 44.0
    grid_w, grid_h = cell_w * n_cols, cell_h * n_rows
    height = top + grid_h + col_room + 44
    # As wide as the grid needs (and its title), up to `width`: a 2 x 2 matrix stays compact.
    width = min(width, max(left + grid_w + 24, _text_width(title, _TITLE) + 24))
    parts = _open(title, description or f"{n_rows} by {n_cols} matrix of counts", width, height)
    for i, row in enumerate(rows):
        values = [finite(row[j]) if j < len(row) else None for j in range(n_cols)]
        total = sum(v for v in values if v is not None and v > 0)
        for j, value in enumerate(values):
            x, y = left + j * cell_w, top + i * cell_h
            share = value / total if value is not None and total > 0 and value > 0 else 0.0
            fill, white = _blue(share) if value is not None else ("#ffffff", False)
            ink = "#ffffff" if white else _INK
            count = _count(value) if value is not None else "—"
            tip = f"{y_label} {row_names[i]}, {x_label.lower()} {col_names[j]}: {count}"
            parts.append(f'<g class="cell"><title>{_esc(tip)}</title>')
            parts.append(
                _rect(x, y, cell_w, cell_h, f'fill="{fill}" stroke="#ffffff" stroke-width="1.5"')
            )
            size = _LABEL if cell_w >= 48 else 10
            big_enough = cell_h >= 40 and cell_w >= 56 and value is not None and total > 0
            count_y = y + cell_h / 2 + (0 if big_enough else 4)
            parts.append(
                _text(
                    x + cell_w / 2,
                    count_y,
                    _truncate(count, size, cell_w - 4),
                    size=size,
                    anchor="middle",
                    weight="600",
                    fill=ink,
                )
            )
            if big_enough:
                parts.append(
                    _text(
                        x + cell_w / 2,
                        count_y + 15,
                        f"{share:.0%}",
                        size=_NOTE,
                        anchor="middle",
                        fill=ink,
                    )
                )
            parts.append("</g>")
        parts.append(
            _text(
                left - 6,
                top + i * cell_h + cell_h / 2 + 4,
                _truncate(row_names[i], _TICK, label_room - 6),
                anchor="end",
                full=row_names[i],
            )
        )
    for j, name in enumerate(col_names):
        x = left + j * cell_w + cell_w / 2
        if rotate:
            parts.append(
                _text(
                    x + 4,
                    top + grid_h + 12,
                    _truncate(name, _TICK, col_room),
                    anchor="end",
                    rotate=-40,
                    full=name,
                )
            )
        else:
            parts.append(
                _text(
                    x,
                    top + grid_h + 16,
                    _truncate(name, _TICK, cell_w - 4),
                    anchor="middle",
                    full=name,
                )
            )
    parts.append(
        _text(
            left + grid_w / 2, top + grid_h + col_room + 32, x_label, size=_LABEL, anchor="middle"
        )
    )
    parts.append(_text(14, top + grid_h / 2, y_label, size=_LABEL, anchor="middle", rotate=-90))
    parts.append("</svg>")
    return "".join(parts)


# --------------------------------------------------------------------------- histogram


def histogram(
    values: Sequence[object],
    *,
    title: str,
    x_label: str,
    y_label: str = "rows",
    bins: int = 20,
    references: Sequence[Reference] = (),
    description: str = "",
    width: float = 480,
    height: float = 320,
) -> str:
    """Counts of the values in `bins` equal-width bins between their minimum and maximum."""
    valid = [v for v in (finite(x) for x in values) if v is not None]
    skipped = len(values) - len(valid)
    if not valid:
        message = "No data" + (f": {_skipped_note(skipped)}" if skipped else "")
        return no_data(title, message, width=width)
    lo, hi = min(valid), max(valid)
    if hi - lo <= max(abs(lo), abs(hi)) * 1e-12 or hi - lo < 1e-200:
        lo, hi = _pad_constant(lo)
    bins = max(1, min(bins, 200))
    counts = [0] * bins
    width_bin = (hi - lo) / bins
    for v in valid:
        counts[min(bins - 1, max(0, int((v - lo) / width_bin)))] += 1
    edges = [lo + i * width_bin for i in range(bins + 1)]
    return binned_histogram(
        edges,
        counts,
        title=title,
        x_label=x_label,
        y_label=y_label,
        references=references,
        description=description or f"{len(valid)} values in {bins} bins",
        width=width,
        height=height,
        note=_skipped_note(skipped) if skipped else "",
    )


def binned_histogram(
    edges: Sequence[object],
    counts: Sequence[object],
    *,
    title: str,
    x_label: str,
    y_label: str = "rows",
    references: Sequence[Reference] = (),
    description: str = "",
    width: float = 480,
    height: float = 320,
    note: str = "",
) -> str:
    """A histogram from precomputed bin `edges` (one more than `counts`), e.g. from evidence."""
    bars: list[tuple[float, float, float]] = []
    for i, count in enumerate(counts):
        if i + 1 >= len(edges):
            break
        a, b, c = finite(edges[i]), finite(edges[i + 1]), finite(count)
        if a is not None and b is not None and c is not None and b > a:
            bars.append((a, b, max(c, 0.0)))
    if not bars:
        return no_data(title, "No data", width=width)
    ref_values = [v for v in (finite(r.value) for r in references) if v is not None]
    x_lo, x_hi, x_ticks = nice_ticks(
        min([bars[0][0], *ref_values]), max([bars[-1][1], *ref_values])
    )
    top_count = max(c for _, _, c in bars)
    y_lo, y_hi, y_ticks = nice_ticks(0.0, top_count if top_count > 0 else 1.0, count=5)
    y_lo = 0.0
    y_ticks = [t for t in y_ticks if t >= 0]
    x_text, y_text = tick_labels(x_ticks), tick_labels(y_ticks)
    references = [r for r in references if finite(r.value) is not None]
    items = _ref_items(references)
    left = 20 + max(_text_width(t, _TICK) for t in y_text) + 14
    room = width - left - _right_pad(x_text)
    legend_h = _legend_height(items, room) if items else 0.0
    bottom = height - 50 - legend_h - (16 if note else 0)
    sx = _Scale(x_lo, x_hi, left, width - _right_pad(x_text))
    sy = _Scale(y_lo, y_hi, bottom, 38)
    parts = _open(title, description or f"distribution of {x_label}", width, height)
    parts += _axes(sx, sy, x_ticks, x_text, y_ticks, y_text, x_label, y_label)
    for a, b, c in bars:
        x0, x1 = sx(a), sx(b)
        tip = f"{format_number(a)} to {format_number(b)}: {_count(c)}"
        parts.append(
            f'<rect x="{_n(x0 + 0.5)}" y="{_n(sy(c))}" width="{_n(max(x1 - x0 - 1, 0.5))}" '
            f'height="{_n(sy.start - sy(c))}" fill="{PALETTE[0]}"><title>{_esc(tip)}</title></rect>'
        )
    for index, ref in enumerate(references):
        parts.append(_ref_line(index, sx(ref.value), sy.end, sx(ref.value), sy.start))
    y_next = bottom + 46
    if items:
        legend, _ = _legend(items, left, y_next + 14, room)
        parts += legend
        y_next += legend_h
    if note:
        parts.append(_text(left, y_next + 14, note, size=_NOTE, fill=_MUTED))
    parts.append("</svg>")
    return "".join(parts)


__all__ = [
    "FAIL_COLOR",
    "NEUTRAL_COLOR",
    "PALETTE",
    "PASS_COLOR",
    "Bar",
    "Reference",
    "Series",
    "bar_chart",
    "binned_histogram",
    "downsample",
    "finite",
    "format_number",
    "heatmap",
    "histogram",
    "line_chart",
    "nice_ticks",
    "no_data",
    "standalone",
    "tick_labels",
]
